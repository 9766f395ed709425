"""The land-cover-guided satellite model: generator, discriminator and its inpainter.

* :class:`SatelliteGenerator` - two branches side by side, as in the research: a U-Net
  branch on the masked RGB (+ mask) and a land-cover branch on the one-hot class map,
  whose features are concatenated into the RGB branch at every scale (not only at the
  end, so the requested class can steer the fill's texture everywhere). Like the album
  model it corrects a Telea pre-fill with a zero-initialised head: an untrained model is
  exactly Telea, and CPU-scarce training only has to improve on it.
* :class:`SatelliteDiscriminator` - a PatchGAN trunk shared by two heads: a real/fake
  patch map (1/16 resolution, 16x16 at 256 px) and a per-pixel land-cover classifier.
  The land-cover head learns on real images only; the generator is rewarded when that
  head reads the requested classes in its fill (the research's ACGAN idea, done right).
* :class:`SatelliteInpainter` - the generator behind the engine's API, rebuilt from a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from inpaint_core.checkpoint import CheckpointError
from inpaint_core.data.landcover import LANDCOVER, ClassTable, table_from_meta
from inpaint_core.fills.landcover import BANK_PREFIX, ExemplarBank
from inpaint_core.fills.prefill import BANK_COMMAND, BANK_PREFILLS, check_prefill, prefill
from inpaint_core.models.blocks import NetConfig, ResBlock, conv_act, doc, shuffle_head, up_path
from inpaint_core.models.network import NetworkInpainter, load_weights

__all__ = ["SatelliteConfig", "SatelliteGenerator", "SatelliteDiscriminator", "SatelliteInpainter", "split_state", "DISC_PREFIX",
           "REFEREE_PREFIX"]

DISC_PREFIX = "disc."  # discriminator tensors in an exported checkpoint
REFEREE_PREFIX = "referee."  # the independent land-cover segmenter (see inpaint_core.eval.referee)


@dataclass
class SatelliteConfig(NetConfig):
    """The generator's and discriminator's shapes; the one home of their defaults
    (``train/satellite.py`` flags come from here; ``num_classes`` from the class table)."""

    num_classes: int = doc(6, "land-cover classes (length of the class table)")
    base: int = doc(32, "generator RGB-branch channels at half resolution; doubled per level down")
    depth: int = doc(3, "generator downsamplings after the stem; inputs are padded to a multiple of 2**(depth+1)")
    max_channels: int = doc(192, "cap on RGB-branch channels")
    bottleneck_blocks: int = doc(2, "dilated residual blocks at the lowest resolution")
    lc_channels: int = doc(16, "land-cover-branch channels at half resolution; doubled per level, capped at 64")
    prefill: str = doc("landcover-nearest", "hole pre-fill the generator corrects: landcover-nearest (each hole "
                       "pixel the nearest known pixel of its asked class), landcover-bank (that, with the exemplar "
                       "bank's texture for a class the window has too little of), landcover-smooth (Telea from the "
                       "known pixels of the asked class alone, with the bank), landcover-patchmatch (PatchMatch "
                       "from the asked class's pixels, with the bank; its time), telea, zeros (the research), "
                       "patchmatch, patchmatch-half")
    residual: bool = doc(True, "predict a correction on top of the pre-filled image (zero-initialised head)")
    normalize: bool = doc(False, "see each window relative to its known pixels: colours minus their mean, over "
                                 "their spread, per channel, and the correction in those units (with --residual), "
                                 "so what a class looked like in the training tiles is no rule for a new one")
    smooth_correction: int = doc(0, "low-pass the correction (with --residual): its mean over S x S px, spread "
                                    "back smoothly, so the generator moves the pre-fill's colour and light but "
                                    "neither smears nor speckles its texture (a power of 2 up to the input "
                                    "multiple; 0 = off)")
    disc_base: int = doc(32, "discriminator channels after its first stride-2 conv")
    disc_depth: int = doc(4, "stride-2 convs in the discriminator trunk: patch map at 1/2**disc_depth")

    def __post_init__(self):
        check_prefill(self.prefill, landcover=True)
        if self.normalize and not self.residual:
            raise ValueError("normalize needs residual: the correction is made in the window's own units")
        if self.num_classes < 2 or self.depth < 1 or self.base < 4 or self.disc_depth < 2:
            raise ValueError("need num_classes >= 2, depth >= 1, base >= 4 and disc_depth >= 2")
        s = self.smooth_correction
        if s and (not self.residual or s < 2 or s & (s - 1) or s > 2 ** (self.depth + 1)):
            raise ValueError(f"smooth_correction must be 0 or a power of 2 from 2 to {2 ** (self.depth + 1)}, "
                             f"with residual, got {s}")


SPREAD_FLOOR = 0.02  # colour spread (std, on [0, 1]) below which a window counts as flat


def window_stats(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image and channel, the mean and the spread (2 std, at least ``2 * SPREAD_FLOOR``)
    of the known pixels (``mask`` 0), each ``Nx3x1x1``; a window without known pixels
    takes all of them. ``(image - mean) / spread`` is then about in [-1, 1]."""
    known = 1 - mask
    known = torch.where(known.sum(dim=(2, 3), keepdim=True) > 0, known, torch.ones_like(known))
    count = known.sum(dim=(2, 3), keepdim=True)
    centre = (image * known).sum(dim=(2, 3), keepdim=True) / count
    var = ((image - centre) ** 2 * known).sum(dim=(2, 3), keepdim=True) / count
    return centre, 2 * var.sqrt().clamp_min(SPREAD_FLOOR)


