"""Property-based testing of bounds: hypothesis strategies for limitlab objects, a
[`bound`][limitlab.testing.bound] helper that turns "lhs(x) <= rhs(x)" into a test, and a
catalogue of bounds and identities of the five capabilities.

```python
from limitlab.testing import bound, strategies as lst
```

Importing this package registers the hypothesis profiles `limitlab-quick` and
`limitlab-thorough` (it does not load them).  It needs `hypothesis`; it does not import JAX
(sides that simulate import the numeric layer when they run).
"""

from . import strategies as strategies
from ._bound import RELATIONS as RELATIONS
from ._bound import Bound as Bound
from ._bound import BoundResult as BoundResult
from ._bound import BoundViolation as BoundViolation
from ._bound import Comparison as Comparison
from ._bound import Estimate as Estimate
from ._bound import bound as bound
from ._bound import estimate as estimate
from ._catalogue import bound_names as bound_names
from ._catalogue import catalogue as catalogue
from ._catalogue import false_variants as false_variants
from ._catalogue import get_bound as get_bound
from ._profiles import PROFILES as PROFILES
from ._profiles import QUICK as QUICK
from ._profiles import THOROUGH as THOROUGH
from ._profiles import profile_settings as profile_settings

__all__ = [
    "Bound",
    "BoundResult",
    "BoundViolation",
    "Comparison",
    "Estimate",
    "PROFILES",
    "QUICK",
    "RELATIONS",
    "THOROUGH",
    "bound",
    "bound_names",
    "catalogue",
    "estimate",
    "false_variants",
    "get_bound",
    "profile_settings",
    "strategies",
]
