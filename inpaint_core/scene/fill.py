"""Whole scenes: fill a GeoTIFF of any size window by window, in memory bounded by the window.

The whole-picture fill (:func:`inpaint_core.data.raster.fill_raster` + ``write_filled``) holds every
band of the raster at once. A scene is done in three steps instead, each reading only a part:

1. **scan** (:mod:`inpaint_core.scene.plan`): the scene in strips of rows, for its hole
   regions, the windows that fill them (a :class:`~inpaint_core.scene.plan.Plan`), and the
   statistics that the whole-picture fill takes over the whole raster, exact, from counts
   (:mod:`inpaint_core.scene.counts`).
2. **fill** (:func:`fill_window`): each window reads its box with a few pixels around it, is
   filled exactly as the crop strategy fills that box, and gives back only its hole pixels,
   every band in the file's dtype (:class:`WindowFill`). A region larger than ``max_window``
   px a side is filled in overlapping tiles of the working size at full resolution.
3. **write** (:mod:`inpaint_core.scene.write`): one writer per output file puts the hole
   pixels into a tiled, lossless copy of the input. Where the copy's blocks can be encoded apart
   (:mod:`inpaint_core.scene.blocks`), each block with holes is read, pasted and encoded where
   the windows are filled: with the fills of the batch of windows that meets it (:func:`batches`),
   else from the patches of the batches that do, once the last is filled; the writer only puts
   the blocks' bytes in the file. Else the writer writes each window through GDAL's update
   mode. Blocks and windows are written in an order fixed by the plan, so the bytes do not
   depend on the order in which tasks finished.

This module is step 2 and :func:`fill_scene`, the run of the three.

While every region's box fits ``max_window``, the result is the whole-picture fill's, bit for
bit; pixels outside the holes are the input's in every case. Strips and windows run through a
runner: :class:`InProcess` here (blocks encoded on ``gdal_threads`` threads, as GDAL's update
mode would compress them), or the Dask cluster of :mod:`inpaint_core.scene.cluster`, which sends
the same functions to other processes.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inpaint_core.data.raster import BandStats, Raster, filled_bands
from inpaint_core.scene.blocks import Ready, paste_and_encode, read_block, split_fills
from inpaint_core.scene.inputs import Box, Scene, clip_box, gdal_env
from inpaint_core.scene.plan import Job, SceneOptions, plan_scene
from inpaint_core.scene.write import SceneWriter

__all__ = ["WindowFill", "fill_window", "InProcess", "SceneReport", "fill_scene"]

_REACH = 16  # px read around a window at first: Telea's radius (5) and its gradients, with room to spare


@dataclass
class WindowFill:
    """A window's result: its ``core`` box, where the hole is in it (``HxW`` bool) and the filled
    values there (``B x N``, every band, the file's dtype)."""

    core: Box
    hole: np.ndarray
    values: np.ndarray


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
        whole = outer == (0, scene.shape[0], 0, scene.shape[1])
        if whole or _nearest_is_exact(valid & ~hole, need, outer, scene.shape):
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


# --- the runner and the whole -----------------------------------------------------------------

class InProcess:
    """Runs a scene's strips and windows one after another, in this process; the output's blocks
    are encoded on ``threads`` threads (GDAL reads and encodes without Python's lock, as its update
    mode compresses on its own threads; None: one per CPU)."""

    batch = 1  # windows filled before their blocks are encoded: here a task costs nothing, so one

    def __init__(self, inpainter, threads: int | None = 1):
        self.inpainter = inpainter
        self.threads = threads or os.cpu_count() or 1
        self.pool = None

    def map(self, fn, items):
        return (fn(*args) for args in items)

    def fill(self, scene: Scene, jobs: list[Job], scale, stats):
        return (fill_window(self.inpainter, scene, job, scale, stats) for job in jobs)

    def encode(self, layout, scene: Scene, blocks) -> dict:
        """Each ``(block, patches)`` of ``blocks`` pasted and encoded
        (:func:`~inpaint_core.scene.blocks.encode_patches`): ``{block: a future of its tiles}``."""
        return {index: self._encode(layout, scene, index, patches) for index, patches in blocks}

    def _encode(self, layout, scene: Scene, index: int, patches):
        """Block ``index`` with ``patches``: read here, in the thread that fills, through its dataset of
        the scene (whose block cache holds what the windows just read), and encoded on a thread."""
        patches = [p for p in patches if p is not None]
        if not patches:
            return Ready(None)
        data = read_block(layout, scene, index)
        if self.threads == 1:
            return Ready(paste_and_encode(layout, index, data, patches))
        return self.pool.submit(paste_and_encode, layout, index, data, patches)

    def windows(self, scene: Scene, jobs: list[Job], scale, stats, layout, runs, own, shared):
        """For each batch of windows (``(first, end)`` plan indices), filled here in order: the
        futures of the tiles of its own blocks, and its patches of the blocks it shares (see
        :func:`~inpaint_core.scene.blocks.split_fills`)."""
        with ThreadPoolExecutor(self.threads) as self.pool:
            for k, (first, end) in enumerate(runs):
                fills = [fill_window(self.inpainter, scene, job, scale, stats) for job in jobs[first:end]]
                yield split_fills(layout, fills, own.get(k, ()), shared.get(k, ()),
                                  lambda b, patches: self._encode(layout, scene, b, patches))
        self.pool = None


def batches(jobs: list[Job], pixels: int = 2**20, most: int = 8) -> list[tuple[int, int]]:
    """The plan's windows in runs of consecutive ones, ``(first, end)``: each run until its cores
    hold ``pixels`` or it has ``most`` windows. On a cluster a run is one task (a small window's
    fill takes a few milliseconds, as long as a task's round trip), and the blocks that only its
    windows meet are encoded there."""
    out, first, area = [], 0, 0
    for j, job in enumerate(jobs):
        y0, y1, x0, x1 = job.core
        area += (y1 - y0) * (x1 - x0)
        if area >= pixels or j + 1 - first >= most or j + 1 == len(jobs):
            out.append((first, j + 1))
            first, area = j + 1, 0
    return out


@dataclass
class SceneReport:
    path: Path
    regions: int
    windows: int
    pixels: int
    blocks: int | None = None  # blocks encoded apart and patched in; None: written through GDAL's update mode


def _threads(gdal_threads: str) -> int | None:
    """``--gdal-threads`` as a number of threads (None: one per CPU)."""
    if str(gdal_threads).upper() == "ALL_CPUS":
        return None
    try:
        return max(1, int(gdal_threads))
    except ValueError:
        raise ValueError(f"--gdal-threads takes a number or ALL_CPUS, got {gdal_threads!r}") from None


def _write_windows(writer: SceneWriter, runner, scene: Scene, plan, progress) -> None:
    """Every window's hole pixels written through GDAL's update mode, in plan order."""
    for fill in runner.fill(scene, plan.jobs, plan.scale, plan.stats):
        writer.write(fill)
        if progress:
            progress(None)


# what the blocks waiting to be put may hold at once: each holds its raw block until it is encoded
# (a Sentinel-2 tile's 512-px block of 13 uint16 bands is 6.8 MB; 64 of them took a run to 2 GB)
_WAITING_BYTES = 128 * 2**20


def _ahead(layout) -> int:
    """How many encoded blocks may wait to be put: 64, fewer where blocks are large."""
    raw = layout.block[0] * layout.block[1] * layout.count * np.dtype(layout.dtype).itemsize
    return int(min(64, max(2, _WAITING_BYTES // raw)))


def _write_blocks(writer: SceneWriter, runner, scene: Scene, plan, progress, ahead: int | None = None) -> None:
    """Every block with holes put in ``writer``'s file, in its schedule's order. The windows are
    filled in :func:`batches` of at most ``runner.batch``; a block that only one batch's windows
    meet is encoded with their fills, one that several batches meet from their patches once the
    last is filled (with the others that batch was the last to meet: one task on a cluster).
    ``progress`` is told of each window once all its blocks are in; at most ``ahead`` encoded
    blocks wait (default :func:`_ahead`)."""
    layout, schedule, runs = writer.layout, writer.schedule, batches(plan.jobs, most=runner.batch)
    ahead = ahead or _ahead(layout)
    batch_of = np.repeat(np.arange(len(runs)), [end - first for first, end in runs])
    ending, own, shared = defaultdict(list), defaultdict(list), defaultdict(list)
    for b, js in schedule:
        ks = sorted({int(batch_of[j]) for j in js})
        ending[ks[-1]].append((b, js, len(ks) == 1))
        for k in ks:
            (own if len(ks) == 1 else shared)[k].append(b)
    left = Counter(j for _, js in schedule for j in js)
    patches, slots = defaultdict(list), deque()  # slots: (block, its windows, a future of its tiles)

    def put(wait: bool) -> None:
        while slots and (wait or slots[0][2].done() or len(slots) > ahead):
            b, js, slot = slots.popleft()
            writer.put(b, slot.result())
            for j in js:
                left[j] -= 1
                if not left[j] and progress:
                    progress(None)

    results = runner.windows(scene, plan.jobs, plan.scale, plan.stats, layout, runs, own, shared)
    for k, (tiles, cut) in enumerate(results):
        for b, found in cut.items():
            patches[b].extend(found)
        together = [(b, patches.pop(b)) for b, _, alone in ending[k] if not alone]
        encoded = runner.encode(layout, scene, together) if together else {}
        for b, js, alone in ending[k]:
            slots.append((b, js, tiles[b] if alone else encoded[b]))
        put(wait=False)
    put(wait=True)


def fill_scene(inpainter, scene: Scene, output, opts: SceneOptions | None = None, runner=None,
               progress=None) -> SceneReport:
    """Fill ``scene`` with ``inpainter`` window by window and write it to ``output``.

    ``runner``: :class:`InProcess` (default) or :class:`inpaint_core.scene.cluster.DaskRunner`;
    ``progress``: called with the number of windows, then once per window written.
    """
    opts = opts or SceneOptions()
    runner = runner or InProcess(inpainter, _threads(opts.gdal_threads))
    with gdal_env():
        writer = SceneWriter(scene, output, opts)  # a copy of the scene's own bytes goes on while it is scanned
        try:
            plan = plan_scene(scene, inpainter.options, opts, runner)
            if progress:
                progress(len(plan.jobs))
            writer.prepare([job.core for job in plan.jobs])
            (_write_windows if writer.schedule is None else _write_blocks)(writer, runner, scene, plan, progress)
            blocks = writer.blocks
            path = writer.close()
        except BaseException:
            writer.abort()
            raise
    return SceneReport(path, len(plan.regions), len(plan.jobs), plan.hole_pixels, blocks)
