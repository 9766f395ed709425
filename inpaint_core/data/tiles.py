"""Tiles: RGB tiles paired with land-cover maps, and their windows.

:func:`find_tile_pairs` finds ``(image, label)`` pairs in any folder tree where a folder
of images sits beside a folder of labels with the same file stems: the aerial set's
``Tile N/images/*.jpg`` + ``Tile N/masks/*.png``, or the ``images/`` + ``landcover/``
tiles that :func:`inpaint_core.data.geo.prepare_tiles` writes. Labels are read with
:func:`inpaint_core.data.geo.read_landcover` (colour PNGs through the class table, single-band
PNG/TIF as codes); an unknown colour or code stops loading with its pixel count.
:func:`match_by_stem` pairs files given by name (``inpaint run``'s masks and land cover,
``evaluate --landcover``) by the same rule.

:func:`centre_window` and :func:`tile_windows` cut the fixed windows that ``evaluate`` scores.

The satellite trainer's windows (:class:`~inpaint_core.data.datasets.SatelliteTiles`) are torch's,
in :mod:`inpaint_core.data.datasets`; this module needs no torch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

__all__ = ["find_tile_pairs", "pair_key", "label_finder", "match_by_stem", "centre_window", "tile_windows",
           "split_pairs", "split_named", "IMAGE_SUFFIXES", "LABEL_DIRS", "IMAGE_ENDINGS",
           "LABEL_ENDINGS"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff")
LABEL_DIRS = ("masks", "landcover", "labels", "label")  # folder names that hold the land-cover rasters
# name endings that tell an image from its label where both share the rest of their name
# (DeepGlobe: 119_sat.jpg + 119_mask.png)
IMAGE_ENDINGS = ("_sat", "_rgb", "_image", "_img")
LABEL_ENDINGS = ("_mask", "_label", "_labels", "_lc", "_landcover", "_gt")


def pair_key(stem: str, endings) -> str:
    """``stem`` without one of ``endings`` (``119_sat`` -> ``119``), the key an image and its
    label share; the stem itself when it has none of them."""
    low = stem.lower()
    return next((stem[: -len(e)] for e in endings if low.endswith(e) and len(stem) > len(e)), stem)


def label_finder(labels):
    """``image path -> its label`` among ``labels`` (or None): the label of the same stem, else
    the one whose stem less a :data:`LABEL_ENDINGS` ending is the image's stem less an
    :data:`IMAGE_ENDINGS` one. The one pairing rule of training, ``run`` and ``evaluate``."""
    by_stem, by_key = {}, {}
    for p in labels:
        by_stem.setdefault(p.stem, p)
        by_key.setdefault(pair_key(p.stem, LABEL_ENDINGS), p)
    return lambda image: by_stem.get(image.stem) or by_key.get(pair_key(image.stem, IMAGE_ENDINGS))


def match_by_stem(images: list[Path], others: list[Path], what: str) -> list[tuple[Path, Path]]:
    """Pair each image with the file of the same stem in ``others`` (a single file pairs with all),
    or with the same stem less a tile ending (``119_sat.jpg`` + ``119_mask.png``, as the trainer
    pairs them: :func:`label_finder`). ``what`` names the others in errors (``"mask"``,
    ``"land-cover"``); a stem shared by two of them, or an image without one, raises ``ValueError``."""
    if len(others) == 1 and len(images) == 1:
        return [(images[0], others[0])]
    by_stem = {}
    for p in others:
        if p.stem in by_stem:
            raise ValueError(f"two {what} files share the stem {p.stem!r}: {by_stem[p.stem].name}, {p.name}")
        by_stem[p.stem] = p
    find = label_finder(others)
    pairs = [(p, find(p)) for p in images]
    missing = [p.name for p, other in pairs if other is None]
    if missing:
        raise ValueError(f"no {what} for {len(missing)} image(s), e.g. {', '.join(missing[:3])} "
                         f"({what} files are matched to images by file name without extension, or without "
                         f"an ending such as _sat / _mask)")
    return pairs


def find_tile_pairs(root) -> list[tuple[Path, Path]]:
    """All ``(image, label)`` pairs under ``root``: every ``images`` folder with a sibling
    label folder (one of :data:`LABEL_DIRS`), matched by file stem, or by the stem without
    an ending of :data:`IMAGE_ENDINGS` / :data:`LABEL_ENDINGS` (``119_sat.jpg`` +
    ``119_mask.png``). Sorted, so seeded splits are stable. Raises ``ValueError`` when
    nothing is found or stems do not match."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"data folder not found: {root}")
    pairs, unmatched = [], []
    for img_dir in sorted(p for p in [root, *root.rglob("*")] if p.is_dir() and p.name == "images"):
        label_dir = next((img_dir.parent / n for n in LABEL_DIRS if (img_dir.parent / n).is_dir()), None)
        if label_dir is None:
            continue
        find_label = label_finder(sorted(p for p in label_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        for img in sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            label = find_label(img)
            if label is not None:
                pairs.append((img, label))
            else:
                unmatched.append(str(img))
    if not pairs:
        raise ValueError(f"no image/label pairs under {root}: expected folders 'images/' beside one of "
                         f"{', '.join(d + '/' for d in LABEL_DIRS)} with matching file names")
    if unmatched:
        print(f"warning: {len(unmatched)} images have no label file, e.g. {unmatched[0]}")
    return pairs


def split_pairs(pairs, val_fraction: float, root=None) -> tuple[list, list]:
    """Split by a hash of each image's path relative to ``root`` (the ``--data`` folder), never
    by window, so validation windows come from images the model never trained on. The split
    is stable when files are added, and the same however ``--data`` is spelled or wherever the
    data set is mounted (before, the path as typed was hashed)."""
    train, val = [], []
    for pair in pairs:
        key = Path(pair[0]).resolve().relative_to(Path(root).resolve()).as_posix() if root else str(pair[0])
        digest = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (val if digest < val_fraction else train).append(pair)
    return train, val


def split_named(pairs, names, root=None) -> tuple[list, list]:
    """Hold out the images called ``names`` and train on the rest: for a data set of a few large
    tiles, where a hash split holds out none or too many. ``names``: a comma-separated string or
    a list of file names, stems (``6399_sat``), paths relative to ``root`` (``Tile 4/images/
    image_part_009``, with or without the extension) or folders relative to ``root`` (``Tile 4``:
    every image under it, a whole tile of a data set cut into parts). ``ValueError`` for a name
    that matches no image, or several that are no folder (a bare name in a layout of many
    ``images/`` folders), or for no name."""
    names = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    if not names:
        raise ValueError("no image named to hold out")

    def keys(image: Path) -> set[str]:
        out = {image.name, image.stem}
        if root is not None:
            rel = image.resolve().relative_to(Path(root).resolve())
            out |= {rel.as_posix(), rel.with_suffix("").as_posix()}
        return out

    def folders(image: Path) -> set[str]:
        if root is None:
            return set()
        return {parent.as_posix() for parent in image.resolve().relative_to(Path(root).resolve()).parents} - {"."}

    val = []
    for name in names:
        hits = [p for p in pairs if name in keys(Path(p[0]))]
        folder = not hits
        if folder:  # a folder relative to root: every image under it
            hits = [p for p in pairs if name.strip("/") in folders(Path(p[0]))]
        if not hits:
            raise ValueError(f"no image called {name!r} in the data; images are e.g. "
                             + ", ".join(Path(p[0]).stem for p in pairs[:5]))
        if len(hits) > 1 and not folder:
            raise ValueError(f"{name!r} names {len(hits)} images ({', '.join(str(p[0]) for p in hits[:3])}); "
                             "give its path relative to the data folder")
        val += [h for h in hits if h not in val]
    return [p for p in pairs if p not in val], val


def centre_window(image: np.ndarray, landcover: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The centre ``size x size`` window of an RGB tile and its ``HxW`` class map (scaled up,
    cubic / nearest, only when the tile is smaller than the window)."""
    h, w = landcover.shape
    if min(h, w) < size:
        f = size / min(h, w)
        new = (max(size, round(w * f)), max(size, round(h * f)))
        image = cv2.resize(image, new, interpolation=cv2.INTER_CUBIC)
        landcover = cv2.resize(landcover.astype(np.int32), new, interpolation=cv2.INTER_NEAREST)
        h, w = landcover.shape
    y, x = (h - size) // 2, (w - size) // 2
    return (np.ascontiguousarray(image[y : y + size, x : x + size]),
            np.ascontiguousarray(landcover[y : y + size, x : x + size]).astype(np.int64))


def tile_windows(image: np.ndarray, landcover: np.ndarray, size: int, limit: int = 1):
    """Up to ``limit`` (0 = all) ``size x size`` windows of a tile, ``[((row, col), rgb, lc), ...]``.

    ``limit == 1`` is the centre window (:func:`centre_window`). Otherwise the tile is cut
    into the largest grid of non-overlapping windows that fits, centred, read row by row: the
    windows ``evaluate`` and its what-if score.
    """
    if limit == 1 or min(landcover.shape) < size:
        return [((0, 0), *centre_window(image, landcover, size))]
    h, w = landcover.shape
    rows, cols = h // size, w // size
    y0, x0 = (h - rows * size) // 2, (w - cols * size) // 2
    out = []
    for r in range(rows):
        for c in range(cols):
            y, x = y0 + r * size, x0 + c * size
            out.append(((r, c), np.ascontiguousarray(image[y : y + size, x : x + size]),
                        np.ascontiguousarray(landcover[y : y + size, x : x + size]).astype(np.int64)))
    return out[:limit] if limit else out
