"""How a value reads in our tables (markdown reports, leaderboards, the console, the generated docs
and the bench's README): one formatter, `number`. Standard library only."""

from __future__ import annotations

from typing import Any


def number(v: Any, key: str = "", *, digits: int | None = None, missing: str = "", sep: bool = False,
           sign: bool = False, short: bool = False) -> str:
    """A value as a table cell: `missing` for None; yes/no for a bool; `params` with thousands
    separators; a float with `digits` decimals when given, else seconds (`*_s`) to 0.1, and 0.01 from
    1 up (accuracies in percent), 4 significant digits below (small losses); anything else as str().
    What a page asks for instead: `digits` decimals (an int too: 3 -> 3.00), `sep` thousands
    separators, `sign` a + before a value >= 0, `short` the shortest form (a goal: 0.75, 20, 1.8)."""
    if v is None:
        return missing
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, float)) and (digits is not None or short or sep):
        decimals = "g" if short else "" if digits is None else f".{digits}f"
        return format(v, ("+" if sign else "") + ("," if sep else "") + decimals)
    if isinstance(v, int):
        return f"{v:,}" if key == "params" else str(v)
    if isinstance(v, float):
        if key == "params":
            return f"{v:,.0f}"
        if key.endswith("_s"):
            return f"{v:.1f}"
        return f"{v:.2f}" if abs(v) >= 1 else f"{v:.4g}"
    return str(v)
