"""What-if fills: does a hole asked to become another class look like that class?

``python -m inpaint_core evaluate ... --what-if`` runs this instead of the reconstruction
scores. Each held-out window gets its seeded class-patch hole (as in ``evaluate``); the
hole's erased class is its most common true class, and the hole is asked to become the
class whose mean colour is farthest from the erased one (means over the real pixels of
every evaluated window; nodata classes never asked). There is no ground truth for such a
fill, so two readings stand in for it:

* **follows**: the fill's mean colour is nearer the asked class's mean than the erased
  class's (share of windows);
* **referee**: the share of filled pixels that the land-cover referee (an independent
  segmenter stored in the satellite checkpoint, never used in any loss) reads as the asked
  class, set against its reading of *real* pixels of that class (its recall on the same
  windows): a fill that reads as water as often as real water does scores 1.0.

Every method fills the same masked window with the same asked land cover: the model, land-
cover PatchMatch with and without the checkpoint's exemplar bank, the land-cover nearest
fill and Telea (which ignores land cover: the floor).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

__all__ = ["what_if", "asked_class", "class_means", "write_markdown"]


def class_means(windows, num_classes: int) -> np.ndarray:
    """``C x 3`` mean RGB of each class over ``windows`` (``(rgb, lc)`` pairs); NaN for absent classes."""
    sums = np.zeros((num_classes, 3))
    counts = np.zeros(num_classes)
    for rgb, lc in windows:
        for c in np.unique(lc):
            sel = lc == c
            sums[c] += rgb[sel].reshape(-1, 3).sum(0)
            counts[c] += sel.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


def asked_class(erased: int, means: np.ndarray, ignore: tuple[int, ...]) -> int | None:
    """The class whose mean colour is farthest from ``erased``'s (never a nodata class), or None."""
    if not np.isfinite(means[erased]).all():
        return None
    dist = np.linalg.norm(means - means[erased], axis=1)
    for c in (*ignore, erased):
        dist[c] = -1
    dist[~np.isfinite(dist)] = -1
    best = int(np.argmax(dist))
    return best if dist[best] > 0 else None


def _referee_recall(reader, windows, num_classes: int, ignore) -> np.ndarray:
    """Per class: the share of its real pixels the referee reads as that class (NaN if absent)."""
    hits, counts = np.zeros(num_classes), np.zeros(num_classes)
    for rgb, lc in windows:
        pred = reader.segment(rgb)
        for c in np.unique(lc):
            sel = lc == c
            hits[c] += (pred[sel] == c).sum()
            counts[c] += sel.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = hits / counts
    recall[list(ignore)] = np.nan
    return recall


