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

from inpaint_core.data.raster import _NOTHING_KNOWN, BandStats
from inpaint_core.engine import _grow_box
from inpaint_core.scene.counts import (
    ValueCounts,
    gather,
    median_ranks,
    percentile_ranks,
    sum_counts,
)
from inpaint_core.scene.inputs import Box, Scene, clip_box

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


def _label_strip(hole_all: np.ndarray, rows: slice, y0: int, y1: int, margin: int) -> StripScan:
    """The labelled pieces of a strip's hole grown by ``margin`` (``hole_all``: the strip read with
    its margin rows; ``rows``: the strip's own rows in it). Only the columns between the strip's
    first and last hole pixel (and ``margin`` around) are grown and labelled: in a scene of sparse
    holes that is a small part of each strip, and most strips have none."""
    w = hole_all.shape[1]
    top, bottom = np.zeros(w, np.int32), np.zeros(w, np.int32)
    columns = np.flatnonzero(hole_all.any(axis=0))
    if not columns.size:
        return StripScan(y0, y1, top, bottom, np.zeros((0, 4), np.int64), 0, 0)
    x0, x1 = max(0, int(columns[0]) - margin), min(w, int(columns[-1]) + margin + 1)
    grown = hole_all[:, x0:x1].astype(np.uint8)
    if margin > 0:
        grown = cv2.dilate(grown, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * margin + 1, 2 * margin + 1)))
    grown = np.ascontiguousarray(grown[rows])
    holes = int(hole_all[rows].sum())
    if not grown.any():  # the hole lies in the margin rows only: another strip's
        return StripScan(y0, y1, top, bottom, np.zeros((0, 4), np.int64), holes, 0)
    n, labels, st, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    x, y, bw, bh = (st[1:n, i].astype(np.int64) for i in range(4))
    top[x0:x1], bottom[x0:x1] = labels[0], labels[-1]
    return StripScan(y0, y1, top, bottom, np.stack([y + y0, y + bh + y0, x + x0, x + x0 + bw], 1), holes, 0)


def scan_strip(scene: Scene, y0: int, y1: int, margin: int, need: _Need) -> StripScan:
    """Rows ``y0..y1-1`` of ``scene``: where its hole grown by ``margin`` lies (8-connected
    pieces, labelled), and the counts of its values. Reads the strip with ``margin`` rows (and
    the hole rule's halo) around it."""
    w = scene.shape[1]
    outer = clip_box((y0, y1, 0, w), margin, scene.shape)
    read = need.pixels or not scene.all_valid
    hole_all, _, data, valid = scene.holes(outer, pixels=True) if read else scene.holes(outer) + (None, None)
    rows = slice(y0 - outer[0], y1 - outer[0])
    scan = _label_strip(hole_all, rows, y0, y1, margin)
    hole = hole_all[rows]
    if not read:
        scan.known = hole.size - scan.holes
        return scan
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
    scans = list(runner.map(scan_strip, [(scene, y0, y1, margin, need) for y0, y1 in strips]))
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
