"""The training data as torch datasets: what the trainers' ``DataLoader``s read.

* :class:`InpaintDataset` - the album trainer's items. Masks are drawn from a seeded
  generator keyed by ``(seed, epoch, index)``, so every read of an image in a new epoch gets
  new holes (as the research did) while a rerun with the same seed sees exactly the same holes.
* :class:`SatelliteTiles` - the satellite trainer's: random ``size x size`` windows (images of
  any size; smaller ones are scaled up), with random flips and 90-degree turns (overhead
  imagery has no "up"), and new holes on every read.

They live apart from :mod:`~inpaint_core.data.pictures` and :mod:`~inpaint_core.data.tiles` (which
pictures and tiles there are, how they are read and split) so that filling a picture or a scene
does not import torch.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from inpaint_core.data.geo import read_tile
from inpaint_core.data.landcover import ClassTable, get_class_table
from inpaint_core.data.masks import SATELLITE_MASKS, MaskSpec, make_mask
from inpaint_core.data.pictures import load_rgb, resize_short_side
from inpaint_core.fills.prefill import prefill

__all__ = ["InpaintDataset", "SatelliteTiles"]


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
        image = resize_short_side(load_rgb(self.files[index]), self.resize)
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
