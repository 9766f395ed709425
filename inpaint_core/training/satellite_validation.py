"""The satellite trainer's held-out windows and what each validation reads on them.

* :func:`split_tiles`: which tiles train and which are held out (``--val-tiles`` by name, else
  a hash of each tile's path), from a tile folder or the tiles cut once from a GeoTIFF scene
  (:func:`load_pairs`);
* :func:`validate`: hole PSNR against Telea, the discriminator's and the referee's readings
  of the fills and of the real windows, the what-if consistency and, with the run's
  :class:`HeldOutJudge`, the judge's figures of the model and of land-cover PatchMatch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inpaint_core.data.geo import ValidityRules, prepare_tiles
from inpaint_core.data.landcover import ClassTable
from inpaint_core.data.tiles import find_tile_pairs, split_named, split_pairs
from inpaint_core.fills.classical import telea
from inpaint_core.training.losses import class_targets, hole_shares, weighted_mean
from inpaint_core.training.validation import HeldOutJudge, hole_psnr, images_to_uint8

__all__ = ["load_pairs", "split_tiles", "validate"]


def load_pairs(cfg, table: ClassTable, out: Path, is_main: bool):
    """(image, label) pairs of a tile folder, or of the tiles prepared once from a GeoTIFF scene."""
    data = Path(cfg.data)
    if data.is_file():
        if not cfg.landcover:
            raise SystemExit("--data is a file (a GeoTIFF scene): pass its land cover with --landcover")
        if is_main:
            m = prepare_tiles(data, cfg.landcover, table, out / "tiles", cfg.crop, cfg.tile_stride,
                              ValidityRules(max_nodata=cfg.max_nodata))
            print(f"{len(m['tiles'])} tiles in {out / 'tiles'} (rejected: {m['rejected']})")
        if torch.distributed.is_initialized():
            torch.distributed.barrier()
        data = out / "tiles"
    return find_tile_pairs(data)


def split_tiles(cfg, table: ClassTable, is_main: bool) -> tuple[list, list]:
    """``(training pairs, validation pairs)``: ``--val-tiles`` held out by name, else by a hash of
    each tile's path relative to ``--data`` (the same split however the folder is spelled); the
    ``--overfit-batch`` test's one batch on both sides. ``cfg``: the satellite trainer's config
    (:class:`~inpaint_core.training.satellite.SatelliteTrainConfig`)."""
    out = Path(cfg.out)
    pairs = load_pairs(cfg, table, out, is_main)
    root = Path(cfg.data) if Path(cfg.data).is_dir() else out / "tiles"  # a GeoTIFF scene's prepared tiles
    if cfg.val_tiles:
        try:
            train_pairs, val_pairs = split_named(pairs, cfg.val_tiles, root)
        except ValueError as err:
            raise SystemExit(f"--val-tiles: {err}") from err
    else:
        train_pairs, val_pairs = split_pairs(pairs, cfg.val_fraction, root)
    if not train_pairs:
        raise SystemExit(f"all {len(pairs)} images fell into the validation split; lower --val-fraction")
    if cfg.overfit_batch:
        train_pairs = val_pairs = train_pairs[: cfg.batch_size]
    return train_pairs, val_pairs


@torch.no_grad()
def validate(gen, disc, referee, loader, ignore, device, whatif_loader=None, judge: HeldOutJudge | None = None
             ) -> dict[str, float]:
    """Hole PSNR of the model and Telea; the referee's land-cover accuracy on their fills
    (vs the requested classes) and on the real windows; D's land-cover accuracy on the real
    windows and its mean patch output on them (``val_d_real``) and on the filled pixels of
    the model's composites (``val_d_fake``): the held-out view of whether D separates them.
    With ``whatif_loader`` (the same windows, holes asking for another class), also
    ``whatif_consistency``: the referee's reading of the asked class in those fills. With
    ``judge``, the model's perceptual distance and land-cover PatchMatch's figures."""
    gen.eval()
    whatif = []
    if referee is not None and whatif_loader is not None:
        for batch in whatif_loader:
            mask, asked = batch["mask"].to(device), batch["landcover"].to(device)
            real = batch["target"].to(device)
            pred = gen(batch["input"].to(device), mask, asked)
            comp = pred * mask + real * (1 - mask)
            holes = class_targets(asked, ignore, keep=mask[:, 0] > 0) >= 0
            if holes.any():
                whatif.append((referee(comp)[1].argmax(1) == asked)[holes].float().mean().item())
    psnr, psnr_t, cons, cons_t, d_acc, r_acc, d_real, d_fake = [], [], [], [], [], [], [], []
    if judge is not None:
        judge.start()
    for batch in loader:
        real, mask, lc = batch["target"].to(device), batch["mask"].to(device), batch["landcover"].to(device)
        pred = gen(batch["input"].to(device), mask, lc)
        comp = pred * mask + real * (1 - mask)
        tel = torch.stack([torch.from_numpy(telea(t, m)).permute(2, 0, 1).float() / 255 for t, m in
                           zip(images_to_uint8(real), mask[:, 0].bool().cpu().numpy())]).to(device)
        for p, t, m, c in zip(images_to_uint8(comp), images_to_uint8(real), mask[:, 0].bool().cpu().numpy(),
                              lc.cpu().numpy()):
            psnr.append(hole_psnr(p, t, m))
            if judge is not None:
                judge.image(p, t, m, c)
        for f, tt, m in zip(images_to_uint8(tel), images_to_uint8(real), mask[:, 0].bool().cpu().numpy()):
            psnr_t.append(hole_psnr(f, tt, m))
        holes = class_targets(lc, ignore, keep=mask[:, 0] > 0) >= 0
        valid = class_targets(lc, ignore) >= 0
        patch_real, logits_real = disc(real)
        d_acc.append((logits_real.argmax(1) == lc)[valid].float().mean().item())
        d_real.append(patch_real.mean().item())
        filled = hole_shares(mask, patch_real.shape[-2:])
        if filled.sum() > 0:
            d_fake.append(weighted_mean(disc(comp)[0], filled).item())
        if referee is not None and holes.any():
            cons.append((referee(comp)[1].argmax(1) == lc)[holes].float().mean().item())
            cons_t.append((referee(tel)[1].argmax(1) == lc)[holes].float().mean().item())
            r_acc.append((referee(real)[1].argmax(1) == lc)[valid].float().mean().item())
    gen.train()
    out = {"psnr_hole": float(np.mean(psnr)), "psnr_hole_telea": float(np.mean(psnr_t)), "val_d_acc_real": float(np.mean(d_acc)),
           "val_d_real": float(np.mean(d_real)), "val_d_fake": float(np.mean(d_fake)) if d_fake else float("nan")}
    if cons:
        out.update(consistency=float(np.mean(cons)), consistency_telea=float(np.mean(cons_t)),
                   referee_acc_real=float(np.mean(r_acc)))
    if whatif:
        out["whatif_consistency"] = float(np.mean(whatif))
    return out if judge is None else {**out, **judge.finish()}
