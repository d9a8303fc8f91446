"""Safe loading: a checkpoint whose unpickling would run code (here: write a file) is refused in
one line, exit status 2, and nothing in it runs, wherever a user points us at it: resuming a run
dir, exporting it, predicting with it. The commands run in this process (what is checked is their
refusal, not their start-up): a payload that ran would write its file all the same."""

from __future__ import annotations

import pytest

from tests.helpers import tiny
from tests.helpers.sweeps import train_inprocess


class WritesAFile:
    """Unpickling this calls exec(), which writes `marker`: what a malicious checkpoint does."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def craft(path, marker) -> None:
    """A checkpoint that looks like ours (state_dict, callbacks) but carries WritesAFile."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 0, "global_step": 1, "state_dict": {"net.0.weight": torch.zeros(2, 2)},
                "callbacks": {"History": {"records": []}, "Payload": WritesAFile(marker)}}, path)


@pytest.fixture
def evil_run(tmp_path):
    run_dir, marker = tmp_path / "run", tmp_path / "pwned"
    craft(run_dir / "checkpoints" / "last.ckpt", marker)
    craft(run_dir / "checkpoints" / "best.ckpt", marker)
    return run_dir, marker


def test_the_crafted_checkpoint_does_write_the_file_when_unpickled_unsafely(tmp_path, evil_run):
    """The payload is real: plain torch.load(weights_only=False) runs it."""
    import torch

    run_dir, marker = evil_run
    torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert marker.read_text() == "pwned"


def test_resume_refuses_it(tmp_path, evil_run, tiny_mnist):
    run_dir, marker = evil_run
    code, err = train_inprocess(*tiny(tiny_mnist), f"hydra.run.dir={run_dir}")
    assert code == 2, err[-2000:]
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    assert err.strip() == (f"error: resume=True is not allowed: {ckpt} carries a pickled object, not "
                                   "plain weights (it names exec): refused, nothing in it was run: delete it, "
                                   "or resume=false")
    assert not marker.exists()
    assert not (run_dir / "metrics.json").exists()


@pytest.mark.parametrize("module", ["tinynets.deploy.export", "tinynets.deploy.predict"])
def test_export_and_predict_refuse_it(tmp_path, evil_run, module, capsys):
    from importlib import import_module

    from PIL import Image

    run_dir, marker = evil_run
    Image.new("L", (28, 28), 0).save(tmp_path / "img.png")
    args = [str(run_dir)] + ([str(tmp_path / "img.png")] if module.endswith("predict") else [])
    code = import_module(module).main(args)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == (f"error: RUN_DIR={str(run_dir)!r} is not allowed: {run_dir / 'checkpoints' / 'best.ckpt'} "
                           "carries a pickled object, not plain weights (it names exec): refused, nothing in it was "
                           "run\n")
    assert not marker.exists() and not (run_dir / "model.onnx").exists()
