"""`make backprop-report`: run the learning-rate sweep for the `era` and `eva` presets and one
Mazur update, then write experiments/backprop_sheet/README.md (equations, the chain-rule
derivation, the figures and tables of these runs, how to reproduce). Every number in the README
comes from the runs it just made.

    python -m tinynets.backprop.readme [--runs outputs/backprop_report] [--out experiments/backprop_sheet]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tinynets.errors import fail
from tinynets.files import atomic_write, read_csv
from tinynets.process import child_env
from tinynets.run.metrics import read_metrics
from tinynets.tables import number

ROOT = Path.cwd()  # the checkout whose experiments/backprop_sheet this writes (`make backprop-report`)
LRS = "0.1,0.2,0.5,0.8,1.0,2.0"
PRESETS = ("era", "eva")

# Matt Mazur, "A Step by Step Backpropagation Example" (2015): the weights he publishes after
# his first update (lr 0.5, biases 0.35 / 0.60 not updated, targets 0.01 / 0.99).
MAZUR_URL = "https://mattmazur.com/2015/03/17/a-step-by-step-backpropagation-example/"
MAZUR_PUBLISHED = {"w1": 0.149780716, "w2": 0.19956143, "w3": 0.24975114, "w4": 0.29950229,
                   "w5": 0.35891648, "w6": 0.408666186, "w7": 0.511301270, "w8": 0.561370121}
MAZUR_E_AFTER_FIRST_ROUND = 0.291027924  # the figure his post gives after the first update


def sh(*args: str) -> tuple[float, float]:
    """Run `python train.py ...` from the repo root as a user would; returns its (wall, CPU) seconds."""
    env = child_env()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        fail(f"python train.py {' '.join(args)} failed (exit {proc.returncode})", code=1)
    return seconds, cpu


def fmt(text: str | None) -> str:
    """A CSV cell's number to 9 decimals (tinynets.tables.number), "–" for an empty one."""
    return number(float(text) if text not in ("", None) else None, digits=9, missing="–")


def machine() -> str:
    import torch

    from tinynets.process import cpu_model

    return (f"{cpu_model()}, {os.cpu_count()} cores visible, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}")


def lr_table(summary: list[dict[str, str]]) -> str:
    lines = ["| lr | E_total at 0 | at 10 | at 100 | final | iterations until E_total halves |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in summary:
        half = r["iterations_to_half"] or f"not within {r['iterations']}"
        lines.append(f"| {float(r['lr']):g} | {fmt(r['E_total_0'])} | {fmt(r['E_total_10'])} | "
                     f"{fmt(r['E_total_100'])} | {fmt(r['E_total_final'])} | {half} |")
    return "\n".join(lines)


def iteration0_table(rows: dict[str, dict[str, str]]) -> str:
    names = ["h1", "h2", "a_h1", "a_h2", "o1", "o2", "a_o1", "a_o2", "E1", "E2", "E_total",
             *(f"dE_dw{k}" for k in range(1, 9))]
    presets = list(rows)
    lines = ["| value | " + " | ".join(f"`{p}`" for p in presets) + " |",
             "|---|" + "---:|" * len(presets)]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(fmt(rows[p][n]) for p in presets) + " |")
    return "\n".join(lines)


def mazur_table(row1: dict[str, str]) -> str:
    lines = ["| weight | ours after 1 update | Mazur's published | difference |", "|---|---:|---:|---:|"]
    for name, published in MAZUR_PUBLISHED.items():
        ours = float(row1[name])
        lines.append(f"| {name} | {ours:.12f} | {published} | {ours - published:+.1e} |")
    return "\n".join(lines)


def slope(row: dict[str, str], name: str) -> float:
    """sigmoid'(x) = a (1 - a) at the row's activation `name`."""
    a = float(row[name])
    return a * (1 - a)


