"""notebooks/quickstart.ipynb: stored without outputs, and executed top to bottom (nbclient, a
real kernel) with its parameters cell overridden for a tiny run on synthetic data, in under 90 s."""

from __future__ import annotations

import time

import nbformat  # the dev extra installs it (and nbclient, ipykernel): missing is a failure, not a skip
import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow  # subprocesses and whole trainings

NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"


def test_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1


def test_runs_on_tiny_settings(tmp_path, tiny_mnist):
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    runs = tmp_path / "runs"
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell("\n".join([  # what papermill would inject
        f"REPO = {str(ROOT)!r}", "INSTALL = False", f"DATA_DIR = {str(tiny_mnist)!r}", f"RUN_ROOT = {str(runs)!r}",
        "EPOCHS = 1", "OVERRIDES = ['debug=fast', 'data.verify=false']", "SHEET_LRS = [0.5, 2.0]",
        "SHEET_ITERATIONS = 12"])))
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    elapsed = time.perf_counter() - t0
    assert elapsed < 90, f"the notebook took {elapsed:.0f} s"

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert not [o for o in outputs if o.output_type == "error"]
    # curves, confusion matrix, misclassified digits, loss by lr, the drawn digit
    assert len(images) == 5
    assert "[Epoch 1] loss=" in text and "test digits right" in text
    assert "onnxruntime" in text and ": ok" in text and "onnxruntime says: " in text
    (run_dir,) = [p for p in runs.iterdir() if not p.name.endswith("_backprop_sheet")]
    assert {"curves.png", "confusion.png", "model.onnx", "metrics.json", "my_digit.png"} <= {p.name for p in run_dir.iterdir()}
    predicted = next(ln for ln in text.splitlines() if "my_digit.png: " in ln)
    assert "(top 3: " in predicted
    markdown = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert any("| iteration | w1 |" in m for m in markdown) and any("| lr | E_total_0 |" in m for m in markdown)
    sheet = runs / f"{run_dir.name}_backprop_sheet"
    assert (sheet / "loss_by_lr.png").exists() and (sheet / "lr=2.0" / "sheet.csv").exists()
