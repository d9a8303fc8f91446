"""The published results the report compares with (entries.yaml's `public`): their table and the
generated public line, beside our smallest row of record that holds in every seed."""

from __future__ import annotations

from typing import Any

from tinynets.results.rows import by_label, of_record, table
from tinynets.tables import number


def _public(rec: Any) -> list[dict[str, Any]]:
    return sorted(rec.entries.get("public") or [], key=lambda p: p["params"])


def public_line(rec: Any) -> list[str]:
    """The smallest published result at the target within 15 epochs (entries.yaml's `public`, with how it
    was measured) and our smallest row of record that reaches it in every one of five or more seeds."""
    t, by = rec.target, by_label(rec.results.get("runs", []))
    hits = [p for p in _public(rec) if p["acc"] >= t and p["epochs"] <= 15]
    line = (f"The smallest published model at {t}% within 15 epochs has {number(hits[0]['params'], sep=True)} params "
            f"({number(hits[0]['acc'], digits=2)}%, {hits[0].get('note') or 'one run'})." if hits
            else f"No published model recorded reaches {t}% within 15 epochs.")
    held = [x for x in of_record(rec) if by[x][0].get("writeup") is None and len(by[x]) >= 5
            and all(r["target_epoch"] is not None for r in by[x])]
    if held:
        x = held[0]
        line += (f" Our smallest row of record reaching {t}% in every one of five or more seeds: `{x}`, "
                 f"{number(by[x][0]['params'], sep=True)} params.")
    return [line]


def public(rec: Any) -> list[str]:
    rows = [[number(p["params"], sep=True), f"{number(p['acc'], digits=2)}%", str(p["epochs"]),
             p.get("note") or "one run"] for p in _public(rec)]
    return table(["params", "test acc", "epochs", "how"], rows) if rows else ["No published results recorded."]
