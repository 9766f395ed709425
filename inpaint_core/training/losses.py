"""Training losses: L1 reconstruction, VGG16 perceptual and style, total variation,
least-squares and hinge GAN terms, and the land-cover GAN's patch and class terms.

Small functions that each return a scalar tensor (and the patch weights and class targets
they read); trainers sum them with weights and log the parts. The satellite trainer's two sums,
its discriminator's and its generator's (:func:`satellite_d_loss`, :func:`satellite_g_loss`),
are here too, beside the land-cover terms only they read. The VGG16 network they read is
:mod:`inpaint_core.models.vgg`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from inpaint_core.models.vgg import VGG16Features
from inpaint_core.training.device import autocast_for

__all__ = ["l1_loss", "tv_loss", "lsgan_loss", "PerceptualLoss", "gram", "hinge_d_loss", "hinge_g_loss", "hole_shares",
           "weighted_mean", "fake_patch_loss", "class_targets", "satellite_d_loss", "satellite_g_loss"]


def l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, hole_weight: float = 1.0) -> torch.Tensor:
    """Mean absolute error; with ``mask`` (``Nx1xHxW``, 1 = hole) hole pixels weigh ``hole_weight``."""
    err = (pred - target).abs()
    if mask is None or hole_weight == 1.0:
        return err.mean()
    weight = 1.0 + (hole_weight - 1.0) * mask
    return (err * weight).mean()


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation (mean absolute neighbour difference); fights checkerboards."""
    dh = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    dw = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    return dh + dw


