"""Pictures: the one reader and writer of picture files, and which pictures train.

* :func:`read_picture` / :func:`open_picture` - every picture file the package reads (the app,
  the batch CLI, training, evaluate, PNG tiles): its size checked from its header against the
  one size limit before any pixel is decoded, more than 8 bits per sample refused rather than
  clipped, turned as its EXIF orientation says (as a browser shows it), transparent parts on
  white (:func:`~inpaint_core.engine.on_white`, the one RGBA rule), the first frame of an animated one
  (:func:`animation_note`). Training and evaluate read through :func:`load_rgb`: the same
  picture, as people see it, without the app's size limit (they scale it down).
* :func:`write_png` - every PNG the package writes: lossless, light compression.
* :func:`list_images`, :func:`split_files`, :func:`split_by_source`, :func:`held_out_files` -
  which pictures train and which are held out.

The album trainer's items (:class:`~inpaint_core.data.datasets.InpaintDataset`) are torch's, in
:mod:`inpaint_core.data.datasets`; this module needs no torch.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from inpaint_core.data.raster import gdal_message
from inpaint_core.engine import MAX_PIXELS, MAX_SIDE, check_8bit, on_white

__all__ = ["IMAGE_EXTS", "list_images", "check_size", "check_file", "open_picture", "read_picture",
           "load_rgb", "resize_short_side", "animation_note", "write_png", "split_files", "held_out_files", "file_sources",
           "split_by_source", "names_source", "in_turn"]

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp"}


def list_images(root) -> list[Path]:
    """All images (jpg/png/webp, any case) below ``root``, recursively, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"data folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())
    if not files:
        raise ValueError(f"no images (.jpg, .png, .webp) found below {root}")
    return files


# --- reading and writing ---------------------------------------------------------------------

def check_size(w: int, h: int, what: str, advice: str = "scale it down first") -> None:
    """``ValueError`` when a ``w x h`` picture passes the one size limit (the engine's
    :data:`~inpaint_core.engine.MAX_SIDE` per side, :data:`~inpaint_core.engine.MAX_PIXELS` in
    all), naming ``what`` and saying what to do (``advice``)."""
    if max(h, w) > MAX_SIDE or h * w > MAX_PIXELS:
        raise ValueError(f"{what} is {w}x{h} pixels; the limit is {MAX_SIDE} pixels per side and "
                         f"{MAX_PIXELS / 1e6:.0f} megapixels in all: {advice}")


def _open_checked(path, what: str, eight_bit: bool = False, limit: bool = True):
    """``path`` opened and decoded by PIL, after its header passed the size limit (unless not
    ``limit``) and, with ``eight_bit``, :func:`~inpaint_core.engine.check_8bit`. Any failure of the
    file itself is a ``ValueError`` naming it: PIL's parsers raise many types (OSError,
    SyntaxError, EOFError, struct.error, ...) on damaged data, and none says which file or what
    to do."""
    name = Path(path).name
    try:
        im = Image.open(path)
    except Image.DecompressionBombError as err:
        raise ValueError(f"the {what} {name} is far larger than the limit of {MAX_PIXELS / 1e6:.0f} megapixels: "
                         "scale it down first") from err
    except UnidentifiedImageError as err:
        raise ValueError(f"the {what} {name} is not an image (PNG, JPEG, WebP, ...): upload a picture file") from err
    except FileNotFoundError as err:
        raise ValueError(f"the {what} {name} was not found") from err
    except Exception as err:  # a header PIL recognised but could not parse
        raise ValueError(f"the {what} {name} is damaged (its header is corrupt: {err}); save it again") from err
    try:
        if limit:
            check_size(*im.size, f"the {what} {name}")
        if eight_bit:
            check_8bit(im, f"{what} {name}")
    except ValueError:
        im.close()
        raise
    try:
        im.load()  # decodes: a truncated or corrupt file fails here, within the size limit
    except Exception as err:
        im.close()
        raise ValueError(f"the {what} {name} is damaged (its data is cut short or corrupt: {err}); "
                         "save it again") from err
    return im


def _check_tiff_header(path, what: str) -> bool:
    """Check a TIFF's size from its header with rasterio; False when rasterio is not installed
    (PIL then reads the file as a plain TIFF)."""
    try:
        import rasterio
    except ImportError:
        return False
    name = Path(path).name
    try:
        with rasterio.open(path) as ds:
            w, h = ds.width, ds.height
    except Exception as err:  # GDAL raises RasterioIOError and CPLE_* errors (no common base) for damaged files
        raise ValueError(f"the {what} {name} is not a readable TIFF/GeoTIFF ({gdal_message(err)}): upload a "
                         "raster file") from err
    # a picture is held whole; the command line fills a scene of any size window by window
    check_size(w, h, f"the {what} {name}", "fill a whole scene with the command line, which reads it window by "
               f"window: inpaint run --image {name} --mask MASK.tif --output DIR (README: Whole scenes)")
    return True


