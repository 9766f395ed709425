"""Training data for the album model: any folder of images, holes made on the fly.

Masks are drawn from a seeded generator keyed by ``(seed, epoch, index)``, so every
read of an image in a new epoch gets new holes (as the research did) while a rerun
with the same seed sees exactly the same holes.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from inpaint_core.data.masks import MaskSpec, make_mask
from inpaint_core.fills.prefill import prefill

__all__ = ["IMAGE_EXTS", "list_images", "load_rgb", "split_files", "file_sources", "split_by_source", "names_source",
           "in_turn",
           "InpaintDataset"]

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


def load_rgb(path) -> np.ndarray:
    """Read an image file as ``HxWx3 uint8`` RGB (``ValueError`` if it is not an image)."""
    from inpaint_core.engine import check_8bit

    try:
        with Image.open(path) as im:
            check_8bit(im, f"image {Path(path).name}")  # converting a 16-bit picture would clip it silently
            return np.asarray(im.convert("RGB")).copy()
    except (OSError, Image.DecompressionBombError) as err:
        raise ValueError(f"cannot read image {path}: {err}") from err


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


def _resize_short_side(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    if min(h, w) == side:
        return image
    scale = side / min(h, w)
    size = (max(side, round(w * scale)), max(side, round(h * scale)))
    resample = Image.BICUBIC if scale > 1 else Image.LANCZOS
    return np.array(Image.fromarray(image).resize(size, resample))  # a writable copy for torch


class InpaintDataset(Dataset):
    """Items are dicts of float tensors: ``input`` (holes pre-filled, 3xSxS), ``mask`` (1xSxS), ``target`` (3xSxS).

    Images are resized so the short side is ``resize`` (the research's 256x256), then a
    ``crop``-px window is taken (random when ``train``, centred otherwise). Holes are
    drawn at ``resize`` scale, so a 32-px research patch stays 32 px on a 128-px crop.
    With ``fixed_masks`` the holes do not change between epochs (the overfit test).
    ``mask_kinds``: item ``i`` gets a hole of kind ``mask_kinds[i % len]`` instead of the
    spec's mix (validation: the judge's four kinds in turn, on the same images every time).
    """

    def __init__(self, files, resize: int = 256, crop: int = 256, mask_spec: MaskSpec | None = None,
                 prefill_method: str = "telea", train: bool = True, seed: int = 0, fixed_masks: bool = False,
                 mask_kinds: tuple[str, ...] | None = None):
        self.files = list(files)
        self.mask_kinds = tuple(mask_kinds) if mask_kinds else None
        if crop > resize:
            raise ValueError(f"crop ({crop}) cannot exceed resize ({resize})")
        self.resize, self.crop = resize, crop
        self.mask_spec = mask_spec or MaskSpec()
        self.prefill_method = prefill_method
        self.train, self.seed, self.fixed_masks = train, seed, fixed_masks
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        epoch = 0 if (self.fixed_masks or not self.train) else self.epoch
        rng = np.random.default_rng([self.seed, epoch, index])
        image = _resize_short_side(load_rgb(self.files[index]), self.resize)
        h, w = image.shape[:2]
        c = self.crop
        if self.train and not self.fixed_masks:
            y, x = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
            image = image[y : y + c, x : x + c]
            if rng.random() < 0.5:
                image = image[:, ::-1]
        else:
            y, x = (h - c) // 2, (w - c) // 2
            image = image[y : y + c, x : x + c]
        image = np.ascontiguousarray(image)
        if self.mask_kinds:
            mask = make_mask(self.mask_kinds[index % len(self.mask_kinds)], c, c, rng)
        else:
            mask = self.mask_spec(c, c, rng, ref_size=self.resize)
        filled = prefill(image, mask, self.prefill_method)
        return {
            "input": torch.from_numpy(filled).permute(2, 0, 1).float() / 255.0,
            "mask": torch.from_numpy(mask)[None].float(),
            "target": torch.from_numpy(image).permute(2, 0, 1).float() / 255.0,
        }
