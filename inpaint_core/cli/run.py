"""``python -m inpaint_core run``: fill many images with one model or classical fill.

Masks are matched to images by file stem (``cat.jpg`` <- ``cat.png``); white (>127)
is hole, grown by ``--dilate`` pixels (by default as much as the app's Inpaint tab grows a
painted hole: :data:`inpaint_core.data.masks.MASK_DILATION`). Results are written as PNG
(lossless) under the output folder with the image's stem; GeoTIFF inputs come back as
GeoTIFF of the same kind (dtype, bands, CRS, transform, nodata; see
:func:`inpaint_core.data.geo.write_filled`), their nodata never filled. Fills that follow land
cover (a satellite model, ``--method landcover-patchmatch`` or ``landcover-nearest``) also
need ``--landcover`` (a file or folder matched by stem, the same way).

Pictures are read as the app reads them (:func:`inpaint_core.data.pictures.read_picture`): turned
as their EXIF orientation says, transparent parts on white, the first frame of an animated
one (a note says so). Every file's size is checked from its header before its pixels are
read, against the one size limit (:data:`inpaint_core.engine.MAX_PIXELS`); a 16-bit picture
is refused rather than clipped (a GeoTIFF is filled at its own depth).

**GeoTIFFs of any size** (with the default ``crop`` strategy) are filled as scenes, window by
window (:mod:`inpaint_core.scene.fill`): memory depends on the window, not on the scene, and there is
no size limit. Their mask may be a GeoTIFF on any grid (reprojected per window), holes may come
from a classification band (``--mask-values BAND:V1,V2``) or from the file's own nodata gaps
(``--fill-nodata``), and ``--scheduler`` / ``--workers`` spread the windows over a Dask cluster
(:mod:`inpaint_core.scene.cluster`). Each scene shows a progress bar over its windows, and the run ends
with the regions and pixels filled, the time and the peak memory.

A file that cannot be used (not an image, damaged, too large, a mask of another size) is
named and skipped; every other result is still written, each as soon as it is done, and a
summary at the end lists the skipped ones with their reasons. The exit status is 0 when all
were filled, 1 when some were skipped, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

from tqdm import tqdm

from inpaint_core.data.geo import fill_raster, read_raster, read_tile, write_filled
from inpaint_core.data.landcover import TABLE_HELP
from inpaint_core.data.masks import MASK_DILATION, dilate_mask, read_mask
from inpaint_core.data.pictures import (
    IMAGE_EXTS,
    animation_note,
    check_file,
    read_picture,
    write_png,
)
from inpaint_core.data.tiles import match_by_stem
from inpaint_core.engine import STRATEGIES, InferenceOptions
from inpaint_core.registry import (
    CLASSICAL_FILLS,
    FILL_METHODS,
    LANDCOVER_FILLS,
    make_inpainter,
)
from inpaint_core.scene.cluster import DaskRunner, FillSpec, torch_threads
from inpaint_core.scene.fill import fill_scene
from inpaint_core.scene.inputs import HoleRule, Scene, parse_mask_values
from inpaint_core.scene.plan import SceneOptions

__all__ = ["add_arguments", "main"]


def _collect(path: Path, what: str) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS | {".tif", ".tiff"})
        if not files:
            raise ValueError(f"no {what} files found in {path}")
        return files
    raise ValueError(f"{what} path not found: {path}")


def _bands(text: str | None) -> tuple[int, int, int] | None:
    if not text:
        return None
    try:
        bands = tuple(int(b) for b in text.split(","))
    except ValueError:
        raise ValueError(f"--rgb-bands takes three band numbers like 4,3,2, got {text!r}") from None
    if len(bands) != 3:
        raise ValueError(f"--rgb-bands takes three band numbers like 4,3,2, got {text!r}")
    return bands


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="model file (.safetensors); with a land-cover --method, the satellite "
                        "checkpoint whose class table and exemplar bank it uses")
    parser.add_argument("--method", default="model", choices=FILL_METHODS,
                        help=f"model: the checkpoint's network; {', '.join(CLASSICAL_FILLS)}: classical fills "
                        f"(no checkpoint); {', '.join(LANDCOVER_FILLS)}: fills that follow --landcover")
    parser.add_argument("--classes", help=f"{TABLE_HELP}, for a land-cover --method without --checkpoint (a "
                        "checkpoint brings its own)")
    parser.add_argument("--image", required=True, type=Path, help="an image file or a folder of images")
    parser.add_argument("--mask", type=Path, help="a mask file or a folder of masks (white = hole); a scene's may be a "
                        "GeoTIFF on another grid (needed unless --fill-nodata or --mask-values names the holes)")
    parser.add_argument("--landcover", type=Path, help="satellite model: land-cover file or folder (matched by stem)")
    parser.add_argument("--output", required=True, type=Path, help="folder for the filled PNGs")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--dilate", type=int, default=MASK_DILATION, metavar="N",
                        help="grow each mask by N pixels before filling, so the rim of a removed object goes too "
                        "(the app's Mask dilation; 0 fills the mask exactly as drawn)")
    parser.add_argument("--strategy", default="crop", choices=STRATEGIES, help="large-image strategy")
    parser.add_argument("--working-size", type=int, default=512, help="longest side the network sees")
    parser.add_argument("--native-detail", action="store_true", help="a region larger than --working-size is "
                        "filled small and scaled up, which softens it; this rebuilds it at full resolution with "
                        "PatchMatch guided by that fill, so it keeps the picture's own texture (seconds more per "
                        "large region)")
    parser.add_argument("--rgb-bands", help="GeoTIFF inputs: the 1-based bands shown to the fill as red,green,blue "
                        "(default: colour interpretation, Sentinel-2 band names, 4,3,2 for a 12+ band Sentinel-2 "
                        "stack, else 1,2,3); the other bands get Telea's fill")
    scene = parser.add_argument_group("whole scenes (GeoTIFF inputs of any size, filled window by window)")
    scene.add_argument("--fill-nodata", action="store_true", help="the file's own nodata gaps are holes and are "
                       "filled (Landsat 7 SLC-off stripes, scan gaps); nodata wider than --nodata-gap stays nodata")
    scene.add_argument("--nodata-gap", type=int, default=64, metavar="PX",
                       help="--fill-nodata: nodata narrower than this between data is a gap")
    scene.add_argument("--mask-values", metavar="BAND:V1,V2", help="holes where band BAND of the mask (of the image "
                       "without --mask) holds one of the values, e.g. 1:3,8,9,10 for a Sentinel-2 SCL's cloud "
                       "shadows, clouds and cirrus")
    scene.add_argument("--block", type=int, default=1024, help="most rows of a scan strip (small values for tests)")
    scene.add_argument("--max-window", type=int, default=2048, metavar="PX", help="a region whose box is larger is "
                       "filled in tiles of --working-size at full resolution")
    scene.add_argument("--cog", action="store_true", help="write cloud-optimised GeoTIFFs (GDAL's COG driver, with "
                       "overviews; one more pass over the file)")
    scene.add_argument("--scheduler", metavar="ADDRESS", help="spread scenes over this Dask cluster, e.g. "
                       "tcp://HOST:8786 (needs the cluster extra)")
    scene.add_argument("--workers", type=int, help="spread scenes over a local Dask cluster of N worker processes")
    scene.add_argument("--threads-per-worker", type=int, default=1, help="--workers: threads per worker process")
    scene.add_argument("--torch-threads", type=int, help="threads torch uses for a network, in this process and "
                       "each worker (default: torch's choice)")
    scene.add_argument("--retries", type=int, default=2, help="times a failed window is run again on the cluster")
    scene.add_argument("--gdal-threads", default="ALL_CPUS", help="threads GDAL compresses the output with")


def main(args: argparse.Namespace) -> int:
    try:
        if args.dilate < 0:
            raise ValueError(f"--dilate takes 0 or more pixels, got {args.dilate}")
        if args.method == "model" and not args.checkpoint:
            raise ValueError("--checkpoint FILE is needed (or a classical --method such as patchmatch)")
        model = make_inpainter(args.method, args.checkpoint, classes=args.classes, device=args.device,
                               options=_options(args))
        torch_threads(args.torch_threads)  # this process's network, as each worker's (FillSpec)
        bands = _bands(args.rgb_bands)
        images = _collect(args.image, "image")
        if args.mask is None and not (args.fill_nodata or args.mask_values):
            raise ValueError("--mask FILE|DIR is needed (or, for GeoTIFFs, --fill-nodata or --mask-values)")
        if args.mask_values:
            args.mask_values = parse_mask_values(args.mask_values)
        pairs = (match_by_stem(images, _collect(args.mask, "mask"), "mask") if args.mask is not None
                 else [(image, None) for image in images])
        landcovers = None
        if "landcover" in model.extra_inputs:
            if args.landcover is None:
                raise ValueError(f"the {model.kind} fill follows land cover: pass --landcover FILE|DIR")
            landcovers = dict(match_by_stem(images, _collect(args.landcover, "land-cover"), "land-cover"))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    try:
        runner = _runner(args) if args.scheduler or args.workers else None
    except (ValueError, OSError) as err:  # OSError: no scheduler at that address
        print(f"error: {err}", file=sys.stderr)
        return 2
    start, failures, totals = time.perf_counter(), {}, {"regions": 0, "pixels": 0, "scenes": 0}
    try:
        for image_path, mask_path in tqdm(pairs, desc="inpaint", unit="img"):
            try:
                if image_path.suffix.lower() in (".tif", ".tiff") and args.strategy == "crop":
                    _fill_scene(model, image_path, mask_path, landcovers, bands, args, runner, totals)
                elif mask_path is None:
                    raise ValueError("a picture needs --mask (--fill-nodata and --mask-values are for GeoTIFFs)")
                else:
                    _fill_one(model, image_path, mask_path, landcovers, bands, args.output, args.dilate)
            except Exception as err:  # noqa: BLE001 - one bad item must not stop the batch; each is reported
                reason = str(err) if isinstance(err, (ValueError, OSError)) else f"{type(err).__name__}: {err}"
                tqdm.write(f"skipped {image_path.name}: {reason}")
                failures[image_path.name] = reason
        print(f"wrote {len(pairs) - len(failures)} image(s) to {args.output}"
              + (f"; {len(failures)} failed:" if failures else ""))
        for name, reason in failures.items():
            print(f"  {name}: {reason}")
        if totals["scenes"]:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            workers = f"; workers' peak {runner.worker_peak_mb():.0f} MB" if runner else ""
            print(f"scenes: {totals['scenes']}, regions filled: {totals['regions']:,}, pixels filled: "
                  f"{totals['pixels']:,}, time: {time.perf_counter() - start:.1f} s, peak memory: {peak:.0f} MB"
                  f"{workers}")
    finally:
        if runner is not None:
            runner.close()
    return 1 if failures else 0


def _options(args) -> InferenceOptions:
    return InferenceOptions(strategy=args.strategy, working_size=args.working_size,
                            native_detail=getattr(args, "native_detail", False))


def _runner(args):
    """The Dask runner of ``--scheduler`` / ``--workers`` (Dask is imported only when asked for)."""
    options = _options(args)
    spec = FillSpec(args.method, args.checkpoint, args.classes, args.device, options, args.torch_threads)
    runner = DaskRunner(spec, scheduler=args.scheduler, workers=args.workers,
                        threads_per_worker=args.threads_per_worker, retries=args.retries)
    tqdm.write(f"running on a {runner.describe()}")
    return runner


def _fill_scene(model, image_path: Path, mask_path: Path | None, landcovers: dict | None, bands, args, runner,
                totals: dict) -> None:
    """Fill one GeoTIFF window by window (:func:`inpaint_core.scene.fill.fill_scene`), any size."""
    rule = HoleRule(mask=str(mask_path) if mask_path else None, mask_values=args.mask_values,
                    fill_nodata=args.fill_nodata, gap=args.nodata_gap, dilate=args.dilate)
    scene = Scene(image_path, rule, bands=bands, landcover=landcovers[image_path] if landcovers else None,
                  table=model.classes if landcovers else None)
    opts = SceneOptions(block=args.block, max_window=args.max_window, cog=args.cog, gdal_threads=args.gdal_threads)
    with tqdm(desc=image_path.name, unit="window", leave=False) as bar:
        def progress(total):
            if total is None:
                bar.update()
            else:
                bar.reset(total=total)

        report = fill_scene(model, scene, args.output / f"{image_path.stem}.tif", opts, runner=runner,
                            progress=progress)
    tqdm.write(f"{image_path.name}: {report.regions} region(s), {report.pixels:,} px filled in {report.windows} "
               "window(s)")
    totals["scenes"] += 1
    totals["regions"] += report.regions
    totals["pixels"] += report.pixels


def _fill_one(model, image_path: Path, mask_path: Path, landcovers: dict | None, bands, output: Path,
              dilate: int = 0) -> None:
    """Fill one picture, its mask grown by ``dilate`` pixels, and write its result; any problem of
    its files raises."""
    raster, extra = None, {}
    geotiff = image_path.suffix.lower() in (".tif", ".tiff")
    if geotiff:
        check_file(image_path, "image")  # its size from the header, before gigabytes are read
    if landcovers is not None:  # the one tile reader: land cover reprojected onto the tile's grid
        tile = read_tile(image_path, landcovers[image_path], model.classes, bands=bands)
        image, raster, extra["landcover"] = tile.rgb, tile.raster, tile.landcover
    elif geotiff:
        raster = read_raster(image_path, bands=bands, what="image")
        image = raster.rgb()
    else:
        image = read_picture(image_path, "image")
        if note := animation_note(image_path):
            tqdm.write(f"note: {note}")
    mask = dilate_mask(read_mask(mask_path, image.shape[:2]), dilate)  # as the app grows a painted one
    if raster is not None:
        out, hole = fill_raster(model, raster, mask, **extra)  # nodata neither filled nor used as context
        write_filled(output / f"{image_path.stem}.tif", raster, out, hole)
    else:
        out = model.inpaint(image, mask, **extra)
        write_png(output / f"{image_path.stem}.png", out)
