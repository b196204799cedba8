"""The `limitlab` command line.

    limitlab list [--json]
    limitlab validate [CLAIM ...] [--size quick|full] [--seeds N] [--seed S] [--out DIR]
                      [--resume] [--json] [--no-progress]
    limitlab spectrum --kernel K --d D [--kmax K] [--exact] [--json]
    limitlab risk-curve --kernel K --d D --n N --energies 1:1,2:1 [--noise S2] [--times T]
                        [--simulate --seeds S] [--plot FILE] [--json]
    limitlab order "E[...]" [--param ntk|standard|mean-field|general:a=A,b=B] [--json]
    limitlab width-sweep "E[...]" [--depth L] [--act A] [--widths ...] [--seeds S] [--plot FILE]
    limitlab linearise --data digits|teacher [--model mlp:width=..,depth=..] [--K 1,10,inf]
                       [--steps T] [--seeds S] [--optimizer sgd|momentum|adam] [--plot FILE]
    limitlab drift --loss "(x*y - 1)**2/2" --params x,y --noise label --sigma 1 --at x=2,y=0.5
                   [--simulate --alpha A --chains C --tau 0.5,1,2] [--plot FILE] [--json]
    limitlab clt --model gauss1d|relu-teacher [--widths 32,64,128,256] [--seeds 200] [--time 10]
                 [--train-points N] [--reg 0.01] [--linear-response] [--checkpoint-dir DIR
                 [--resume]] [--plot FILE] [--json]
    limitlab check-bounds [NAME ...] [--examples N] [--seed S] [--profile quick|thorough] [--json]

Exit codes: 0 every claim passed, 1 some claim failed, 2 bad input (one line on stderr).
Heavy imports (JAX, the claims) happen only after the arguments have been checked.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import __version__, _cli_clt, _cli_drift, _cli_kernel_flow, _cli_linearise, _cli_orders
from . import _cli_check_bounds
from .config import DEFAULT_OUT_DIR, DEFAULT_SEED, DEFAULT_SIZE, SIZES

__all__ = ["main"]


class UsageError(Exception):
    """Bad command-line input: reported as one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints usage + message; we want one line
        raise UsageError(message)


def _positive_int(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _seed(text: str) -> int:
    value = _positive_int(0)(text)
    if value >= 2**32:
        raise argparse.ArgumentTypeError(f"must be < 2**32, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="limitlab",
        description="Derive, evaluate and check asymptotic predictions against simulation.",
    )
    parser.add_argument("--version", action="version", version=f"limitlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p_list = sub.add_parser("list", help="list the registered claims")
    p_list.add_argument("--json", action="store_true", help="print the list as JSON")

    p_val = sub.add_parser(
        "validate",
        help="run claims and write a report",
        description="Run claims (all by default), print a table and write report.json, "
        "report.md and one figure per claim. Exit code 1 if any claim fails.",
    )
    p_val.add_argument("claims", nargs="*", metavar="CLAIM", help="claim names (default: all)")
    p_val.add_argument("--size", choices=SIZES, default=DEFAULT_SIZE,
                       help=f"claim size (default: {DEFAULT_SIZE})")
    p_val.add_argument("--seeds", type=_positive_int(2), default=None, metavar="N",
                       help="number of seeds, overriding each claim's default (>= 2)")
    p_val.add_argument("--seed", type=_seed, default=DEFAULT_SEED, metavar="S",
                       help=f"base integer seed (default: {DEFAULT_SEED})")
    p_val.add_argument("--out", default=DEFAULT_OUT_DIR, metavar="DIR",
                       help=f"report directory (default: ./{DEFAULT_OUT_DIR}/)")
    p_val.add_argument("--resume", action="store_true",
                       help="continue simulations from the checkpoints in DIR")
    p_val.add_argument("--json", action="store_true", help="print report.json to stdout")
    p_val.add_argument("--no-progress", action="store_true", help="never show progress bars")

    _cli_kernel_flow.add_parsers(sub, _seed)
    _cli_orders.add_parsers(sub, _cli_kernel_flow.int_at_least, _seed)
    _cli_linearise.add_parsers(sub, _cli_kernel_flow.int_at_least, _seed)
    _cli_drift.add_parsers(sub, _cli_kernel_flow.int_at_least, _seed)
    _cli_clt.add_parsers(sub, _cli_kernel_flow.int_at_least, _seed)
    _cli_check_bounds.add_parsers(sub, _cli_kernel_flow.int_at_least, _seed)
    return parser


def _list(args) -> int:
    from limitlab.validation import claim_names, get_claim

    claims = [get_claim(n) for n in claim_names()]
    if args.json:
        rows = [{"claim": c.name, "statement": c.statement, "reference": c.reference,
                 "criterion": c.criterion.describe(),
                 "seeds": {s: c.sizes[s].seeds for s in SIZES}} for c in claims]
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(c.name) for c in claims)
        for c in claims:
            print(f"{c.name.ljust(width)}  {c.statement}")
    return 0


def _validate(args) -> int:
    from limitlab.validation import claim_names, validate
    from limitlab.validation._runner import check_out_dir

    known = claim_names()
    unknown = [n for n in args.claims if n not in known]
    if unknown:
        raise UsageError(f"unknown claim {unknown[0]!r}; known claims: {', '.join(known)}")
    try:
        check_out_dir(args.out)
    except ValueError as err:
        raise UsageError(str(err)) from None

    def show(result):
        if not args.json:
            verdict = "PASS" if result.passed else ("ERROR" if result.error else "FAIL")
            print(f"{verdict:5}  {result.claim}  ({result.elapsed_s:.1f} s)  {result.summary}",
                  file=sys.stderr, flush=True)

    report = validate(
        args.claims or None,
        size=args.size,
        seeds=args.seeds,
        seed=args.seed,
        out=args.out,
        resume=args.resume,
        progress=False if args.no_progress else None,
        on_result=show,
    )
    if args.json:
        print(report.to_json())
    else:
        print(report.table())
        print(f"report written to {args.out}/report.json, report.md and figures/")
    return 0 if report.passed else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `limitlab` command; returns the exit code."""
    parser = build_parser()
    args = None
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        if args.command == "list":
            return _list(args)
        commands = {
            "spectrum": _cli_kernel_flow.run_spectrum,
            "risk-curve": _cli_kernel_flow.run_risk_curve,
            "order": _cli_orders.run_order,
            "width-sweep": _cli_orders.run_width_sweep,
            "linearise": _cli_linearise.run_linearise,
            "drift": _cli_drift.run_drift,
            "clt": _cli_clt.run_clt,
            "check-bounds": _cli_check_bounds.run_check_bounds,
        }
        if args.command in commands:
            try:
                return commands[args.command](args)
            except ValueError as err:  # the layers name the offending argument
                raise UsageError(str(err).splitlines()[0]) from None
        return _validate(args)
    except UsageError as err:
        print(f"limitlab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        no_checkpoints = getattr(args, "command", None) in ("linearise", "drift", "check-bounds") or (
            getattr(args, "command", None) == "clt" and args.checkpoint_dir is None)
        print("limitlab: interrupted" + ("" if no_checkpoints else
              "; finished seeds are kept in the checkpoints (use --resume)"),
              file=sys.stderr)
        return 130
