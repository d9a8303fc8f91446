"""experiment=backprop_sheet run in-process through tinynets.run.classify.run (Lightning, TensorBoard):
sheet.csv checked against an independent plain-Python computation, sheet.xlsx's structure and
its recalculation by LibreOffice, metrics.json, loss.png, TensorBoard scalars, bad input."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from tests.helpers import ROOT
from tinynets.backprop.sheet import XLSX_HEADER_ROW, XLSX_SHEET, columns, read_csv

W = [f"w{k}" for k in range(1, 9)]
G = [f"dE_dw{k}" for k in range(1, 9)]
CONSTANTS = {"lr", "i1", "i2", "t1", "t2", "b1", "b2", *W}


def compose_cfg(out: Path, *overrides: str):
    """As conftest's make_cfg, for module-scoped runs."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    GlobalHydra.instance().clear()
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(out)
        cfg.hydra.runtime.cwd = str(ROOT)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    out.mkdir(parents=True, exist_ok=True)
    return cfg


def run_in_process(out: Path, *overrides: str):
    from tinynets.run.task import run

    return run(compose_cfg(out, "experiment=backprop_sheet", *overrides))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """era with the defaults (lr 0.5, 100 iterations) and mazur (biases) for 3 iterations."""
    base = tmp_path_factory.mktemp("backprop")
    run_in_process(base / "era")
    run_in_process(base / "mazur", "sheet=mazur", "iterations=3")
    return {"era": base / "era", "mazur": base / "mazur"}


# -- an independent computation in plain Python (no torch, no hand gradients) -------------------

def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def py_forward(w, i1, i2, t1, t2, b1=0.0, b2=0.0) -> dict[str, float]:
    h1, h2 = w[0] * i1 + w[1] * i2 + b1, w[2] * i1 + w[3] * i2 + b1
    a_h1, a_h2 = sig(h1), sig(h2)
    o1, o2 = w[4] * a_h1 + w[5] * a_h2 + b2, w[6] * a_h1 + w[7] * a_h2 + b2
    a_o1, a_o2 = sig(o1), sig(o2)
    E1, E2 = 0.5 * (t1 - a_o1) ** 2, 0.5 * (t2 - a_o2) ** 2
    return dict(h1=h1, h2=h2, a_h1=a_h1, a_h2=a_h2, o1=o1, o2=o2, a_o1=a_o1, a_o2=a_o2,
                E1=E1, E2=E2, E_total=E1 + E2)


def py_numeric_gradients(w, *sample, step=1e-6) -> list[float]:
    out = []
    for k in range(8):
        up, down = list(w), list(w)
        up[k] += step
        down[k] -= step
        out.append((py_forward(up, *sample)["E_total"] - py_forward(down, *sample)["E_total"]) / (2 * step))
    return out


def check_rows_independently(rows: list[dict[str, float]], lr: float, sample: tuple) -> None:
    for k, row in enumerate(rows):
        assert row["iteration"] == k and row["lr"] == lr
        w = [row[n] for n in W]
        for name, value in py_forward(w, *sample).items():
            assert row[name] == pytest.approx(value, abs=1e-13), (k, name)
        assert [row[g] for g in G] == pytest.approx(py_numeric_gradients(w, *sample), abs=1e-8), k
        if k:  # this row's weights are the previous row's after one plain gradient step
            prev = rows[k - 1]
            assert w == pytest.approx([prev[n] - lr * prev[g] for n, g in zip(W, G)], abs=1e-15), k


def test_sheet_csv_era(runs):
    path = runs["era"] / "sheet.csv"
    with open(path) as f:
        header = next(csv.reader(f))
    assert header == ["iteration", "lr", "i1", "i2", "t1", "t2", *W, "h1", "h2", "a_h1", "a_h2", "o1", "o2",
                      "a_o1", "a_o2", "E1", "E2", "E_total", *G]
    rows = read_csv(path)
    assert len(rows) == 101 and rows[0]["iteration"] == 0 and rows[-1]["iteration"] == 100
    assert [rows[0][n] for n in W] == [0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55]
    check_rows_independently(rows, 0.5, (0.05, 0.1, 0.5, 0.5))
    # the published class values at iteration 0
    assert rows[0]["a_o1"] == pytest.approx(0.606477732, abs=1e-9)
    assert rows[0]["E_total"] == pytest.approx(0.014181378, abs=1e-9)
    assert rows[-1]["E_total"] < rows[0]["E_total"] / 10


