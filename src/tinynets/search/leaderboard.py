"""Sweep leaderboards: a Hydra callback that ranks every job of a multirun when it ends.

Registered for every multirun in conf/hydra/default.yaml (`hydra.callbacks.leaderboard`). It
reads what each job left in its dir (`metrics.json`; a job that left none is reported as
killed or still running) and writes at the sweep root:

- `leaderboard.csv` and `leaderboard.md`: one row per job, sorted by the objective (ok jobs
  first, then pruned, diverged and failed ones, each with its reason); each override that
  differs between jobs (a sampled value of a search) is a column, and the .md says the
  overrides every job shares once, above the table;
- `leaderboard_seeds.csv` (and a section of the .md): jobs that differ only in `seed`, as mean
  and standard deviation, when some configuration ran with more than one seed;
- `curves.png`: the per-epoch curve (`curve`, e.g. `val_acc`) of every job on one figure;
- `best_<node>.yaml` when `best_config` names a config node (the search writes
  `best_model.yaml`, a drop-in file for conf/model/).

It is generic over metrics.json: any key may be missing (the backprop sheet's records have
other keys: set `objective`, `direction`, `curve` and `columns` for them). If any job failed
or diverged, the sweep exits with status 1 after writing the leaderboard, naming the jobs.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from tinynets.checks import is_finite_number
from tinynets.errors import fail
from tinynets.files import atomic_write, pyplot, save_figure, write_csv
from tinynets.overrides import key_value, split
from tinynets.run.metrics import (DIVERGED, FAILED, FILE, KILLED, OK, PRUNED, RETRIED, RUNNING, SUPERSEDED, read_metrics,
                                  running_pid)
from tinynets.tables import number

log = logging.getLogger("tinynets.sweep")

DEFAULT_COLUMNS = ("params", "best_val_acc", "best_epoch", "target_epoch", "test_acc", "verdict", "wall_s")
# a re-run of the same sweep does not redo a job in one of these states (see tinynets.run.resume)
NOT_OK = (FAILED, DIVERGED, KILLED)  # a sweep with one of these exits non-zero
_STATUS_ORDER = {OK: 0, PRUNED: 1, RUNNING: 2, RETRIED: 3, SUPERSEDED: 4, DIVERGED: 5, FAILED: 6, KILLED: 7}
GROUP_EXCLUDE = ("seed", "optuna_trial")  # jobs differing only in these form one group


def find_jobs(sweep_dir: Path) -> list[Path]:
    """Every job dir under the sweep root: those with Hydra's `.hydra/overrides.yaml` or a metrics.json."""
    jobs = {p.parent.parent for p in sweep_dir.rglob("overrides.yaml") if p.parent.name == ".hydra"}
    jobs |= {p.parent for p in sweep_dir.rglob(FILE)}
    return sorted(j for j in jobs if j != sweep_dir and ".submitit" not in j.parts)


def job_overrides(job_dir: Path, metrics: dict[str, Any] | None) -> list[str]:
    if metrics and isinstance(metrics.get("overrides"), list):
        return [str(o) for o in metrics["overrides"]]
    try:
        loaded = OmegaConf.load(job_dir / ".hydra" / "overrides.yaml")
        return [str(o) for o in loaded]
    except (OSError, ValueError, TypeError):
        return []


def group_key(overrides: Sequence[str]) -> str:
    return " ".join(o for o in overrides if key_value(o)[0] not in GROUP_EXCLUDE)


def _number(v: Any) -> float | None:
    return float(v) if is_finite_number(v) else None


def verdict_text(v: Any) -> str:
    if not isinstance(v, dict):
        return "" if v is None else str(v)
    checks = [k for k in ("params_ok", "acc_ok", "epochs_ok") if k in v]
    failing = [k.removesuffix("_ok") for k in checks if not v[k]]
    return "pass" if not failing else "fail: " + ", ".join(failing)


