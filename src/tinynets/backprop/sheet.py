"""The run's outputs: sheet.csv (every number), sheet.xlsx (the same table as live formulas) and
loss.png. Each file is written to a temporary name and renamed into place, so a reader sees
the whole file or none."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from tinynets import files
from tinynets.backprop.tiny import FORWARD, GRADS, WEIGHTS
from tinynets.files import atomic_path

Row = dict[str, Any]

XLSX_SHEET = "backprop"
XLSX_HEADER_ROW = 4  # title, note, column groups, then the header; iteration 0 is on row 5
SAMPLE = ("lr", "i1", "i2", "t1", "t2", "b1", "b2")  # row 0's constants besides the weights


def columns(with_bias: bool) -> list[str]:
    """sheet.csv's columns, in order (b1, b2 only when a bias is nonzero)."""
    cols = ["iteration", "lr", "i1", "i2", "t1", "t2"]
    if with_bias:
        cols += ["b1", "b2"]
    return cols + list(WEIGHTS) + list(FORWARD) + list(GRADS)


def has_bias(rows: Sequence[Row]) -> bool:
    return bool(rows) and (rows[0].get("b1", 0) != 0 or rows[0].get("b2", 0) != 0)


def write_csv(path: str | os.PathLike, rows: Sequence[Row]) -> None:
    """Full precision: floats as Python's shortest round-trip repr (17 significant digits at most)."""
    cols = columns(has_bias(rows))
    files.write_csv(path, cols, ([row[c] if c == "iteration" else float(row[c]) for c in cols] for row in rows))


def read_csv(path: str | os.PathLike) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in r.items()} for r in files.read_csv(path)]


# -- sheet.xlsx -----------------------------------------------------------------------------------

def _formulas(col: dict[str, str], r: int, first: int, with_bias: bool) -> dict[str, str]:
    """Every formula of data row r (iteration r - first); the constants of row `first` are not here."""
    def c(name: str, row: int = r) -> str:
        return f"{col[name]}{row}"

    def fixed(name: str) -> str:  # the one constant cell of row 0, e.g. $B$5
        return f"${col[name]}${first}"

    b1 = f"+{c('b1')}" if with_bias else ""
    b2 = f"+{c('b2')}" if with_bias else ""
    f = {
        "iteration": f"=ROW()-ROW({fixed('iteration')})",
        "h1": f"={c('w1')}*{c('i1')}+{c('w2')}*{c('i2')}{b1}",
        "h2": f"={c('w3')}*{c('i1')}+{c('w4')}*{c('i2')}{b1}",
        "a_h1": f"=1/(1+EXP(-{c('h1')}))",
        "a_h2": f"=1/(1+EXP(-{c('h2')}))",
        "o1": f"={c('w5')}*{c('a_h1')}+{c('w6')}*{c('a_h2')}{b2}",
        "o2": f"={c('w7')}*{c('a_h1')}+{c('w8')}*{c('a_h2')}{b2}",
        "a_o1": f"=1/(1+EXP(-{c('o1')}))",
        "a_o2": f"=1/(1+EXP(-{c('o2')}))",
        "E1": f"=0.5*({c('t1')}-{c('a_o1')})^2",
        "E2": f"=0.5*({c('t2')}-{c('a_o2')})^2",
        "E_total": f"={c('E1')}+{c('E2')}",
    }
    # delta_o = (a_o - t) * a_o * (1 - a_o); the hidden terms add both paths (see README)
    d_o1 = f"({c('a_o1')}-{c('t1')})*{c('a_o1')}*(1-{c('a_o1')})"
    d_o2 = f"({c('a_o2')}-{c('t2')})*{c('a_o2')}*(1-{c('a_o2')})"
    d_h1 = f"({d_o1}*{c('w5')}+{d_o2}*{c('w7')})*{c('a_h1')}*(1-{c('a_h1')})"
    d_h2 = f"({d_o1}*{c('w6')}+{d_o2}*{c('w8')})*{c('a_h2')}*(1-{c('a_h2')})"
    f.update({
        "dE_dw1": f"={d_h1}*{c('i1')}",
        "dE_dw2": f"={d_h1}*{c('i2')}",
        "dE_dw3": f"={d_h2}*{c('i1')}",
        "dE_dw4": f"={d_h2}*{c('i2')}",
        "dE_dw5": f"={d_o1}*{c('a_h1')}",
        "dE_dw6": f"={d_o1}*{c('a_h2')}",
        "dE_dw7": f"={d_o2}*{c('a_h1')}",
        "dE_dw8": f"={d_o2}*{c('a_h2')}",
    })
    if r > first:
        f.update((name, f"={fixed(name)}") for name in SAMPLE if name in col)
        # each row's weights from the previous row's weights, lr and gradients
        f.update((w, f"={c(w, r - 1)}-{c('lr', r - 1)}*{c(g, r - 1)}") for w, g in zip(WEIGHTS, GRADS))
    return f