def observations(curves: dict[str, dict[float, list[float]]], row0: dict[str, dict[str, str]]) -> str:
    """Plain statements about the E_total curves (preset -> lr -> curve), true by construction."""
    out = []
    for preset, by_lr in curves.items():
        lrs = sorted(by_lr)
        rising = [lr for lr in lrs if any(b > a for a, b in zip(by_lr[lr], by_lr[lr][1:]))]
        finals = [by_lr[lr][-1] for lr in lrs]
        ordered = all(b < a for a, b in zip(finals, finals[1:]))
        line = f"- `{preset}`: "
        line += ("E_total falls at every iteration for every lr" if not rising else
                 "E_total rises at some iteration for lr " + ", ".join(f"{lr:g}" for lr in rising))
        line += ("; the larger the lr, the lower E_total after the last iteration"
                 if ordered else "; a larger lr does not always end lower")
        top = lrs[-1]
        line += (f"; at lr {top:g} E_total ends at {by_lr[top][-1] / by_lr[top][0]:.2e} of its start, "
                 f"at lr {lrs[0]:g} at {by_lr[lrs[0]][-1] / by_lr[lrs[0]][0]:.2f}.")
        out.append(line)

    def halves(curve):
        return next((k for k, v in enumerate(curve) if v <= curve[0] / 2), None)

    presets = list(curves)
    common = sorted(set.intersection(*(set(c) for c in curves.values())))
    if len(presets) > 1 and common:
        same = all(len({halves(curves[p][lr]) for p in presets}) == 1 for lr in common)
        first = row0[presets[0]]
        same_start = all(row0[p][n] == first[n] for p in presets for n in ("i1", "i2", *(f"w{k}" for k in range(1, 9))))
        if same and same_start:
            g2 = [float(first[f"dE_dw{k}"]) ** 2 for k in range(1, 9)]
            out.append(f"- {' and '.join(f'`{p}`' for p in presets)} halve E_total at the same iteration for "
                       "every lr. They start from the same weights and inputs, hence the same outputs. The "
                       "relative rate at which E_total falls, lr |dE/dw|^2 / E_total, is dominated by the "
                       f"output weights ({sum(g2[4:]) / sum(g2):.2%} of |dE/dw|^2 at iteration 0 of "
                       f"`{presets[0]}`), where it equals 2 a_o^2 (1 - a_o)^2 (a_h1^2 + a_h2^2) whatever the "
                       "targets if a_o1 (1 - a_o1) = a_o2 (1 - a_o2); at iteration 0 these are "
                       f"{slope(first, 'a_o1'):.3f} and {slope(first, 'a_o2'):.3f}.")
        elif same:
            out.append(f"- {' and '.join(f'`{p}`' for p in presets)} halve E_total at the same iteration for every lr.")
        else:
            out.append("- The presets halve E_total at different iterations (tables above).")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=ROOT / "outputs" / "backprop_report",
                    help="where the sweeps run (replaced)")
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "backprop_sheet",
                    help="README.md and the figures")
    args = ap.parse_args(argv)
    runs, out = args.runs.resolve(), args.out.resolve()
    if runs.exists():
        shutil.rmtree(runs)
    runs.mkdir(parents=True)
    out.mkdir(parents=True, exist_ok=True)

    seconds, cpu, summaries, row0, fig, curves, load = {}, {}, {}, {}, {}, {}, {}
    for preset in PRESETS:
        sweep = runs / preset
        print(f"sweep {preset}: python train.py -m experiment=backprop_sheet sheet={preset} lr={LRS}", flush=True)
        load[preset] = f"{os.getloadavg()[0]:.1f}"
        seconds[preset], cpu[preset] = sh("-m", "experiment=backprop_sheet", f"sheet={preset}", f"lr={LRS}",
                             f"hydra.sweep.dir={sweep}")
        summaries[preset] = read_csv(sweep / "lr_summary.csv")
        job = next(r["job_dir"] for r in summaries[preset] if float(r["lr"]) == 0.5)
        row0[preset] = read_csv(sweep / job / "sheet.csv")[0]
        curves[preset] = {float(r["lr"]): [float(x["E_total"]) for x in read_csv(sweep / r["job_dir"] / "sheet.csv")]
                          for r in summaries[preset]}
        fig[preset] = f"loss_by_lr_{preset}.png"
        shutil.copyfile(sweep / "loss_by_lr.png", out / fig[preset])
    print("mazur: python train.py experiment=backprop_sheet sheet=mazur iterations=1", flush=True)
    sh("experiment=backprop_sheet", "sheet=mazur", "iterations=1", f"hydra.run.dir={runs / 'mazur'}")
    mazur = read_csv(runs / "mazur" / "sheet.csv")
    mazur_metrics = read_metrics(runs / "mazur") or {}
    assert mazur_metrics["preset"] == "mazur" and mazur_metrics["lr"] == 0.5

    text = TEMPLATE.format(
        date=dt.date.today().isoformat(),
        machine=machine(),
        lrs=LRS,
        runs=runs.relative_to(ROOT) if runs.is_relative_to(ROOT) else runs,
        era_table=lr_table(summaries["era"]),
        eva_table=lr_table(summaries["eva"]),
        era_fig=fig["era"],
        eva_fig=fig["eva"],
        era_s=seconds["era"],
        era_load=load["era"],
        era_cpu=cpu["era"],
        eva_cpu=cpu["eva"],
        eva_load=load["eva"],
        cores=os.cpu_count(),
        eva_s=seconds["eva"],
        iteration0=iteration0_table(row0),
        mazur_table=mazur_table(mazur[1]),
        mazur_url=MAZUR_URL,
        mazur_e0=float(mazur[0]["E_total"]),
        mazur_note=(f"the total error he quotes after the first round ({MAZUR_E_AFTER_FIRST_ROUND}) is not what "
                    f"those updated weights give ({float(mazur[1]['E_total']):.9f}): use his weights, not his "
                    "later error figures, as the reference."
                    if abs(float(mazur[1]["E_total"]) - MAZUR_E_AFTER_FIRST_ROUND) > 5e-10 else
                    f"his total error after the first round ({MAZUR_E_AFTER_FIRST_ROUND}) matches ours"),
        observations=observations(curves, row0),
    )
    atomic_write(out / "README.md", text)
    print(f"wrote {out / 'README.md'} (sweeps: era {seconds['era']:.1f} s wall / {cpu['era']:.1f} s CPU, "
          f"eva {seconds['eva']:.1f} s wall / {cpu['eva']:.1f} s CPU)")


