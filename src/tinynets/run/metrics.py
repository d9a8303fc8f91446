"""metrics.json, the per-run record, and its one owner: its file name, its status words, the running
marker it replaces, the record of a finished run (`run_metrics`) and of one that could not finish
(`failure_record`), writing it atomically and reading it back, the code version it names, and the
"Submission Info" block printed from it. Everything else that writes or reads a metrics.json calls these."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from tinynets.files import read_json, write_json

FILE = "metrics.json"
OK, PRUNED, DIVERGED, FAILED = "ok", "pruned", "diverged", "failed"  # a record's `status`
KILLED = "killed"  # what a sweep reports for a job dir with no record (killed, or still running)
RUNNING = "running"  # a job dir with no record yet whose process is alive on this host (another worker's)
MARKER = "running.json"  # {host, pid} of the process running a job, until its record replaces it
RETRIED = "retried"  # a search trial whose process died: its study ran the same point again as another trial
SUPERSEDED = "superseded"  # a search trial failed elsewhere while its process lived on (paused): stopped, retried
COMPLETE = (OK, PRUNED, DIVERGED)  # a re-run does not redo these; FAILED is retried
EVAL_LABELS = {"test": "official 10k test set", "holdout": "holdout split of train"}  # a record's `eval_set`


def status_of(record: dict[str, Any] | None) -> str:
    """A record's status, the one rule every reader applies: KILLED for no record (its run never
    finished writing one), FAILED for a record that names none (every run writes its status, so such
    a record is not a finished run's: a re-run redoes it, no table counts it as ok)."""
    if record is None:
        return KILLED
    return str(record.get("status") or FAILED)


def write_metrics(run_dir: str | os.PathLike, record: dict[str, Any]) -> Path:
    """The run dir's metrics.json, written atomically (a reader sees the whole record or none); it
    replaces the running marker."""
    path = Path(run_dir) / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, record)
    (path.parent / MARKER).unlink(missing_ok=True)
    return path


def mark_running(run_dir: str | os.PathLike) -> None:
    """Say that this process runs the job in `run_dir` (until write_metrics): a worker that ends while
    another one still trains a job of the same sweep counts that job as running, not killed."""
    write_json(Path(run_dir) / MARKER, {"host": platform.node(), "pid": os.getpid()})


def running_pid(run_dir: str | os.PathLike) -> int | None:
    """The pid of another live process of this host that runs the job in `run_dir` and has not
    written its record yet; None when there is none (finished, killed, or on another host)."""
    marker = read_json(Path(run_dir) / MARKER)
    if not isinstance(marker, dict) or marker.get("host") != platform.node() or (Path(run_dir) / FILE).exists():
        return None
    pid = marker.get("pid")
    if not isinstance(pid, int) or pid == os.getpid():  # our own job without a record: it did not finish
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        return pid
    return pid


def read_metrics(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The run dir's record, or None when it has none (or none that parses)."""
    return read_json(Path(run_dir) / FILE)


def failure_record(status: str, error: str, **fields: Any) -> dict[str, Any]:
    """The record of a run that could not finish: its status (FAILED, or PRUNED for a search trial
    refused before training) and why, with what is known of it."""
    assert status in (FAILED, PRUNED, DIVERGED, RETRIED, SUPERSEDED), status
    return {"status": status, "error": error, **fields}


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
        "final_val_acc": scored[-1]["val_acc"] if scored else None,  # the last epoch's: the weights a run ends with
        "target_acc": target_acc,
        "target_epoch": target_epoch,
        "test_acc": test_acc,
        "verdict": verdict,
        "val_acc": [r.get("val_acc") for r in history],
        "history": history,
        **extra,
    }


def sheet_metrics(*, rows: list[dict[str, Any]], preset: str, lr: float, iterations: int, autograd_checked: bool,
                  fit_s: float, wall_s: float, overrides: list[str]) -> dict[str, Any]:
    """The backprop sheet's record (task=backprop_sheet), from its rows (iteration 0..N: the inputs,
    targets, biases, weights and E_total of each): E_total at the start and the end, the iteration
    that first halved it, the weights before and after, the curve a sweep's leaderboard draws."""
    first, last = rows[0], rows[-1]
    e0 = first["E_total"]
    return {
        "task": "backprop_sheet",
        "preset": preset,
        "lr": lr,
        "iterations": iterations,
        "E_total_0": e0,
        "E_total_final": last["E_total"],
        "iterations_to_half": next((r["iteration"] for r in rows if r["E_total"] <= e0 / 2), None),
        "inputs": [first["i1"], first["i2"]],
        "targets": [first["t1"], first["t2"]],
        "b1": first["b1"],
        "b2": first["b2"],
        "w_initial": [first[f"w{k}"] for k in range(1, 9)],
        "w_final": [last[f"w{k}"] for k in range(1, 9)],
        "E_total": [r["E_total"] for r in rows],  # per iteration 0..N: the sweep leaderboard's curve
        "autograd_checked": autograd_checked,
        "fit_s": round(fit_s, 3),
        "wall_s": round(wall_s, 3),  # build, fit and write (imports excluded)
        "overrides": overrides,
        "status": OK,
    }


CODE_PATHS = ("src", "conf", "train.py", "pyproject.toml")  # what decides what a run computes


def code_version(package: Path | None = None) -> dict[str, Any]:
    """The git commit of the checkout whose tinynets ran (`package`: default, this one), and whether
    its code (CODE_PATHS) had uncommitted changes: what a re-run must check out to repeat a run
    exactly. Both None for a tinynets that is not a checkout's src/tinynets (an installed wheel)."""
    import subprocess
    from importlib import resources

    package = Path(str(resources.files("tinynets")) if package is None else package).resolve()

    def git(*args: str, cwd: Path) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel", cwd=package)
    if top is None or Path(top).resolve() / "src" / "tinynets" != package:
        return {"commit": None, "dirty": None}
    return {"commit": git("rev-parse", "HEAD", cwd=Path(top)),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS, cwd=Path(top)))}


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
