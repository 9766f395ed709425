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
  windows): a fill that reads as water as often as real water does scores 1.0; and, where
  the tile has the asked class, against its reading of the tile's own pixels of it (a fill
  that takes the tile's own green water is held to how the referee reads that water);
* **seam energy** (:func:`seam_energy`): the mean gradient magnitude across the 64-px lattice
  lines inside the fill over the mean elsewhere inside it; about 1 without a grid, well above
  1 for exemplars tiled in squares (the lattice starts where the engine's crop does, as a
  tiling fill's does);
* **colour harmony** (:func:`colour_harmony`): where the tile has known pixels of the asked
  class, the distance of the fill's mean colour to the tile's own colour of that class over
  its distance to the bank's; below 1, the fill is in the tile's colours.

When a window comes with its tile (as ``evaluate`` gives them), its hole is cut into the
whole tile and every method fills the tile as the app does (the engine's crop around the
hole), so a fill may take the asked class from anywhere in the tile, as in the app.

Every method fills the same masked window with the same asked land cover: the model, each
land-cover fill of the registry (:data:`~inpaint_core.registry.LANDCOVER_FILLS`) with the
checkpoint's exemplar bank, land-cover PatchMatch also without it, and Telea (which ignores
land cover: the floor).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from inpaint_core.data.masks import evaluation_mask
from inpaint_core.data.tiles import tile_windows
from inpaint_core.engine import InferenceOptions, region_boxes
from inpaint_core.eval.reports import HOLE_COLOUR, save_labelled_grid
from inpaint_core.fills.classical import telea
from inpaint_core.fills.landcover import MIN_KNOWN
from inpaint_core.registry import FILLS, LANDCOVER_FILLS

__all__ = ["what_if", "asked_class", "class_means", "seam_energy", "colour_harmony", "windows_in_tiles",
           "write_markdown", "LATTICE"]

LATTICE = 64  # side of the bank's exemplars: the grid a tiled fill draws
NO_BANK = "landcover-patchmatch"  # the fill also run without the model's bank: what the bank's texture adds


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


def seam_energy(filled: np.ndarray, mask: np.ndarray, origin: tuple[int, int] = (0, 0),
                lattice: int = LATTICE) -> float | None:
    """Mean luminance step across the ``lattice``-px grid lines inside the fill over the mean
    step elsewhere inside it (steps between two hole pixels, across and down).

    ``filled`` ``HxWx3 uint8``, ``mask`` ``HxW`` bool; ``origin``: where the grid's lines start
    (row, column, in the picture's pixels; they may lie outside it). About 1 for a fill without
    a grid; None when the hole crosses no line or has no steps off it.
    """
    grey = filled.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    on, off = [], []
    for axis in (0, 1):
        step = np.abs(np.diff(grey, axis=axis))
        both = mask[1:] & mask[:-1] if axis == 0 else mask[:, 1:] & mask[:, :-1]
        index = np.arange(1, mask.shape[axis]) - origin[axis]  # the line lies before this row/column
        line = (index % lattice) == 0
        line = line[:, None] if axis == 0 else line[None, :]
        line = np.broadcast_to(line, both.shape)
        on.append(step[both & line])
        off.append(step[both & ~line])
    on, off = np.concatenate(on), np.concatenate(off)
    if on.size == 0 or off.size == 0 or off.mean() <= 0:
        return None
    return float(on.mean() / off.mean())


def colour_harmony(fill_mean, tile_mean, bank_mean) -> float | None:
    """The distance of a fill's mean colour to the tile's own colour of its class over its
    distance to the bank's colour of that class (RGB means); None where either is unknown."""
    fill_mean, tile_mean, bank_mean = (np.asarray(v, float) for v in (fill_mean, tile_mean, bank_mean))
    if not (np.isfinite(tile_mean).all() and np.isfinite(bank_mean).all()):
        return None
    return float(np.linalg.norm(fill_mean - tile_mean) / max(np.linalg.norm(fill_mean - bank_mean), 1e-6))