def check_file(path, what: str = "picture") -> None:
    """Refuse a picture file before it is used, with a message a person can act on.

    The size comes from the header, before any pixel is decoded: a file that is no image,
    one too large for the size limit (a decompression bomb, 0.4 MB on disk and 400 Mpx
    decoded, is refused before it costs any memory) and one whose data is cut short each
    raise ``ValueError`` saying so. GeoTIFFs are checked from their header only.
    """
    if Path(path).suffix.lower() in (".tif", ".tiff") and _check_tiff_header(path, what):
        return
    _open_checked(path, what).close()


def open_picture(path, what: str = "picture", eight_bit: bool = True, limit: bool = True, exif: bool = True):
    """A picture file as a decoded PIL image, checked (:func:`check_file`; without the size limit
    unless ``limit``), of at most 8 bits per sample unless ``eight_bit`` is False (a 16-bit
    picture would be clipped), and with ``exif`` turned as its EXIF orientation says, as a
    browser shows it. Bad files raise ``ValueError``."""
    if limit and Path(path).suffix.lower() in (".tif", ".tiff"):
        _check_tiff_header(path, what)
    im = _open_checked(path, what, eight_bit=eight_bit, limit=limit)
    if not exif:
        return im
    try:
        turned = ImageOps.exif_transpose(im)
    except Exception:  # a broken EXIF block: the picture itself is fine, shown as stored (as browsers do)
        return im
    if turned is not im:
        im.close()
    return turned


def read_picture(path, what: str = "picture", limit: bool = True, exif: bool = True) -> np.ndarray:
    """A picture file as ``HxWx3 uint8`` RGB, turned as its EXIF orientation says (unless not
    ``exif``), transparent parts on white; bad files, pictures over the size limit (from the
    header; unless not ``limit``) and pictures of more than 8 bits per sample raise ``ValueError``
    naming ``what`` and the file. An animated picture gives its first frame (:func:`animation_note`)."""
    with open_picture(path, what, limit=limit, exif=exif) as im:
        return on_white(np.asarray(im.convert("RGBA")))


def load_rgb(path) -> np.ndarray:
    """A picture for training or evaluation, ``HxWx3 uint8``: as :func:`read_picture` reads it for
    the app, so a model learns and is judged on the picture people see (EXIF orientation,
    transparency on white). What it adds to :func:`read_picture` is the training side's rule,
    kept in one place for the trainers, ``evaluate`` and the training pack: no size limit,
    since every picture is scaled down to the model's size anyway."""
    return read_picture(path, "image", limit=False)


def animation_note(path) -> str:
    """``""`` for a still picture; for an animated one (GIF, APNG, WebP), a line saying that only
    its first frame is filled, so no one believes the animation was."""
    try:
        with Image.open(path) as im:
            frames = getattr(im, "n_frames", 1)
    except Exception:  # unreadable files are refused, with their reason, by the reader
        return ""
    if frames <= 1:
        return ""
    return f"{Path(path).name} is animated ({frames} frames): only its first frame is filled"


