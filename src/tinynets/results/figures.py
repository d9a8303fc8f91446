"""The figures of the results of record (`make report`): test-accuracy curves as small multiples,
and params against accuracy (our runs, the write-ups' claims, public results)."""

from __future__ import annotations

import statistics
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from tinynets.files import pyplot, save_figure

plt = pyplot()


def _per_epoch(recs: list[dict]) -> tuple[range, list[float], list[float], list[float]]:
    n = max(len(r["val_acc"]) for r in recs)
    per_epoch = [[r["val_acc"][i] for r in recs if i < len(r["val_acc"])] for i in range(n)]
    return (range(1, n + 1), [statistics.mean(v) for v in per_epoch], [min(v) for v in per_epoch],
            [max(v) for v in per_epoch])


def curves(panels: list[tuple[str, list[tuple[str, list[dict]]]]], target: float, path: Path) -> None:
    """One panel per write-up (its own recipe against its row of record) and one for our models:
    per entry the mean test accuracy per epoch over its seeds, with a min-max band. No panels: no figure."""
    if not panels:
        return
    cols = 4
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 3.2 * rows), sharey=True, squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (title, entries) in zip(axes.flat, panels):
        for label, recs in entries:
            epochs, mean, lo, hi = _per_epoch(recs)
            line, = ax.plot(epochs, mean, lw=1.6, label=f"{label} ({recs[0]['params']:,} p, {len(recs)} seeds)")
            ax.fill_between(epochs, lo, hi, color=line.get_color(), alpha=0.18, lw=0)
        ax.axhline(target, color="k", lw=0.8, ls="--")
        ax.set(title=title, xlabel="epoch", ylim=(98.6, 99.7))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes[:, 0]:
        ax.set_ylabel("test accuracy (%)")
    fig.suptitle(f"Official test set after every epoch: mean over seeds, band min-max; dashed: {target}%",
                 fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def crowded(xs: list[float], span: float = 1.15, least: int = 4) -> tuple[float, float] | None:
    """The params window [x, span * x] holding the most points, padded 10% of its width, where it holds at least
    `least` of them (their labels would overlap on the log axis); None otherwise."""
    xs = sorted(xs)
    best = max(((x, sum(x <= y <= span * x for y in xs)) for x in xs), key=lambda t: t[1], default=(0.0, 0))
    if best[1] < least:
        return None
    inside = [y for y in xs if best[0] <= y <= span * best[0]]
    pad = 0.1 * (inside[-1] - inside[0] or inside[0])
    return inside[0] - pad, inside[-1] + pad


def frontier(points: list[tuple[str, list[dict], bool]], claimed: list[tuple[str, int, float]], public: list[dict],
             target: float, path: Path) -> None:
    """Params (log x) against best test accuracy: our runs as mean with min-max bars over seeds
    (filled where every seed reaches the target), the write-ups' claims and published results
    (one run each) as their own markers. Where four or more sit within 15% of each other's params,
    a second panel draws that window on a linear axis with their labels, and the first leaves them out."""
    public = [p for p in public if (p["params"], p["acc"]) not in {(c, a) for _, c, a in claimed}]  # drawn as a claim
    zoom = crowded([recs[0]["params"] for _, recs, _ in points] + [c for _, c, _ in claimed]
                   + [p["params"] for p in public])
    if zoom:
        fig, (ax, zx) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [2.3, 1]}, sharey=True)
        axes = [(ax, lambda x: not zoom[0] <= x <= zoom[1]), (zx, lambda x: zoom[0] <= x <= zoom[1])]
    else:
        fig, ax = plt.subplots(figsize=(9, 5.2))
        axes = [(ax, lambda x: True)]
    for a, labelled in axes:
        draw(a, points, claimed, public, labelled, zoomed=a is not ax)
        a.axhline(target, color="k", lw=0.8, ls="--")
        a.grid(alpha=0.3, which="both")
    handles = [
        plt.Line2D([], [], marker="o", color="tab:blue", ls="", label="ours: mean best, bar min-max over seeds; filled: every seed >= target"),
        plt.Line2D([], [], marker="o", color="tab:green", ls="", label="write-up's row of record (README), our runs, by write-up id"),
        plt.Line2D([], [], marker="^", color="tab:orange", mfc="none", ls="", label="write-up's own claim (1 run), by write-up id"),
        plt.Line2D([], [], marker="x", color="0.45", ls="", label="published (1 run; <= 20 epochs unless noted)"),
        plt.Line2D([], [], color="k", lw=0.8, ls="--", label=f"{target}%"),
    ]
    ax.legend(handles=handles, fontsize=7.5, loc="lower right")
    ax.set_xscale("log")
    ax.set(xlabel="parameters (log scale)", ylabel="best test accuracy (%)", ylim=(99.0, 99.7),
           title="MNIST, official test set: parameters against best accuracy")
    if zoom:
        zx.set_xlim(*zoom)
        zx.set(xlabel="parameters (linear)", title=f"{zoom[0]:,.0f}-{zoom[1]:,.0f} params, labelled")
        ax.axvspan(*zoom, color="0.85", alpha=0.5, zorder=0)
        ax.annotate("labelled\nright", ((zoom[0] * zoom[1]) ** 0.5, 99.02), fontsize=6.5, color="0.35", ha="center")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def draw(ax, points, claimed, public, labelled, zoomed: bool) -> None:
    """One panel of `frontier`: every marker, and the labels of those whose params `labelled` accepts."""
    near = 0.012 if zoomed else 0.05  # a neighbour's share of params within which labels would collide

    def label_below(items: list[tuple[str, int, float]], color: str) -> None:
        """Under each marker, or above it where a neighbour within `near` of its params sits lower."""
        for text, params, acc in items:
            if not labelled(params):
                continue
            up = any(abs(q - params) < near * params and a < acc for _, q, a in items)
            ax.annotate(text, (params, acc), fontsize=6.5, color=color, ha="center",
                        xytext=(0, 5 if up else -11), textcoords="offset points")

    for p in public:
        ax.scatter(p["params"], p["acc"], marker="x", color="0.45", s=30, zorder=2)
    label_below([(f"{p['params']:,}" + (f" ({p['epochs']} ep)" if p["epochs"] > 20 else ""), p["params"], p["acc"])
                 for p in public], "0.35")
    for w, params, acc in claimed:
        ax.scatter(params, acc, marker="^", facecolor="none", edgecolor="tab:orange", s=45, zorder=3)
    label_below([(w, params, acc) for w, params, acc in claimed], "tab:orange")
    tops = [(recs[0]["params"], max(r["best_acc"] for r in recs)) for _, recs, _ in points]
    for label, recs, holds in points:
        best = [r["best_acc"] for r in recs]
        mean, params = statistics.mean(best), recs[0]["params"]
        ours = recs[0].get("writeup") is None
        color = "tab:blue" if ours else "tab:green"
        ax.errorbar(params, mean, yerr=[[mean - min(best)], [max(best) - mean]], fmt="o", color=color,
                    mfc=color if holds else "white", capsize=3, ms=5, zorder=4)
        if not labelled(params):
            continue
        # above the bar, or beside the point where a neighbour's bar reaches higher
        beside = any(abs(p - params) < near * params and top > max(best) for p, top in tops)
        ax.annotate(label if ours else recs[0]["writeup"], (params, mean if beside else max(best)), fontsize=7.5,
                    color=color, ha="left" if beside else "center", va="center" if beside else "bottom",
                    xytext=(6, 0) if beside else (0, 4), textcoords="offset points",
                    weight="bold" if ours else "normal")