def collect(sweep_dir: Path, objective: str = "best_val_acc", curve: str = "val_acc") -> list[dict[str, Any]]:
    """One record per job: its dir, overrides, status and reason, metrics.json, objective, curve."""
    rows = []
    for job in find_jobs(sweep_dir):
        m = read_metrics(job)
        status = str(m.get("status", OK)) if m is not None else KILLED
        reason = (m or {}).get("error") or (m or {}).get("reason") or ""
        if m is None:
            pid = running_pid(job)  # another worker of this sweep is still training it
            status, reason = (RUNNING, f"pid {pid} of this host trains it") if pid else \
                (KILLED, "no metrics.json: killed, or still running")
        values = (m or {}).get(curve)
        if not isinstance(values, list) and m and isinstance(m.get("history"), list):
            values = [r.get(curve) for r in m["history"] if isinstance(r, dict)]
        overrides = job_overrides(job, m)
        rows.append({
            "job": job.relative_to(sweep_dir).as_posix(),
            "dir": job,
            "overrides": overrides,
            "group": group_key(overrides),
            "status": status,
            "reason": str(reason),
            "metrics": m or {},
            "objective": _number((m or {}).get(objective)),
            "curve": [_number(v) for v in values] if isinstance(values, list) else [],
        })
    return rows


def rank(rows: list[dict[str, Any]], direction: str = "maximize") -> list[dict[str, Any]]:
    sign = -1.0 if direction == "maximize" else 1.0

    def key(r):
        obj = r["objective"]
        return (_STATUS_ORDER.get(r["status"], 7), obj is None, sign * obj if obj is not None else 0.0, r["job"])

    ranked = sorted(rows, key=key)
    for i, r in enumerate(ranked, start=1):
        r["rank"] = i
    return ranked


def seed_groups(rows: list[dict[str, Any]], columns: Sequence[str]) -> list[dict[str, Any]]:
    """Configurations run with more than one seed: n, and mean/std of the objective and `columns` over ok jobs."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r)
    out = []
    for key, members in groups.items():
        if len(members) < 2:
            continue
        ok = [r for r in members if r["status"] == OK]
        rec: dict[str, Any] = {"group": key or "(no overrides)", "n": len(members), "n_ok": len(ok),
                               "seeds": " ".join(sorted(str(r["metrics"].get("seed", "?")) for r in members))}
        stats = {"objective": [r["objective"] for r in ok]}
        for c in columns:
            stats[c] = [_number(r["metrics"].get(c)) for r in ok]
        for name, xs in stats.items():
            xs = [x for x in xs if x is not None]
            rec[f"{name}_mean"] = statistics.mean(xs) if xs else None
            rec[f"{name}_std"] = statistics.stdev(xs) if len(xs) > 1 else (0.0 if xs else None)
        out.append(rec)
    return sorted(out, key=lambda g: (g["objective_mean"] is None, -(g["objective_mean"] or 0.0)))


def _status_text(r: dict[str, Any]) -> str:
    if r["reason"].startswith(r["status"]):  # "diverged at epoch 3 step 41 (loss=nan)"
        return r["reason"]
    return r["status"] + (f": {r['reason']}" if r["reason"] else "")


def split_overrides(rows: list[dict[str, Any]], swept: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """(overrides every job has, keys whose value differs between jobs or that the sweep
    varies: `swept`), in first-seen order. `optuna_trial` is in neither: the job column
    (trial=N) names it."""
    values: list[dict[str, str]] = []
    for r in rows:
        kv = {}
        for o in r["overrides"]:
            key, value = split(o)
            if key.lstrip("+~") != "optuna_trial":
                kv[key.lstrip("+")] = value
        values.append(kv)
    keys = list(dict.fromkeys(k for kv in values for k in kv))
    varying = [k for k in keys if len({kv.get(k) for kv in values}) > 1 or k.lstrip("~") in swept]
    shared = [f"{k}={values[0][k]}" for k in keys if k not in varying]
    r0 = rows[0]["overrides"] if rows else []
    shared = [next((o for o in r0 if o.lstrip("+") == s), s) for s in shared]  # as written (`~x`, `++x`)
    return shared, varying


def table(rows: list[dict[str, Any]], objective: str, columns: Sequence[str],
          swept: Sequence[str] = ()) -> tuple[list[str], list[list[Any]]]:
    """Header and raw cells: each override that differs between jobs is a column (the ones every
    job shares are said once, above the table: `split_overrides`); columns no job has are left out."""
    cols = [c for c in columns if c != objective and any(c in r["metrics"] for r in rows)]
    _, varying = split_overrides(rows, swept)
    header = ["rank", "job", *varying, "status", objective, *cols]
    cells = []
    for r in rows:
        kv = {k.lstrip("+"): v for k, v in map(split, r["overrides"])}
        vals = [verdict_text(r["metrics"].get(c)) if c == "verdict" else r["metrics"].get(c) for c in cols]
        cells.append([r["rank"], r["job"], *(kv.get(k) for k in varying), _status_text(r), r["objective"], *vals])
    return header, cells


def swept_keys(config: DictConfig) -> tuple[str, ...]:
    """The keys a multirun varies: its sweep overrides (`lr=0.01,0.02`, `x=choice(...)`) and a
    search's `hydra.sweeper.params`."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    task = OmegaConf.select(config, "hydra.overrides.task", default=None) or []
    try:
        parsed = OverridesParser.create().parse_overrides([str(o) for o in task])
    except Exception:  # noqa: BLE001 - only for the columns
        parsed = []
    keys = [o.get_key_element().lstrip("+~") for o in parsed if o.is_sweep_override()]
    fixed = {o.get_key_element().lstrip("+~") for o in parsed if not o.is_sweep_override()}
    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    searched = [str(k).lstrip("+~") for k in params if str(k).lstrip("+~") not in fixed]  # the command may fix one
    return tuple(dict.fromkeys([*keys, *searched]))


