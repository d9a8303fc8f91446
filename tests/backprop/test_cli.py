"""`python train.py ... experiment=backprop_sheet` as a user runs it: a 2-lr multirun whose
end-of-multirun callback writes lr_summary.csv and loss_by_lr.png at the sweep root, and a bad
input that ends in one line."""

from __future__ import annotations

import csv

import pytest

from tests.helpers import run_cli
from tinynets.backprop.sheet import read_csv


@pytest.mark.slow
def test_two_lr_sweep_writes_the_summary(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_cli("train.py", "-m", "experiment=backprop_sheet", "sheet=eva", "lr=2.0,0.5", "iterations=12",
                   f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr

    with open(sweep / "lr_summary.csv") as f:
        summary = list(csv.DictReader(f))
    assert list(summary[0]) == ["lr", "preset", "iterations", "E_total_0", "E_total_10", "E_total_100",
                                "E_total_final", "iterations_to_half", "job_dir"]
    assert [float(r["lr"]) for r in summary] == [0.5, 2.0]  # sorted by lr, whatever the sweep order
    for r in summary:
        job = sweep / r["job_dir"]
        rows = read_csv(job / "sheet.csv")
        assert len(rows) == 13 and rows[0]["lr"] == float(r["lr"])
        e = [row["E_total"] for row in rows]
        assert r["preset"] == "eva" and r["iterations"] == "12"
        assert float(r["E_total_0"]) == e[0] and float(r["E_total_10"]) == e[10] and float(r["E_total_final"]) == e[12]
        assert r["E_total_100"] == ""  # a 12-iteration run has no iteration 100
        half = next((k for k, v in enumerate(e) if v <= e[0] / 2), None)
        assert r["iterations_to_half"] == ("" if half is None else str(half))
        # each job's TensorBoard run is labelled by its lr under the sweep root
        assert list((job / f"lr={float(r['lr'])}").glob("events.out.tfevents.*"))
    # the faster lr gets lower after 12 iterations
    assert float(summary[1]["E_total_final"]) < float(summary[0]["E_total_final"])
    png = (sweep / "loss_by_lr.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("override, line", [
    ("sheet.w=[0.1,0.2,x]", "error: sheet.w=[0.1, 0.2, 'x'] is not allowed: must be a list of 8 numbers, "
                            "e.g. [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]\n"),
])
def test_bad_input_cli(tmp_path, override, line):
    proc = run_cli("train.py", "experiment=backprop_sheet", override, f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    assert proc.stderr == line
    assert not (tmp_path / "run" / "sheet.csv").exists()


def test_report_statements_follow_the_curves():
    """The README's 'Reading it' lines are computed, so they change when the curves do."""
    from tinynets.backprop.readme import observations

    start = {n: "0.1" for n in ("i1", "i2", *(f"w{k}" for k in range(1, 9)))}
    row0 = {"a": {**start, "a_o1": "0.6", "a_o2": "0.6", **{f"dE_dw{k}": "0.01" for k in range(1, 9)}},
            "b": {**start, "a_o1": "0.6", "a_o2": "0.6", **{f"dE_dw{k}": "0.01" for k in range(1, 9)}}}
    falling = {0.1: [1.0, 0.8, 0.6, 0.45], 1.0: [1.0, 0.5, 0.2, 0.1]}
    text = observations({"a": falling, "b": falling}, row0)
    assert "`a`: E_total falls at every iteration for every lr; the larger the lr, the lower" in text
    assert "`a` and `b` halve E_total at the same iteration for every lr" in text
    text = observations({"a": falling, "b": {0.1: [1.0, 0.9, 0.8, 0.7], 1.0: [1.0, 1.2, 0.9, 0.8]}}, row0)
    assert "`b`: E_total rises at some iteration for lr 1; a larger lr does not always end lower" in text
    assert "halve E_total at different iterations" in text
