"""Training curves: loss and metrics against epochs, training beside validation, as a PNG.

Example:
    >>> import tempfile, os
    >>> from lamina.callbacks import History
    >>> from lamina.utils import plot_history
    >>> h = History(); h.on_train_begin()
    >>> for e, (l, vl) in enumerate([(1.0, 1.1), (0.6, 0.8), (0.4, 0.9)]):
    ...     h.on_epoch_end(e, {"loss": l, "val_loss": vl})
    >>> path = os.path.join(tempfile.mkdtemp(), "curves.png")
    >>> _ = plot_history(h, path)
    >>> os.path.getsize(path) > 0
    True
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["plot_history"]


def plot_history(
    history: Any,
    path: str | None = None,
    metrics: list[str] | None = None,
    title: str | None = None,
) -> Any:
    """Plot a ``History`` (or its ``.history`` dict): one panel per quantity (loss first), the
    training curve beside its ``val_`` twin, the epoch of lowest validation loss marked.

    Saves a PNG to ``path`` when given (written atomically) and returns the figure.
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Plotting needs matplotlib: pip install matplotlib (or lamina[plot])."
        ) from e
    record = history.history if hasattr(history, "history") else dict(history)
    if not record:
        raise ValueError("The history is empty: train for at least one epoch first.")
    names = metrics or [k for k in record if not k.startswith("val_") and k != "learning_rate"]
    names = sorted(names, key=lambda k: (k != "loss", names.index(k)))
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    epochs = list(range(1, len(record[names[0]]) + 1))
    best = None
    if "val_loss" in record and record["val_loss"]:
        values = record["val_loss"]
        best = min(range(len(values)), key=values.__getitem__) + 1
    for ax, name in zip(axes[0], names):
        ax.plot(epochs, record[name], "o-", label=f"training {name}")
        if f"val_{name}" in record:
            ax.plot(
                epochs[: len(record[f"val_{name}"])],
                record[f"val_{name}"],
                "s--",
                label=f"validation {name}",
            )
        if best is not None:
            ax.axvline(best, color="grey", linestyle=":", label=f"best val_loss (epoch {best})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        ax.legend()
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp")
        fig.savefig(tmp, format="png", dpi=100)
        os.replace(tmp, path)
    plt.close(fig)
    return fig
