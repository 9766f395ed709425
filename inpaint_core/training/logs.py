"""A training run's record of its course: OUT/log.jsonl and the curves drawn from it.

One JSON object per line (step, loss and its parts, images/s, learning rate, minutes; or a
validation's figures), appended as the run goes, rewound on ``--resume``; OUT/curves.png
draws it, where matplotlib is installed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

__all__ = ["JsonLog", "plot_curves", "save_figure"]


class JsonLog:
    """Append one JSON object per line (step, losses, validation figures) to ``path``."""

    def __init__(self, path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def rewind(self, step: int) -> int:
        """Drop the records of steps after ``step`` (a resumed run redoes them from its last
        saved state, so keeping them would draw every such step twice). Returns how many."""
        if not self.enabled or not self.path.exists():
            return 0
        lines = [line for line in self.path.read_text().splitlines() if line.strip()]
        kept = [line for line in lines if json.loads(line).get("step", 0) <= step]
        if len(kept) < len(lines):
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in kept))
            os.replace(tmp, self.path)
        return len(lines) - len(kept)

    def write(self, **record) -> None:
        if self.enabled:
            record.setdefault("time", time.time())
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")


def plot_curves(log_path, out_path, panels: dict[str, list[str]], log_scale: tuple[str, ...] = ()) -> Path | None:
    """Training curves from a JSON-lines log as one PNG, a panel per ``{title: [keys]}``.

    Each key is drawn against ``step`` from the records that have it (training lines and
    validation lines alike), so a resumed run's log gives one continuous curve. Returns
    None (with a note) where matplotlib is missing, e.g. on a bare GPU machine: the log
    itself is the record.
    """
    try:
        import matplotlib
    except ImportError:
        print(f"note: matplotlib is not installed; no curves at {out_path} (the log is {log_path})")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels.items()):
        for key in keys:
            points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float)) and "step" in r]
            if len(points) >= 30:  # per-batch figures are noisy: faint raw line, moving average on top
                steps, values = map(np.asarray, zip(*points))
                k = max(3, len(points) // 10)
                line, = ax.plot(steps, values, alpha=0.25, linewidth=0.8)
                ax.plot(steps[k - 1 :], np.convolve(values, np.ones(k) / k, mode="valid"), color=line.get_color(),
                        label=f"{key} (mean of {k})")
            elif points:
                steps, values = zip(*points)
                ax.plot(steps, values, label=key, marker="o", markersize=3)
        ax.set(title=title, xlabel="step", yscale="log" if title in log_scale else "linear")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    return save_figure(fig, out_path)


def save_figure(fig, path) -> Path:
    """A matplotlib figure as a PNG at ``path`` (its folder made), then closed."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
