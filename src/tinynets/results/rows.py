"""The rows of record as the generated pages group them (results.json's runs by label) and the
markdown table every block is drawn with."""

from __future__ import annotations

from typing import Any


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows)]


def by_label(runs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        out.setdefault(r["label"], []).append(r)
    return out


def recipe(recs: list[dict[str, Any]]) -> str:
    return " ".join(o for o in recs[0].get("overrides", []) if not o.startswith("seed="))


def of_record(rec: Any) -> list[str]:
    """The rows of record: each write-up's (results.json's row_of_record) and each of our shipped
    recipes (an entry that is exactly `experiment=<its label>`), smallest first."""
    by = by_label(rec.results.get("runs", []))
    chosen = {v for v in (rec.results.get("row_of_record") or {}).values() if v}
    chosen |= {label for label, recs in by.items()
               if not recs[0].get("writeup") and recipe(recs) == f"experiment={label}"}
    return sorted((x for x in chosen if x in by), key=lambda x: (by[x][0]["params"], x))
