"""The bench README's two speed sections, rendered from results.json alone: the throughput table
((a) the write-ups' pipeline, (b) tinynets, (c) the raw loop, each ratio with its spread and b/c judged
against GOALS) and the time to the target of `experiment=fast` against one write-up epoch."""

from __future__ import annotations

from typing import Any

from tinynets.bench import FP32, GOALS
from tinynets.bench.pipelines import WRITEUPS
from tinynets.bench.store import code_of
from tinynets.bench.throughput import OPTIONS
from tinynets.tables import number


def render_code(data: dict[str, Any]) -> str:
    """The code a section ran: its full commit and whether the tree was clean, plainly."""
    c = code_of(data)
    if c["commit"]:
        return f"commit `{c['commit']}`" + (", **dirty tree: uncommitted changes, not a result of record**"
                                             if c["dirty"] else ", clean tree")
    old = c.get("git")
    if not old:
        return "commit unknown"
    return (f"commit unknown (recorded before full commits: `{old}`"
            + (", **dirty tree: uncommitted changes**)" if old.endswith("+dirty") else ")"))


def load_line(load: dict[str, Any]) -> str:
    b, a = load.get("before", {}), load.get("after", {})
    text = f"load average (1/5/15 min) before {b.get('loadavg')}, after {a.get('loadavg')}"
    busy = b.get("busy_processes") or []
    return text + ("; other busy processes before: " + "; ".join(f"`{p}`" for p in busy) if busy else
                   "; no other process above 5% CPU before")


