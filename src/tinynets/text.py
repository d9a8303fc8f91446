"""How a number reads in our tables (markdown reports, leaderboards, the console): one formatter,
`number`. Standard library only."""

from __future__ import annotations

from typing import Any


def number(v: Any, key: str = "", *, digits: int | None = None, missing: str = "") -> str:
    """A value as a table cell: `missing` for None; yes/no for a bool; `params` with thousands
    separators; a float with `digits` decimals when given, else seconds (`*_s`) to 0.1, and 0.01 from
    1 up (accuracies in percent), 4 significant digits below (small losses); anything else as str()."""
    if v is None:
        return missing
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}" if key == "params" else str(v)
    if isinstance(v, float):
        if key == "params":
            return f"{v:,.0f}"
        if digits is not None:
            return f"{v:.{digits}f}"
        if key.endswith("_s"):
            return f"{v:.1f}"
        return f"{v:.2f}" if abs(v) >= 1 else f"{v:.4g}"
    return str(v)