def smooth(delta: torch.Tensor, size: int) -> torch.Tensor:
    """``delta`` low-passed: its mean over ``size x size`` cells, interpolated back bilinearly."""
    return F.interpolate(F.avg_pool2d(delta, size), size=delta.shape[-2:], mode="bilinear", align_corners=False)


class SatelliteGenerator(nn.Module):
    """``forward(image, mask, landcover) -> image``.

    ``image``: ``Nx3xHxW`` float in [0, 1] with holes pre-filled as ``config.prefill`` says;
    ``mask``: ``Nx1xHxW`` in {0, 1}; ``landcover``: ``NxHxW`` int64 class indices (the
    requested classes inside the holes, the true ones outside). H, W multiples of
    ``config.multiple``. Returns ``Nx3xHxW`` float32 in [0, 1].
    """

    def __init__(self, config: SatelliteConfig):
        super().__init__()
        self.config = c = config
        chans = [min(c.base * 2**i, c.max_channels) for i in range(c.depth + 1)]
        lcs = [min(c.lc_channels * 2**i, 64) for i in range(c.depth + 1)]
        # both branches start at half resolution (space-to-depth): full-res convs cost the most on a CPU
        self.rgb_stem = conv_act(4 * 4, chans[0])
        self.lc_stem = nn.Sequential(conv_act(4 * c.num_classes, lcs[0]), conv_act(lcs[0], lcs[0]))
        self.lc_down = nn.ModuleList(conv_act(lcs[i], lcs[i + 1], stride=2) for i in range(c.depth))
        self.merge = conv_act(chans[0] + lcs[0], chans[0])  # the research's "concatenate, then convolve"
        self.down = nn.ModuleList(
            nn.Sequential(conv_act(chans[i] + lcs[i], chans[i + 1], stride=2), conv_act(chans[i + 1], chans[i + 1]))
            for i in range(c.depth)
        )
        self.bottleneck_in = nn.Sequential(nn.Conv2d(chans[-1] + lcs[-1], chans[-1], 1), nn.LeakyReLU(0.2, True))
        self.bottleneck = nn.Sequential(*[ResBlock(chans[-1], dilation=2 ** (1 + i % 2)) for i in range(c.bottleneck_blocks)])
        self.up = up_path(chans, c.depth)
        self.head = shuffle_head(chans[0], c.residual)

    def forward(self, image: torch.Tensor, mask: torch.Tensor, landcover: torch.Tensor) -> torch.Tensor:
        m = self.config.multiple
        if image.shape[-1] % m or image.shape[-2] % m:
            raise ValueError(f"input size {tuple(image.shape[-2:])} must be a multiple of {m}; pad it first")
        onehot = F.one_hot(landcover.long(), self.config.num_classes).permute(0, 3, 1, 2).to(image.dtype)
        lc = self.lc_stem(F.pixel_unshuffle(onehot, 2))
        if self.config.normalize:
            centre, spread = window_stats(image, mask)
            seen = (image - centre) / spread
        else:
            seen = image * 2 - 1
        x = F.pixel_unshuffle(torch.cat([seen, mask * 2 - 1], dim=1), 2)
        x = self.merge(torch.cat([self.rgb_stem(x), lc], dim=1))
        skips = []
        for down, lc_down in zip(self.down, self.lc_down):
            skips.append(x)
            x = down(torch.cat([x, lc], dim=1))
            lc = lc_down(lc)
        x = self.bottleneck(self.bottleneck_in(torch.cat([x, lc], dim=1)))
        for block in self.up:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
            x = block(torch.cat([x, skip], dim=1))
        delta = F.pixel_shuffle(self.head(x), 2)
        if self.config.smooth_correction:
            delta = smooth(delta, self.config.smooth_correction)
        if self.config.normalize:
            out = ((seen + delta) * spread + centre).float()
        else:
            out = image * 2 - 1 + delta if self.config.residual else torch.tanh(delta)
            out = (out.float() + 1) / 2
        # clamping in training would zero the gradient of every saturated pixel, which then
        # never recovers; the losses keep outputs in range, inference clamps
        return out if self.training else out.clamp(0, 1)