TEMPLATE = """\
# The backprop sheet: a 2-2-2 sigmoid network by hand

<!-- generated by `make backprop-report` (src/tinynets/backprop/readme.py) from real runs: do not edit -->

Every write-up in `../shared/seeds/` did this in Excel and showed screenshots. Here it is an
experiment in which every number is checked: the gradients are derived by hand and coded term
by term (`src/tinynets/backprop/tiny.py`, `hand_gradients`), compared with autograd at every
step of every run (tolerance 1e-12), and tested against central finite differences on 250
random draws, against the published class values and against Matt Mazur's published first
update. Each run writes `sheet.csv` (every value at full precision), `sheet.xlsx` (the same
table as live formulas; LibreOffice's recalculation of it equals `sheet.csv` within 1e-9 in
the tests), `loss.png` and `metrics.json`.

Generated on {date} on {machine}.

## Reproduce

```bash
make backprop-report                                   # this README: both sweeps, figures, tables
python train.py experiment=backprop_sheet              # one run: preset era, lr 0.5, 100 iterations
python train.py experiment=backprop_sheet sheet=eva lr=0.8 iterations=200
python train.py experiment=backprop_sheet sheet.w=[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8] sheet.targets=[0.2,0.9]
python train.py -m experiment=backprop_sheet lr={lrs}  # the LR experiment
tensorboard --logdir outputs/sweeps                    # the runs overlay, labelled lr=<lr>
```

Presets (`sheet=...`, values from `../shared/REFERENCE.md`): `era` (the class weights
0.15 ... 0.55, inputs 0.05 / 0.1, targets 0.5 / 0.5), `eva` (targets 0.01 / 0.99), `eva6`
(write-up 000's weights 0.3, 0.5, -0.2, 0.7, 0.1, -0.6, 0.3, -0.9 with the eva sample),
`mazur` (fixed biases b1 = 0.35, b2 = 0.60, targets 0.01 / 0.99). One iteration is one update
on the one sample; row k of the sheet holds the values computed with the weights after k
updates (row 0 = the initial weights).

## What a run leaves in its run dir

- `sheet.csv`: one row per iteration k = 0..N with `iteration, lr, i1, i2, t1, t2, [b1, b2,]
  w1..w8, h1, h2, a_h1, a_h2, o1, o2, a_o1, a_o2, E1, E2, E_total, dE_dw1..dE_dw8`
  (b1, b2 only when nonzero), floats at full precision.
- `sheet.xlsx`: the same table; row 0's lr, inputs, targets, (biases,) and initial weights
  are the only constants (yellow), every other cell is a formula, each row's weights
  `= previous weight - lr * previous gradient`. Frozen header, number formats, a chart sheet
  of E_total and a sheet with the equations.
- `loss.png` (E_total against iteration), `metrics.json` (preset, lr, iterations, E_total at
  0 and N, first iteration at half, initial and final weights).
- TensorBoard (`lr=<lr>/`): `loss/E_total`, `loss/E1`, `loss/E2`, `weights/w1..w8`,
  `grads/dE_dw1..dE_dw8` at step = iteration, and the HPARAMS tab.

## The network

```
h1   = w1*i1 + w2*i2 + b1            h2   = w3*i1 + w4*i2 + b1
a_h1 = sigmoid(h1)                   a_h2 = sigmoid(h2)             sigmoid(x) = 1 / (1 + e^-x)
o1   = w5*a_h1 + w6*a_h2 + b2        o2   = w7*a_h1 + w8*a_h2 + b2
a_o1 = sigmoid(o1)                   a_o2 = sigmoid(o2)
E1   = 1/2 (t1 - a_o1)^2             E2   = 1/2 (t2 - a_o2)^2       E_total = E1 + E2
```

The biases are constants (0 except in `mazur`) and are never trained. The update is plain
gradient descent on all eight weights at once: `w <- w - lr * dE_total/dw`, every gradient
computed with the weights *before* the update.

## The derivation

Two facts do all the work:

- the derivative of the sigmoid is expressed by its output: `d sigmoid(x)/dx = sigmoid(x) (1 - sigmoid(x))`,
  so `da_o1/do1 = a_o1 (1 - a_o1)` and `da_h1/dh1 = a_h1 (1 - a_h1)`;
- the chain rule multiplies the local derivatives along a path and *adds* the paths when a
  value reaches `E_total` in more than one way.

**Output layer (w5 ... w8).** `E_total = E1 + E2`, and only `E1` depends on `o1` (only `E2` on `o2`):

```
dE_total/da_o1 = dE1/da_o1 = -(t1 - a_o1) = a_o1 - t1
delta_o1 = dE_total/do1 = dE_total/da_o1 * da_o1/do1 = (a_o1 - t1) * a_o1 * (1 - a_o1)
delta_o2 = dE_total/do2 = (a_o2 - t2) * a_o2 * (1 - a_o2)
```

`o1 = w5*a_h1 + w6*a_h2 + b2`, so `do1/dw5 = a_h1` and `do1/dw6 = a_h2`; `o2 = w7*a_h1 + w8*a_h2 + b2`,
so `do2/dw7 = a_h1` and `do2/dw8 = a_h2`:

```
dE_total/dw5 = delta_o1 * a_h1        dE_total/dw6 = delta_o1 * a_h2
dE_total/dw7 = delta_o2 * a_h1        dE_total/dw8 = delta_o2 * a_h2
```

**Hidden layer (w1 ... w4).** `a_h1` reaches `E_total` along two paths, through `w5` into `o1`
and through `w7` into `o2`; `a_h2` through `w6` and `w8`. The chain rule adds the paths:

```
dE_total/da_h1 = delta_o1 * do1/da_h1 + delta_o2 * do2/da_h1 = delta_o1 * w5 + delta_o2 * w7
dE_total/da_h2 = delta_o1 * w6 + delta_o2 * w8
delta_h1 = dE_total/dh1 = dE_total/da_h1 * a_h1 * (1 - a_h1)
delta_h2 = dE_total/dh2 = dE_total/da_h2 * a_h2 * (1 - a_h2)
```

`h1 = w1*i1 + w2*i2 + b1` and `h2 = w3*i1 + w4*i2 + b1`:

```
dE_total/dw1 = delta_h1 * i1          dE_total/dw2 = delta_h1 * i2
dE_total/dw3 = delta_h2 * i1          dE_total/dw4 = delta_h2 * i2
```

Written out in full, for example,
`dE_total/dw1 = ((a_o1 - t1) a_o1 (1 - a_o1) w5 + (a_o2 - t2) a_o2 (1 - a_o2) w7) a_h1 (1 - a_h1) i1`.
The biases only shift `h` and `o`; they do not appear in any gradient formula except through
the activations.

**Slips in the material this replaces** (a gradient slip like the first two stops a run at
its first step: the autograd check; the tests feed both to it):

- A widely shared course spreadsheet uses `a_h1 (1 - a_h1)` in `dE/dw3` and `dE/dw4`, where
  `a_h2 (1 - a_h2)` belongs (`w3`, `w4` feed `h2`).
- Write-up 001 multiplies `dE/dw7` by `a_h2` and `dE/dw8` by `a_h1`; `o2 = w7*a_h1 + w8*a_h2`
  gives the opposite.
- Write-up 000 writes `o1 = (w5 * a_h1) * (w6 * a_h2)` (a product, and no `=`); the sum is
  meant, and its gradients are the correct ones above.
- Matt Mazur's post computes the first update correctly (simultaneous, with the old w5 ... w8
  in the hidden deltas) and the weights below match his; {mazur_note}

### The numbers at iteration 0 (lr 0.5 runs of the sweeps below)

{iteration0}

### Matt Mazur's example (`sheet=mazur`, lr 0.5)

[Mazur's post]({mazur_url}) publishes the forward pass (E_total = 0.298371109; ours
{mazur_e0:.9f}) and the weights after his first update:

{mazur_table}

## The learning-rate experiment

`python train.py -m experiment=backprop_sheet sheet=<preset> lr={lrs}`: 100 iterations per
run; the sweep root gets `loss_by_lr.png` and `lr_summary.csv` from the end-of-multirun
callback. Runs of this report are in `{runs}/` (not committed).

### `era`: targets 0.5 / 0.5

![E_total by learning rate, era]({era_fig})

{era_table}

Six-run sweep: **{era_s:.1f} s** wall, `python train.py -m ...` from start to exit (one
process; Lightning is imported once), with the machine's 1-minute load average at {era_load}
on its {cores} cores when it started (other jobs share this CPU). It used {era_cpu:.1f} s of
CPU time (user + system); the other jobs' load adds wall time on top of that.

### `eva`: targets 0.01 / 0.99

![E_total by learning rate, eva]({eva_fig})

{eva_table}

Six-run sweep: **{eva_s:.1f} s** wall (load average {eva_load}), {eva_cpu:.1f} s CPU.

**Reading it** (each statement computed from the runs above):

{observations}
"""


if __name__ == "__main__":
    main()
