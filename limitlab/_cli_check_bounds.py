"""`limitlab check-bounds`: run the catalogue of bounds of `limitlab.testing` with hypothesis.

    limitlab check-bounds [NAME ...] [--examples N] [--seed S] [--profile quick|thorough]
                          [--json]

Prints each bound with PASS/FAIL and, for a failure, the shrunk counterexample and both sides.
Exit code 0 if every bound run passed, 1 if one failed (or raised), 2 for bad input (an unknown
name: the message lists the known ones).  Names may also be the deliberately false variants
(which fail by design).
"""

from __future__ import annotations

import json
import sys

__all__ = ["add_parsers", "run_check_bounds"]


def add_parsers(sub, int_at_least, seed_type) -> None:
    """Add the `check-bounds` sub-command."""
    p = sub.add_parser(
        "check-bounds",
        help="search for counterexamples to the catalogue of bounds (hypothesis)",
        description="Run the bounds and identities of limitlab.testing's catalogue (all by "
        "default) with hypothesis: each is printed with PASS/FAIL and, for a failure, the shrunk "
        "counterexample with both sides.  Exit code 1 if a bound fails.",
    )
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="bound names (default: the whole catalogue; false variants by name)")
    p.add_argument("--examples", type=int_at_least(1, "--examples"), default=None, metavar="N",
                   help="examples per bound (default: the profile's, capped for expensive "
                   "bounds)")
    p.add_argument("--seed", type=seed_type, default=None, metavar="S",
                   help="random but reproducible search from this seed (default: "
                   "derandomized, the same examples on every run)")
    p.add_argument("--profile", choices=("quick", "thorough"), default="quick",
                   help="hypothesis profile (default quick)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def run_check_bounds(args) -> int:
    from limitlab.testing import bound_names, get_bound

    known = bound_names(include_false=True)
    unknown = [n for n in args.names if n not in known]
    if unknown:
        raise ValueError(f"unknown bound {unknown[0]!r}; known bounds: {', '.join(known)}")
    names = args.names or bound_names()
    results = []
    for name in names:
        result = get_bound(name).run(profile=args.profile, max_examples=args.examples,
                                     seed=args.seed)
        results.append(result)
        if not args.json:
            _show(result)
    passed = all(r.passed for r in results)
    if args.json:
        print(json.dumps({"passed": passed, "profile": args.profile, "seed": args.seed,
                          "bounds": [r.to_dict() for r in results]}, indent=2, allow_nan=True))
    else:
        failed = [r.name for r in results if not r.passed]
        total = sum(r.elapsed_s for r in results)
        print(f"{len(results) - len(failed)} of {len(results)} bounds passed in {total:.1f} s"
              + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 0 if passed else 1


def _show(result) -> None:
    verdict = "PASS" if result.passed else ("ERROR" if result.error else "FAIL")
    print(f"{verdict:5}  {result.name}  ({result.elapsed_s:.1f} s, {result.evaluated} examples)"
          f"  {result.statement}", flush=True)
    if result.error:
        print(f"       {result.error}", flush=True)
    elif result.report:
        print("\n".join("       " + line for line in result.report.splitlines()[1:]),
              flush=True)
    sys.stdout.flush()
