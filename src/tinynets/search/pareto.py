"""The accuracy/params Pareto front of a multi-objective search, at the sweep root: pareto.csv,
pareto.md, pareto.png (every trial a point, the front as a step line) and front/trial=N.yaml
(each front member as a drop-in conf/model/ file)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from tinynets.files import atomic_write, pyplot, save_figure, write_csv
from tinynets.search.space import override_value
from tinynets.tables import number

log = logging.getLogger("tinynets.search")

SIZE, ACC = "params", "best_val_acc"
ACCS = (ACC, "final_val_acc")  # the accuracy objectives (a seed-robust search scores the final weights)


def acc_name(names: list[str]) -> str | None:
    return next((n for n in names if n in ACCS), None)


def seed_cells(t, names: list[str]) -> dict[str, Any]:
    """A seed-robust trial's seeds, and its accuracy's minimum and spread over them (tinynets.search.seeds)."""
    acc, spread = acc_name(names), t.user_attrs.get("seed_spread")
    if acc is None or not spread:
        return {}
    i = names.index(acc)
    return {"seeds": len(t.user_attrs.get("seed_values", {})), f"{acc}_min": t.user_attrs["seed_min"][i],
            f"{acc}_spread": spread[i]}


def fmt(v: Any, key: str = "") -> str:
    """A cell of the front's tables: a sampled bool as its override text, numbers as every table shows them."""
    return override_value(v) if isinstance(v, bool) else number(v, key)


def front_rows(study, objectives: dict[str, str]) -> tuple[list[str], list[dict[str, Any]], list]:
    """Header and one row per front trial (sorted by the size objective, or the first one)."""
    names = list(objectives)
    lead = [n for n in (SIZE, acc_name(names)) if n in names]
    order = lead + [n for n in names if n not in lead]
    front = sorted(study.best_trials, key=lambda t: (t.values[names.index(order[0])], t.number))
    keys = list(dict.fromkeys(k for t in front for k in t.params))
    seeds = list(dict.fromkeys(k for t in front for k in seed_cells(t, names)))  # mean ± spread: the value is the mean
    rows = [{"trial": t.number, **{n: t.values[names.index(n)] for n in order}, **seed_cells(t, names),
             **{k: fmt(v) if isinstance(v, bool) else v for k, v in t.params.items()}} for t in front]
    for r in rows:
        if SIZE in r and float(r[SIZE]).is_integer():
            r[SIZE] = int(r[SIZE])
    return ["trial", *order, *seeds, *keys], rows, front


