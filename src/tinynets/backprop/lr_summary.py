"""The learning-rate experiment's summary, written at the sweep root when a multirun of
experiment=backprop_sheet ends (a Hydra callback, configured under hydra.callbacks):

- loss_by_lr.png: every job's E_total curve on one labelled figure;
- lr_summary.csv: one row per job (by lr): E_total at iterations 0, 10, 100 and at the end, and
  the first iteration at which E_total is at most half its initial value.

It reads what the jobs left in their run dirs (metrics.json, sheet.csv), so it needs no torch."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from tinynets.run.metrics import FILE, read_metrics

log = logging.getLogger("tinynets")

SUMMARY_COLUMNS = ["lr", "preset", "iterations", "E_total_0", "E_total_10", "E_total_100", "E_total_final",
                   "iterations_to_half", "job_dir"]


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every finished backprop-sheet job under the sweep root, sorted by lr: its metrics and its
    E_total curve."""
    from tinynets.backprop.sheet import read_csv

    jobs = []
    for metrics_path in sorted(sweep_dir.rglob(FILE)):  # job dirs: <overrides>/seed=N
        metrics = read_metrics(metrics_path.parent) or {}
        if metrics.get("task") != "backprop_sheet" or not (metrics_path.parent / "sheet.csv").exists():
            continue
        rows = read_csv(metrics_path.parent / "sheet.csv")
        jobs.append({"dir": metrics_path.parent, "rel": str(metrics_path.parent.relative_to(sweep_dir)),
                     "metrics": metrics, "E_total": [r["E_total"] for r in rows]})
    jobs.sort(key=lambda j: (j["metrics"]["lr"], j["rel"]))
    return jobs


def summary_rows(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for job in jobs:
        e = job["E_total"]
        half = next((k for k, v in enumerate(e) if v <= e[0] / 2), None)
        out.append({
            "lr": job["metrics"]["lr"],
            "preset": job["metrics"]["preset"],
            "iterations": len(e) - 1,
            "E_total_0": e[0],
            "E_total_10": e[10] if len(e) > 10 else None,
            "E_total_100": e[100] if len(e) > 100 else None,
            "E_total_final": e[-1],
            "iterations_to_half": half,
            "job_dir": job["rel"],
        })
    return out


def write_summary_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Empty cells where a value does not exist (a run shorter than 100, E_total never halved)."""
    from tinynets.files import write_csv

    write_csv(path, SUMMARY_COLUMNS, rows)


def plot_by_lr(path: Path, jobs: list[dict[str, Any]]) -> None:
    from tinynets.backprop.sheet import save_figure

    presets = sorted({j["metrics"]["preset"] for j in jobs})
    one_preset = len(presets) == 1

    def draw(ax):
        for n, job in enumerate(jobs):
            m = job["metrics"]
            label = f"lr = {m['lr']:g}" + ("" if one_preset else f" ({m['preset']})")
            ax.plot(range(len(job["E_total"])), job["E_total"], lw=1.8, color=f"C{n % 10}", label=label)
        targets = jobs[0]["metrics"]["targets"]
        where = f"preset {presets[0]} (targets {targets[0]:g} / {targets[1]:g})" if one_preset else "presets " + ", ".join(presets)
        ax.set(xlabel="iteration (updates)", ylabel="E_total", title=f"E_total against iteration by learning rate, {where}")
        ax.set_xlim(0, max(len(j["E_total"]) for j in jobs) - 1)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(title="learning rate" if one_preset else None, fontsize=9)

    save_figure(path, draw, figsize=(8, 4.8))


def summarize(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Write loss_by_lr.png and lr_summary.csv at the sweep root; returns the summary rows."""
    sweep_dir = Path(sweep_dir)
    jobs = collect(sweep_dir)
    if not jobs:
        log.warning("warning: no finished backprop-sheet runs under %s: no lr summary written", sweep_dir)
        return []
    rows = summary_rows(jobs)
    write_summary_csv(sweep_dir / "lr_summary.csv", rows)
    plot_by_lr(sweep_dir / "loss_by_lr.png", jobs)
    log.info("lr summary of %d runs: %s, %s", len(rows), sweep_dir / "loss_by_lr.png", sweep_dir / "lr_summary.csv")
    return rows


class LRSummary(Callback):
    """hydra.callbacks entry of experiment=backprop_sheet; acts at the end of a multirun only."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        summarize(config.hydra.sweep.dir)
