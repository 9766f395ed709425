"""The album trainer's held-out pictures and what each validation reads on them.

* :func:`split_pictures`: which pictures train and which are held out (whole sources with
  ``--val-sources``, else a hash of each file's name);
* :func:`validate`: hole PSNR against Telea and, with the run's :class:`HeldOutJudge`, the
  judge's figures of the model and of PatchMatch and Telea on the same holes;
* :func:`describe_validation`: the validation's one line in the terminal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from inpaint_core.data.pictures import list_images, split_by_source, split_files
from inpaint_core.fills.classical import telea
from inpaint_core.training.validation import HeldOutJudge, hole_psnr, images_to_uint8

__all__ = ["split_pictures", "validate", "describe_validation"]


def split_pictures(cfg) -> tuple[list[Path], list[Path], dict[str, int]]:
    """``(training files, validation files, held-out files per --val-sources name)``: whole
    sources held out with ``--val-sources``, else the hash split of the first ``--data`` folder;
    the other folders and ``--extra-data`` on the training side. ``cfg``: the album trainer's
    config (:class:`~inpaint_core.training.album.AlbumTrainConfig`)."""
    folders = [f.strip() for f in cfg.data.split(",") if f.strip()]
    extra = [f.strip() for f in (cfg.extra_data or "").split(",") if f.strip()]
    held_counts = {}
    if cfg.val_sources.strip():
        try:
            train_files, val_files, held_counts = split_by_source(
                folders + extra, [v.strip() for v in cfg.val_sources.split(",") if v.strip()], cfg.val_images)
        except ValueError as err:
            raise SystemExit(f"--val-sources: {err}") from err
        files = train_files + val_files
    else:
        files = list_images(folders[0])
        train_files, val_files = split_files(files, cfg.val_fraction)
        for folder in folders[1:] + extra:
            train_files += list_images(folder)
    if not train_files:
        raise SystemExit(f"all {len(files)} images fell into the validation split; lower --val-fraction")
    return train_files, val_files, held_counts


@torch.no_grad()
def validate(model, loader, device, judge: HeldOutJudge | None = None) -> dict[str, float]:
    """Hole PSNR of the model and of Telea on the fixed validation holes; with ``judge`` (a
    :class:`HeldOutJudge` with its peers, PatchMatch and Telea) also the judge's figures of the
    model and of each peer: distance, median detail ratio, win rate."""
    model.eval()
    ours, base = [], []
    if judge is not None:
        judge.start()
    for batch in loader:
        pred = model(batch["input"].to(device), batch["mask"].to(device))
        pred_u8, target_u8 = images_to_uint8(pred), images_to_uint8(batch["target"])
        masks = batch["mask"][:, 0].bool().numpy()
        for p, t, m in zip(pred_u8, target_u8, masks):
            ours.append(hole_psnr(p, t, m))
            base.append(hole_psnr(telea(np.where(m[..., None], 0, t).astype(np.uint8), m), t, m))
            if judge is not None:
                judge.image(p, t, m)
    model.train()
    val = {"psnr_hole": float(np.mean(ours)), "psnr_hole_telea": float(np.mean(base))}
    return val if judge is None else {**val, **judge.finish()}


def describe_validation(v: dict) -> str:
    """One line for the log: the hole PSNR, and the figures against PatchMatch where measured."""
    text = f"hole PSNR {v['psnr_hole']:.2f} dB (Telea {v['psnr_hole_telea']:.2f}"
    if "psnr_hole_patchmatch" in v:
        text += f", PatchMatch {v['psnr_hole_patchmatch']:.2f}: {v['psnr_hole'] - v['psnr_hole_patchmatch']:+.2f} dB"
    text += ")"
    if "judge" in v:
        text += f"; judge {v['judge']:.4f}"
        if "judge_patchmatch" in v:
            text += (f" ({v['judge'] / v['judge_patchmatch']:.3f}x PatchMatch's {v['judge_patchmatch']:.4f}, "
                     f"wins {100 * v['win_rate_patchmatch']:.0f} %)")
    if "detail" in v:
        text += f"; detail {v['detail']:.2f}" + (f" (PatchMatch {v['detail_patchmatch']:.2f})"
                                                 if "detail_patchmatch" in v else "")
    if "perceptual" in v:
        text += f"; perceptual {v['perceptual']:.4f}"
        if "perceptual_patchmatch" in v:
            text += f" ({v['perceptual'] / v['perceptual_patchmatch']:.3f}x PatchMatch's {v['perceptual_patchmatch']:.4f})"
    return text