GROUPS = [  # (title, first column, last column) of the band above the header
    ("", "iteration", "lr"),
    ("sample", "i1", "t2"),
    ("initial / updated weights", "w1", "w8"),
    ("forward pass", "h1", "a_o2"),
    ("error", "E1", "E_total"),
    ("gradients dE_total/dw (chain rule)", "dE_dw1", "dE_dw8"),
]


def write_xlsx(path: str | os.PathLike, rows: Sequence[Row], title: str = "") -> None:
    """The sheet as a worksheet to hand in: only row 0's inputs, targets, (biases,) initial
    weights and the one lr cell are numbers; every other cell is a formula. No cached values
    are stored, so a spreadsheet computes every cell itself when it opens the file."""
    from openpyxl import Workbook
    from openpyxl.chart import Reference, ScatterChart, Series
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    with_bias = has_bias(rows)
    cols = columns(with_bias)
    col = {name: get_column_letter(j + 1) for j, name in enumerate(cols)}
    first = XLSX_HEADER_ROW + 1
    last = first + len(rows) - 1

    wb = Workbook()
    ws = wb.active
    ws.title = XLSX_SHEET

    header_fill = PatternFill("solid", fgColor="1F3864")
    band_fill = PatternFill("solid", fgColor="D9E1F2")
    const_fill = PatternFill("solid", fgColor="FFF2CC")
    thin = Side(style="thin", color="8EA9DB")

    ws["A1"] = title or "Backpropagation by hand: 2-2-2 sigmoid network"
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = ("Row 0 (yellow, blue numbers) holds the only constants: the learning rate, the sample "
                "and the initial weights. Every other cell is a formula: row k holds the values "
                "after k updates, each weight = previous weight - lr * previous dE_total/dw. "
                "Edit a yellow cell and the whole sheet follows.")
    ws["A2"].font = Font(italic=True, color="404040")

    band_row = XLSX_HEADER_ROW - 1
    for label, lo, hi in GROUPS:
        if label == "sample" and with_bias:
            hi = "b2"
        ws.merge_cells(f"{col[lo]}{band_row}:{col[hi]}{band_row}")
        cell = ws[f"{col[lo]}{band_row}"]
        cell.value = label or None
        cell.font = Font(bold=True, color="1F3864")
        cell.alignment = Alignment(horizontal="center")
        for j in range(cols.index(lo), cols.index(hi) + 1):
            ws.cell(band_row, j + 1).fill = band_fill

    for j, name in enumerate(cols, start=1):
        cell = ws.cell(XLSX_HEADER_ROW, j, name)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = header_fill
        cell.alignment = Alignment(horizontal="center")
        ws.column_dimensions[get_column_letter(j)].width = 9 if name == "iteration" else 7 if name in SAMPLE else 13

    constants = {*SAMPLE, *WEIGHTS}
    const_font = Font(color="0000FF", bold=True)
    edge = Border(right=thin)
    edges = {"lr", "b2" if with_bias else "t2", "w8", "a_o2", "E_total"}

    def number_format(name: str, k: int) -> str:
        if name == "iteration":
            return "0"
        if name in GRADS:
            return "0.000000E+00"
        if name in SAMPLE or (k == 0 and name in WEIGHTS):
            return "General"  # as typed
        return "0.000000000"

    formats = [{name: number_format(name, k) for name in cols} for k in (0, 1)]
    for k, row in enumerate(rows):
        r = first + k
        formulas = _formulas(col, r, first, with_bias)
        fmt = formats[min(k, 1)]
        for j, name in enumerate(cols, start=1):
            if k == 0 and name in constants:
                cell = ws.cell(r, j, float(row[name]))
                cell.font = const_font
                cell.fill = const_fill
            else:
                cell = ws.cell(r, j, formulas[name])
            cell.number_format = fmt[name]
            if name in edges:
                cell.border = edge
    ws.freeze_panes = f"B{first}"
    ws.sheet_view.zoomScale = 90
    ws.print_title_rows = f"{XLSX_HEADER_ROW}:{XLSX_HEADER_ROW}"  # printed: the header on every page
    ws.page_setup.orientation = "landscape"

    # the chart of E_total, on its own sheet
    cs = wb.create_sheet("E_total chart")
    cs["A1"] = f"E_total against iteration (sheet '{XLSX_SHEET}', column {col['E_total']})"
    cs["A1"].font = Font(bold=True)
    chart = ScatterChart()
    chart.title = "E_total against iteration"
    chart.style = 13
    chart.x_axis.title = "iteration"
    chart.y_axis.title = "E_total"
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.legend = None
    chart.y_axis.number_format = "0.0000"
    chart.x_axis.number_format = "0"
    chart.x_axis.scaling.min = 0
    chart.x_axis.scaling.max = max(1, len(rows) - 1)
    chart.y_axis.scaling.min = 0
    xs = Reference(ws, min_col=cols.index("iteration") + 1, min_row=first, max_row=last)
    ys = Reference(ws, min_col=cols.index("E_total") + 1, min_row=first, max_row=last)
    series = Series(ys, xs, title="E_total")
    series.marker.symbol = "none"
    series.smooth = False
    chart.series.append(series)
    chart.width, chart.height = 22, 12
    cs.add_chart(chart, "A3")
    cs.page_setup.orientation = "landscape"

    # the equations, as text
    es = wb.create_sheet("equations")
    for r, line in enumerate(EQUATIONS, start=1):
        es.cell(r, 1, line)
    es["A1"].font = Font(bold=True)
    es.column_dimensions["A"].width = 110

    with atomic_path(path) as tmp:
        wb.save(tmp)