def what_if(model, table, windows, out: Path, seed: int = 0, reader=None, examples: int = 6,
            checkpoint: str = "", progress: bool = True) -> dict:
    """Fill every window's hole as the farthest-colour class with each method; write
    ``whatif.json``, ``whatif.md`` and ``whatif.png`` to ``out``; return the report.

    ``model``: a land-cover inpainter or None; ``windows``: ``[(name, rgb, lc)]``;
    ``reader``: a :class:`~inpaint_core.consistency.LandCoverReader` or None.
    """
    from tqdm import tqdm

    from inpaint_core.classical import BANK_PREFILLS, telea
    from inpaint_core.inpainters import LandcoverFillInpainter
    from inpaint_core.evaluate import _mask
    from inpaint_core.reports import HOLE_COLOUR, save_labelled_grid

    t0 = time.time()
    ignore = table.nodata_indices
    bank = getattr(model, "bank", None)
    methods = {}
    if model is not None:
        methods["model"] = lambda im, m, lc: model.inpaint(im, m, landcover=lc)
    fills = [("landcover-patchmatch", LandcoverFillInpainter(table, "landcover-patchmatch", bank=bank))]
    if bank is not None:  # without a bank, the no-bank PatchMatch is the one above and the bank fills cannot run
        fills.append(("landcover-patchmatch-nobank", LandcoverFillInpainter(table, "landcover-patchmatch")))
    fills.append(("landcover-nearest", LandcoverFillInpainter(table, "landcover-nearest")))
    if bank is not None:
        fills += [(name, LandcoverFillInpainter(table, name, bank=bank)) for name in BANK_PREFILLS]
    for name, fill in fills:
        methods[name] = lambda im, m, lc, f=fill: f.inpaint(im, m, landcover=lc)
    methods["telea"] = lambda im, m, lc: telea(im, m)

    means = class_means([(rgb, lc) for _, rgb, lc in windows], len(table))
    recall = _referee_recall(reader, [(rgb, lc) for _, rgb, lc in windows], len(table), ignore) if reader else None
    records, grid_rows, seconds = [], [], {m: 0.0 for m in methods}
    for i, (name, rgb, lc) in enumerate(tqdm(windows, desc="what-if", unit="window", disable=not progress)):
        mask = _mask("class-patches", rgb.shape[0], seed, i, lc, table)
        classes, counts = np.unique(lc[mask], return_counts=True)
        keep = ~np.isin(classes, ignore)
        if not keep.any():
            continue
        erased = int(classes[keep][np.argmax(counts[keep])])
        asked = asked_class(erased, means, ignore)
        if asked is None:
            continue
        want = lc.copy()
        want[mask] = asked
        masked = rgb.copy()
        masked[mask] = 0
        record = {"file": name, "mask_seed": [seed, i], "erased": table[erased].name, "asked": table[asked].name,
                  "scores": {}}
        fills = {}
        for method, fill in methods.items():
            start = time.perf_counter()
            filled = fill(masked, mask, want)
            seconds[method] += time.perf_counter() - start
            fills[method] = filled
            mean = filled[mask].reshape(-1, 3).astype(float).mean(0)
            follows = bool(np.linalg.norm(mean - means[asked]) < np.linalg.norm(mean - means[erased]))
            scores = {"follows": follows}
            if reader is not None:
                scores["referee_asked"] = float((reader.segment(filled)[mask] == asked).mean())
            record["scores"][method] = scores
        if reader is not None:
            record["referee_real_recall"] = float(recall[asked])
        records.append(record)
        if len(grid_rows) < examples:
            shown = rgb.copy()
            shown[mask] = HOLE_COLOUR
            grid_rows.append([shown] + [fills[m] for m in methods] + [table.colorize(want)])
    if not records:
        raise ValueError("no window had a hole of a land-cover class to re-ask: nothing to evaluate")
    summary = {}
    for method in methods:
        follows = np.mean([r["scores"][method]["follows"] for r in records])
        summary[method] = {"follows": float(follows)}
        if reader is not None:
            asked_share = np.mean([r["scores"][method]["referee_asked"] for r in records])
            real = np.nanmean([r["referee_real_recall"] for r in records])
            summary[method].update({"referee_asked": float(asked_share), "referee_real_recall": float(real),
                                    "referee_ratio": float(asked_share / real) if real > 0 else None})
    report = {
        "checkpoint": checkpoint, "count": len(records), "seed": seed, "methods": summary,
        "seconds_per_window": {m: round(t / len(records), 4) for m, t in seconds.items()},
        "class_means": {table[c].name: [round(float(v), 1) for v in means[c]] for c in range(len(table))
                        if np.isfinite(means[c]).all()},
        "referee_recall_per_class": None if recall is None else {
            table[c].name: round(float(recall[c]), 3) for c in range(len(table)) if np.isfinite(recall[c])},
        "per_window": records, "seconds": round(time.time() - t0, 1), "grid": "whatif.png",
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    save_labelled_grid(out / "whatif.png", grid_rows, ["masked"] + list(methods) + ["asked land cover"])
    (out / "whatif.json").write_text(json.dumps(report, indent=2))
    write_markdown(report, out / "whatif.md")
    return report


def write_markdown(report: dict, path) -> Path:
    has_referee = any("referee_asked" in s for s in report["methods"].values())
    lines = [
        f"# What-if fills: {report['checkpoint']}", "",
        f"{report['count']} windows, seed {report['seed']}: each class-patch hole asked to become the class whose "
        "mean colour is farthest from the erased one.", "",
        "| method | follows (mean colour) | " + ("referee reads the asked class | on real pixels of it | ratio | "
                                               if has_referee else "") + "s / window |",
        "| --- | ---: | " + ("---: | ---: | ---: | " if has_referee else "") + "---: |",
    ]
    for method, s in report["methods"].items():
        cells = [f"{100 * s['follows']:.0f} %"]
        if has_referee:
            ratio = s.get("referee_ratio")
            cells += [f"{s['referee_asked']:.3f}", f"{s['referee_real_recall']:.3f}",
                      "n/a" if ratio is None else f"{ratio:.2f}"]
        cells.append(f"{report['seconds_per_window'][method]:.3f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    if report.get("referee_recall_per_class"):
        lines += ["", "Referee recall on real pixels, per class: " + ", ".join(
            f"{k} {v:.2f}" for k, v in report["referee_recall_per_class"].items()) + "."]
    lines += ["", f"![what-if fills]({report['grid']})", ""]
    path = Path(path)
    path.write_text("\n".join(lines))
    return path
