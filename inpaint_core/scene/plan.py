"""Step 1 of a scene, the scan: its hole regions, the windows that fill them, and its statistics.

:func:`plan_scene` reads the scene in strips of rows, each with ``margin`` rows around it
(:func:`scan_strip`). A strip gives the pieces of its hole regions (the hole grown by
``margin``, as :func:`inpaint_core.engine.region_boxes` grows it, cut into 8-connected
components) and the counts of its values (:mod:`inpaint_core.scene.counts`). Pieces that touch
across strips are joined, every region's box is grown and boxes that overlap are merged as the
crop strategy does: the scene's :class:`Plan`, its :class:`Job` windows, and the statistics
that the whole-picture fill takes over the whole raster (the display stretch, each band's
range and median), exact, from the counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from inpaint_core.data.raster import _NOTHING_KNOWN, BandStats, _georef_of
from inpaint_core.engine import _grow_box
from inpaint_core.scene.counts import (
    ValueCounts,
    gather,
    median_ranks,
    percentile_ranks,
    sum_counts,
)
from inpaint_core.scene.blocks import present_blocks
from inpaint_core.scene.inputs import Box, Scene, _same_grid, clip_box

__all__ = ["SceneOptions", "Job", "Plan", "StripScan", "scan_strip", "merge_boxes", "plan_scene"]


@dataclass
class SceneOptions:
    block: int = 1024  # most rows a scan strip holds (fewer for wide many-band scenes: see strip_bytes)
    strip_bytes: int = 96 * 2**20  # what one scan strip may read, all its bands and margins together
    max_window: int = 2048  # a region whose box passes this side is filled in tiles of the working size
    cog: bool = False  # rewrite the output as a cloud-optimised GeoTIFF (GDAL's COG driver, with overviews)
    gdal_threads: str = "ALL_CPUS"  # threads GDAL compresses the output with

    def __post_init__(self):
        if self.block < 1 or self.max_window < 64:
            raise ValueError(f"--block must be >= 1 and --max-window >= 64, got {self.block} and {self.max_window}")


@dataclass(frozen=True)
class Job:
    """One window: the fill sees ``context`` and writes the hole pixels of ``core`` (equal for a
    region's box; a tile of a large region sees ``margin`` px around its core)."""

    core: Box
    context: Box
    tiled: bool = False


@dataclass
class Plan:
    """What the scan found: the merged region boxes, the windows that fill them, the hole and known
    pixel counts, and the whole scene's statistics that every window is written with."""

    regions: list[Box]
    jobs: list[Job]
    hole_pixels: int
    scale: float | None
    stats: BandStats


@dataclass
class _Need:
    """Which statistics the write-back needs: the stretch (non-8-bit data), each band's median
    (a numeric nodata value), the range of the bands the fill does not see."""

    scale: bool
    typical: bool
    others: tuple[int, ...]

    @property
    def pixels(self) -> bool:
        return self.scale or self.typical or bool(self.others)


@dataclass
class StripScan:
    """One strip's part of the scan (see :func:`scan_strip`)."""

    y0: int
    y1: int
    top: np.ndarray  # labels of the grown hole on the strip's first row (0: none), int32
    bottom: np.ndarray  # ... and on its last row
    boxes: np.ndarray  # (n, 4) y0, y1, x0, x1 of label i + 1, scene pixels
    holes: int
    known: int
    shown: ValueCounts | None = None  # the RGB bands over valid pixels (the stretch)
    bands: dict[int, ValueCounts] = field(default_factory=dict)  # each band over known pixels (medians)
    low: dict[int, float] = field(default_factory=dict)
    high: dict[int, float] = field(default_factory=dict)


def _runs(present, outer: Box, grow: int, margin: int, w: int) -> list[tuple[int, int]]:
    """The column ranges of ``outer``'s rows where holes can be: the mask's blocks that hold data
    (``present``: ``(block, grid)`` of :func:`~inpaint_core.scene.blocks.present_blocks`), grown by
    the mask's ``grow``; ranges closer than ``2 * margin + 2`` are joined, so holes in two of them
    are too far apart to meet once grown by ``margin``. The whole width when ``present`` is None."""
    if present is None:
        return [(0, w)]
    (bh, bw), grid = present
    rows = grid[max(0, (outer[0] - grow) // bh): (outer[1] + grow - 1) // bh + 1].any(axis=0)
    runs = []
    for bx in np.flatnonzero(rows).tolist():
        x0, x1 = max(0, bx * bw - grow), min(w, (bx + 1) * bw + grow)
        if runs and x0 - runs[-1][1] < 2 * margin + 2:
            runs[-1] = (runs[-1][0], x1)
        else:
            runs.append((x0, x1))
    return runs


def _label_strip(pieces, rows: slice, y0: int, y1: int, margin: int, w: int) -> StripScan:
    """The labelled pieces of a strip's hole grown by ``margin``. ``pieces``: ``(x0, hole)`` for
    each column range read (:func:`_runs`), the strip's rows with their margin rows; ``rows``: the
    strip's own rows in them. Only the columns around each cluster of hole columns (those less than
    ``2 * margin + 2`` apart, which may meet once grown) are grown and labelled: in a scene of
    sparse holes that is a small part of each strip, and most strips have none."""
    top, bottom = np.zeros(w, np.int32), np.zeros(w, np.int32)
    boxes, holes, labelled = [], 0, 0
    for x_at, hole_all in pieces:
        holes += int(hole_all[rows].sum())
        columns = np.flatnonzero(hole_all.any(axis=0))
        if not columns.size:
            continue
        cuts = np.flatnonzero(np.diff(columns) >= 2 * margin + 2)
        for first, last in zip([0, *(cuts + 1).tolist()], [*cuts.tolist(), len(columns) - 1]):
            x0, x1 = max(0, x_at + int(columns[first]) - margin), min(w, x_at + int(columns[last]) + margin + 1)
            grown = np.zeros((hole_all.shape[0], x1 - x0), np.uint8)  # beyond the piece: no hole
            a, b = max(x0, x_at), min(x1, x_at + hole_all.shape[1])
            grown[:, a - x0: b - x0] = hole_all[:, a - x_at: b - x_at]
            if margin > 0:
                grown = cv2.dilate(grown, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * margin + 1, 2 * margin + 1)))
            grown = np.ascontiguousarray(grown[rows])
            if not grown.any():  # the hole lies in the margin rows only: another strip's
                continue
            n, labels, st, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
            labels[labels > 0] += labelled
            x, y, bw, bh = (st[1:n, i].astype(np.int64) for i in range(4))
            top[x0:x1], bottom[x0:x1] = labels[0], labels[-1]
            boxes.append(np.stack([y + y0, y + bh + y0, x + x0, x + x0 + bw], 1))
            labelled += n - 1
    boxes = np.concatenate(boxes) if boxes else np.zeros((0, 4), np.int64)
    return StripScan(y0, y1, top, bottom, boxes, holes, 0)


def scan_strip(scene: Scene, y0: int, y1: int, margin: int, need: _Need, present=None) -> StripScan:
    """Rows ``y0..y1-1`` of ``scene``: where its hole grown by ``margin`` lies (8-connected
    pieces, labelled), and the counts of its values. Reads the strip with ``margin`` rows (and
    the hole rule's halo) around it; when its holes come from a sparse mask alone (``present``,
    see :func:`_mask_blocks`) and no pixel is needed, only the columns of the mask's blocks."""
    w = scene.shape[1]
    outer = clip_box((y0, y1, 0, w), margin, scene.shape)
    rows = slice(y0 - outer[0], y1 - outer[0])
    read = need.pixels or not scene.all_valid
    if not read:
        pieces = [(x0, scene.holes((outer[0], outer[1], x0, x1))[0])
                  for x0, x1 in _runs(present, outer, scene.rule.dilate, margin, w)]
        scan = _label_strip(pieces, rows, y0, y1, margin, w)
        scan.known = (y1 - y0) * w - scan.holes
        return scan
    hole_all, _, data, valid = scene.holes(outer, pixels=True)
    scan = _label_strip([(0, hole_all)], rows, y0, y1, margin, w)
    hole = hole_all[rows]
    data, valid = data[:, rows], valid[rows]
    known = valid & ~hole  # the gaps that fill_nodata fills are hole
    scan.known = int(known.sum())
    if need.scale:
        scan.shown = ValueCounts(data.dtype)
        for b in scene.rgb_bands:
            scan.shown.add(data[b][valid])
    for b in range(scene.count):
        if need.typical:
            scan.bands[b] = ValueCounts(data.dtype)
            scan.bands[b].add(data[b][known])
        if b in need.others and scan.known:
            values = data[b][known]
            scan.low[b], scan.high[b] = float(values.min()), float(values.max())
    return scan


def _settle_strip(scene: Scene, y0: int, y1: int, shown: set[int], bands: dict[int, set[int]]):
    """The second pass for data wider than 16 bits: the values of the wanted bins of this strip."""
    hole, _, data, valid = scene.holes((y0, y1, 0, scene.shape[1]), pixels=True)
    known = valid & ~hole
    out_shown = ValueCounts(data.dtype)
    if shown:
        out_shown.settle(np.concatenate([data[b][valid] for b in scene.rgb_bands]), shown)
    out_bands = {}
    for b, wanted in bands.items():
        out_bands[b] = ValueCounts(data.dtype)
        out_bands[b].settle(data[b][known], wanted)
    return out_shown, out_bands


def _mask_blocks(scene: Scene):
    """``(block, grid)`` of the scene's mask file's blocks that hold data
    (:func:`~inpaint_core.scene.blocks.present_blocks`) when its holes come from that mask alone and
    a block left out of the file reads as no hole: a GeoTIFF mask on the scene's grid, without a
    nodata value other than 0, and neither ``--mask-values`` nor ``--fill-nodata``. Else None:
    every column is read."""
    rule = scene.rule
    if (rule.mask is None or rule.mask_values is not None or rule.fill_nodata or not scene.all_valid
            or not str(rule.mask).lower().endswith((".tif", ".tiff"))):
        return None
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a plain TIFF mask: the scene's grid if its size
            ds = rasterio.open(rule.mask)
        with ds:
            if ds.driver != "GTiff" or ds.nodata not in (None, 0) or not _same_grid(
                    _georef_of(ds), scene.georef, (ds.height, ds.width), scene.shape):
                return None
    except Exception:  # noqa: BLE001 - a TIFF GDAL does not read: the scene's own check says why
        return None
    found = present_blocks(rule.mask)
    return None if found is None or found[1].all() else found


def _strips(scene: Scene, opts: SceneOptions, margin: int) -> list[tuple[int, int]]:
    h, w = scene.shape
    row_bytes = w * scene.count * scene.dtype.itemsize
    rows = max(1, min(opts.block, opts.strip_bytes // row_bytes - 2 * (margin + scene.rule.halo)))
    return [(y, min(h, y + rows)) for y in range(0, h, rows)]


def merge_boxes(boxes) -> list[Box]:
    """Boxes merged until none overlap: the crop strategy's rule (:func:`inpaint_core.engine.region_boxes`).
    Every merge is forced (two overlapping boxes must end in one), so the result does not depend
    on the order of ``boxes``; sorted by top, then left."""
    arr = np.asarray(list(boxes), np.int64).reshape(-1, 4)
    while True:
        alive = np.ones(len(arr), bool)
        out = []
        for i in range(len(arr)):
            if not alive[i]:
                continue
            alive[i] = False
            b = arr[i].copy()
            while True:
                hit = alive & (arr[:, 0] < b[1]) & (b[0] < arr[:, 1]) & (arr[:, 2] < b[3]) & (b[2] < arr[:, 3])
                if not hit.any():
                    break
                alive &= ~hit
                b = np.array([min(b[0], arr[hit, 0].min()), max(b[1], arr[hit, 1].max()),
                              min(b[2], arr[hit, 2].min()), max(b[3], arr[hit, 3].max())])
            out.append(b)
        merged = np.asarray(out, np.int64).reshape(-1, 4)
        if len(merged) == len(arr):
            return sorted(tuple(int(v) for v in b) for b in merged)
        arr = merged


def _regions(scans: list[StripScan], shape, margin: int, min_side: int) -> list[Box]:
    """Join the strips' pieces that touch (8-connected across strip borders) into regions; their
    boxes grown to ``min_side`` and merged as the crop strategy does."""
    offsets = np.cumsum([0] + [len(s.boxes) for s in scans])
    parent = np.arange(offsets[-1])

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for k in range(len(scans) - 1):
        above, below = scans[k].bottom, scans[k + 1].top
        w = len(above)
        for d in (-1, 0, 1):  # a pixel touches the three below it
            a = above[max(0, -d): w - max(0, d)]
            b = below[max(0, d): w - max(0, -d)]
            both = (a > 0) & (b > 0)
            if both.any():
                for u, v in np.unique(np.stack([a[both], b[both]], 1), axis=0):
                    ru, rv = find(offsets[k] + u - 1), find(offsets[k + 1] + v - 1)
                    if ru != rv:
                        parent[max(ru, rv)] = min(ru, rv)
    if offsets[-1] == 0:
        return []
    boxes = np.concatenate([s.boxes for s in scans])
    roots = np.array([find(i) for i in range(len(boxes))])
    joined = {}
    for r, (y0, y1, x0, x1) in zip(roots.tolist(), boxes.tolist()):
        b = joined.get(r)
        joined[r] = (y0, y1, x0, x1) if b is None else (min(b[0], y0), max(b[1], y1), min(b[2], x0), max(b[3], x1))
    h, w = shape
    return merge_boxes(_grow_box(y0, y1, x0, x1, min_side, h, w) for y0, y1, x0, x1 in joined.values())


def _jobs(regions: list[Box], opts: SceneOptions, working_size: int, margin: int) -> list[Job]:
    """A window per region; a region larger than ``max_window`` is cut into tiles whose core is
    the working size less ``margin`` on each side, each seeing ``margin`` px around its core."""
    jobs = []
    for box in regions:
        y0, y1, x0, x1 = box
        if max(y1 - y0, x1 - x0) <= opts.max_window:
            jobs.append(Job(box, box))
            continue
        step = max(64, working_size - 2 * margin)
        for ty in range(y0, y1, step):
            for tx in range(x0, x1, step):
                core = (ty, min(y1, ty + step), tx, min(x1, tx + step))
                context = clip_box(core, margin, (y1, x1))
                context = (max(y0, context[0]), context[1], max(x0, context[2]), context[3])
                jobs.append(Job(core, context, tiled=True))
    return jobs


def plan_scene(scene: Scene, options, opts: SceneOptions, runner) -> Plan:
    """Scan ``scene`` (through ``runner``) into its :class:`Plan`. ``options``: the fill's
    :class:`~inpaint_core.engine.InferenceOptions` (margin, min_context, working_size)."""
    margin = options.margin if options.strategy == "crop" else 0
    nodata = scene.nodata
    need = _Need(scale=scene.dtype != np.uint8, typical=nodata is not None and not np.isnan(nodata),
                 others=tuple(b for b in range(scene.count) if b not in scene.rgb_bands))
    strips = _strips(scene, opts, margin)
    present = _mask_blocks(scene)
    scans = list(runner.map(scan_strip, [(scene, y0, y1, margin, need, present) for y0, y1 in strips]))
    holes = sum(s.holes for s in scans)
    if holes and not sum(s.known for s in scans):
        raise ValueError(_NOTHING_KNOWN)
    shown = sum_counts([s.shown for s in scans])
    bands = {b: sum_counts([s.bands[b] for s in scans]) for b in (range(scene.count) if need.typical else ())}
    want_shown = shown.wanted(percentile_ranks(shown.n)) if shown else set()
    want_bands = {b: c.wanted(median_ranks(c.n)) for b, c in bands.items()}
    want_bands = {b: w for b, w in want_bands.items() if w}
    if want_shown or want_bands:  # data wider than 16 bits: the values of the few bins that matter
        for part_shown, part_bands in runner.map(_settle_strip, [(scene, y0, y1, want_shown, want_bands)
                                                                 for y0, y1 in strips]):
            gather(shown, part_shown)
            for b, c in part_bands.items():
                gather(bands[b], c)
    scale = None
    if need.scale:
        scale = max(shown.percentile(99), 1e-12) if shown.n else 1.0
    low = tuple(min((s.low[b] for s in scans if b in s.low), default=None) for b in range(scene.count))
    high = tuple(max((s.high[b] for s in scans if b in s.high), default=None) for b in range(scene.count))
    typical = tuple(bands[b].median() if b in bands and bands[b].n else None for b in range(scene.count))
    regions = _regions(scans, scene.shape, margin, options.min_context if options.strategy == "crop" else 0)
    jobs = _jobs(regions, opts, options.working_size, options.margin)
    return Plan(regions, jobs, holes, scale, BandStats(low, high, typical))