EQUATIONS = [
    "The network (sheet 'backprop'), with fixed biases b1, b2 (0 unless set)",
    "h1 = w1*i1 + w2*i2 + b1            h2 = w3*i1 + w4*i2 + b1",
    "a_h1 = 1/(1+exp(-h1))              a_h2 = 1/(1+exp(-h2))",
    "o1 = w5*a_h1 + w6*a_h2 + b2        o2 = w7*a_h1 + w8*a_h2 + b2",
    "a_o1 = 1/(1+exp(-o1))              a_o2 = 1/(1+exp(-o2))",
    "E1 = 1/2 (t1 - a_o1)^2             E2 = 1/2 (t2 - a_o2)^2             E_total = E1 + E2",
    "",
    "Gradients (chain rule; sigmoid'(x) = sigmoid(x) (1 - sigmoid(x)))",
    "delta_o1 = dE_total/do1 = (a_o1 - t1) * a_o1 * (1 - a_o1)",
    "delta_o2 = dE_total/do2 = (a_o2 - t2) * a_o2 * (1 - a_o2)",
    "dE/dw5 = delta_o1 * a_h1     dE/dw6 = delta_o1 * a_h2     dE/dw7 = delta_o2 * a_h1     dE/dw8 = delta_o2 * a_h2",
    "dE_total/da_h1 = delta_o1 * w5 + delta_o2 * w7        dE_total/da_h2 = delta_o1 * w6 + delta_o2 * w8",
    "delta_h1 = dE_total/da_h1 * a_h1 * (1 - a_h1)         delta_h2 = dE_total/da_h2 * a_h2 * (1 - a_h2)",
    "dE/dw1 = delta_h1 * i1       dE/dw2 = delta_h1 * i2       dE/dw3 = delta_h2 * i1       dE/dw4 = delta_h2 * i2",
    "",
    "Update (plain gradient descent, all eight weights at once): w <- w - lr * dE_total/dw",
]


# -- figures --------------------------------------------------------------------------------------

def save_figure(path: str | os.PathLike, draw: Callable[[Any], None], figsize=(7, 4.2)) -> None:
    """Draw on a fresh Agg figure and save it atomically as PNG."""
    plt = files.pyplot()
    fig, ax = plt.subplots(figsize=figsize)
    try:
        draw(ax)
        fig.tight_layout()
    except BaseException:
        plt.close(fig)
        raise
    files.save_figure(fig, path, dpi=110)


def plot_loss(path: str | os.PathLike, rows: Sequence[Row], title: str) -> None:
    def draw(ax):
        ax.plot([r["iteration"] for r in rows], [r["E_total"] for r in rows], color="C0", lw=1.8)
        ax.set(xlabel="iteration (updates)", ylabel="E_total", title=title)
        ax.set_xlim(0, max(1, len(rows) - 1))
        ax.grid(alpha=0.3)

    save_figure(path, draw)
