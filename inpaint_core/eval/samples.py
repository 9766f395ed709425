"""What ``evaluate`` scores: the source files it chooses, and the windows it reads from them.

Pictures are read as people see them (:func:`inpaint_core.data.pictures.load_rgb`) and brought
to ``size x size`` (:func:`fit_square`: short side resized, centre crop, as in training);
satellite tiles are read with their land cover (:func:`inpaint_core.data.geo.read_tile`) and cut
into windows at native resolution (:func:`inpaint_core.data.tiles.tile_windows`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from inpaint_core.data.geo import read_tile
from inpaint_core.data.pictures import (
    file_sources,
    held_out_files,
    in_turn,
    list_images,
    load_rgb,
    names_source,
)
from inpaint_core.data.tiles import (
    IMAGE_SUFFIXES,
    find_tile_pairs,
    match_by_stem,
    tile_windows,
)

__all__ = ["fit_square", "find_sources", "choose_sources", "read_windows", "samples", "tiles", "source_name"]


def fit_square(image: np.ndarray, size: int) -> np.ndarray:
    """``HxWx3 uint8`` -> ``size x size x 3``: short side resized to ``size``, centre crop."""
    h, w = image.shape[:2]
    if min(h, w) != size:
        scale = size / min(h, w)
        new = (max(size, round(w * scale)), max(size, round(h * scale)))
        resample = Image.BICUBIC if scale > 1 else Image.LANCZOS
        image = np.asarray(Image.fromarray(image).resize(new, resample))
        h, w = image.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(image[y : y + size, x : x + size])


def _list(root: Path, suffixes) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def source_name(path: Path, images: Path) -> str:
    """How reports name a source file: its path below ``images``, else its file name."""
    return path.relative_to(images).as_posix() if path.is_relative_to(images) else path.name


def find_sources(images: Path, landcover: Path | None, satellite: bool) -> list[tuple[Path, Path | None]]:
    """``(image, land-cover or None)`` pairs to evaluate, in a stable (sorted) order."""
    if not satellite:
        return [(p, None) for p in list_images(images)]
    if landcover is None:  # the tile layout: images/ beside masks/ (or landcover/, labels/)
        return find_tile_pairs(images)
    return match_by_stem(_list(images, IMAGE_SUFFIXES), _list(landcover, IMAGE_SUFFIXES), "land-cover")


def choose_sources(sources, images: Path, satellite: bool, split: str, split_meta: dict, held_sources: list[str],
            limit: int | None):
    """The sources to evaluate: with ``split == "val"`` the files ``split_meta``'s training held
    out, with ``held_sources`` the files of those sources in turn, then the first ``limit``."""
    if split == "val":
        chosen = set(held_out_files([p for p, _ in sources], split_meta))
        sources = [s for s in sources if s[0] in chosen]
    if held_sources:
        if satellite:
            raise ValueError("--sources is for pictures; hold out whole tiles with --split val")
        origin = file_sources([p for p, _ in sources], images)
        unknown = [n for n in held_sources if not any(names_source(n, o) for o in origin)]
        if unknown:
            raise ValueError(f"--sources: {', '.join(unknown)} not found in {images}; its sources: "
                             f"{', '.join(sorted(set(origin)))}")
        # in turn from each named source (each in its sorted order), so --limit takes a balanced sample
        sources = in_turn([[s for s, o in zip(sources, origin) if names_source(n, o)] for n in held_sources])
    return sources[:limit] if limit else sources


def read_windows(image_path: Path, lc_path: Path | None, table, size: int, windows: int = 1):
    """``[(window name suffix, rgb, land cover or None), ...]`` for one source image."""
    if lc_path is None:
        return [("", fit_square(load_rgb(image_path), size), None)]
    tile = read_tile(image_path, lc_path, table)
    found = tile_windows(tile.rgb, tile.landcover, size, windows)
    return [(f"#{r},{c}" if len(found) > 1 else "", im, l) for (r, c), im, l in found]


def samples(sources, images: Path, table, size: int, windows: int, skipped: list, progress: bool):
    """Yield ``(name, rgb, land cover or None)`` per evaluated window, loading each source
    image once (with a progress bar over them); unreadable ones are named in ``skipped``."""
    for image_path, lc_path in tqdm(sources, desc="evaluate", unit="img", disable=not progress):
        name = source_name(image_path, images)
        try:
            found = read_windows(image_path, lc_path, table, size, windows)
        except ValueError as err:
            tqdm.write(f"skipped {name}: {err}")
            skipped.append(name)
            continue
        for suffix, target, lc in found:
            yield name + suffix, target, lc


def tiles(sources, images: Path, table, progress: bool):
    """Yield ``(name, tile rgb, tile land cover)`` per readable tile, for the what-if."""
    for image_path, lc_path in tqdm(sources, desc="tiles", unit="tile", disable=not progress):
        name = source_name(image_path, images)
        try:
            tile = read_tile(image_path, lc_path, table)
        except ValueError as err:
            tqdm.write(f"skipped {name}: {err}")
            continue
        yield name, tile.rgb, tile.landcover