def render_throughput(results: dict[str, Any]) -> list[str]:
    """The throughput section (`python -m tinynets.bench`) of one machine."""
    lines = ["### Throughput: (a) the write-ups' pipeline, (b) tinynets, (c) a raw loop", ""]
    models = results.get("models") or {}
    if models:
        s = results["setup"]
        first = next(iter(models.values()))
        new = all("ratios" in m for m in models.values())  # measured as issue 25 asks
        lines += [
            f"Command: `{results['command']}` ({results['date']}, {render_code(results)}, torch "
            f"{results.get('torch')}){' **QUICK MODE: synthetic data, not a measurement**' if results.get('quick') else ''}"
            f"{' **CPU-TIME CLOCK: (a) not comparable**' if results.get('clock', 'wall') != 'wall' else ''}.",
            f"Device: {first['device']}.",
            f"Load: {load_line(results.get('load', {}))}.",
            f"Setup: each model with its write-up's recipe (`experiment=<model>`: optimizer, lr, dropout), "
            f"batch {s['batch_size']}, rotation +-{number(s['rotation_deg'], short=True)} deg in all three pipelines, "
            f"{s['steps']} timed training steps after {s['warmup_steps']} warm-up steps, {s['repeats']} "
            f"interleaved repeats, {s['statistic']}" + (f", overrides {s['overrides']}" if s.get("overrides") else "")
            + ".",
            "",
        ]
        lines += _throughput_table(models, judged=new, quick=bool(results.get("quick")))
        lines += [""]
        if new:
            lines += [_bc_verdict(models, bool(results.get("quick"))), ""]
        else:
            lines += [f"Measured before the goals were restated (issue 25), with ratios of the pipelines' medians "
                      f"rather than pair by pair within a repeat: shown as measured, **not judged** against "
                      f"today's goals (b/c >= {number(GOALS['b/c'], short=True)} at fp32 from the median of at "
                      "least 5 interleaved repeats' ratios; b/a against its ceiling c/a, here a ratio of medians too).", ""]
        lines += [
            "b/a: tinynets over the write-ups' pipeline; its ceiling c/a: the raw loop over the write-ups' "
            "pipeline, what tinynets would reach with no framework cost at all. Lightning overhead = median "
            "ms/step of (b) minus that of (c). Peak memory: resident set of the process during the measurement "
            "(VmHWM, reset before each), plus the DataLoader workers' for (a) (their shared pages "
            "are counted in each).",
            "",
            "What the pipelines are:",
            "",
            "- **(a)** the write-ups' pipeline: `torchvision.datasets.MNIST` + `transforms.Compose("
            "[RandomRotation((-7, 7), fill=0), ToTensor(), Normalize((0.1307,), (0.3081,))])` (PIL, per "
            "image, nearest-neighbour), `DataLoader(batch_size, shuffle=True, num_workers=2)`, and their "
            "plain loop (`zero_grad`, forward, cross-entropy, `backward`, `step`, `loss.item()` each batch "
            "for the progress bar); fp32, default memory format, torch's `nn.Dropout` and `nn.BatchNorm2d`, "
            "the same SGD.",
            "- **(b)** `python train.py`'s objects from `conf/` (data=mnist: uint8 split tensors, index "
            "batches, normalisation and rotation as batched tensor ops; the default trainer, TensorBoard "
            "logger, checkpoint and History callbacks; `channels_last` and `trainer.precision` as "
            "configured; tinynets' `Dropout`) run by Lightning, without a progress bar (as `train.py` "
            "runs when its output is not a terminal).",
            "- **(c)** the same net, split tensors, `tinynets.data.mnist.to_input` (normalise + "
            "`affine_grid`/`grid_sample` rotation, bilinear), optimizer, precision and memory format as "
            "(b) in a bare loop.",
        ]
        opt_rows = [(name, m["options"]) for name, m in models.items() if m.get("options")]
        if opt_rows:
            names = list(OPTIONS)
            lines += ["", "#### Options, measured through (b)", "",
                      "| model | " + " | ".join(f"`{n}`" if n != "default" else "default (fp32, channels_last)"
                                               for n in names) + " |",
                      "|---|" + "---|" * len(names)]
            for name, o in opt_rows:
                cells = []
                for n in names:
                    if n in o:
                        cells.append(f"{number(o[n]['img_per_s'], digits=0, sep=True)} img/s" + (
                            "" if n == "default" else f" ({number(o[n]['vs_default'], digits=2)}x)"))
                    else:
                        cells.append("n/a")
                lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
            lines += ["", "`nn.Dropout` and `nn.BatchNorm2d` are not config keys: (b) with torch's layer in place "
                          "of tinynets' CPU-fast one (`models/dropout.py`, `models/batchnorm.py`; n/a: the model "
                          "has no element-wise Dropout, `gap_fc` uses `Dropout2d`). tinynets' BatchNorm2d acts "
                          "only in bf16, so that column runs bf16-mixed: compare it with the `bf16-mixed` column. "
                          "Each cell: median img/s of the repeats, and its ratio to the default."]
            # the first repeat compiles; later ones in the same process reuse dynamo's cache
            comp = [f"`{name}` {number(o['compile']['repeats_first_step_s'][0], digits=1)} s" for name, o in opt_rows
                    if "repeats_first_step_s" in o.get("compile", {})]
            if comp:
                lines += ["", "With `compile=true` the first step of the first repeat (cold compilation) took "
                          + ", ".join(comp) + "."]
        lines += [
            "",
            "Per repeat (img/s): " + "; ".join(
                f"`{n}` " + ", ".join(f"{p} {v}" for p, v in m["repeats_img_per_s"].items())
                for n, m in models.items()) + ".",
        ]
    return lines


def _range(sp: dict[str, Any] | None, digits: int, sep: bool = False) -> str:
    """A spread's ` (min-max)` with `digits` decimals, nothing for a single repeat."""
    if not sp or sp.get("n", 0) <= 1:
        return ""
    return f" ({number(sp['min'], digits=digits, sep=sep)}-{number(sp['max'], digits=digits, sep=sep)})"


