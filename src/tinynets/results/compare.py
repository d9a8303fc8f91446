"""The `compare` block of docs/results.md: rows of record side by side that differ in one change
(entries.yaml's `compare`: a title and pairs of labels, before and after), each row's final-weight
accuracy over its seeds (mean ± std, the worst seed, how many end at the target), from the runs and
the holdout screen of results.json. Where a side has no record yet it says so."""

from __future__ import annotations

import statistics
from typing import Any

from tinynets.tables import number


def _runs(rec, label: str) -> list[dict[str, Any]]:
    return [r for r in rec.results.get("runs", []) + rec.results.get("screen", []) if r["label"] == label]


def _cells(runs: list[dict[str, Any]], target: float) -> list[str]:
    if not runs:
        return ["not run yet", "", "", ""]
    finals = [r["val_acc"][-1] for r in runs]
    spread = f" ± {number(statistics.stdev(finals), digits=2)}" if len(finals) > 1 else ""
    return [f"{number(statistics.fmean(finals), digits=2)}%{spread}", f"{number(min(finals), digits=2)}%",
            f"{sum(a >= target for a in finals)}/{len(finals)}", ", ".join(str(r["seed"]) for r in runs)]


def compare(rec) -> list[str]:
    lines: list[str] = []
    t = rec.target
    for group in rec.entries.get("compare") or []:
        rows = []
        for before, after in group["pairs"]:
            for label in (before, after):
                runs = _runs(rec, label)
                where = runs[0].get("eval_set", "test") if runs else ""
                rows.append([f"`{label}`", where, *_cells(runs, t)])
        if lines:
            lines.append("")
        lines += [f"**{group['title']}**", "",
                  "| entry | evaluated on | final acc (mean ± std) | worst seed | seeds ending ≥ " + f"{t}% | seeds |",
                  "|---|---|---|---|---|---|", *("| " + " | ".join(r) + " |" for r in rows)]
    return lines or ["No comparisons declared (entries.yaml's `compare`)."]
