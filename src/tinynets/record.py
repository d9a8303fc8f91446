"""The per-run record: what a finished run leaves behind (metrics.json's fields, the code version)
and the "Submission Info" verdict printed from it. The results of record are tinynets.results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinynets.callbacks import EVAL_LABELS
from tinynets.files import write_json  # noqa: F401 - the run outputs' writer, re-exported


def run_metrics(
    *,
    model: str,
    params: int,
    flags: dict[str, bool],
    history: list[dict[str, Any]],
    test_acc: float | None,
    eval_set: str,
    lr: float,
    seed: int,
    target_acc: float,
    target_epochs: int,
    max_params: int,
    **extra: Any,
) -> dict[str, Any]:
    """The run's record: best eval accuracy and its epoch, first epoch at the target, verdict."""
    scored = [r for r in history if r.get("val_acc") is not None]
    best = max(scored, key=lambda r: r["val_acc"], default=None)  # first of equal maxima
    target_epoch = next((r["epoch"] for r in scored if r["val_acc"] >= target_acc), None)
    # on a holdout, the claim the assignment asks for is the test accuracy
    claimed = best["val_acc"] if best and eval_set == "test" else test_acc
    verdict = {
        "params_ok": params <= max_params,
        "acc_ok": claimed is not None and claimed >= target_acc,
        "epochs_ok": target_epoch is not None and target_epoch <= target_epochs,
        **flags,
    }
    return {
        "model": model,
        "params": params,
        "epochs": len(history),
        "lr": lr,
        "seed": seed,
        "eval_set": eval_set,
        "best_val_acc": best["val_acc"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "target_acc": target_acc,
        "target_epoch": target_epoch,
        "test_acc": test_acc,
        "verdict": verdict,
        "val_acc": [r.get("val_acc") for r in history],
        "history": history,
        **extra,
    }


def code_version() -> dict[str, Any]:
    """The git commit of the tinynets sources that ran, and whether they had local changes:
    what a re-run must check out to repeat a run exactly."""
    import subprocess

    src = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=src, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", "."))}


def verdict_block(m: dict[str, Any], writeup: str | None, max_params: int, target_epochs: int) -> str:
    """The write-ups' "Submission Info", from metrics.json's fields and train.yaml's bars
    (`max_params`, `target_epochs`; the target accuracy is in the record); `writeup`: the model's write-up id."""
    v, yes = m["verdict"], {True: "yes", False: "NO"}
    label = EVAL_LABELS.get(m["eval_set"], m["eval_set"])
    best = "n/a" if m["best_val_acc"] is None else f"{m['best_val_acc']:.2f}% at epoch {m['best_epoch']}"
    test = "n/a" if m["test_acc"] is None else f"{m['test_acc']:.2f}%"
    target = m["target_epoch"] if m["target_epoch"] is not None else "not reached"
    rows = [
        ("Model", m["model"] + (f" (write-up {writeup})" if writeup else "")),
        ("Parameters", f"{m['params']:,}  (<= {max_params:,}: {yes[v['params_ok']]})"),
        ("Best val accuracy", f"{best} on the {label}"),
        ("Test accuracy", f"{test} on the official 10k test set ({m.get('test_weights', 'final')} weights)"),
        (f"Epoch reaching {m['target_acc']}%", f"{target}  (<= {target_epochs}: {yes[v['epochs_ok']]})"),
        ("Accuracy target met", yes[v["acc_ok"]]),
        ("Used BN", yes[v["uses_bn"]].lower()),
        ("Used Dropout", yes[v["uses_dropout"]].lower()),
        ("Used GAP", yes[v["uses_gap"]].lower()),
        ("Used Fully-Connected", yes[v["uses_fc"]].lower()),
    ]
    width = max(len(k) for k, _ in rows)
    bar = "-" * 20 + " Submission Info " + "-" * 20
    return "\n".join([bar, *(f"{k:<{width}}  {val}" for k, val in rows), "-" * len(bar)])