def _throughput_table(models: dict[str, Any], judged: bool, quick: bool) -> list[str]:
    """The throughput table: each pipeline's median img/s, b/a of its ceiling c/a, b/c against the
    goal (met / not met, n/a in quick mode or at another precision), each with its spread (min-max)."""
    lines = ["| model | params | (a) write-ups' pipeline | (b) tinynets + Lightning | (c) raw loop | "
             "b/a of its ceiling c/a | b/c | "
             + (f"b/c >= {number(GOALS['b/c'], short=True)} at fp32 | " if judged else "")
             + "Lightning overhead | peak memory a / b / c |",
             "|---|---|---|---|---|---|---|" + ("---|" if judged else "") + "---|---|"]
    for name, m in models.items():
        i, pk, sp = m["img_per_s"], m["peak_mem_mb"], m.get("img_per_s_spread") or {}
        r = m.get("ratios") or {}
        ceiling = m.get("ceiling_vs_seed_pipeline") or i["raw"] / i[WRITEUPS]  # old: a ratio of medians
        cells = [f"`{name}`", number(m["params"], sep=True),
                 *(f"{number(i[p], digits=0, sep=True)} img/s{_range(sp.get(p), 0, sep=True)}"
                   for p in (WRITEUPS, "tinynets", "raw")),
                 f"**{number(m['speedup_vs_seed_pipeline'], digits=2)}x**{_range(r.get('b/a'), 2)} of a "
                 f"{number(ceiling, digits=2)}x{_range(r.get('c/a'), 2)} ceiling",
                 f"**{number(m['ratio_vs_raw_loop'], digits=3)}**{_range(r.get('b/c'), 3)}"]
        if judged:
            cells.append(bc_judgement(m, quick))
        cells += [f"{number(m['lightning_overhead_ms_per_step'], digits=2, sign=True)} ms/step",
                  " / ".join(number(pk[p], digits=0, sep=True) for p in (WRITEUPS, "tinynets", "raw")) + " MB"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def bc_judgement(m: dict[str, Any], quick: bool) -> str:
    """One model's b/c against GOALS['b/c']: met, not met, or n/a (quick mode; not fp32)."""
    if quick:
        return "n/a (quick)"
    if str(m.get("precision", "32-true")) not in FP32:
        return f"n/a ({m['precision']}: the goal is at fp32)"
    return "met" if m["ratio_vs_raw_loop"] >= GOALS["b/c"] else "**not met**"


def _bc_verdict(models: dict[str, Any], quick: bool) -> str:
    cells = {n: bc_judgement(m, quick) for n, m in models.items()}
    judged = {n: c for n, c in cells.items() if not c.startswith("n/a")}
    overall = ("n/a" if not judged else "**met**" if all(c == "met" for c in judged.values()) else "**not met**")
    return (f"Goal: b/c >= {number(GOALS['b/c'], short=True)} for every model at fp32: {overall} ("
            + ", ".join(f"`{n}` {number(models[n]['ratio_vs_raw_loop'], digits=3)} {c.replace('**', '')}"
                        for n, c in cells.items())
            + "). b/a is not a goal; it is reported against its ceiling c/a.")


def render_fast(f: dict[str, Any]) -> list[str]:
    """A time-to-target section (`python -m tinynets.bench fast`): per seed its repeats' median time
    and spread, the epoch each repeat reached the target at and the accuracy then; the write-up epoch
    measured between them; the ratio against GOALS (judged only for results measured with repeats,
    issue 25, and not in quick mode)."""
    new = isinstance(f.get("repeats"), int)  # interleaved repeats (issue 25); before: one run per seed
    quick = bool(f.get("quick"))
    lines = [f"### Time to {f['target_acc']}%: `{f['train_command']}`" if f.get("target_acc") else
             f"### `{f['train_command']}`", "",
             f"Command: `{f['command']}` ({f['date']}, {render_code(f)})"
             f"{' **QUICK MODE: synthetic data, not a measurement**' if quick else ''}. "
             f"Load: {load_line(f.get('load', {}))}.", "",
             "Wall time is measured from launching `python train.py` (a fresh process: imports, "
             "data, every epoch's evaluation on the official 10k test set) to the moment the epoch "
             "line is printed."
             + (f" {f['repeats']} repeats, interleaved: each repeat measures one write-up epoch and runs every "
                f"seed once, the order rotating by repeat; {f['statistic']}." if new else
                " One run per seed (measured before issue 25's repeats)."), ""]
    if new:
        lines += ["| seed | time to target: median (min-max) | epoch at target (accuracy then), per repeat | "
                  "first step | per-epoch s (repeat 1) | test acc per epoch (repeat 1) | final, per repeat | "
                  "whole command (median) |", "|---|---|---|---|---|---|---|---|"]
    else:
        lines += ["| seed | first step | epoch at target | time to target | per-epoch s | test acc per epoch | final | "
                  "whole command |", "|---|---|---|---|---|---|---|---|"]
    for seed, r in f["runs"].items():
        accs = ", ".join(number(e['acc'], digits=2) for e in r["epochs"])
        secs = ", ".join(number(e['epoch_s'], digits=1) for e in r["epochs"])
        ttt = (f"**{number(r['time_to_target_s'], digits=1)} s**" + _range(r.get("time_to_target_spread"), 1)
               if r["time_to_target_s"] is not None else "not reached" +
               (f" in every repeat ({r['reached_repeats']}/{len(r['target_epochs'])})" if new else ""))
        fs = f"{number(r['first_step_s'], digits=1)} s" if r.get("first_step_s") is not None else "n/a"
        if new:
            at = ", ".join(f"{e} ({number(a, digits=2)}%)" if e is not None else "-"
                           for e, a in zip(r["target_epochs"], r["acc_at_target"]))
            finals = ", ".join(f"{number(a, digits=2)}%" for a in r["test_accs"] if a is not None)
            lines.append(f"| {seed} | {ttt} | {at} | {fs} | {secs} | {accs} | {finals} | "
                         f"{number(r['wall_s'], digits=1)} s |")
        else:
            lines.append(f"| {seed} | {fs} | {r['target_epoch'] or '-'} | {ttt} | {secs} | {accs} | "
                         f"{number(r['test_acc'], digits=2)}% | {number(r['wall_s'], digits=1)} s |")
    goal = f"goal: <= {number(GOALS['time_to_target_vs_writeup_epoch'], short=True)}"
    if f.get("max_time_to_target_s") is not None:
        slowest = f" (seed {f['slowest_seed']})" if f.get("slowest_seed") is not None else ""
        lines += ["", f"All seeds reached {f['target_acc']}%{' in every repeat' if new else ''}; slowest"
                      f"{' median' if new else ''} {number(f['max_time_to_target_s'], digits=1)} s{slowest}, median "
                      f"{number(f['median_time_to_target_s'], digits=1)} s. "
                      f"Device: {next(iter(f['runs'].values()))['device']}."]
    elif f.get("target_acc"):
        lines += ["", f"Not every seed reached {f['target_acc']}%{' in every repeat' if new else ''}."]
    w = f.get("writeup")
    if w:
        ratio = f.get("time_to_target_vs_writeup_epoch")
        if not new:
            verdict = (f"**{number(ratio, digits=2)}** ({goal}; one run per seed, measured before issue 25's repeats: "
                       "not judged)." if ratio is not None else f"n/a: not every seed reached the target ({goal}).")
        elif ratio is None:
            verdict = f"n/a: not every seed reached the target in every repeat ({goal}: **not met**)."
        else:
            per = f.get("time_ratio_per_repeat")
            verdict = (f"**{number(ratio, digits=3)}** ({goal}: {time_judgement(f)})"
                       + (f"; within each repeat (that repeat's slowest seed over its write-up epoch) median "
                          f"{number(per['median'], digits=3)}{_range(per, 3)}" if per else "") + ".")
        sp = w.get("epoch_s_spread")
        lines += ["", f"One epoch of the write-ups' pipeline (a) for `{w['model']}` with its write-up's recipe, "
                      f"measured in the same invocation as the throughput bench measures it ({w['steps']} steps "
                      f"after {w['warmup_steps']} warm-up, batch {w['batch_size']}, median of {w['repeats']}"
                      f"{' repeats interleaved with the seeds' if new else ''}): "
                      f"{number(w['epoch_images'], sep=True)} images at "
                      f"{number(w['img_per_s'], digits=0, sep=True)} img/s = "
                      f"**{number(f['writeup_epoch_s'], digits=1)} s**{_range(sp, 1)} (`fast.writeup_epoch_s`). "
                      f"Slowest seed's{' median' if new else ''} time to target / that = " + verdict]
    elif f.get("target_acc"):
        lines += ["", f"No write-up epoch was measured in this invocation, so no time ratio ({goal})."]
    return lines


def time_judgement(f: dict[str, Any]) -> str:
    """A fast section's time ratio against GOALS: met, not met, or n/a (quick; no ratio)."""
    ratio = f.get("time_to_target_vs_writeup_epoch")
    if f.get("quick"):
        return "n/a (quick)"
    if ratio is None:
        return "**not met**" if f.get("writeup") else "n/a"
    return "met" if ratio <= GOALS["time_to_target_vs_writeup_epoch"] else "**not met**"
