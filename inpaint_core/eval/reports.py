"""The reports of ``evaluate``: per-method means, paired deltas, the Markdown table, the grid.

``report.json`` holds per-image scores; :func:`_summarise` turns them into means and the
paired per-image differences (mean and standard error) to Telea and to the strongest
classical fill; :func:`write_markdown` writes the table; ``examples.png`` shows every method
side by side; :func:`write_summary` puts several hole kinds' figures in one table (``summary.md``).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from inpaint_core.data.pictures import write_png
from inpaint_core.eval.metrics import METRICS

__all__ = ["HOLE_COLOUR", "write_markdown", "write_summary", "save_labelled_grid"]

HOLE_COLOUR = (255, 0, 255)  # magenta: a colour covers rarely contain in bulk, so holes stand out in the grid


def _json_safe(value):
    """NaN (e.g. consistency on a hole of nodata only) -> None, so report.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _nanmean(values) -> float | None:
    arr = np.array([np.nan if v is None else v for v in values], dtype=float)
    return float(np.nanmean(arr)) if np.isfinite(arr).any() else None


def _paired(per_image: list[dict], methods: list[str], keys, base: str) -> tuple[dict, dict]:
    deltas, sems = {}, {}
    for m in methods:
        if m == base:
            continue
        deltas[m], sems[m] = {}, {}
        for k in keys:
            d = np.array([r["scores"][m][k] - r["scores"][base][k] for r in per_image], dtype=float)
            d = d[np.isfinite(d)]
            deltas[m][k] = float(d.mean()) if d.size else None
            sems[m][k] = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else None
    return deltas, sems


def _summarise(per_image: list[dict], methods: list[str], reference: str | None = None) -> dict:
    """Per-method means, and each method's paired difference to Telea and to ``reference``
    (the strongest classical fill), as mean and standard error."""
    keys = list(per_image[0]["scores"][methods[0]])
    means = {m: {k: _nanmean([r["scores"][m][k] for r in per_image]) for k in keys} for m in methods}
    deltas, sems = _paired(per_image, methods, keys, "telea")
    report = {"methods": means, "delta_vs_telea": deltas, "delta_sem_vs_telea": sems, "reference": reference}
    if reference is not None:
        report["delta_vs_reference"], report["delta_sem_vs_reference"] = _paired(per_image, methods, keys, reference)
        if "judge" in keys:  # the judge's win rate: the share of pictures where a fill is nearer than the reference's
            report["win_rate"] = {m: float(np.mean([r["scores"][m]["judge"] < r["scores"][reference]["judge"]
                                                    for r in per_image])) for m in methods if m != reference}
    if "detail" in keys:  # a median: one flat original (a huge ratio) must not decide the figure
        report["detail_median"] = {m: _nanmedian([r["scores"][m]["detail"] for r in per_image]) for m in methods}
    return report


def _nanmedian(values) -> float | None:
    arr = np.array([np.nan if v is None else v for v in values], dtype=float)
    return float(np.nanmedian(arr)) if np.isfinite(arr).any() else None


