"""Matplotlib figures of a run (tinynets.files.pyplot: Agg, no display needed): per-epoch curves,
confusion matrix, misclassified digits (tinynets.files.save_figure writes one)."""

from __future__ import annotations

import torch

from tinynets.data.mnist import MEAN, STD
from tinynets.files import pyplot

plt = pyplot()


def curves(records: list[dict], target_acc: float | None = None, eval_label: str = "val") -> plt.Figure:
    """Loss (left) and accuracy (right) per epoch, train and eval, from History's records; the
    target accuracy as a dashed line."""
    epochs = [r["epoch"] for r in records]

    def series(key):
        pts = [(e, r.get(key)) for e, r in zip(epochs, records) if r.get(key) is not None]
        return [p[0] for p in pts], [p[1] for p in pts]

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, what in ((ax_loss, "loss"), (ax_acc, "acc")):
        for key, label, style in ((f"train_{what}", "train (augmented, dropout on)", "o-"),
                                  (f"val_{what}", eval_label, "s-")):
            x, y = series(key)
            if x:
                ax.plot(x, y, style, ms=3.5, lw=1.6, label=label)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    ax_loss.set(ylabel="cross-entropy loss", title="Loss")
    ax_acc.set(ylabel="accuracy (%)", title="Accuracy")
    if target_acc is not None:
        ax_acc.axhline(target_acc, color="crimson", ls="--", lw=1, label=f"target {target_acc:g}%")
    best = max((r["val_acc"] for r in records if r.get("val_acc") is not None), default=None)
    if best is not None:
        ax_acc.set_title(f"Accuracy (best {eval_label}: {best:.2f}%)", fontsize=10)
    for ax in (ax_loss, ax_acc):
        ax.set_xlim(0.5, max(epochs[-1], 2) + 0.5)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def confusion_matrix(cm: torch.Tensor) -> plt.Figure:
    """Counts of (true, predicted) on the test set; the diagonal is what was right."""
    fig, ax = plt.subplots(figsize=(6, 5.4))
    ax.imshow(cm.log1p(), cmap="Blues")
    n = cm.shape[0]
    for i in range(n):
        for j in range(n):
            v = int(cm[i, j])
            if v:
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if i == j else "black")
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true",
           title=f"Test confusion matrix ({int(cm.trace())}/{int(cm.sum())} right)")
    fig.tight_layout()
    return fig


def misclassified(items: list[tuple[torch.Tensor, int, int]], cols: int = 8) -> plt.Figure:
    """A grid of misclassified digits (torchvision's `make_grid`), each labelled `true->pred`."""
    from torchvision.utils import make_grid

    pad, size = 9, items[0][0].shape[-1]  # room above each digit for its label
    digits = torch.stack([(x.reshape(1, size, size).float() * STD + MEAN).clamp(0, 1) for x, _, _ in items])
    grid = make_grid(digits, nrow=cols, padding=pad, pad_value=0.0)[0]  # one channel of the gray grid
    rows = (len(items) + cols - 1) // cols
    fig, ax = plt.subplots(figsize=(cols * 1.1, rows * 1.25))
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1)
    ax.axis("off")
    for k, (_, true, pred) in enumerate(items):
        r, c = divmod(k, cols)
        ax.text(pad + c * (size + pad), pad + r * (size + pad), f"{true}->{pred}", fontsize=8, color="crimson",
                va="bottom")
    fig.suptitle("Misclassified test digits (true->predicted)", fontsize=9)
    fig.tight_layout()
    return fig
