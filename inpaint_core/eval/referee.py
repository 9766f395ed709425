"""Land-cover consistency: does a fill read as the land cover that was asked for?

A fill asked to be water must look like water to a land-cover segmenter. The segmenter
used here is the *referee*: a network of the discriminator's architecture trained, next
to the GAN, on real images only (cross-entropy against the true map) and never used in
the generator's loss, so the generator cannot have learnt to fool it. (The
discriminator's own land-cover head is also available, but the generator was trained to
satisfy exactly that head, so its score flatters the model.)

:func:`landcover_accuracy` is the measure itself: pixel accuracy of a predicted map
against the requested one, on the hole pixels only (nodata classes skipped).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inpaint_core.checkpoint import CheckpointError, load_model_file
from inpaint_core.data.landcover import ClassTable, table_from_meta
from inpaint_core.models.network import resolve_device
from inpaint_core.models.satellite import (
    SatelliteConfig,
    SatelliteDiscriminator,
    split_state,
)

__all__ = ["landcover_accuracy", "LandCoverReader", "load_reader", "consistency"]


def landcover_accuracy(predicted: np.ndarray, requested: np.ndarray, mask: np.ndarray,
                       ignore: tuple[int, ...] = ()) -> float:
    """Share of hole pixels whose ``predicted`` class equals the ``requested`` one.

    All ``HxW``: integer index maps and a bool mask (True = hole). Requested classes in
    ``ignore`` do not count. Returns NaN when no pixel counts.
    """
    if predicted.shape != requested.shape or requested.shape != mask.shape:
        raise ValueError(f"shapes differ: predicted {predicted.shape}, requested {requested.shape}, mask {mask.shape}")
    sel = mask.astype(bool) & ~np.isin(requested, ignore)
    if not sel.any():
        return float("nan")
    return float((predicted[sel] == requested[sel]).mean())


class LandCoverReader:
    """A land-cover segmenter for RGB tiles: ``segment(image) -> HxW int64`` class indices.

    Wraps a :class:`SatelliteDiscriminator` and uses only its land-cover head.
    """

    def __init__(self, net: SatelliteDiscriminator, classes: ClassTable, device="auto"):
        self.device = resolve_device(device)
        self.net = net.eval().to(self.device).requires_grad_(False)
        self.classes = classes

    @torch.inference_mode()
    def logits(self, image: np.ndarray) -> torch.Tensor:
        """``HxWx3 uint8`` -> ``CxHxW`` float32 class scores (the image is padded to the
        network's multiple by reflection, then cropped back)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be HxWx3 uint8, got {image.dtype} {image.shape}")
        h, w = image.shape[:2]
        m = self.net.multiple
        padded = np.pad(image, [(0, (-h) % m), (0, (-w) % m), (0, 0)], mode="symmetric")
        x = torch.from_numpy(padded).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        return self.net(x)[1][0, :, :h, :w].float()

    def segment(self, image: np.ndarray) -> np.ndarray:
        return self.logits(image).argmax(0).cpu().numpy().astype(np.int64)


def load_reader(path, which: str = "referee", device="auto") -> LandCoverReader:
    """The land-cover reader stored in a satellite checkpoint: ``"referee"`` (independent,
    the default) or ``"disc"`` (the discriminator's head)."""
    state, meta = load_model_file(Path(path))
    if meta.get("kind") != "satellite":
        raise CheckpointError(f"{path} is a {meta.get('kind')!r} checkpoint, not a satellite one")
    parts = split_state(state)
    if which not in ("referee", "disc") or not parts[which]:
        raise CheckpointError(f"{path} holds no {which!r} land-cover reader (it has: "
                              f"{', '.join(k for k in ('referee', 'disc') if parts[k]) or 'none'})")
    net = SatelliteDiscriminator(SatelliteConfig(**meta["config"]))
    net.load_state_dict(parts[which])
    return LandCoverReader(net, table_from_meta(meta), device)


def consistency(reader: LandCoverReader, filled: np.ndarray, requested: np.ndarray, mask: np.ndarray) -> dict:
    """``{"accuracy": ..., "pixels": ...}``: how much of the hole ``reader`` sees as requested.

    ``filled``: ``HxWx3 uint8`` (the model's or a baseline's output); ``requested``:
    ``HxW`` class indices; ``mask``: ``HxW`` bool (True = hole).
    """
    predicted = reader.segment(filled)
    ignore = reader.classes.nodata_indices
    sel = mask.astype(bool) & ~np.isin(requested, ignore)
    return {"accuracy": landcover_accuracy(predicted, requested, mask, ignore), "pixels": int(sel.sum())}
