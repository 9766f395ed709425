"""Held-out progress across runs: the model's gain over the strongest classical fill against
the training it has had.

    python train/progress.py reports/album-*/report.json --out docs/training/album-vs-patchmatch.png

Each ``report.json`` is one ``python -m inpaint_core evaluate`` of one checkpoint. Its
``training.images_seen`` places it on the x axis. The paired per-image deltas to the
reference fill (``delta_vs_reference``: PatchMatch, or land-cover PatchMatch on tiles) are
drawn against the targets: hole PSNR at least +1 dB, and perceptual distance at most 0.95x
the reference's. Reports are grouped by hole kind (``masks``), one line each.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from inpaint_core.training.logs import save_figure

__all__ = ["load_points", "plot_progress", "main"]

PSNR_TARGET_DB = 1.0  # the album and satellite issues' margins over the reference fill
PERCEPTUAL_TARGET = 0.95


def load_points(paths) -> dict[str, list[dict]]:
    """``{hole kind: [point, ...]}`` sorted by images seen; a point holds the deltas and their errors."""
    groups: dict[str, list[dict]] = {}
    for path in paths:
        report = json.loads(Path(path).read_text())
        reference = report.get("reference")
        if not reference or "model" not in report.get("delta_vs_reference", {}):
            raise ValueError(f"{path}: no model-vs-reference deltas (evaluate a checkpoint with the PatchMatch baseline)")
        seen = (report.get("training") or {}).get("images_seen")
        if seen is None:
            raise ValueError(f"{path}: the checkpoint's training summary has no images_seen")
        delta, sem = report["delta_vs_reference"]["model"], report["delta_sem_vs_reference"]["model"]
        ref_perceptual = report["methods"][reference]["perceptual"]
        groups.setdefault(report["masks"], []).append({
            "images_seen": seen, "reference": reference, "checkpoint": report["checkpoint"],
            "psnr": delta["psnr_hole"], "psnr_sem": sem["psnr_hole"] or 0.0,
            "perceptual": delta["perceptual"] / ref_perceptual, "perceptual_sem": (sem["perceptual"] or 0.0) / ref_perceptual,
        })  # fmt: skip
    for points in groups.values():
        points.sort(key=lambda p: p["images_seen"])
    return groups


def plot_progress(groups: dict[str, list[dict]], out: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reference = next(iter(groups.values()))[0]["reference"]
    fig, (ax_p, ax_v) = plt.subplots(1, 2, figsize=(11, 4))
    for kind, points in groups.items():
        x = [p["images_seen"] for p in points]
        ax_p.errorbar(x, [p["psnr"] for p in points], yerr=[p["psnr_sem"] for p in points], marker="o",
                      capsize=3, label=f"{kind} holes")
        ax_v.errorbar(x, [100 * p["perceptual"] for p in points], yerr=[100 * p["perceptual_sem"] for p in points],
                      marker="o", capsize=3, label=f"{kind} holes")
    ax_p.axhline(PSNR_TARGET_DB, color="green", linestyle="--", label="target")
    ax_p.axhline(0, color="grey", linewidth=0.8)
    ax_v.axhline(-100 * (1 - PERCEPTUAL_TARGET), color="green", linestyle="--", label="target")
    ax_v.axhline(0, color="grey", linewidth=0.8)
    ax_p.set(xlabel="training images seen (cumulative)", ylabel=f"hole PSNR − {reference} (dB)",
             title="PSNR gain (higher is better)", xscale="log")
    ax_v.set(xlabel="training images seen (cumulative)", ylabel=f"perceptual distance vs {reference} (%)",
             title="perceptual distance (lower is better)", xscale="log")
    for ax in (ax_p, ax_v):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return save_figure(fig, out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path, help="report.json files of evaluate runs")
    parser.add_argument("--out", required=True, type=Path, help="PNG to write")
    parser.add_argument("--title", default="", help="figure title")
    args = parser.parse_args(argv)
    try:
        groups = load_points(args.reports)
    except (ValueError, KeyError, OSError) as err:
        parser.error(str(err))
    plot_progress(groups, args.out, args.title)
    for kind, points in groups.items():
        for p in points:
            print(f"{kind}: {p['images_seen']:>9} images  PSNR {p['psnr']:+.2f} ± {p['psnr_sem']:.2f} dB  "
                  f"perceptual {100 * p['perceptual']:+.1f} %  ({p['checkpoint']})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