def _fmt_value(v: Any) -> str:
    """An override's value for reading: sampled floats to 4 significant digits (the csv keeps them exact)."""
    if isinstance(v, str) and "." in v:
        try:
            return f"{float(v):.4g}"
        except ValueError:
            pass
    return number(v)


def markdown(sweep_dir: Path, rows, header, cells, groups, objective: str, direction: str,
             swept: Sequence[str] = ()) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    n_failed = sum(r["status"] in NOT_OK for r in rows)
    n_retried = sum(r["status"] == RETRIED for r in rows)
    n_superseded = sum(r["status"] == SUPERSEDED for r in rows)
    n_running = sum(r["status"] == RUNNING for r in rows)
    shared, varying = split_overrides(rows, swept)
    lines = [f"# Leaderboard: {sweep_dir}", "",
             *([f"Every job: `{' '.join(shared)}`", ""] if shared else []),
             f"{len(rows)} jobs ({sum(r['status'] == OK for r in rows)} ok, "
             f"{sum(r['status'] == PRUNED for r in rows)} pruned, "
             + (f"{n_retried} retried, " if n_retried else "")
             + (f"{n_superseded} superseded, " if n_superseded else "")
             + (f"{n_running} running, " if n_running else "") + f"{n_failed} failed), "
             f"sorted by `{objective}` ({direction}). Curves: `curves.png`. "
             f"TensorBoard: `tensorboard --logdir {sweep_dir}` (HPARAMS tab).", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in cells:
        lines.append("| " + " | ".join(esc(_fmt_value(v) if k in varying else number(v, k))
                                       for k, v in zip(header, row)) + " |")
    if groups:
        stat_cols = [k.removesuffix("_mean") for k in groups[0] if k.endswith("_mean")]
        lines += ["", "## Seeds: mean ± std over the ok jobs of each configuration", "",
                  "| configuration | n | ok | seeds | " + " | ".join(
                      objective if c == "objective" else c for c in stat_cols) + " |",
                  "|" + "---|" * (4 + len(stat_cols))]
        for g in groups:
            vals = []
            for c in stat_cols:
                mean, std = g[f"{c}_mean"], g[f"{c}_std"]
                key = objective if c == "objective" else c
                vals.append("" if mean is None else f"{number(mean, key)} ± {number(std, key)}")
            name = " ".join(o for o in g["group"].split(" ") if o not in shared) or g["group"]
            lines.append("| " + " | ".join([esc(name), str(g["n"]), str(g["n_ok"]), g["seeds"], *vals]) + " |")
    return "\n".join(lines) + "\n"


def plot_curves(path: Path, rows: list[dict[str, Any]], curve: str, title: str, step: str = "epoch",
                first_step: int = 1) -> bool:
    drawn = [r for r in rows if any(v is not None for v in r["curve"])]
    if not drawn:
        return False
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(9, 5.5))
    for r in drawn:
        xs = [i for i, v in enumerate(r["curve"], start=first_step) if v is not None]
        ys = [v for v in r["curve"] if v is not None]
        style = "-" if r["status"] == OK else ":"
        ax.plot(xs, ys, style, marker="o", ms=3, lw=1.2, label=f"#{r['rank']} {r['job']}")
    ax.set_xlabel(step)
    ax.set_ylabel(curve)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if len(drawn) <= 24:
        ax.legend(fontsize=6, loc="best")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return True


