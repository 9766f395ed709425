"""Classical fills guided by land cover: the satellite model's pre-fill and its yardstick.

* :func:`landcover_nearest`: each hole pixel copies the nearest known pixel of the class
  the land-cover map asks for there (one distance transform per class, a few ms). Right
  colours, no texture. Given an :class:`ExemplarBank`, a class the picture has too little
  of is filled with that class's exemplar texture instead (``"landcover-bank"``). With
  ``smooth=True`` the class's known pixels are not copied but diffused in by Telea's fast
  marching, started from them alone (``"landcover-smooth"``): no streaks, the class's colour.
* :func:`landcover_patchmatch`: PatchMatch once per asked class, with only the known
  pixels of that class as sources, so erased buildings become the ground around them and
  never a copy of another building. Where the window holds too little of the asked class
  (a what-if: "make this field water" in a tile with no water), that class's strip from an
  :class:`ExemplarBank` is put beside the window as the source, and the result cropped back.
* :class:`ExemplarBank`: per class, 8 patches of 64x64 px, each mostly that class, cut from
  training tiles and laid out as a 256x128 strip. Built by the satellite training script
  and stored in its checkpoint under ``bank.*`` (``python -m inpaint_core bank`` adds one
  to an existing checkpoint).

Images are ``HxWx3 uint8`` RGB, masks ``HxW`` bool (True = hole), land cover an ``HxW``
integer map of class indices; the asked class of a hole pixel is the land cover there.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from inpaint_core.classical import DEFAULT_RADIUS, PATCH_SIZE, patchmatch, telea

__all__ = ["landcover_nearest", "landcover_patchmatch", "ExemplarBank", "BANK_PREFIX", "MIN_KNOWN"]

BANK_PREFIX = "bank."  # exemplar-bank tensors in an exported checkpoint
MIN_KNOWN = 50  # fewer known pixels of the asked class than this: use the bank (or plain PatchMatch)
PATCH = 64  # side of one exemplar
ROWS, COLS = 4, 2  # exemplars per strip: a 256x128 strip of 8 patches


def _asked_classes(mask: np.ndarray, landcover: np.ndarray) -> list[int]:
    return [int(c) for c in np.unique(landcover[mask])]


def landcover_nearest(image: np.ndarray, mask: np.ndarray, landcover: np.ndarray,
                      bank: "ExemplarBank | None" = None, min_known: int = MIN_KNOWN,
                      smooth: bool = False) -> np.ndarray:
    """Each hole pixel takes the colour of the nearest known pixel of its asked class.

    With ``bank``: hole pixels whose class has fewer than ``min_known`` known pixels in the
    image take that class's exemplar texture instead (the bank's strip tiled in image
    coordinates), so a what-if ("make this field water" where the picture has no water)
    starts from real water colours and texture. Hole pixels whose class has no known pixel
    (and no exemplar) get OpenCV's Telea fill. A few ms per window: cheap enough to be a
    network's pre-fill.

    ``smooth``: instead of copying the nearest known pixel (which draws streaks across a
    wide hole), Telea's fill run with the known pixels of the asked class as its only
    sources, on the window around the hole that reaches the nearest of them. On rural
    tiles, where most holes lie inside one wide field, it is 1.5 dB closer to the truth
    than the copy (hole PSNR 28.51 against 27.04 dB on 8 held-out 256-px DeepGlobe windows),
    and still never borrows another class's colour. Slower: Telea fills the whole window
    around the hole: 0.44 s against the copy's 0.07 s for a 512-px tile with a hole over
    two classes (2 cores busy with training).
    """
    from scipy.ndimage import distance_transform_edt

    out = image.copy()
    rest = np.zeros_like(mask)
    for c in _asked_classes(mask, landcover):
        want = mask & (landcover == c)
        known = ~mask & (landcover == c)
        if bank is not None and bank.has(c) and known.sum() < max(min_known, want.sum()):
            ys, xs = np.nonzero(want)
            strip = bank.strips[c]
            out[ys, xs] = strip[ys % strip.shape[0], xs % strip.shape[1]]
            continue
        if not known.any():
            rest |= want
            continue
        if smooth:
            box = _box(want, distance_transform_edt(~known))
            # every pixel of the box that is not a known pixel of class c is filled, from those alone
            out[box][want[box]] = telea(image[box], ~known[box])[want[box]]
            continue
        # for every pixel, the coordinates of the nearest known pixel of class c
        _, (iy, ix) = distance_transform_edt(~known, return_indices=True)
        out[want] = image[iy[want], ix[want]]
    if rest.any():
        out[rest] = telea(image, mask)[rest]
    return out


def _box(want: np.ndarray, dist: np.ndarray) -> tuple[slice, slice]:
    """The window around ``want`` that holds, for each of its pixels, the nearest source."""
    reach = int(np.ceil(dist[want].max())) + DEFAULT_RADIUS + 2
    ys, xs = np.nonzero(want)
    h, w = want.shape
    return (slice(max(0, ys.min() - reach), min(h, ys.max() + reach + 1)),
            slice(max(0, xs.min() - reach), min(w, xs.max() + reach + 1)))


@dataclass
class ExemplarBank:
    """Per-class exemplar strips: ``strips`` ``Cx256x128x3 uint8``, ``valid`` ``C`` bool,
    ``purity`` ``C`` float (the worst exemplar's share of its class)."""

    strips: np.ndarray
    valid: np.ndarray
    purity: np.ndarray

    def __post_init__(self):
        self.strips = np.asarray(self.strips, dtype=np.uint8)
        self.valid = np.asarray(self.valid, dtype=bool)
        self.purity = np.asarray(self.purity, dtype=np.float32)
        if self.strips.ndim != 4 or self.strips.shape[1:] != (ROWS * PATCH, COLS * PATCH, 3):
            raise ValueError(f"exemplar strips must be Cx{ROWS * PATCH}x{COLS * PATCH}x3, got {self.strips.shape}")
        if not (len(self.valid) == len(self.purity) == len(self.strips)):
            raise ValueError("exemplar bank: strips, valid and purity disagree on the number of classes")

    def __len__(self) -> int:
        return len(self.strips)

    def has(self, index: int) -> bool:
        return 0 <= index < len(self) and bool(self.valid[index])

    def strip(self, index: int, height: int) -> np.ndarray:
        """Class ``index``'s strip tiled or cut to ``height`` rows (``height x 128 x 3``)."""
        s = self.strips[index]
        reps = -(-height // s.shape[0])
        return np.ascontiguousarray(np.concatenate([s] * reps, axis=0)[:height])

    @classmethod
    def build(cls, samples, num_classes: int, ignore: tuple[int, ...] = (), seed: int = 0,
              min_purity: float = 0.9, stride: int = 32) -> "ExemplarBank":
        """Cut the bank from ``samples``, an iterable of ``(HxWx3 uint8, HxW class map)``.

        For each class (but ``ignore``, e.g. nodata), 8 windows of 64x64 px are drawn at
        random (seeded) among those at least ``min_purity`` that class, spread over as many
        images as there are. Of those, only the half whose mean colour is nearest the class's
        median window colour is drawn from: labels drawn as coarse polygons (DeepGlobe's) call
        patches of crops or scrub "barren land", and a what-if fill painted from them looks
        like the wrong class. A class with fewer such windows takes its purest ones, so a
        rare class still gets texture of its own; a class never seen stays empty.
        """
        rng = np.random.default_rng(seed)
        per_class: list[list[tuple[float, int, int, int]]] = [[] for _ in range(num_classes)]
        images = []
        for k, (rgb, lc) in enumerate(samples):
            h, w = lc.shape
            if h < PATCH or w < PATCH:
                continue
            images.append(rgb)
            for c in range(num_classes):
                if c in ignore:
                    continue
                share = cv2.boxFilter((lc == c).astype(np.float32), -1, (PATCH, PATCH), normalize=True,
                                      anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
                share = share[: h - PATCH + 1: stride, : w - PATCH + 1: stride]
                ys, xs = np.nonzero(share >= 0.5)
                per_class[c].extend((float(share[y, x]), len(images) - 1, y * stride, x * stride)
                                    for y, x in zip(ys, xs))
        strips = np.zeros((num_classes, ROWS * PATCH, COLS * PATCH, 3), np.uint8)
        valid = np.zeros(num_classes, bool)
        purity = np.zeros(num_classes, np.float32)
        for c, found in enumerate(per_class):
            if not found:
                continue
            pure = [f for f in found if f[0] >= min_purity]
            if len(pure) >= 2 * ROWS * COLS:  # keep the typical half (by mean colour)
                means = np.array([images[k][y:y + PATCH, x:x + PATCH].reshape(-1, 3).mean(0) for _, k, y, x in pure])
                dist = np.linalg.norm(means - np.median(means, axis=0), axis=1)
                pure = [pure[i] for i in np.argsort(dist, kind="stable")[: len(pure) // 2]]
            if len(pure) >= ROWS * COLS:
                picks = [pure[i] for i in rng.choice(len(pure), ROWS * COLS, replace=False)]
            else:
                ranked = sorted(found, key=lambda f: -f[0])
                picks = [ranked[i % len(ranked)] for i in range(ROWS * COLS)]
            for j, (_, k, y, x) in enumerate(picks):
                r, q = divmod(j, COLS)
                strips[c, r * PATCH:(r + 1) * PATCH, q * PATCH:(q + 1) * PATCH] = images[k][y:y + PATCH, x:x + PATCH]
            valid[c] = True
            purity[c] = min(p[0] for p in picks)
        return cls(strips, valid, purity)

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """The bank as checkpoint tensors (``bank.strips``, ``bank.valid``, ``bank.purity``)."""
        return {BANK_PREFIX + "strips": torch.from_numpy(self.strips.copy()),
                BANK_PREFIX + "valid": torch.from_numpy(self.valid.astype(np.uint8)),
                BANK_PREFIX + "purity": torch.from_numpy(self.purity.copy())}

    @classmethod
    def from_tensors(cls, state: dict) -> "ExemplarBank | None":
        """The bank stored in a checkpoint's tensors, or None when it has none."""
        if BANK_PREFIX + "strips" not in state:
            return None
        return cls(state[BANK_PREFIX + "strips"].numpy(), state[BANK_PREFIX + "valid"].numpy().astype(bool),
                   state[BANK_PREFIX + "purity"].numpy())


def _restricted(image, want, source, patch_size, seed):
    """PatchMatch of ``want`` from ``source`` only; None where the library finds no usable source."""
    try:
        return patchmatch(image, want, patch_size=patch_size, seed=seed, source=source)
    except RuntimeError:  # e.g. sources too thin for a single whole patch
        return None


def landcover_patchmatch(image: np.ndarray, mask: np.ndarray, landcover: np.ndarray,
                         bank: ExemplarBank | None = None, min_known: int = MIN_KNOWN,
                         patch_size: int = PATCH_SIZE, seed: int = 0) -> np.ndarray:
    """PatchMatch whose sources for each hole pixel are known pixels of its asked class.

    Per asked class ``c``: with at least ``min_known`` known pixels of ``c`` in the image,
    and at least as many as hole pixels asking for ``c``, only they are sources; with fewer,
    ``bank``'s strip of ``c`` (put to the right of the image) joins them; with neither,
    plain PatchMatch from every known pixel fills those pixels.
    Pixels outside ``mask`` are returned unchanged. Deterministic for a given ``seed``.
    """
    h, w = mask.shape
    out = image.copy()
    rest = np.zeros_like(mask)
    for c in _asked_classes(mask, landcover):
        want = mask & (landcover == c)
        known = ~mask & (landcover == c)
        filled = None
        # the picture's own pixels of c suffice when there are as many as pixels to fill; fewer,
        # and the bank's strip of c joins them as a source (thin or scarce sources copy badly)
        if known.sum() >= max(min_known, want.sum()) or bank is None or not bank.has(c):
            if known.sum() >= min_known:
                filled = _restricted(image, want, known, patch_size, seed)
        if filled is None and bank is not None and bank.has(c):  # with the strip beside the picture
            strip = bank.strip(c, h)
            canvas = np.concatenate([image, strip], axis=1)
            pad = np.zeros((h, strip.shape[1]), bool)
            source = np.concatenate([known, ~pad], axis=1)  # the class's own pixels and its strip
            wide = _restricted(canvas, np.concatenate([want, pad], axis=1), source, patch_size, seed)
            filled = None if wide is None else wide[:, :w]
        if filled is None:
            rest |= want
        else:
            out[want] = filled[want]
    if rest.any():
        out[rest] = patchmatch(image, mask, patch_size=patch_size, seed=seed)[rest]
    return out
