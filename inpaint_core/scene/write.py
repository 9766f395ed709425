"""Step 3 of a scene: the one writer of its output file.

The output starts as a tiled, losslessly compressed copy of the input (the file itself when it
already is one), and each window's hole pixels are written into it, in plan order, so the bytes
do not depend on the order in which windows finished. It is written under a temporary name and
renamed when done; ``cog`` rewrites it as a cloud-optimised GeoTIFF.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from inpaint_core.scene.inputs import GDAL_CACHE, Scene, window_of
from inpaint_core.scene.plan import SceneOptions

__all__ = ["SceneWriter"]

_LOSSLESS = {"deflate", "lzw", "zstd", "packbits", "lzma", "lerc_deflate", "lerc_zstd", "webp_lossless"}


class SceneWriter:
    """The one writer of an output file: a tiled, losslessly compressed copy of the scene, then each
    window's hole pixels written into it. Written under a temporary name, renamed when done."""

    def __init__(self, scene: Scene, path, opts: SceneOptions):
        import rasterio

        self.scene, self.path, self.opts = scene, Path(path), opts
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.part = self.path.with_name(self.path.name + ".part")
        self.env = rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE, GDAL_NUM_THREADS=opts.gdal_threads)
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

    def write(self, fill) -> None:
        """Write the hole pixels of ``fill`` (a :class:`~inpaint_core.scene.fill.WindowFill`)."""
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
