"""Tiles: RGB tiles paired with land-cover maps, their windows, and the satellite model's training data.

:func:`find_tile_pairs` finds ``(image, label)`` pairs in any folder tree where a folder
of images sits beside a folder of labels with the same file stems: the aerial set's
``Tile N/images/*.jpg`` + ``Tile N/masks/*.png``, or the ``images/`` + ``landcover/``
tiles that :func:`inpaint_core.data.geo.prepare_tiles` writes. Labels are read with
:func:`inpaint_core.data.geo.read_landcover` (colour PNGs through the class table, single-band
PNG/TIF as codes); an unknown colour or code stops loading with its pixel count.
:func:`match_by_stem` pairs files given by name (``inpaint run``'s masks and land cover,
``evaluate --landcover``) by the same rule.

:func:`centre_window` and :func:`tile_windows` cut the fixed windows that ``evaluate`` scores.

:class:`SatelliteTiles` serves random ``size x size`` windows (images of any size;
smaller ones are scaled up), with random flips and 90-degree turns (overhead imagery
has no "up"), and new holes on every read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from inpaint_core.data.geo import read_tile
from inpaint_core.data.landcover import ClassTable, get_class_table
from inpaint_core.data.masks import SATELLITE_MASKS, MaskSpec
from inpaint_core.fills.prefill import prefill

__all__ = ["find_tile_pairs", "pair_key", "label_finder", "match_by_stem", "centre_window", "tile_windows",
           "split_pairs", "split_named", "SatelliteTiles", "IMAGE_SUFFIXES", "LABEL_DIRS", "IMAGE_ENDINGS",
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


class SatelliteTiles(Dataset):
    """Random windows of image/land-cover pairs, each read once and kept in memory.

    Item: ``{"input": 3xHxW float [0,1] (holes pre-filled), "target": 3xHxW float,
    "mask": 1xHxW float {0,1}, "landcover": HxW int64 (the classes asked for: what the
    generator is conditioned on), "landcover_true": HxW int64 (the real classes), "whatif":
    float 0/1}``.

    In training, a ``what_if`` share of the windows asks their hole to become one other
    class (never nodata, never the class erased there): there is no pixel target in such a
    hole, only the discriminator's land-cover reading (the research pasted land cover from
    another sample for the same purpose). An ``identity`` share has no hole at all: the
    generator must give the window back. ``length`` windows make an epoch; with
    ``train=False`` window ``i``, its holes and its asked class are the same on every read
    (seeded by ``i``; a what-if validation set passes ``what_if=1``); with ``fixed_masks``
    the same holds in training, never what-if (the overfit test). ``colour_jitter`` > 0
    puts each training window in other light (see :meth:`_jitter`), target and input alike.
    """

    def __init__(self, pairs, table, size: int = 256, mask_spec: MaskSpec | None = None, prefill_method: str = "telea",
                 length: int | None = None, train: bool = True, seed: int = 0, fixed_masks: bool = False,
                 what_if: float = 0.0, identity: float = 0.0, bank=None, colour_jitter: float = 0.0):
        if not 0 <= colour_jitter < 1:
            raise ValueError(f"colour_jitter must be in [0, 1), got {colour_jitter}")
        if not (0 <= what_if <= 1 and 0 <= identity <= 1 and what_if + identity <= 1):
            raise ValueError(f"what_if ({what_if}) and identity ({identity}) must be shares that sum to at most 1")
        if not pairs:
            raise ValueError("SatelliteTiles needs at least one image/label pair")
        self.pairs = list(pairs)
        self.table: ClassTable = get_class_table(table)
        self.size = size
        self.spec = mask_spec or MaskSpec.parse(SATELLITE_MASKS)
        self.prefill = prefill_method
        self.bank = bank  # the exemplar bank of the bank pre-fills (cut from the training tiles)
        self.train, self.seed, self.fixed = train, seed, fixed_masks
        self.what_if, self.identity = (0.0, 0.0) if fixed_masks else (what_if, identity)
        self.colour_jitter = colour_jitter if train and not fixed_masks else 0.0
        self.epoch = 0
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._areas = None
        self.length = length or len(self.pairs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Pair ``i`` as ``(HxWx3 uint8, HxW uint8 class indices)``, scaled up if smaller than a window."""
        if i not in self._cache:
            img_path, lc_path = self.pairs[i]
            try:
                tile = read_tile(img_path, lc_path, self.table)
            except ValueError as err:
                raise ValueError(f"{img_path}: {err}") from err
            rgb, lc = tile.rgb, tile.landcover
            h, w = lc.shape
            if min(h, w) < self.size:
                f = self.size / min(h, w)
                size = (max(self.size, round(w * f)), max(self.size, round(h * f)))
                rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
                lc = cv2.resize(lc.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
            self._cache[i] = (rgb, lc.astype(np.uint8))  # uint8: tables hold at most 255 classes
        return self._cache[i]

    def _rng(self, index: int) -> np.random.Generator:
        if not self.train or self.fixed:
            return np.random.default_rng([self.seed, index])
        return np.random.default_rng([self.seed, self.epoch, index, int(torch.randint(0, 2**31, ()).item())])

    def _pick_image(self, rng) -> int:
        if self._areas is None:  # pick images by area so every pixel is about equally likely
            from PIL import Image

            areas = []
            for img, _ in self.pairs:
                with Image.open(img) as im:
                    areas.append(im.size[0] * im.size[1])
            self._areas = np.array(areas, float) / sum(areas)
        return int(rng.choice(len(self.pairs), p=self._areas))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = self._rng(index)
        fixed = (self.fixed or not self.train) and self.length <= len(self.pairs)
        i = index % len(self.pairs) if fixed else self._pick_image(rng)
        rgb, lc = self.load(i)
        h, w = lc.shape
        s = self.size
        y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        rgb, lc = rgb[y : y + s, x : x + s], lc[y : y + s, x : x + s]
        if self.train and not self.fixed:
            k = int(rng.integers(0, 4))
            rgb, lc = np.rot90(rgb, k), np.rot90(lc, k)
            if rng.random() < 0.5:
                rgb, lc = rgb[:, ::-1], lc[:, ::-1]
            rgb, lc = np.ascontiguousarray(rgb), np.ascontiguousarray(lc)
        if self.colour_jitter:
            rgb = self._jitter(rgb, rng)
        # class-patch holes never remove the nodata classes; an empty draw becomes a free-form one
        mask = self.spec(*lc.shape, rng, lc, ignore=self.table.nodata_indices)
        asked, whatif = lc, False
        if self.what_if or self.identity:
            u = rng.random()
            if u < self.identity:
                mask = np.zeros_like(mask)
            elif u < self.identity + self.what_if:
                asked, whatif = self._ask_other_class(lc, mask, rng)
        filled = prefill(rgb, mask, self.prefill, landcover=asked, bank=self.bank)
        return {
            "input": torch.from_numpy(filled).permute(2, 0, 1).float() / 255.0,
            "target": torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0,
            "mask": torch.from_numpy(mask)[None].float(),
            "landcover": torch.from_numpy(asked.astype(np.int64)),
            "landcover_true": torch.from_numpy(lc.astype(np.int64)),
            "whatif": torch.tensor(float(whatif)),
        }

    def _jitter(self, rgb: np.ndarray, rng) -> np.ndarray:
        """The window in other light: one brightness gain in 1 +- j and a gain per channel in
        1 +- j/2 (white balance), so a class's colour in the training tiles is no rule and the
        generator must take the colour of a fill from the pixels around it."""
        j = self.colour_jitter
        gain = rng.uniform(1 - j, 1 + j) * rng.uniform(1 - j / 2, 1 + j / 2, size=3)
        return np.clip(rgb.astype(np.float32) * gain.astype(np.float32), 0, 255).round().astype(np.uint8)

    def _ask_other_class(self, lc: np.ndarray, mask: np.ndarray, rng) -> tuple[np.ndarray, bool]:
        """``lc`` with the hole asking for one class other than the one most erased there."""
        classes, counts = np.unique(lc[mask], return_counts=True)
        erased = int(classes[np.argmax(counts)]) if classes.size else -1
        choices = [c for c in range(len(self.table)) if c not in self.table.nodata_indices and c != erased]
        if not choices or not mask.any():
            return lc, False
        asked = lc.copy()
        asked[mask] = int(rng.choice(choices))
        return asked, True