def write_best_config(sweep_dir: Path, best: dict[str, Any], node: str, objective: str) -> Path | None:
    """The best ok job's config node as a drop-in file for conf/<node>/ (interpolations such as
    `${dropout.rate}` kept, so the command line in its header sets them)."""
    try:
        cfg = OmegaConf.load(best["dir"] / ".hydra" / "config.yaml")
        data = OmegaConf.to_container(cfg[node], resolve=False)
    except Exception as e:  # noqa: BLE001 - the leaderboard is written anyway
        log.warning("best_%s.yaml not written: %s", node, e)
        return None
    others = [o for o in best["overrides"]
              if not o.lstrip("+~").startswith((f"{node}.", f"{node}=", "optuna_trial=", "hparams_search="))]
    m = best["metrics"]
    header = [
        f"# The best job of the sweep {sweep_dir}: {best['job']}",
        f"#   {objective}={number(best['objective'])}" + (f", params={m['params']:,}" if "params" in m else "")
        + (f", test_acc={number(m.get('test_acc'))}" if m.get("test_acc") is not None else ""),
        f"# Drop-in file for conf/{node}/: copy it to conf/{node}/NAME.yaml and train with",
        f"#   python train.py {node}=NAME {' '.join(others)}".rstrip(),
        "# (the job's other settings, e.g. lr, are not part of this file: they are in the line above)",
    ]
    path = sweep_dir / f"best_{node}.yaml"
    atomic_write(path, "\n".join(header) + "\n" + OmegaConf.to_yaml(OmegaConf.create(data)))
    return path


class Leaderboard(Callback):
    """See the module docstring. Parameters come from `hydra.callbacks.leaderboard`."""

    def __init__(self, objective: str = "best_val_acc", direction: str = "maximize", curve: str = "val_acc",
                 columns: Sequence[str] | None = None, best_config: str | None = None,
                 exit_on_failure: bool = True, step: str = "epoch", first_step: int = 1) -> None:
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"hydra.callbacks.leaderboard.direction={direction!r}: maximize or minimize")
        self.objective, self.direction, self.curve = objective, direction, curve
        self.columns = tuple(columns) if columns is not None else DEFAULT_COLUMNS
        self.best_config, self.exit_on_failure = best_config, exit_on_failure
        self.step, self.first_step = step, first_step  # the curve's x axis: "epoch" from 1, "iteration" from 0
        self.swept: tuple[str, ...] = ()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from tinynets.checks import check_sweep_overrides

        check_sweep_overrides(config)  # an unknown option anywhere in the sweep: one line, before any job

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir() or OmegaConf.select(config, "hydra.sweeper.check_only", default=False):
            return  # nothing ran (a search's hydra.sweeper.check_only=true only checks)
        self.swept = swept_keys(config)
        failed = self.write(sweep_dir)
        if failed and self.exit_on_failure:
            first = failed[0]
            fail(f"{len(failed)} of {self._n} jobs failed ({first['job']}: {first['status']}"
                 f"{': ' + first['reason'] if first['reason'] else ''}"
                 f"{'; ...' if len(failed) > 1 else ''}); see {sweep_dir / 'leaderboard.md'}", code=1)

    def write(self, sweep_dir: Path) -> list[dict[str, Any]]:
        """Write the leaderboard files; return the failed jobs."""
        rows = rank(collect(sweep_dir, self.objective, self.curve), self.direction)
        self._n = len(rows)
        header, cells = table(rows, self.objective, self.columns, self.swept)
        write_csv(sweep_dir / "leaderboard.csv", header, cells)
        stat_cols = [c for c in ("test_acc", "params", "wall_s") if c in self.columns]
        groups = seed_groups(rows, stat_cols)
        if groups:
            g_header = ["group", "n", "n_ok", "seeds"] + [k for k in groups[0] if k.endswith(("_mean", "_std"))]
            write_csv(sweep_dir / "leaderboard_seeds.csv", g_header, [[g[k] for k in g_header] for g in groups])
        md = markdown(sweep_dir, rows, header, cells, groups, self.objective, self.direction, self.swept)
        atomic_write(sweep_dir / "leaderboard.md", md)
        plot_curves(sweep_dir / "curves.png", rows, self.curve, f"{sweep_dir}: {self.curve} per {self.step}",
                    self.step, self.first_step)
        ok = [r for r in rows if r["status"] == OK and r["objective"] is not None]
        if self.best_config and ok:
            write_best_config(sweep_dir, ok[0], self.best_config, self.objective)
        print(md, flush=True)
        return [r for r in rows if r["status"] in NOT_OK]