def lsgan_loss(pred: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss: MSE of the patch map against 1 (real) or 0 (fake)."""
    target = torch.ones_like(pred) if real else torch.zeros_like(pred)
    return F.mse_loss(pred, target)


class PerceptualLoss(nn.Module):
    """Mean L1 distance between VGG16 activations of ``pred`` and ``target`` (both in [0, 1]).

    Per-layer ``weights`` (default 1 each) are fixed numbers, so a loss value means the
    same thing in every run. The target's features need no gradient.
    """

    def __init__(self, vgg: VGG16Features, weights: tuple[float, ...] | None = None):
        super().__init__()
        self.vgg = vgg
        self.weights = tuple(weights) if weights is not None else (1.0,) * len(vgg.layers)
        if len(self.weights) != len(vgg.layers):
            raise ValueError(f"{len(self.weights)} weights for {len(vgg.layers)} VGG layers")

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.with_style(pred, target, style=False)[0]

    def with_style(self, pred: torch.Tensor, target: torch.Tensor, style: bool = True
                   ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(perceptual, style)`` from one VGG pass: the perceptual distance above, and the
        style (texture) loss: the L1 distance between the activations' Gram matrices, summed
        over the layers (Gatys et al.; the partial-convolution inpainting recipe of Liu et al.).
        It asks the fill for the original's texture statistics, not its exact pixels, so it
        rewards texture where L1 and the perceptual term reward the average of all fills."""
        with torch.no_grad():
            feats_t = self.vgg(target)
        feats_p = self.vgg(pred)
        total = pred.new_zeros((), dtype=torch.float32)
        loss_style = pred.new_zeros((), dtype=torch.float32) if style else None
        for w, fp, ft in zip(self.weights, feats_p, feats_t):
            fp, ft = fp.float(), ft.float()
            total = total + w * (fp - ft).abs().mean()
            if style:
                loss_style = loss_style + w * (gram(fp) - gram(ft)).abs().mean()
        return total, loss_style


def gram(features: torch.Tensor) -> torch.Tensor:
    """``NxCxHxW`` activations -> ``NxCxC`` Gram matrices, normalised by ``C*H*W``."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def hinge_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, fake_patches: torch.Tensor) -> torch.Tensor:
    """The discriminator's hinge loss: real images' patches toward >= 1, the composite's filled
    patches toward <= -1 (its untouched patches are real pixels, and are not asked about)."""
    real = F.relu(1 - real_scores).mean()
    fake = F.relu(1 + fake_scores)[fake_patches].mean() if fake_patches.any() else fake_scores.new_zeros(())
    return real + fake


def hinge_g_loss(fake_scores: torch.Tensor, fake_patches: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial loss: raise the scores of its filled patches."""
    if not fake_patches.any():
        return fake_scores.new_zeros(())
    return -fake_scores[fake_patches].mean()


def hole_shares(mask: torch.Tensor, size) -> torch.Tensor:
    """``Nx1xHxW`` hole mask -> ``Nx1xhxw``: the share of hole pixels in each patch of a
    ``size`` (h, w) patch map."""
    return F.adaptive_avg_pool2d(mask, size)


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` weighted per patch by ``weights`` (e.g. each patch's filled share)."""
    return (values * weights).sum() / weights.sum().clamp(min=1e-6)


def fake_patch_loss(patch: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
    """A discriminator's LSGAN loss on composites, balanced between their two kinds of pixels.

    A patch's filled share ``h`` (:func:`hole_shares`) says how much of it the generator made:
    that share is pulled to 0 ("fake") and the untouched rest to 1 (it IS real), each kind
    averaged over its own pixels. Without the balance (one MSE to the soft target ``1 - h`` over
    all patches), the few hole patches of a batch barely weigh against the many untouched ones
    and D settles on "everything is about 0.9": its real and fake outputs never separate.
    """
    return 0.5 * (weighted_mean(patch**2, holes) + weighted_mean((patch - 1) ** 2, 1 - holes))


def class_targets(landcover: torch.Tensor, ignore: tuple[int, ...], keep: torch.Tensor | None = None) -> torch.Tensor:
    """``NxHxW`` class targets for a cross-entropy, nodata classes ``ignore`` (and pixels outside
    ``keep``) set to -100, which the cross-entropy ignores."""
    target = landcover.clone()
    for i in ignore:
        target[landcover == i] = -100
    if keep is not None:
        target[~keep] = -100
    return target


def satellite_d_loss(disc, real, comp, mask, landcover, ignore, cfg, device) -> tuple[torch.Tensor, dict[str, float]]:
    """The satellite discriminator's loss and its logged parts. Patch map: LSGAN, real -> 1; on the composite, filled
    pixels -> 0 and untouched ones -> 1 (:func:`fake_patch_loss`).
    Land-cover head: cross-entropy on REAL images only, so it learns what classes look like.
    Logged: ``d_loss``, ``d_cls``, ``d_real`` (mean patch output on real images), ``d_fake``
    (mean on the filled pixels of composites) and ``d_acc_real`` (land-cover pixel accuracy on
    real images). ``cfg``: the satellite trainer's config (``w_d_cls``, ``amp``)."""
    n = real.shape[0]
    with autocast_for(device, cfg.amp):
        patch, logits = disc(torch.cat([real, comp.detach()]))  # one forward: DDP-friendly
    patch, logits = patch.float(), logits[:n].float()
    holes = hole_shares(mask, patch.shape[-2:])
    loss_real = lsgan_loss(patch[:n], real=True)
    loss_fake = fake_patch_loss(patch[n:], holes)
    loss_cls = F.cross_entropy(logits, class_targets(landcover, ignore))
    loss = 0.5 * (loss_real + loss_fake) + cfg.w_d_cls * loss_cls
    valid = class_targets(landcover, ignore) >= 0
    acc = (logits.argmax(1) == landcover)[valid].float().mean().item() if valid.any() else float("nan")
    return loss, {"d_loss": loss.item(), "d_cls": loss_cls.item(), "d_real": patch[:n].mean().item(),
                  "d_fake": weighted_mean(patch[n:], holes).item(), "d_acc_real": acc}


def satellite_g_loss(pred, target, mask, landcover, disc, perceptual, ignore, cfg, device,
                     whatif: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """The satellite generator's loss on ``pred`` and its logged parts: L1 (holes weighted), MSE, VGG, TV
    on the composite, and the LSGAN and land-cover terms of D, which is only read here: its
    land-cover head must find the REQUESTED classes (``landcover``) in the fill. ``whatif``
    (``N``, 1 = the hole asks for another class) drops the pixel terms inside those holes, where
    the target shows the erased class, not the asked one. ``cfg``: the satellite trainer's
    config (the terms' weights, ``amp``)."""
    comp = pred * mask + target * (1 - mask)
    if whatif is not None and whatif.any():
        seen = 1 - mask * whatif.view(-1, 1, 1, 1)  # pixels with a target: all but what-if holes
        plain = whatif == 0
        loss_l1 = l1_loss(pred * seen, target * seen, mask * seen, cfg.hole_weight)
        loss_mse = F.mse_loss(pred * seen, target * seen)
    else:
        plain = None
        loss_l1 = l1_loss(pred, target, mask, cfg.hole_weight)
        loss_mse = F.mse_loss(pred, target)
    disc.requires_grad_(False)  # no D gradients needed here; D's own step updates it
    with autocast_for(device, cfg.amp):
        if cfg.w_vgg <= 0 or (plain is not None and not plain.any()):
            loss_vgg = pred.new_zeros(())
        elif plain is not None:  # the VGG term compares whole images: only windows with a target
            loss_vgg = perceptual(comp[plain], target[plain])
        else:
            loss_vgg = perceptual(comp, target)
        patch, logits = disc(comp)
    disc.requires_grad_(True)
    loss_adv = weighted_mean((patch.float() - 1) ** 2, hole_shares(mask, patch.shape[-2:]))
    loss_cls = F.cross_entropy(logits.float(), class_targets(landcover, ignore, keep=mask[:, 0] > 0))
    loss_cls = torch.nan_to_num(loss_cls)  # a batch whose holes are all nodata has nothing to classify
    loss_tv = tv_loss(comp)
    total = (loss_l1 + cfg.w_mse * loss_mse + cfg.w_vgg * loss_vgg + cfg.w_tv * loss_tv + cfg.w_adv * loss_adv
             + cfg.w_cls * loss_cls)
    return total, {"l1": loss_l1.item(), "mse": loss_mse.item(), "vgg": loss_vgg.item(), "tv": loss_tv.item(),
                   "adv": loss_adv.item(), "cls": loss_cls.item()}