def test_sheet_csv_mazur_with_biases(runs):
    path = runs["mazur"] / "sheet.csv"
    with open(path) as f:
        header = next(csv.reader(f))
    assert header == columns(with_bias=True) and header[6:8] == ["b1", "b2"]
    rows = read_csv(path)
    assert len(rows) == 4 and (rows[0]["b1"], rows[-1]["b2"]) == (0.35, 0.6)
    check_rows_independently(rows, 0.5, (0.05, 0.1, 0.01, 0.99, 0.35, 0.6))
    assert rows[0]["E_total"] == pytest.approx(0.298371109, abs=1e-9)
    # Mazur's published weights after his first update
    assert [rows[1][n] for n in W] == pytest.approx(
        [0.149780716, 0.19956143, 0.24975114, 0.29950229, 0.35891648, 0.408666186, 0.511301270, 0.561370121],
        abs=1e-8)


def test_metrics_and_loss_png(runs):
    m = json.loads((runs["era"] / "metrics.json").read_text())
    rows = read_csv(runs["era"] / "sheet.csv")
    assert (m["preset"], m["lr"], m["iterations"], m["status"]) == ("era", 0.5, 100, "ok")
    assert m["E_total_0"] == rows[0]["E_total"] and m["E_total_final"] == rows[100]["E_total"]
    assert m["iterations_to_half"] == next(k for k, r in enumerate(rows) if r["E_total"] <= rows[0]["E_total"] / 2)
    assert json.loads((runs["mazur"] / "metrics.json").read_text())["preset"] == "mazur"
    png = (runs["era"] / "loss.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert not list(runs["era"].glob(".*.part"))  # no temporary files left behind


def test_tensorboard_scalars(runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(runs["era"] / "lr=0.5"))
    ea.Reload()
    tags = set(ea.Tags()["scalars"])
    assert {"loss/E_total", "loss/E1", "loss/E2"} | {f"weights/{n}" for n in W} | {f"grads/{g}" for g in G} <= tags
    rows = read_csv(runs["era"] / "sheet.csv")
    for tag, col in (("loss/E_total", "E_total"), ("weights/w5", "w5"), ("grads/dE_dw3", "dE_dw3")):
        events = ea.Scalars(tag)
        assert [e.step for e in events] == list(range(101))
        assert [e.value for e in events] == pytest.approx([r[col] for r in rows], rel=1e-6)  # float32


# -- sheet.xlsx ----------------------------------------------------------------------------------

def header_columns(ws) -> dict[str, str]:
    from openpyxl.utils import get_column_letter

    return {ws.cell(XLSX_HEADER_ROW, j).value: get_column_letter(j) for j in range(1, ws.max_column + 1)}


@pytest.mark.parametrize("name", ["era", "mazur"])
def test_xlsx_is_live_formulas(runs, name):
    import openpyxl

    rows = read_csv(runs[name] / "sheet.csv")
    wb = openpyxl.load_workbook(runs[name] / "sheet.xlsx")
    ws = wb[XLSX_SHEET]
    cols = header_columns(ws)
    assert list(cols) == columns(with_bias=name == "mazur")
    first = XLSX_HEADER_ROW + 1
    assert ws.max_row == first + len(rows) - 1
    for k in range(len(rows)):
        for col_name, letter in cols.items():
            value = ws[f"{letter}{first + k}"].value
            if k == 0 and col_name in CONSTANTS:
                assert value == rows[0][col_name], col_name
            else:
                assert isinstance(value, str) and value.startswith("="), (k, col_name, value)
    # row k's weights come from row k-1's weights, lr and gradients
    assert ws[f"{cols['w3']}{first + 2}"].value == f"={cols['w3']}{first + 1}-{cols['lr']}{first + 1}*{cols['dE_dw3']}{first + 1}"
    assert ws[f"{cols['lr']}{first + 2}"].value == f"=${cols['lr']}${first}"
    assert ws.freeze_panes == f"B{first}"
    assert ws[f"{cols['E_total']}{first}"].number_format == "0.000000000"
    chart_sheet = wb["E_total chart"]
    assert len(chart_sheet._charts) == 1
    # no cached values: whatever a spreadsheet shows, it computed
    values = openpyxl.load_workbook(runs[name] / "sheet.xlsx", data_only=True)[XLSX_SHEET]
    assert values[f"{cols['E_total']}{first}"].value is None


def soffice() -> str:
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("soffice (LibreOffice) is missing on CI: .ci/run installs libreoffice-calc")
        pytest.skip("LibreOffice (soffice) is not installed here: apt-get install libreoffice-calc to run this")
    return exe


def recalculated(exe: str, files: list[Path], tmp: Path) -> dict[str, object]:
    """Open each xlsx in headless LibreOffice, which computes every formula (the files carry no
    cached values), save it as xlsx again and read the values LibreOffice stored."""
    import openpyxl

    out = tmp / "recalculated"
    proc = subprocess.run([exe, f"-env:UserInstallation=file://{tmp / 'lo_profile'}", "--headless",
                           "--convert-to", "xlsx", "--outdir", str(out), *map(str, files)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    return {f.stem: openpyxl.load_workbook(out / f.name, data_only=True)[XLSX_SHEET] for f in files}


def compare(ws, rows: list[dict[str, float]]) -> int:
    cols = header_columns(ws)
    first = XLSX_HEADER_ROW + 1
    checked = 0
    for k, row in enumerate(rows):
        for name, letter in cols.items():
            got = ws[f"{letter}{first + k}"].value
            assert isinstance(got, (int, float)), (k, name, got)
            assert abs(got - row[name]) <= 1e-9, (k, name, got, row[name])
            assert abs(got - row[name]) <= 1e-12 + 1e-9 * abs(row[name]), (k, name, got, row[name])
            checked += 1
    return checked


def test_libreoffice_recalculates_the_sheet(runs, tmp_path):
    import openpyxl

    exe = soffice()
    files = []
    for name in ("era", "mazur"):
        files.append(tmp_path / f"{name}.xlsx")
        shutil.copy(runs[name] / "sheet.xlsx", files[-1])
    # the formulas are live: change the lr cell and w1 of row 0 and the whole sheet must follow
    wb = openpyxl.load_workbook(runs["era"] / "sheet.xlsx")
    ws = wb[XLSX_SHEET]
    cols, first = header_columns(ws), XLSX_HEADER_ROW + 1
    ws[f"{cols['lr']}{first}"] = 1.5
    ws[f"{cols['w1']}{first}"] = -0.4
    files.append(tmp_path / "edited.xlsx")
    wb.save(files[-1])

    sheets = recalculated(exe, files, tmp_path)
    assert compare(sheets["era"], read_csv(runs["era"] / "sheet.csv")) == 101 * 33
    assert compare(sheets["mazur"], read_csv(runs["mazur"] / "sheet.csv")) == 4 * 35

    w = [-0.4, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55]
    expected = []
    for k in range(101):
        sample = (0.05, 0.1, 0.5, 0.5)
        row = {"iteration": k, "lr": 1.5, "i1": 0.05, "i2": 0.1, "t1": 0.5, "t2": 0.5, **dict(zip(W, w))}
        row.update(py_forward(w, *sample))
        grads = py_numeric_gradients(w, *sample)
        row.update(zip(G, grads))
        expected.append(row)
        w = [x - 1.5 * g for x, g in zip(w, grads)]
    edited = sheets["edited"]
    assert edited[f"{cols['E_total']}{first}"].value != read_csv(runs["era"] / "sheet.csv")[0]["E_total"]
    for k in (0, 1, 50, 100):  # numeric gradients: compare at their accuracy
        for name in cols:
            assert edited[f"{cols[name]}{first + k}"].value == pytest.approx(expected[k][name], abs=1e-7), (k, name)


# -- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("override, line", [
    ("sheet.w=[0.1,0.2]", "error: sheet.w=[0.1, 0.2] is not allowed: must be a list of 8 numbers"),
    ("sheet.inputs=[0.05,0.1,0.2]", "error: sheet.inputs=[0.05, 0.1, 0.2] is not allowed: must be a list of 2 numbers"),
    ("sheet.targets=[0.5,abc]", "error: sheet.targets=[0.5, 'abc'] is not allowed: must be a list of 2 numbers"),
    ("sheet.w=0.3", "error: sheet.w=0.3 is not allowed: must be a list of 8 numbers"),
    ("sheet.b1=high", "error: sheet.b1='high' is not allowed: must be a number"),
    ("lr=0", "error: lr=0 is not allowed: must be a number > 0"),
    ("lr=-0.5", "error: lr=-0.5 is not allowed: must be a number > 0"),
    ("iterations=0", "error: iterations=0 is not allowed: must be an integer from 1 to 1048571"),
    ("iterations=2.5", "error: iterations=2.5 is not allowed: must be an integer from 1 to 1048571"),
    ("iterations=2000000", "error: iterations=2000000 is not allowed: must be an integer from 1 to 1048571"),
    ("model.check_autograd=maybe", "error: model.check_autograd='maybe' is not allowed: must be true or false"),
    ("optimizer=sgd", "error: optimizer={'_target_': 'torch.optim.SGD'"),
    ("model=gap_fc", "error: model='gap_fc' is not allowed: task=backprop_sheet runs model=tiny_sigmoid only"),
    ("+model.width=3", "error: model='tiny_sigmoid' is not allowed: it cannot be built (TypeError: "),
    ("+data.shuffle=true", "error: data='sheet_sample' is not allowed: it cannot be built (TypeError: "),
    ("+trainer.bogus=1", "error: trainer='cpu' is not allowed: it cannot be built (TypeError: "),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, override, line):
    with pytest.raises(SystemExit) as e:
        run_in_process(tmp_path / "run", override)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1, err
    assert list((tmp_path / "run").iterdir()) == []


def test_tiny_sigmoid_outside_its_experiment(tmp_path, capsys):
    from tinynets.run.task import run

    with pytest.raises(SystemExit) as e:
        run(compose_cfg(tmp_path / "run", "model=tiny_sigmoid"))
    assert e.value.code == 2
    assert capsys.readouterr().err == ("error: model='tiny_sigmoid' is not allowed: it is the backprop sheet's "
                                       "model: run experiment=backprop_sheet\n")


def test_unreachable_targets_warn_once_and_run(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="tinynets"):
        e_final = run_in_process(tmp_path / "run", "sheet.targets=[1.2,0.5]", "iterations=2")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and warnings[0].startswith("warning: sheet.targets=[1.2, 0.5] lies outside (0, 1)")
    rows = read_csv(tmp_path / "run" / "sheet.csv")
    assert len(rows) == 3 and rows[-1]["E_total"] == e_final
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["preset"] == "era*"


def test_wrong_hand_gradient_stops_the_run(tmp_path, capsys, monkeypatch):
    """A derivation slip (the course sheet's a_h1 in dE/dw3) makes the run stop at iteration 0."""
    import tinynets.backprop.module as module

    correct = module.hand_gradients

    def slipped(w, i, t, f):
        g = correct(w, i, t, f).clone()
        g[2] = g[2] / (f.a_h2 * (1 - f.a_h2)) * (f.a_h1 * (1 - f.a_h1))
        return g

    monkeypatch.setattr(module, "hand_gradients", slipped)
    with pytest.raises(SystemExit) as e:
        run_in_process(tmp_path / "run", "iterations=3")
    assert e.value.code == 3
    err = capsys.readouterr().err
    assert err.startswith("error: hand-derived gradients disagree with autograd at iteration 0")
    assert "dE_dw3:" in err and "dE_dw4:" not in err
    assert not (tmp_path / "run" / "sheet.csv").exists() and not (tmp_path / "run" / "metrics.json").exists()
