"""Whole scenes: fill a GeoTIFF of any size window by window, in memory bounded by the window.

The whole-picture fill (:func:`inpaint_core.data.raster.fill_raster` + ``write_filled``) holds every
band of the raster at once. A scene is done in three steps instead, each reading only a part:

1. **scan** (:func:`plan_scene`): the scene in strips of rows, each read with ``margin`` rows
   around it. A strip gives the pieces of its hole regions (the hole grown by ``margin``, as
   :func:`inpaint_core.engine.region_boxes` grows it, cut into 8-connected components) and
   the counts of its values. Pieces that touch across strips are joined, every region's box is
   grown and boxes that overlap are merged as the crop strategy does: the scene's
   :class:`Plan`, its :class:`Job` windows, and the statistics that the whole-picture fill
   takes over the whole raster (the display stretch, each band's range and median), exact,
   from the counts.
2. **fill** (:func:`fill_window`): each window reads its box with a few pixels around it, is
   filled exactly as the crop strategy fills that box, and gives back only its hole pixels,
   every band in the file's dtype (:class:`WindowFill`). A region larger than ``max_window``
   px a side is filled in overlapping tiles of the working size at full resolution.
3. **write** (:class:`SceneWriter`): one writer per output file. The output starts as a tiled,
   losslessly compressed copy of the input (the file itself when it already is one), and each
   window's hole pixels are written into it, in plan order, so the bytes do not depend on the
   order in which windows finished.

While every region's box fits ``max_window``, the result is the whole-picture fill's, bit for
bit; pixels outside the holes are the input's in every case. Strips and windows run through a
runner: :class:`InProcess` here, or the Dask cluster of :mod:`inpaint_core.scene.cluster`, which sends
the same functions to other processes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from inpaint_core.data.raster import _NOTHING_KNOWN, BandStats, Raster, filled_bands
from inpaint_core.engine import _grow_box
from inpaint_core.scene.inputs import Box, Scene, clip_box, window_of

__all__ = ["SceneOptions", "Job", "Plan", "WindowFill", "plan_scene", "fill_window", "SceneWriter", "InProcess",
           "fill_scene", "merge_boxes"]

_REACH = 16  # px read around a window at first: Telea's radius (5) and its gradients, with room to spare
_LOSSLESS = {"deflate", "lzw", "zstd", "packbits", "lzma", "lerc_deflate", "lerc_zstd", "webp_lossless"}


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
class WindowFill:
    """A window's result: its ``core`` box, where the hole is in it (``HxW`` bool) and the filled
    values there (``B x N``, every band, the file's dtype)."""

    core: Box
    hole: np.ndarray
    values: np.ndarray


# --- exact statistics from counts ------------------------------------------------------------

def _keys(values: np.ndarray) -> np.ndarray:
    """Unsigned keys in the order of ``values`` (any integer or float dtype)."""
    bits = values.dtype.itemsize * 8
    unsigned = np.dtype(f"uint{bits}")
    raw = values.view(unsigned)
    top = unsigned.type(1) << unsigned.type(bits - 1)
    if np.issubdtype(values.dtype, np.floating):
        return np.where(raw & top, ~raw, raw | top)
    if np.issubdtype(values.dtype, np.signedinteger):
        return raw ^ top
    return raw


class _Counts:
    """How often each value occurs, by the top 16 bits of its key: exact for 8- and 16-bit data;
    wider data take a second pass (:meth:`wanted`, :meth:`settle`) over the few values of the bins
    that the order statistics fall in."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        bits = self.dtype.itemsize * 8
        self.shift = max(0, bits - 16)
        self.counts = np.zeros(1 << min(bits, 16), np.int64)
        self.exact: dict[int, np.ndarray] = {}  # bin -> its values, sorted (second pass)

    def add(self, values: np.ndarray) -> None:
        if values.size:
            self.counts += np.bincount((_keys(values) >> self.shift).astype(np.intp), minlength=len(self.counts))

    def merge(self, other: "_Counts") -> None:
        self.counts += other.counts

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def _bin(self, k: int) -> tuple[int, int]:
        cum = np.cumsum(self.counts)
        b = int(np.searchsorted(cum, k, side="right"))
        return b, k - (int(cum[b - 1]) if b else 0)

    def wanted(self, ranks) -> set[int]:
        """The bins whose values a second pass must bring for ``ranks`` (none for 8/16-bit data)."""
        return set() if self.shift == 0 else {self._bin(k)[0] for k in ranks}

    def settle(self, values: np.ndarray, wanted: set[int]) -> None:
        keys = _keys(values) >> self.shift
        for b in wanted:
            self.exact[b] = np.sort(values[keys == b])

    def kth(self, k: int):
        """The ``k``-th smallest value (0-based), in the data's dtype."""
        b, r = self._bin(k)
        if self.shift == 0:  # a bin is one value: invert the key
            every = np.arange(len(self.counts), dtype=np.dtype(f"uint{self.dtype.itemsize * 8}")).view(self.dtype)
            return every[np.argsort(_keys(every))][b]
        return self.exact[b][r]

    def percentile(self, q: float) -> float:
        """``np.percentile(values, q)`` (its default, linear method), float64, to the last bit."""
        n = self.n
        virtual = (n - 1) * (q / 100)
        if virtual >= n - 1:
            return float(self.kth(n - 1))
        prev = int(np.floor(virtual))
        a, b, t = float(self.kth(prev)), float(self.kth(prev + 1)), virtual - prev
        diff = b - a
        return b - diff * (1 - t) if t >= 0.5 else a + diff * t

    def median(self) -> float:
        """``np.median(values)`` (the mean of the middle two in the data's dtype when n is even)."""
        n = self.n
        middle = [self.kth(n // 2)] if n % 2 else [self.kth(n // 2 - 1), self.kth(n // 2)]
        return float(np.median(np.array(middle, self.dtype)))


def _percentile_ranks(n: int) -> list[int]:
    if n == 0:
        return []
    virtual = (n - 1) * (99 / 100)
    prev = int(np.floor(virtual))
    return [n - 1] if virtual >= n - 1 else [prev, prev + 1]


def _median_ranks(n: int) -> list[int]:
    return [] if n == 0 else [n // 2] if n % 2 else [n // 2 - 1, n // 2]


# --- 1. scan ----------------------------------------------------------------------------------

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
    shown: _Counts | None = None  # the RGB bands over valid pixels (the stretch)
    bands: dict[int, _Counts] = field(default_factory=dict)  # each band over known pixels (medians)
    low: dict[int, float] = field(default_factory=dict)
    high: dict[int, float] = field(default_factory=dict)


def scan_strip(scene: Scene, y0: int, y1: int, margin: int, need: _Need) -> StripScan:
    """Rows ``y0..y1-1`` of ``scene``: where its hole grown by ``margin`` lies (8-connected
    pieces, labelled), and the counts of its values. Reads the strip with ``margin`` rows (and
    the hole rule's halo) around it."""
    w = scene.shape[1]
    outer = clip_box((y0, y1, 0, w), margin, scene.shape)
    read = need.pixels or not scene.all_valid
    hole_all, _, data, valid = scene.holes(outer, pixels=True) if read else scene.holes(outer) + (None, None)
    rows = slice(y0 - outer[0], y1 - outer[0])
    grown = hole_all.astype(np.uint8)
    if margin > 0 and hole_all.any():
        grown = cv2.dilate(grown, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * margin + 1, 2 * margin + 1)))
    grown, hole = grown[rows], hole_all[rows]
    n, labels, st, _ = cv2.connectedComponentsWithStats(np.ascontiguousarray(grown), connectivity=8)
    x, y, bw, bh = (st[1:n, i].astype(np.int64) for i in range(4))
    scan = StripScan(y0, y1, labels[0].copy(), labels[-1].copy(), np.stack([y + y0, y + bh + y0, x, x + bw], 1),
                     int(hole.sum()), 0)
    if not read:
        scan.known = hole.size - scan.holes
        return scan
    data, valid = data[:, rows], valid[rows]
    known = valid & ~hole  # the gaps that fill_nodata fills are hole
    scan.known = int(known.sum())
    if need.scale:
        scan.shown = _Counts(data.dtype)
        for b in scene.rgb_bands:
            scan.shown.add(data[b][valid])
    for b in range(scene.count):
        if need.typical:
            scan.bands[b] = _Counts(data.dtype)
            scan.bands[b].add(data[b][known])
        if b in need.others and scan.known:
            values = data[b][known]
            scan.low[b], scan.high[b] = float(values.min()), float(values.max())
    return scan


def _settle_strip(scene: Scene, y0: int, y1: int, shown: set[int], bands: dict[int, set[int]]):
    """The second pass for data wider than 16 bits: the values of the wanted bins of this strip."""
    hole, _, data, valid = scene.holes((y0, y1, 0, scene.shape[1]), pixels=True)
    known = valid & ~hole
    out_shown = _Counts(data.dtype)
    if shown:
        out_shown.settle(np.concatenate([data[b][valid] for b in scene.rgb_bands]), shown)
    out_bands = {}
    for b, wanted in bands.items():
        out_bands[b] = _Counts(data.dtype)
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
    shown = _sum_counts([s.shown for s in scans])
    bands = {b: _sum_counts([s.bands[b] for s in scans]) for b in (range(scene.count) if need.typical else ())}
    want_shown = shown.wanted(_percentile_ranks(shown.n)) if shown else set()
    want_bands = {b: c.wanted(_median_ranks(c.n)) for b, c in bands.items()}
    want_bands = {b: w for b, w in want_bands.items() if w}
    if want_shown or want_bands:  # data wider than 16 bits: the values of the few bins that matter
        for part_shown, part_bands in runner.map(_settle_strip, [(scene, y0, y1, want_shown, want_bands)
                                                                 for y0, y1 in strips]):
            _gather(shown, part_shown)
            for b, c in part_bands.items():
                _gather(bands[b], c)
    scale = None
    if need.scale:
        scale = max(shown.percentile(99), 1e-12) if shown.n else 1.0
    low = tuple(min((s.low[b] for s in scans if b in s.low), default=None) for b in range(scene.count))
    high = tuple(max((s.high[b] for s in scans if b in s.high), default=None) for b in range(scene.count))
    typical = tuple(bands[b].median() if b in bands and bands[b].n else None for b in range(scene.count))
    regions = _regions(scans, scene.shape, margin, options.min_context if options.strategy == "crop" else 0)
    jobs = _jobs(regions, opts, options.working_size, options.margin)
    return Plan(regions, jobs, holes, scale, BandStats(low, high, typical))


def _sum_counts(parts):
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    total = _Counts(parts[0].dtype)
    for p in parts:
        total.merge(p)
    return total


def _gather(total: _Counts, part: _Counts) -> None:
    for b, values in part.exact.items():
        total.exact[b] = np.sort(np.concatenate([total.exact.get(b, values[:0]), values]))


# --- 2. fill ----------------------------------------------------------------------------------

def _nearest_is_exact(known: np.ndarray, need: np.ndarray, outer: Box, shape) -> bool:
    """Whether the nearest known pixel of every ``need`` pixel of ``outer`` is certainly inside
    ``outer``: closer than any pixel beyond its edges (the scene's own edges are no edges)."""
    if not need.any() or not known.any():
        return True
    from scipy.ndimage import distance_transform_edt

    dist = distance_transform_edt(~known)
    h, w = known.shape
    rows, cols = np.nonzero(need)
    room = np.full(rows.shape, np.inf)
    if outer[0] > 0:
        room = np.minimum(room, rows + 1)
    if outer[1] < shape[0]:
        room = np.minimum(room, h - rows)
    if outer[2] > 0:
        room = np.minimum(room, cols + 1)
    if outer[3] < shape[1]:
        room = np.minimum(room, w - cols)
    return bool((dist[rows, cols] < room).all())


def _local(inner: Box, outer: Box) -> tuple[slice, slice]:
    return slice(inner[0] - outer[0], inner[1] - outer[0]), slice(inner[2] - outer[2], inner[3] - outer[2])


def fill_window(inpainter, scene: Scene, job: Job, scale: float | None, stats: BandStats) -> WindowFill:
    """Fill one window of ``scene`` as the whole-picture fill fills it, reading only the window
    and the pixels around it that the fill depends on: nodata pixels take the nearest known pixel
    (read further out until that pixel is certainly inside), and the bands the fill does not see
    get Telea's fill with the scene's ``stats``."""
    context = job.context
    if job.tiled:  # a tile deep inside a large hole sees nothing known: widen it until it does
        while True:
            hole, _ = scene.holes(context)
            bigger = clip_box(context, max(64, (context[1] - context[0]) // 2), scene.shape)
            if not hole.all() or bigger == context:
                break
            context = bigger
    reach = _REACH
    while True:
        outer = clip_box(context, reach, scene.shape)
        hole, valid, data, _ = scene.holes(outer, pixels=True)
        inside = _local(context, outer)
        need = np.zeros_like(valid)
        need[inside] = ~valid[inside]
        if _nearest_is_exact(valid & ~hole, need, outer, scene.shape) or outer == (0, scene.shape[0], 0, scene.shape[1]):
            break
        reach *= 2
    raster = Raster(data, None, valid, scene.rgb_bands, scale, {"nodata": scene.nodata})
    rgb = raster.rgb()
    extra = {"landcover": scene.landcover(context)} if "landcover" in inpainter.extra_inputs else {}
    # "resize" is what the crop strategy does to each of its boxes: the box, scaled to the working size
    rgb[inside] = inpainter.inpaint(raster.fill_input(hole)[inside], hole[inside], strategy="resize", **extra)
    out = filled_bands(raster, rgb, hole, stats)
    core = _local(job.core, outer)
    core_hole = hole[core]
    return WindowFill(job.core, core_hole, out[:, core[0], core[1]][:, core_hole])


# --- 3. write ---------------------------------------------------------------------------------

class SceneWriter:
    """The one writer of an output file: a tiled, losslessly compressed copy of the scene, then each
    window's hole pixels written into it. Written under a temporary name, renamed when done."""

    def __init__(self, scene: Scene, path, opts: SceneOptions):
        import rasterio

        self.scene, self.path, self.opts = scene, Path(path), opts
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.part = self.path.with_name(self.path.name + ".part")
        self.env = rasterio.Env(GDAL_CACHEMAX=256 * 2**20, GDAL_NUM_THREADS=opts.gdal_threads)
        self.env.__enter__()
        with rasterio.open(scene.path) as src:
            compress = str(src.profile.get("compress") or "").lower()
            as_is = (src.driver == "GTiff" and src.profile.get("tiled") and compress in _LOSSLESS
                     and not src.overviews(1) and len(src.files) == 1)
        if as_is:  # already what is asked for: copy the bytes, rewrite only the blocks with holes
            shutil.copyfile(scene.path, self.part)
        else:
            import rasterio.shutil

            predictor = 3 if np.issubdtype(scene.dtype, np.floating) else 2
            rasterio.shutil.copy(scene.path, self.part, driver="GTiff", tiled=True, blockxsize=512, blockysize=512,
                                 compress="deflate", predictor=predictor, bigtiff="IF_SAFER",
                                 num_threads=opts.gdal_threads)
        self.dst = rasterio.open(self.part, "r+")

    def write(self, fill: WindowFill) -> None:
        if not fill.hole.any():
            return
        win = window_of(fill.core)
        block = self.dst.read(window=win)
        block[:, fill.hole] = fill.values
        self.dst.write(block, window=win)
        if self.scene.has_mask and self.scene.rule.fill_nodata:  # filled gaps are data now
            mask = self.dst.read_masks(1, window=win)
            mask[fill.hole] = 255
            self.dst.write_mask(mask, window=win)

    def close(self) -> Path:
        self.dst.close()
        if self.opts.cog:
            import rasterio.shutil

            cog = self.path.with_name(self.path.name + ".cog.part")
            rasterio.shutil.copy(self.part, cog, driver="COG", compress="deflate", blocksize=512, overviews="AUTO",
                                 bigtiff="IF_SAFER", num_threads=self.opts.gdal_threads)
            self.part.unlink()
            self.part = cog
        self.part.replace(self.path)
        self.env.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        self.dst.close()
        self.part.unlink(missing_ok=True)
        self.env.__exit__(None, None, None)


# --- the runner and the whole -----------------------------------------------------------------

class InProcess:
    """Runs a scene's strips and windows one after another, in this process."""

    def __init__(self, inpainter):
        self.inpainter = inpainter

    def map(self, fn, items):
        return (fn(*args) for args in items)

    def fill(self, scene: Scene, jobs: list[Job], scale, stats):
        return (fill_window(self.inpainter, scene, job, scale, stats) for job in jobs)


@dataclass
class SceneReport:
    path: Path
    regions: int
    windows: int
    pixels: int


def fill_scene(inpainter, scene: Scene, output, opts: SceneOptions | None = None, runner=None,
               progress=None) -> SceneReport:
    """Fill ``scene`` with ``inpainter`` window by window and write it to ``output``.

    ``runner``: :class:`InProcess` (default) or :class:`inpaint_core.scene.cluster.DaskRunner`;
    ``progress``: called with the number of windows, then once per window written.
    """
    opts = opts or SceneOptions()
    runner = runner or InProcess(inpainter)
    plan = plan_scene(scene, inpainter.options, opts, runner)
    if progress:
        progress(len(plan.jobs))
    writer = SceneWriter(scene, output, opts)
    try:
        for fill in runner.fill(scene, plan.jobs, plan.scale, plan.stats):
            writer.write(fill)
            if progress:
                progress(None)
        path = writer.close()
    except BaseException:
        writer.abort()
        raise
    return SceneReport(path, len(plan.regions), len(plan.jobs), plan.hole_pixels)
