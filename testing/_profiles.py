"""Hypothesis profiles for bound tests: `limitlab-quick` and `limitlab-thorough`.

Registered when `limitlab.testing` is imported (registering does not load them).  In a pytest
suite choose one with `--hypothesis-profile=limitlab-quick`, or in a `conftest.py`:

```python
from hypothesis import settings
import limitlab.testing  # registers the profiles

settings.load_profile("limitlab-quick")
```
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

__all__ = ["PROFILES", "QUICK", "THOROUGH", "profile_settings"]

QUICK = "limitlab-quick"
"""25 examples per bound, derandomized (the same examples on every run: a CI failure is
reproducible, never flaky), no example database, no deadline."""

THOROUGH = "limitlab-thorough"
"""300 examples per bound, random (a fresh search each run; hypothesis prints the seed and a
`@reproduce_failure` blob for any failure), no deadline."""

PROFILES = (QUICK, THOROUGH)

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture]

settings.register_profile(QUICK, max_examples=25, derandomize=True, database=None,
                          deadline=None, suppress_health_check=_SLOW_OK, print_blob=False,
                          report_multiple_bugs=False)
settings.register_profile(THOROUGH, max_examples=300, deadline=None,
                          suppress_health_check=_SLOW_OK, print_blob=True,
                          report_multiple_bugs=False)


def profile_settings(name: str) -> settings:
    """The `hypothesis.settings` of a limitlab profile.

    **Arguments:**

    - `name`: `"limitlab-quick"` or `"limitlab-thorough"` (also `"quick"`, `"thorough"`).

    **Returns:** a `hypothesis.settings` object (usable as a decorator or as a parent).

    **Raises:** `ValueError` for another name, listing the allowed ones.
    """
    full = name if name in PROFILES else f"limitlab-{name}"
    if full not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)} (or quick, thorough), "
                         f"got {name!r}")
    return settings.get_profile(full)