class SatelliteDiscriminator(nn.Module):
    """``forward(image) -> (patch_map, landcover_logits)``.

    ``image``: ``Nx3xHxW`` in [0, 1], H and W multiples of ``2**disc_depth``.
    ``patch_map``: ``Nx1x(H/2**d)x(W/2**d)``, high = "real" (LSGAN targets 1 / 0).
    ``landcover_logits``: ``NxCxHxW`` per-pixel class scores (from the 1/4-scale features
    plus the deepest ones, so both texture and context inform the class).
    Used with ``num_classes`` only (no patch loss) it is also the independent land-cover
    referee of :mod:`inpaint_core.eval.referee`.
    """

    def __init__(self, config: SatelliteConfig):
        super().__init__()
        self.config = c = config
        chans = [min(c.disc_base * 2**i, 256) for i in range(c.disc_depth)]
        layers, cin = [], 3
        for cout in chans:
            layers.append(nn.Sequential(nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)))
            cin = cout
        self.trunk = nn.ModuleList(layers)
        self.patch_head = nn.Conv2d(chans[-1], 1, 3, padding=1)
        self.lc_fine = nn.Sequential(conv_act(chans[1], chans[1]), nn.Conv2d(chans[1], c.num_classes, 1))
        self.lc_coarse = nn.Conv2d(chans[-1], c.num_classes, 1)

    @property
    def multiple(self) -> int:
        return 2**self.config.disc_depth

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = image * 2 - 1
        fine = None
        for i, layer in enumerate(self.trunk):
            x = layer(x)
            if i == 1:
                fine = x
        logits = self.lc_fine(fine) + F.interpolate(self.lc_coarse(x), size=fine.shape[-2:], mode="bilinear",
                                                    align_corners=False)
        logits = F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)
        return self.patch_head(x), logits


def split_state(state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """Split an exported checkpoint's tensors into ``{"gen", "disc", "referee", "bank"}`` dicts
    (``bank`` keeps its ``bank.`` keys, as :meth:`ExemplarBank.from_tensors` reads them)."""
    parts = {"gen": {}, "disc": {}, "referee": {}, "bank": {}}
    for key, value in state.items():
        if key.startswith(BANK_PREFIX):
            parts["bank"][key] = value
        elif key.startswith(DISC_PREFIX):
            parts["disc"][key[len(DISC_PREFIX):]] = value
        elif key.startswith(REFEREE_PREFIX):
            parts["referee"][key[len(REFEREE_PREFIX):]] = value
        else:
            parts["gen"][key] = value
    return parts


class SatelliteInpainter(NetworkInpainter):
    """Land-cover-guided fills: ``inpaint(image, mask, landcover=lc)``.

    ``classes`` is the model's :class:`~inpaint_core.data.landcover.ClassTable` (each entry has
    ``name``, ``code`` and ``color``); ``lc`` must be an ``HxW`` integer map of indices
    into it, the size of the image. Inside the mask it says what to paint.
    """

    kind = "satellite"
    extra_inputs = LANDCOVER

    def __init__(self, model: SatelliteGenerator, classes: ClassTable, device="auto", options=None, meta=None,
                 bank=None):
        if len(classes) != model.config.num_classes:
            raise ValueError(f"class table has {len(classes)} classes but the model was built for {model.config.num_classes}")
        super().__init__(model, device, options, meta)
        self.classes = classes
        self.bank = bank  # the checkpoint's ExemplarBank (for land-cover PatchMatch), or None

    @classmethod
    def from_state(cls, state: dict, meta: dict, device="auto", options=None) -> "SatelliteInpainter":
        if "classes" not in meta:
            raise CheckpointError("the satellite checkpoint has no class table ('classes' metadata)")
        config = SatelliteConfig(**meta["config"])
        model = SatelliteGenerator(config)
        load_weights(model, split_state(state)["gen"])
        table = table_from_meta(meta)
        bank = ExemplarBank.from_tensors(state)
        if config.prefill in BANK_PREFILLS and bank is None:
            raise CheckpointError(f"the generator's {config.prefill} pre-fill needs an exemplar bank (bank.*), which "
                                  f"this file lacks: {BANK_COMMAND}")
        return cls(model, table, device, options, meta, bank=bank)

    @property
    def multiple(self) -> int:
        return self.model.config.multiple

    def _aux_maps(self, shape, landcover=None, **extra) -> dict[str, np.ndarray]:
        if extra:
            raise ValueError(f"satellite model takes landcover=..., not {', '.join(extra)}")
        return {"landcover": self.classes.check_index_map(landcover, shape)}

    def _fill(self, image, mask, aux):
        filled = prefill(image, mask, self.model.config.prefill, landcover=aux["landcover"], bank=self.bank)
        padded, (h, w) = self._pad(filled)
        padded_mask, _ = self._pad(mask.astype(np.uint8))
        padded_lc, _ = self._pad(aux["landcover"])
        lc = torch.from_numpy(padded_lc.astype(np.int64))[None].to(self.device)
        with torch.inference_mode(), self._autocast():
            pred = self.model(self._to_tensor(padded), self._to_tensor(padded_mask), lc)
        return self._to_array(pred, h, w)
