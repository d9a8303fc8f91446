"""`python -m tinynets.results run [LABEL ...] | report | docs [--check]` (`make reproduce`, `make report`,
`make docs`), from the repository (or `--root DIR`): train the missing results of record, write their
report, or render the generated blocks of README.md and docs/*.md again."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tinynets.errors import UserError, report
from tinynets.results.spec import load_spec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=None, help="the checkout (default: the current directory)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train the missing runs")
    r.add_argument("labels", nargs="*", help="entries to run (default all, in entries.yaml's order)")
    r.add_argument("--jobs", type=int, default=1, help="runs at a time (each gets cores/jobs torch threads)")
    r.add_argument("--seeds", type=int, nargs="+", help="only these of each entry's seeds (default all)")
    sub.add_parser("report", help="write results.json, README.md, curves.png and frontier.png")
    d = sub.add_parser("docs", help="render the generated blocks of README.md and docs/*.md from experiments/")
    d.add_argument("--check", action="store_true", help="rewrite nothing; exit 1 when a page is stale")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "docs":
            from tinynets.results.docs import docs

            return docs(args.root, args.check)
        spec = load_spec(args.root)
        if args.cmd == "run":
            from tinynets.results.runner import run

            return run(spec, args.labels, args.jobs, args.seeds)
        from tinynets.results.report import report as write_report

        return write_report(spec)
    except UserError as e:
        return report(e)


if __name__ == "__main__":
    sys.exit(main())
