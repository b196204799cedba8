"""Wall time of the bound catalogue of `limitlab.testing` at the quick profile, and the filter
ratio of its strategies.

Runs every catalogue entry (and, with `--false-variants`, the deliberately false ones) as
`limitlab check-bounds` does: derandomized, the quick profile's 25 examples, the expensive
Monte Carlo entries at their own caps.  Printed per bound: wall time, examples evaluated,
examples attempted (generation started, shrinking included) and the filter ratio
(attempted - evaluated) / attempted: draws rejected by a filter or `assume`, or abandoned by
hypothesis (test-case size overrun).  Target: the whole catalogue in under two minutes on the
CI machine (2 cores), filter ratios well below 0.5.  Spectra are cached per process, so the
first run of a kernel pays for its Funk–Hecke series.  Not a test: machines are shared and
noisy.

    python3 benchmarks/check_bounds.py [--threads 1] [--false-variants] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

from _threads import pin_threads  # benchmarks/ is the script directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--false-variants", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pin_threads(args.threads)

    from limitlab.testing import bound_names, get_bound

    names = bound_names(include_false=args.false_variants)
    rows = []
    start = time.perf_counter()
    print(f"{'bound':50} {'time s':>7} {'eval':>5} {'att':>5} {'filter':>7}  result")
    for name in names:
        r = get_bound(name).run(profile="quick")
        rows.append(r.to_dict())
        outcome = "pass" if r.passed else ("error" if r.error else "FAIL")
        if not r.expected_to_hold:
            outcome += " (false variant)"
        print(f"{name:50} {r.elapsed_s:7.2f} {r.evaluated:5d} {r.attempted:5d} "
              f"{r.filter_ratio:7.2f}  {outcome}", flush=True)
    total = time.perf_counter() - start
    attempted = sum(r["attempted"] for r in rows if r["expected_to_hold"])
    evaluated = sum(r["evaluated"] for r in rows if r["expected_to_hold"])
    overall = (attempted - evaluated) / attempted if attempted else 0.0
    print(f"total {total:.1f} s for {len(rows)} bounds (target < 120 s); filter ratio over the "
          f"true catalogue {overall:.3f} ({attempted - evaluated} of {attempted} draws)")
    if args.json:
        print(json.dumps({"total_s": total, "filter_ratio": overall, "bounds": rows}, indent=2))


if __name__ == "__main__":
    main()