def write_png(path, array: np.ndarray) -> Path:
    """Write ``HxWx3 uint8`` RGB, or one band (``HxW`` uint8, uint16, or integers within
    0..65535 such as class codes) as a grey PNG, losslessly; makes the folder; returns the path.

    Written with light compression (zlib level 1): at 12 Mpx that is several times faster than
    the default level, for files about a fifth larger.
    """
    array, path = np.asarray(array), Path(path)
    if array.ndim == 2 and array.dtype not in (np.uint8, np.uint16):
        if not np.issubdtype(array.dtype, np.integer) or array.min() < 0 or array.max() > 65535:
            raise ValueError(f"a single-band PNG holds integers 0..65535, got {array.dtype} "
                             f"{array.min()}..{array.max()}")
        array = array.astype(np.uint8 if array.max() < 256 else np.uint16)
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3 and array.dtype == np.uint8)):
        raise ValueError(f"write_png needs an HxW or HxWx3 uint8 array, got {array.dtype} {array.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = array if array.ndim == 2 else cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise ValueError(f"could not write {path}")
    return path


# --- which pictures train ----------------------------------------------------------------------

def split_files(files: list[Path], val_fraction: float) -> tuple[list[Path], list[Path]]:
    """Deterministic train/validation split by a hash of each file name.

    The split does not depend on the order or number of files, so adding images to a
    folder never moves an old image from validation into training.
    """
    def bucket(p: Path) -> float:
        return int(hashlib.sha1(p.name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    val = [p for p in files if bucket(p) < val_fraction]
    train = [p for p in files if bucket(p) >= val_fraction]
    return train, val


def held_out_files(files: list[Path], meta: dict) -> list[Path]:
    """The files of ``files`` that a checkpoint's training held out for validation, as its
    ``training`` summary lists them (``meta``: the checkpoint's metadata).

    The album trainer stores bare names (``val_files``), the satellite trainer paths
    (``val_images``); files are matched on their last path parts (up to 3), so the
    same data folder matches wherever it is mounted.
    """
    training = meta.get("training") or {}
    listed = training.get("val_files") or training.get("val_images")
    if not listed:
        raise ValueError("--split val: this checkpoint's training summary lists no held-out files "
                         "(training.val_files); use --split all")
    depth = min(3, min(len(Path(p).parts) for p in listed))
    keys = {Path(p).parts[-depth:] for p in listed}
    chosen = [f for f in files if f.parts[-depth:] in keys]
    if not chosen:
        raise ValueError(f"--split val: none of the checkpoint's {len(listed)} held-out files is in this folder "
                         f"(e.g. {listed[0]})")
    return chosen


SOURCE_COLUMNS = ("repo", "source_repo_or_package", "source")  # a manifest's column naming each file's source


def _manifests(root: Path) -> list[Path]:
    """The manifests that describe ``root``'s files: CSVs named ``*manifest*.csv`` inside it, and
    ``ROOT-NAME_manifest.csv`` beside it (``album/train_manifest.csv`` for ``album/train/``)."""
    found = sorted(root.glob("*manifest*.csv"))
    beside = root.parent / f"{root.name}_manifest.csv"
    return found + ([beside] if beside.is_file() else [])


def file_sources(files: list[Path], root) -> list[str]:
    """Each file's source (the repository, package or collection it came from), for holding
    out whole sources: from a manifest of ``root`` (a ``file`` column, as a path relative to
    ``root`` or a bare name, and a ``repo``/``source_repo_or_package``/``source`` column),
    else the file's first folder below ``root``, else ``root``'s own name."""
    root = Path(root)
    by_path: dict[str, str] = {}
    for manifest in _manifests(root):
        with open(manifest, newline="") as f:
            for row in csv.DictReader(f):
                column = next((c for c in SOURCE_COLUMNS if row.get(c)), None)
                if row.get("file") and column:
                    by_path[row["file"]] = row[column]
                    by_path.setdefault(Path(row["file"]).name, row[column])
    out = []
    for path in files:
        rel = Path(path).relative_to(root)
        source = by_path.get(rel.as_posix()) or by_path.get(rel.name)
        out.append(source or (rel.parts[0] if len(rel.parts) > 1 else root.name))
    return out


def names_source(name: str, source: str) -> bool:
    """Whether ``name`` (as ``--val-sources`` and ``evaluate --sources`` take it) names ``source``: exactly,
    without its ``kind:`` prefix (``github:``),
    by that prefix (``debian`` for every ``debian:`` package), or by its last ``/`` part."""
    kind, _, rest = source.partition(":")
    return name in (source, rest, source.split("/")[-1]) or (bool(rest) and name == kind)


def split_by_source(folders: list, val_sources: list[str], val_images: int) -> tuple[list[Path], list[Path], dict]:
    """Hold out whole sources: ``(train, val, counts)``. Every file of a source named in
    ``val_sources`` (see :func:`names_source`: ``debian`` names every ``debian:`` package) stays out of
    training; ``val`` takes up to ``val_images`` of them, drawn in turn for each name of
    ``val_sources`` (its files in a fixed hash order), so every held-out source is in every
    validation. ``counts``: name -> its held-out files. Raises ``ValueError`` for a name that matches no
    source."""
    train: list[Path] = []
    held: dict[str, list[Path]] = {}
    known = set()
    for folder in folders:
        files = list_images(folder)
        for path, source in zip(files, file_sources(files, folder)):
            known.add(source)
            name = next((v for v in val_sources if names_source(v, source)), None)
            if name is None:
                train.append(path)
            else:
                held.setdefault(name, []).append(path)
    missing = [v for v in val_sources if not any(names_source(v, s) for s in known)]
    if missing:
        raise ValueError(f"held-out sources not found: {', '.join(missing)}; the sources here are: "
                         f"{', '.join(sorted(known))}")

    val = in_turn([v for _, v in sorted(held.items())], hashed=True)[:val_images]
    return train, val, {k: len(v) for k, v in sorted(held.items())}


def in_turn(groups: list[list], hashed: bool = False) -> list:
    """One item of each group in turn until all are used, so any prefix of the result samples
    every group. ``hashed``: each group of paths in a fixed order by a hash of their names (the
    same whatever the folder's order), else in its own order."""
    queues = [sorted(g, key=lambda p: hashlib.sha1(p.name.encode()).hexdigest()) if hashed else list(g)
              for g in groups]
    out = []
    while any(queues):
        out += [q.pop(0) for q in queues if q]
    return out


def resize_short_side(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    if min(h, w) == side:
        return image
    scale = side / min(h, w)
    size = (max(side, round(w * scale)), max(side, round(h * scale)))
    resample = Image.BICUBIC if scale > 1 else Image.LANCZOS
    return np.array(Image.fromarray(image).resize(size, resample))  # a writable copy for torch