def _fmt(value, key: str, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    digits = 2 if key.startswith("psnr") else 4
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def write_markdown(report: dict, path) -> Path:
    """The report's table (methods x metrics, means over images, deltas vs Telea) as Markdown."""
    keys = list(report["metrics"])
    arrows = {k: " ↑" if METRICS[k][1] else " ↓" for k in keys}
    lines = [
        f"# Evaluation: {report['checkpoint']}",
        "",
        f"{report['count']} images from `{report['images']}` (split: {report['split']}"
        + (f"; {report['count']} windows of {report['sources']} tiles" if report.get("windows", 1) != 1 else "")
        + f"), {report['size']}x{report['size']}, `{report['masks']}` holes, seed {report['seed']} (the same holes for every method).",
        "",
        "| method | " + " | ".join(METRICS[k][0] + arrows[k] for k in keys) + " |",
        "| --- | " + " | ".join("---:" for _ in keys) + " |",
    ]
    for method, means in report["methods"].items():
        lines.append(f"| {method} | " + " | ".join(_fmt(means[k], k) for k in keys) + " |")
    comparisons = [("telea", "delta_vs_telea", "delta_sem_vs_telea")]
    if report.get("reference"):
        comparisons.append((report["reference"], "delta_vs_reference", "delta_sem_vs_reference"))
    for base, key, sem_key in comparisons:
        for method, deltas in report[key].items():
            if base != "telea" and method != "model":
                continue  # against the strongest classical fill, only the model's margin matters
            sems = report[sem_key][method]
            cells = [_fmt(deltas[k], k, signed=True) + (f" ± {_fmt(sems[k], k)}" if sems[k] is not None else "")
                     for k in keys]
            for k in ("judge", "perceptual"):
                rel, ref_mean = deltas.get(k), report["methods"][base].get(k)
                if rel is not None and ref_mean:
                    cells[keys.index(k)] += f" ({100 * rel / ref_mean:+.1f} %)"
            lines.append(f"| {method} − {base} | " + " | ".join(cells) + " |")
    if report.get("win_rate"):
        lines += ["", f"Win rate against {report['reference']} (share of images where the judge distance is lower): "
                  + ", ".join(f"{m} {100 * v:.0f} %" for m, v in report["win_rate"].items()) + "."]
    if report.get("detail_median"):
        lines += ["", "Detail ratio, median over images (the fill's Laplacian variance over the original's in the "
                  "hole's interior; 1 = the original's texture): " + ", ".join(
                      f"{m} {_fmt(v, 'detail')}" for m, v in report["detail_median"].items()) + "."]
    if report.get("seconds_per_image"):
        lines += ["", "Seconds per image (mean, this machine): " + ", ".join(
            f"{m} {t:.3f}" for m, t in report["seconds_per_image"].items()) + "."]
    lines += [
        "",
        "Means over images; deltas are paired per-image differences ± their standard error.",
        f"PSNR/SSIM/L1 on the hole (SSIM: hole dilated by a few px) and on the whole image; L1 on [0, 1] colours; "
        f"judge distance = the judge of JUDGE.md: VGG16 activations at {', '.join(report['perceptual']['layers'])}, "
        f"each pixel's feature vector unit-normalised over channels, squared differences summed over channels, "
        f"averaged over pixels and summed over layers (weights: {report['perceptual']['weights']}); "
        f"old perceptual = mean L1 between raw activations at relu1_2..relu4_3 (the album loss's own term: history only); "
        f"detail ratio: the table shows the mean, the line above the median.",
    ]
    if report.get("landcover_consistency_target") is not None:
        lines.append(f"Land-cover consistency = the referee segmenter's pixel accuracy on the hole against the "
                     f"requested land cover; on the original images it reads {report['landcover_consistency_target']:.3f}."
                     + (f" Referee: the one stored in `{report['referee']}`." if report.get("referee") not in
                        (None, report["checkpoint"]) else ""))
    if report["skipped"]:
        lines.append(f"Skipped {len(report['skipped'])} unreadable file(s): {', '.join(report['skipped'][:5])}.")
    lines += ["", f"![examples]({report['grid']})", ""]
    path = Path(path)
    path.write_text("\n".join(lines))
    return path


def _grid_methods(methods) -> list[str]:
    """Columns of examples.png: the model and every classical fill but Navier-Stokes (Telea's twin)."""
    return [m for m in methods if m != "navier-stokes"] or list(methods)


def _grid_row(target, mask, fills, lc, table) -> list[np.ndarray]:
    masked = target.copy()
    masked[mask] = HOLE_COLOUR
    row = [masked] + [fills[m] for m in _grid_methods(fills)] + [target]
    if lc is not None:
        colours = table.colorize(lc)
        edge = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
        colours[edge] = (255, 255, 255)  # outline the hole: inside it is the land cover asked for
        row.append(colours)
    return row


def _save_grid(path: Path, rows: list[list[np.ndarray]], methods: list[str], lc_column: bool) -> None:
    labels = ["masked"] + _grid_methods(methods) + ["target"]
    save_labelled_grid(path, rows, labels + (["land cover"] if lc_column else []))


def save_labelled_grid(path: Path, rows: list[list[np.ndarray]], labels: list[str], gap: int = 4) -> None:
    """Rows of equal-sized ``HxWx3 uint8`` tiles as one PNG, a label above each column."""
    h, w = rows[0][0].shape[:2]
    head = 22
    grid = np.full((head + len(rows) * (h + gap), len(labels) * (w + gap) - gap, 3), 255, np.uint8)
    for c, label in enumerate(labels):
        cv2.putText(grid, label[:28], (c * (w + gap) + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1,
                    cv2.LINE_AA)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            y, x = head + r * (h + gap), c * (w + gap)
            grid[y : y + h, x : x + w] = tile
    write_png(path, grid)


def write_summary(reports: dict[str, dict], path) -> Path:
    """One row per hole kind: the model's (or the first fill's) judge distance against the
    reference's, the win rate, hole PSNR and median detail ratio, beside the reference's."""
    first = next(iter(reports.values()))
    ref = first.get("reference")
    main = "model" if "model" in first["methods"] else next(m for m in first["methods"] if m != ref)
    lines = [f"# Judge summary: {first['checkpoint']}", "",
             f"{first['count']} images from `{first['images']}`"
             + (f" (held-out sources: {', '.join(first['held_out_sources'])})" if first.get("held_out_sources") else "")
             + f", {first['size']} px, seed {first['seed']}; `{main}` against `{ref}` and Telea, the same holes for each.",
             "", f"| holes | judge {main} / {ref} (ratio) | {main} wins | hole PSNR {main} / {ref} (dB) | "
             f"detail {main} / {ref} | judge Telea | s / image {main} / {ref} |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for kind, r in reports.items():
        m, b, t = r["methods"][main], r["methods"].get(ref, {}), r["methods"].get("telea", {})
        ratio = m["judge"] / b["judge"] if b.get("judge") else None
        win = (r.get("win_rate") or {}).get(main)
        det = r.get("detail_median") or {}
        sec = r.get("seconds_per_image", {})
        lines.append(
            f"| {kind} | {m['judge']:.4f} / {b.get('judge', float('nan')):.4f}"
            + (f" ({ratio:.3f}x)" if ratio else "") + f" | {'n/a' if win is None else f'{100 * win:.0f} %'} | "
            f"{m['psnr_hole']:.2f} / {b.get('psnr_hole', float('nan')):.2f} | "
            f"{_num(det.get(main))} / {_num(det.get(ref))} | {_num(t.get('judge'), 4)} | "
            f"{_num(sec.get(main), 3)} / {_num(sec.get(ref), 3)} |")
    lines += ["", "Judge distance: lower is better (JUDGE.md). Win rate: the share of images where the judge "
              f"distance of `{main}` is below `{ref}`'s. Detail: median ratio of the hole's texture to the original's.", ""]
    path = Path(path)
    path.write_text("\n".join(lines))
    return path


def _num(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
