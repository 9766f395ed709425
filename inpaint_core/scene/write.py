"""Step 3 of a scene: the one writer of its output file.

The output starts as a tiled, losslessly compressed copy of the input (the file itself when it
already is one). Then, when its blocks can be encoded apart and patched in
(:mod:`inpaint_core.scene.blocks`), each block that holds hole pixels is encoded where the windows
are filled, and this writer only puts the blocks' bytes in the file, in the order of
:func:`~inpaint_core.scene.blocks.block_schedule`; else (a codec GDAL cannot encode from the tags
alone, an internal nodata mask to update, a classic TIFF that could pass 4 GB) each window's hole
pixels are written into it through GDAL's update mode, in plan order. Either way the bytes do not
depend on the order in which windows finished. It is written under a temporary name and renamed
when done; ``cog`` rewrites it as a cloud-optimised GeoTIFF.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np

from inpaint_core.scene.blocks import TilePatcher, block_schedule, encode_block, read_layout
from inpaint_core.scene.inputs import GDAL_CACHE, Box, Scene, window_of
from inpaint_core.scene.plan import SceneOptions

__all__ = ["SceneWriter"]

_LOSSLESS = {"deflate", "lzw", "zstd", "packbits", "lzma", "lerc_deflate", "lerc_zstd", "webp_lossless"}


class SceneWriter:
    """The one writer of an output file: a tiled, losslessly compressed copy of the scene, then,
    once :meth:`prepare` is told the plan's windows, its blocks with holes put in (:meth:`put`,
    when :attr:`schedule` is not None: the blocks to put, in order, with the windows each needs) or
    each window's hole pixels written into it (:meth:`write`). A scene that already is such a file
    is copied on a thread from the start, while the scene is scanned and its windows filled.
    Written under a temporary name, renamed when done."""

    def __init__(self, scene: Scene, path, opts: SceneOptions):
        import rasterio

        self.scene, self.path, self.opts = scene, Path(path), opts
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.part = self.path.with_name(self.path.name + ".part")
        self.env = rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE, GDAL_NUM_THREADS=opts.gdal_threads)
        self.env.__enter__()
        with rasterio.open(scene.path) as src:
            compress = str(src.profile.get("compress") or "").lower()
            # GDAL's cloud-optimised layout (blocks with leaders and trailers) refuses updates: copied
            as_is = (src.driver == "GTiff" and src.profile.get("tiled") and compress in _LOSSLESS
                     and not src.overviews(1) and len(src.files) == 1
                     and src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") != "COG")
        self.layout, self.schedule, self.patcher, self.dst, self._arrays = None, None, None, None, None
        self._copying, self._failed = None, None
        if as_is:  # already what is asked for: the bytes copied (the kernel's work, on a thread)
            self._copying = threading.Thread(target=self._copy, name="scene copy", daemon=True)
            self._copying.start()
        else:
            import rasterio.shutil

            predictor = 3 if np.issubdtype(scene.dtype, np.floating) else 2
            try:
                rasterio.shutil.copy(scene.path, self.part, driver="GTiff", tiled=True, blockxsize=512,
                                     blockysize=512, compress="deflate", predictor=predictor, bigtiff="IF_SAFER",
                                     num_threads=opts.gdal_threads)
            except BaseException:  # a copy that failed half-way (a full disk) leaves no file
                self.abort()
                raise
        self._layout_from = scene.path if as_is else self.part  # a file with the copy's bytes, there already

    def _copy(self) -> None:
        try:
            shutil.copyfile(self.scene.path, self.part)
        except BaseException as err:  # noqa: BLE001 - raised where the copy is waited for
            self._failed = err

    def _copied(self) -> None:
        """Wait for the copy; its failure raised here."""
        if self._copying is not None:
            self._copying.join()
            self._copying = None
            if self._failed is not None:
                raise self._failed

    def prepare(self, cores: list[Box]) -> None:
        """Choose how the holes go in, for the plan's window ``cores``: block by block (:meth:`put`)
        where the blocks can be encoded apart and patched in, else window by window (:meth:`write`)."""
        import rasterio

        found = self._patchable(cores)
        if found is None:
            self._copied()
            self.dst = rasterio.open(self.part, "r+")
        else:
            self.layout, self._arrays, self.schedule = found

    def _patchable(self, cores):
        """``(layout, tile arrays, schedule)`` when the copy's blocks can be encoded apart and
        patched in, and GDAL encodes a block here as the copy's tags say; else None. A copy of the
        scene's own bytes is read from the scene, while it is being made."""
        scene = self.scene
        if scene.has_mask and scene.rule.fill_nodata:  # the internal mask changes too: GDAL's update mode
            return None
        found = read_layout(self._layout_from, scene.count, scene.dtype, scene.shape)
        if found is None:
            return None
        layout, arrays = found
        schedule = block_schedule(layout, list(cores))
        if not arrays.hold(layout, len(schedule)):
            return None
        try:
            encode_block(layout, np.zeros((layout.count, *layout.block), layout.dtype))
        except Exception:  # noqa: BLE001 - a codec this GDAL lacks, or tags it writes otherwise
            return None
        return layout, arrays, schedule

    @property
    def blocks(self) -> int | None:
        """Blocks patched in so far; None when the holes go in through GDAL's update mode."""
        if self.schedule is None:
            return None
        return self.patcher.written if self.patcher is not None else 0

    def put(self, index: int, tiles) -> None:
        """Put block ``index``'s encoded tiles (:func:`~inpaint_core.scene.blocks.encode_patches`)."""
        if self.patcher is None:
            self._copied()
            self.patcher = TilePatcher(self.part, self.layout, self._arrays)
        self.patcher.put(index, tiles)

    def write(self, fill) -> None:
        """Write the hole pixels of ``fill`` (a :class:`~inpaint_core.scene.fill.WindowFill`)
        through GDAL's update mode."""
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

    def _close_file(self) -> None:
        if self.patcher is not None:
            self.patcher.close()
        if self.dst is not None:
            self.dst.close()

    def close(self) -> Path:
        self._copied()
        self._close_file()
        if self.opts.cog:
            import rasterio.shutil

            cog = self.path.with_name(self.path.name + ".cog.part")
            try:
                rasterio.shutil.copy(self.part, cog, driver="COG", compress="deflate", blocksize=512,
                                     overviews="AUTO", bigtiff="IF_SAFER", num_threads=self.opts.gdal_threads)
            except BaseException:  # no half-written file left (:meth:`abort` removes the .part)
                cog.unlink(missing_ok=True)
                raise
            self.part.unlink()
            self.part = cog
        self.part.replace(self.path)
        self.env.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        if self._copying is not None:
            self._copying.join()
        if self.patcher is not None:
            self.patcher.abort()
        if self.dst is not None:
            self.dst.close()
        self.part.unlink(missing_ok=True)
        self.env.__exit__(None, None, None)
