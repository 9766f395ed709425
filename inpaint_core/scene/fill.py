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
3. **write** (:mod:`inpaint_core.scene.write`): one writer per output file writes each
   window's hole pixels into a tiled, lossless copy of the input, in plan order, so the bytes
   do not depend on the order in which windows finished.

This module is step 2 and :func:`fill_scene`, the run of the three.

While every region's box fits ``max_window``, the result is the whole-picture fill's, bit for
bit; pixels outside the holes are the input's in every case. Strips and windows run through a
runner: :class:`InProcess` here, or the Dask cluster of :mod:`inpaint_core.scene.cluster`, which sends
the same functions to other processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inpaint_core.data.raster import BandStats, Raster, filled_bands
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
    with gdal_env():
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