def windows_in_tiles(tiles, size: int, windows: int = 1):
    """``[(name, rgb, lc, (tile rgb, tile lc, (row, column)))]``: the windows :func:`evaluate`
    scores (:func:`~inpaint_core.data.tiles.tile_windows`), each with its tile and its place in it,
    from ``tiles``, an iterable of ``(name, tile rgb, tile land cover)``. A tile smaller than a
    window is scaled up to it and has no place (its window alone is the tile)."""
    out = []
    for name, rgb, lc in tiles:
        lc = np.asarray(lc)
        lc = lc.astype(np.uint8) if lc.size and lc.max() < 256 else lc  # every window keeps its tile in memory
        h, w = lc.shape
        found = tile_windows(rgb, lc, size, windows)
        for (r, c), im, l in found:
            suffix = f"#{r},{c}" if len(found) > 1 else ""
            if min(h, w) < size:
                out.append((name + suffix, im, l, None))
                continue
            if len(found) == 1 and windows == 1:
                y, x = (h - size) // 2, (w - size) // 2
            else:
                y, x = (h - h // size * size) // 2 + r * size, (w - w // size * size) // 2 + c * size
            out.append((name + suffix, im, l, (rgb, lc, (y, x))))
    return out


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


def _tile_reading(reader, tile, asked: int, read: dict) -> float | None:
    """The share of the tile's own pixels of class ``asked`` that the referee reads as it (None when
    the tile has fewer than ``MIN_KNOWN`` of them): the reading a fill that takes the class from its
    own tile can be held to. ``read`` keeps each tile's segmentation (by the tile's identity)."""
    full_rgb, full_lc, _ = tile
    own = full_lc == asked
    if own.sum() < MIN_KNOWN:
        return None
    key = id(full_rgb)
    if key not in read:
        read[key] = (full_rgb, reader.segment(full_rgb))  # the picture kept, so its id is not reused
    return float((read[key][1][own] == asked).mean())


def _methods(model, table) -> dict:
    """Every method of the what-if, ``name -> fill(image, mask, asked land cover, strategy)``: the
    model, every land-cover fill of the registry with the model's exemplar bank (those that need
    one only when it has one), land-cover PatchMatch also without the bank, and Telea (which
    ignores land cover: the floor)."""
    bank = getattr(model, "bank", None)
    methods = {}
    if model is not None:
        methods["model"] = lambda im, m, lc, st: model.inpaint(im, m, landcover=lc, strategy=st)
    fills = []
    for name in LANDCOVER_FILLS:
        if FILLS[name].needs_bank and bank is None:
            continue
        fills.append((name, FILLS[name].make(table, bank)))
        if name == NO_BANK and bank is not None:  # without a bank, the one above is already the no-bank fill
            fills.append((f"{name}-nobank", FILLS[name].make(table)))
    for name, fill in fills:
        methods[name] = lambda im, m, lc, st, f=fill: f.inpaint(im, m, landcover=lc, strategy=st)
    methods["telea"] = lambda im, m, lc, st: telea(im, m)
    return methods


def _bank_means(bank, num_classes: int) -> np.ndarray | None:
    """``C x 3`` mean RGB of each class's exemplars in ``bank`` (NaN where it has none), or None."""
    if bank is None:
        return None
    return np.array([bank.strips[c].reshape(-1, 3).mean(0) if bank.has(c) else np.full(3, np.nan)
                     for c in range(num_classes)])


@dataclass
class _Ask:
    """One window's question: its hole, the class erased there and the class asked for."""

    mask: np.ndarray
    erased: int
    asked: int


def _ask(i: int, rgb: np.ndarray, lc: np.ndarray, seed: int, means: np.ndarray, ignore) -> _Ask | None:
    """Window ``i``'s seeded class-patch hole and what it is asked to become, or None when the
    hole erases no land-cover class or no other class is far enough in colour."""
    mask = evaluation_mask("class-patches", rgb.shape[0], seed, i, lc, ignore)
    classes, counts = np.unique(lc[mask], return_counts=True)
    keep = ~np.isin(classes, ignore)
    if not keep.any():
        return None
    erased = int(classes[keep][np.argmax(counts[keep])])
    asked = asked_class(erased, means, ignore)
    return None if asked is None else _Ask(mask, erased, asked)


def _fill_window(ask: _Ask, rgb, lc, tile, methods: dict, means, bank_means, reader, seconds: dict):
    """Fill one window's hole as ``ask`` says with every method: ``(scores per method, fills per
    method, whether the tile has known pixels of the asked class)``. With ``tile`` (tile rgb,
    tile lc, (row, column)) the hole is cut into the whole tile and filled there by the engine's
    crop, as the app fills it; ``seconds`` adds each method's time."""
    mask, erased, asked = ask.mask, ask.erased, ask.asked
    full_rgb, full_lc, (y, x) = tile if tile is not None else (rgb, lc, (0, 0))
    h, w = mask.shape
    full_mask = np.zeros(full_lc.shape, bool)
    full_mask[y:y + h, x:x + w] = mask
    want = full_lc.astype(np.int64, copy=True)
    want[full_mask] = asked
    masked = full_rgb.copy()
    masked[full_mask] = 0
    strategy = "crop" if tile is not None else None
    crop = InferenceOptions()  # the engine's crop, as the app fills a tile
    # a tiled fill's grid starts where the engine's crop around the hole does
    box = region_boxes(full_mask, crop.margin, crop.min_context)[0] if tile is not None else (0, 0, 0, 0)
    origin = (box[0] - y, box[2] - x)
    own = ~full_mask & (full_lc == asked)
    tile_mean = full_rgb[own].reshape(-1, 3).astype(float).mean(0) if own.sum() >= MIN_KNOWN else None
    scores, fills = {}, {}
    for method, fill in methods.items():
        start = time.perf_counter()
        filled = fill(masked, full_mask, want, strategy)[y:y + h, x:x + w]
        seconds[method] += time.perf_counter() - start
        fills[method] = filled
        mean = filled[mask].reshape(-1, 3).astype(float).mean(0)
        follows = bool(np.linalg.norm(mean - means[asked]) < np.linalg.norm(mean - means[erased]))
        scores[method] = {"follows": follows, "seam_energy": seam_energy(filled, mask, origin)}
        if tile_mean is not None and bank_means is not None:
            scores[method]["harmony"] = colour_harmony(mean, tile_mean, bank_means[asked])
        if reader is not None:
            scores[method]["referee_asked"] = float((reader.segment(filled)[mask] == asked).mean())
    return scores, fills, tile_mean is not None


def _summary(records: list[dict], methods, with_referee: bool) -> dict:
    """Per method: the share of windows it follows, its mean seam energy and colour harmony, and
    the referee's reading of its fills against its reading of real pixels."""
    summary = {}
    for method in methods:
        follows = np.mean([r["scores"][method]["follows"] for r in records])
        seams = [r["scores"][method]["seam_energy"] for r in records]
        seams = [v for v in seams if v is not None]
        harmony = [r["scores"][method].get("harmony") for r in records]
        harmony = [v for v in harmony if v is not None]
        summary[method] = {"follows": float(follows),
                           "seam_energy": float(np.mean(seams)) if seams else None,
                           "harmony": float(np.mean(harmony)) if harmony else None, "harmony_windows": len(harmony)}
        if with_referee:
            asked_share = np.mean([r["scores"][method]["referee_asked"] for r in records])
            real = np.nanmean([r["referee_real_recall"] for r in records])
            summary[method].update({"referee_asked": float(asked_share), "referee_real_recall": float(real),
                                    "referee_ratio": float(asked_share / real) if real > 0 else None})
            # where the tile has the asked class: against the referee's reading of the tile's own pixels of it
            own = [r for r in records if r.get("referee_tile_recall") is not None]
            tile_real = np.mean([r["referee_tile_recall"] for r in own]) if own else 0.0
            tile_asked = np.mean([r["scores"][method]["referee_asked"] for r in own]) if own else 0.0
            summary[method].update({"referee_tile_windows": len(own),
                                    "referee_ratio_tile": float(tile_asked / tile_real) if tile_real > 0 else None})
    return summary


def what_if(model, table, windows, out: Path, seed: int = 0, reader=None, examples: int = 6,
            checkpoint: str = "", progress: bool = True) -> dict:
    """Fill every window's hole as the farthest-colour class with each method; write
    ``whatif.json``, ``whatif.md`` and ``whatif.png`` to ``out``; return the report.

    ``model``: a land-cover inpainter or None; ``windows``: ``[(name, rgb, lc)]``, or
    ``[(name, rgb, lc, tile)]`` with ``tile`` ``(tile rgb, tile lc, (row, column))`` (or None)
    as :func:`windows_in_tiles` gives them: the hole is then filled in its whole tile;
    ``reader``: a :class:`~inpaint_core.eval.referee.LandCoverReader` or None.
    """
    t0 = time.time()
    ignore = table.nodata_indices
    methods = _methods(model, table)
    bank_means = _bank_means(getattr(model, "bank", None), len(table))
    windows = [tuple(w) + (None,) * (4 - len(w)) for w in windows]
    means = class_means([(rgb, lc) for _, rgb, lc, _ in windows], len(table))
    recall = _referee_recall(reader, [(rgb, lc) for _, rgb, lc, _ in windows], len(table), ignore) if reader else None
    records, grid_rows, seconds, tiles_read = [], [], {m: 0.0 for m in methods}, {}
    for i, (name, rgb, lc, tile) in enumerate(tqdm(windows, desc="what-if", unit="window", disable=not progress)):
        ask = _ask(i, rgb, lc, seed, means, ignore)
        if ask is None:
            continue
        scores, fills, tile_has_asked = _fill_window(ask, rgb, lc, tile, methods, means, bank_means, reader, seconds)
        record = {"file": name, "mask_seed": [seed, i], "erased": table[ask.erased].name,
                  "asked": table[ask.asked].name, "tile_has_asked": tile_has_asked, "scores": scores}
        if reader is not None:
            record["referee_real_recall"] = float(recall[ask.asked])
            if tile is not None:
                record["referee_tile_recall"] = _tile_reading(reader, tile, ask.asked, tiles_read)
        records.append(record)
        if len(grid_rows) < examples:
            shown = rgb.copy()
            shown[ask.mask] = HOLE_COLOUR
            asked_lc = lc.copy()
            asked_lc[ask.mask] = ask.asked
            grid_rows.append([shown] + [fills[m] for m in methods] + [table.colorize(asked_lc)])
    if not records:
        raise ValueError("no window had a hole of a land-cover class to re-ask: nothing to evaluate")
    report = {
        "checkpoint": checkpoint, "count": len(records), "seed": seed,
        "methods": _summary(records, methods, reader is not None),
        "in_tiles": sum(w[3] is not None for w in windows),
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
        "| method | follows (mean colour) | seam energy | colour harmony | "
        + ("referee reads the asked class | on real pixels of it | ratio | ratio to the tile's own pixels of it | "
           if has_referee else "") + "s / window |",
        "| --- | ---: | ---: | ---: | " + ("---: | ---: | ---: | ---: | " if has_referee else "") + "---: |",
    ]
    for method, s in report["methods"].items():
        cells = [f"{100 * s['follows']:.0f} %", _num(s.get("seam_energy")), _num(s.get("harmony"))]
        if has_referee:
            ratio = s.get("referee_ratio")
            cells += [f"{s['referee_asked']:.3f}", f"{s['referee_real_recall']:.3f}", _num(ratio),
                      _num(s.get("referee_ratio_tile"))]
        cells.append(f"{report['seconds_per_window'][method]:.3f}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    harmony_windows = max((s.get("harmony_windows", 0) for s in report["methods"].values()), default=0)
    lines += ["", f"Seam energy: the mean luminance step across the {LATTICE}-px lattice lines inside the fill over "
              "the mean step elsewhere inside it (about 1 without a grid). Colour harmony: the distance of the "
              "fill's mean colour to the tile's own colour of the asked class over its distance to the bank's "
              f"(below 1: the tile's colours), on the {harmony_windows} windows whose tile has that class."]
    if report.get("in_tiles"):
        lines += ["", f"{report['in_tiles']} of the windows were filled in their whole tile, as the app fills "
                  "(the engine's crop around the hole; the asked class may come from anywhere in the tile)."]
    tile_windows = max((s.get("referee_tile_windows", 0) for s in report["methods"].values()), default=0)
    if has_referee and tile_windows:
        lines += ["", f"Ratio to the tile's own pixels: on the {tile_windows} windows whose tile has the asked class, "
                  "the referee's reading of the fills over its reading of the tile's own pixels of that class (a "
                  "tile's water may be green or brown, which the referee, trained on other tiles, reads less often "
                  "as water; a fill that takes the tile's own water is held to that reading)."]
    if report.get("referee_recall_per_class"):
        lines += ["", "Referee recall on real pixels, per class: " + ", ".join(
            f"{k} {v:.2f}" for k, v in report["referee_recall_per_class"].items()) + "."]
    lines += ["", f"![what-if fills]({report['grid']})", ""]
    path = Path(path)
    path.write_text("\n".join(lines))
    return path


def _num(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
