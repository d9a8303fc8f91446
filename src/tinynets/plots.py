"""Matplotlib figures (Agg backend: no display needed)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from tinynets.data.mnist import MEAN, STD  # noqa: E402


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
    """A grid of misclassified digits titled `true->pred`."""
    rows = (len(items) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.25), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (x, true, pred) in zip(axes.flat, items):
        ax.imshow((x.squeeze(0) * STD + MEAN).clamp(0, 1), cmap="gray_r")
        ax.set_title(f"{true}->{pred}", fontsize=8, color="crimson")
    fig.suptitle("Misclassified test digits (true->predicted)", fontsize=9)
    fig.tight_layout()
    return fig