def write_md(path: Path, sweep_dir: Path, study, header, rows, objectives: dict[str, str]) -> None:
    from optuna.trial import TrialState

    states = {s: len(study.get_trials(deepcopy=False, states=(s,))) for s in TrialState if s.is_finished()}
    goals = ", ".join(f"{'max' if d == 'maximize' else 'min'}imise `{k}`" for k, d in objectives.items())
    lines = [f"# Pareto front: {sweep_dir}", "",
             f"Study `{study.study_name}`: {len(study.trials)} trials ({states[TrialState.COMPLETE]} complete, "
             f"{states[TrialState.PRUNED]} pruned, {states[TrialState.FAIL]} failed); {goals}. "
             f"{len(rows)} trial{'s' if len(rows) != 1 else ''} on the front: no other trial is at least as good in every objective and "
             "better in one. Plot: `pareto.png`. Each front trial's model is a drop-in file "
             "`front/trial=N.yaml` for `conf/model/`." + (
                 " Each trial is scored over its seeds: an objective is their mean, `_min` and `_spread` (standard "
                 "deviation) are over the same seeds." if any(k.endswith("_spread") for k in header) else ""), "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(k), k).replace("|", "\\|") for k in header) + " |")
    atomic_write(path, "\n".join(lines) + "\n")


def plot(path: Path, study, objectives: dict[str, str], front: list, max_params: Any, target_acc: Any) -> bool:
    """Every complete trial a point: size on x (log), accuracy on y; the front as a step line,
    its trials labelled."""
    from optuna.trial import TrialState

    names = list(objectives)
    x_name = SIZE if SIZE in names else names[-1]
    y_name = acc_name(names) or next(n for n in names if n != x_name)
    xi, yi = names.index(x_name), names.index(y_name)
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return False
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(9, 5.5))
    xs, ys = [t.values[xi] for t in done], [t.values[yi] for t in done]
    fx, fy = [t.values[xi] for t in front], [t.values[yi] for t in front]
    # the y range holds every trial unless a few sit far below the front (a diverged trial at 10%
    # beside a front at 99%): those are drawn at the floor as triangles, so the front stays readable
    span = max(fy) - min(fy)
    floor = min(fy) - max(5.0, 3 * span)
    lo = min(ys) if min(ys) >= floor else floor
    pad = 0.08 * max(0.5, max(ys) - lo)
    lo, hi = lo - pad, max(ys) + 1.5 * pad
    inside = [(x, y) for x, y in zip(xs, ys) if y >= lo]
    below = [(x, lo) for x, y in zip(xs, ys) if y < lo]
    ax.scatter([p[0] for p in inside], [p[1] for p in inside], s=22, c="#9aa5b1",
               label=f"all {len(done)} complete trials", zorder=2)
    if below:
        ax.scatter([p[0] for p in below], [p[1] for p in below], s=30, marker="v", c="#9aa5b1", clip_on=False,
                   label=f"{len(below)} below {lo:.1f} (drawn at the floor)", zorder=2)
    ax.step(fx, fy, where="post" if objectives[x_name] == "minimize" else "pre", color="#d1495b", lw=1.8, zorder=3)
    ax.scatter(fx, fy, s=46, c="#d1495b", edgecolors="black", linewidths=0.6,
               label=f"Pareto front ({len(front)})", zorder=4)
    spread = [(t.user_attrs.get("seed_spread") or [None] * len(names))[yi] for t in front]
    if any(v is not None for v in spread):  # seed-robust trials: the front's means ± their spread over seeds
        ax.errorbar(fx, fy, yerr=[v or 0.0 for v in spread], fmt="none", ecolor="#d1495b", elinewidth=1, capsize=3,
                    zorder=3, label="± spread over the seeds")
    near = False  # a front point within 8% of the previous one's x gets its label above, not below
    for i, (t, x, y) in enumerate(zip(front, fx, fy)):
        near = i > 0 and not near and abs(x - fx[i - 1]) < 0.08 * abs(x)
        ax.annotate(f"#{t.number}: {fmt(x, x_name)} / {fmt(y, y_name)}", (x, y), textcoords="offset points",
                    xytext=(-6, 8) if near else (6, -12), ha="right" if near else "left", fontsize=8)
    if isinstance(max_params, int) and x_name == SIZE:
        ax.axvline(max_params, color="black", ls="--", lw=1, label=f"max_params {max_params:,}")
    if isinstance(target_acc, (int, float)) and y_name in ACCS and lo < target_acc < hi:
        ax.axhline(target_acc, color="#2e86ab", ls=":", lw=1, label=f"target {target_acc}%")
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
    ax.xaxis.set_minor_locator(LogLocator(subs=(1.5, 4.0, 7.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.set_xlim(min(xs) / 1.15, max(max(xs), max_params if isinstance(max_params, int) and x_name == SIZE else 0) * 1.15)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"{x_name} (log scale)")
    mean = ", mean of its seeds" if any(v is not None for v in spread) else ""
    ax.set_ylabel(f"{y_name} (holdout, %{mean})" if y_name in ACCS else y_name + mean)
    ax.set_title(f"{study.study_name}: {y_name} vs {x_name}, {len(done)} complete trials", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    return True


def write_front_configs(out: Path, study, front: list, objectives: dict[str, str]) -> list[Path]:
    """front/trial=N.yaml: the trial's `model` config (interpolations kept), with how to train it."""
    written = []
    for t in front:
        model = t.user_attrs.get("model")
        if not isinstance(model, dict):
            log.warning("front/trial=%d.yaml not written: the trial recorded no model config", t.number)
            continue
        others = [f"{k}={fmt(v)}" for k, v in t.params.items() if not k.lstrip("+~").startswith("model")]
        values = ", ".join(f"{k}={fmt(v, k)}" for k, v in zip(objectives, t.values))
        header = [f"# Trial {t.number} of the Pareto front of the study {study.study_name} "
                  f"(its run: {t.user_attrs.get('job_dir', '?')})",
                  f"#   {values}",
                  "# Drop-in file for conf/model/: copy it to conf/model/NAME.yaml and train with",
                  f"#   python train.py model=NAME {' '.join(others)}".rstrip()]
        path = out / f"trial={t.number}.yaml"
        atomic_write(path, "\n".join(header) + "\n" + OmegaConf.to_yaml(OmegaConf.create(model)))
        written.append(path)
    return written


def write_pareto(sweep_dir: Path, study, objectives: dict[str, str], max_params: Any = None,
                 target_acc: Any = None) -> list:
    """All four outputs; returns the front's trials."""
    header, rows, front = front_rows(study, objectives)
    write_csv(sweep_dir / "pareto.csv", header, rows)
    write_md(sweep_dir / "pareto.md", sweep_dir, study, header, rows, objectives)
    plot(sweep_dir / "pareto.png", study, objectives, front, max_params, target_acc)
    write_front_configs(sweep_dir / "front", study, front, objectives)
    return front


def main(argv: list[str] | None = None) -> int:
    """`python -m tinynets.search.pareto STORAGE STUDY --out DIR`: the four outputs of a study as it stands,
    from any machine that reaches its storage (a committed journal file, a database), workers running or not."""
    import argparse

    from tinynets.errors import ConfigError, fail
    from tinynets.search.storage import check_storage, open_storage

    ap = argparse.ArgumentParser(prog="python -m tinynets.search.pareto", description=main.__doc__.split(":")[0])
    ap.add_argument("storage", help="journal:<path> or a database URL (hydra.sweeper.storage)")
    ap.add_argument("study", help="the study's name (hydra.sweeper.study_name)")
    ap.add_argument("--out", type=Path, required=True, help="where pareto.csv/md/png and front/ go")
    ap.add_argument("--max-params", type=int, help="the search's max_params, drawn as a line")
    ap.add_argument("--target", type=float, help="the target accuracy, drawn as a line")
    args = ap.parse_args(argv)
    try:
        import optuna

        study = optuna.load_study(study_name=args.study, storage=open_storage(check_storage(args.storage)))
        objectives = (study.user_attrs.get("tinynets_search") or {}).get("objectives")
        if not objectives or acc_name(list(objectives)) is None or SIZE not in objectives:
            raise ConfigError("study", args.study, "a study of a tinynets search with params and accuracy objectives")
    except KeyError:
        return fail(ConfigError("study", args.study, "a study in that storage"))
    except ConfigError as e:
        return fail(e)
    args.out.mkdir(parents=True, exist_ok=True)
    front = write_pareto(args.out, study, objectives, args.max_params, args.target)
    print(f"{len(front)} trials on the front of {len(study.trials)}: {args.out}/pareto.md, pareto.png")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
