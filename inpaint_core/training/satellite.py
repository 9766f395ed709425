"""Train the land-cover-guided satellite inpainting GAN.

    python train/satellite.py --data DIR --classes dubai-aerial --vgg-weights FILE              # default run
    python train/satellite.py --data DIR --classes dubai-aerial --vgg-weights FILE --overfit-batch
    python train/satellite.py --data DIR --classes dubai-aerial --vgg-weights FILE --resume     # continue
    python train/satellite.py --data SCENE.tif --landcover LC.tif --classes s2glc --vgg-weights FILE
    torchrun --nproc_per_node=2 train/satellite.py --data DIR ...                                # data-parallel

DIR holds ``images/`` folders beside ``masks/`` (or ``landcover/``) folders, e.g. the aerial
set's ``Tile N/images`` + ``Tile N/masks``. A GeoTIFF scene is cut into tiles once
(OUT/tiles, see inpaint_core.data.geo.prepare_tiles). Each step runs ``d_step`` (patch LSGAN +
land-cover cross-entropy on REAL images only) then ``g_step`` (L1 + MSE + VGG relu3_3 +
TV + LSGAN + cross-entropy of D's land-cover head on the fill against the requested classes).
"""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from inpaint_core.checkpoint import save_model
from inpaint_core.data.landcover import TABLE_HELP, get_class_table
from inpaint_core.data.masks import SATELLITE_MASKS, MaskSpec
from inpaint_core.data.tiles import (
    SatelliteTiles,
    find_tile_pairs,
    split_named,
    split_pairs,
)
from inpaint_core.fills.bank import bank_from_pairs
from inpaint_core.fills.classical import telea
from inpaint_core.fills.landcover import landcover_patchmatch
from inpaint_core.fills.prefill import BANK_PREFILLS
from inpaint_core.models.satellite import (
    DISC_PREFIX,
    REFEREE_PREFIX,
    SatelliteConfig,
    SatelliteDiscriminator,
    SatelliteGenerator,
    split_state,
)
from inpaint_core.models.vgg import load_vgg16
from inpaint_core.training.common import (
    HeldOutJudge,
    JsonLog,
    Loop,
    Progress,
    Timer,
    autocast_for,
    best_carries_over,
    check_select,
    field,
    grad_scaler_for,
    held_out_judge,
    hole_psnr,
    images_to_uint8,
    layer_names,
    load_state,
    lr_factor,
    parse_config,
    plot_curves,
    resolve_model_config,
    run_loop,
    save_grid,
    save_state,
    seed_everything,
    selection_score,
    setup_distributed,
    val_perceptual_field,
)  # fmt: skip
from inpaint_core.training.losses import PerceptualLoss, l1_loss, lsgan_loss, tv_loss

CURVES = {  # panels of OUT/curves.png
    "generator loss": ["loss", "l1", "vgg", "adv", "cls"],
    "discriminator patch output": ["d_real", "d_fake", "val_d_real", "val_d_fake"],
    "land-cover accuracy": ["d_acc_real", "val_d_acc_real", "consistency", "consistency_telea", "whatif_consistency"],
    "validation hole PSNR (dB)": ["psnr_hole", "psnr_hole_landcover_patchmatch", "psnr_hole_telea"],
    "validation judge distance (JUDGE.md)": ["judge", "judge_landcover_patchmatch"],
    "validation detail ratio (median)": ["detail", "detail_landcover_patchmatch"],
    "old perceptual distance (history)": ["perceptual", "perceptual_landcover_patchmatch"],
}
SELECT = ("psnr_hole", "judge", "perceptual", "consistency", "last")


@dataclasses.dataclass
class TrainConfig:
    data: str = field(help="tile folder (images/ beside masks/ or landcover/, searched recursively) or an RGB GeoTIFF scene")
    classes: str = field(help=f"{TABLE_HELP}; the model stores it, and the app, run and evaluate read it from there")
    landcover: str | None = field(None, help="land-cover GeoTIFF (any CRS) for a GeoTIFF --data scene")
    vgg_weights: str | None = field(None, help="local VGG16 ImageNet state dict (torchvision layout); "
                                    "default: $INPAINT_VGG16_WEIGHTS, else download via torch.hub")
    out: str | None = field(None, help="run folder: training state, log, sample grids, prepared tiles (default: runs/satellite, or runs/satellite-overfit with --overfit-batch, so the sanity test never overwrites a real run)")
    export: str = field("checkpoints/satellite.safetensors", help="where the trained model is exported")
    resume: bool = field(False, help="continue from OUT/state.pt (models, optimisers, step, timer)")
    overfit_batch: bool = field(False, help="sanity test: fit one batch of windows with fixed holes (learning rates "
                                "decay to zero on a cosine: at a constant rate, Adam blew the fitted G up after ~500 steps)")
    init: str | None = field(None, help="start a NEW run from an exported satellite model (generator, "
                             "discriminator and referee), e.g. the shipped checkpoint, rebuilt as it was built")
    referee: bool = field(True, help="also train an independent land-cover segmenter (real images only) for the "
                          "consistency measure; exported with the model")
    # data
    crop: int = field(128, help="training window side in px (large images give random windows); 128 is 4x cheaper than 256 on a CPU and the model is fully convolutional")
    masks: str = field(SATELLITE_MASKS, help="hole mix: class-patches, free-form, research, strokes, large, very-large")
    what_if: float = field(0.25, help="share of training windows whose hole asks for another class (no pixel "
                           "target there: D's land-cover head, the adversarial and TV terms teach it)")
    identity: float = field(0.05, help="share of training windows with no hole: the generator gives them back")
    colour_jitter: float = field(0.0, help="put each training window in other light: brightness x(1 +- J), each "
                                 "channel x(1 +- J/2), so the fill's colour comes from its surroundings, not from "
                                 "what the class looked like in the training tiles (tiles from many places)")
    class_count: int = field(3, help="class patches per window (most common class of each patch is removed)")
    class_size: int = field(64, help="class patch side in px at 256")
    windows_per_epoch: int = field(2000, help="random windows per epoch")
    val_fraction: float = field(0.1, help="share of images held out for validation (by path hash)")
    val_tiles: str | None = field(None, help="hold out these images instead (comma-separated file names, stems or "
                                  "paths relative to --data, e.g. 6399_sat,794214_sat): for a few large tiles, where a "
                                  "hash split is too coarse")
    val_windows: int = field(32, help="fixed validation windows scored at each validation")
    val_perceptual: str = val_perceptual_field()
    val_baseline: bool = field(True, help="score land-cover PatchMatch (with this run's exemplar bank) on the "
                               "validation holes once per run, so every validation reads against it; skipped with "
                               "a note where PyPatchMatch is not installed")
    tile_stride: int = field(256, help="GeoTIFF scenes: step between prepared tiles")
    max_nodata: float = field(0.01, help="GeoTIFF scenes: largest nodata share of a kept tile")
    workers: int = field(0, help="data-loading worker processes (each keeps its own copy of the decoded images)")
    # optimisation
    batch_size: int = field(4, help="windows per step per process")
    lr: float | None = field(None, help="Adam learning rate of the generator (default: 2e-4; 5e-4 with --overfit-batch)")
    lr_d: float = field(2e-4, help="Adam learning rate of the discriminator and the referee")
    steps: int | None = field(None, help="total optimisation steps (default: 20000; 600 with --overfit-batch)")
    max_minutes: float = field(0.0, help="stop (saving state and model) after this many minutes of this run; 0 = no limit")
    hole_weight: float = field(6.0, help="L1 weight of hole pixels relative to known pixels")
    w_mse: float = field(1.0, help="weight of the MSE between output and target")
    w_vgg: float = field(0.05, help="weight of the VGG16 feature loss (on --vgg-layers)")
    vgg_layers: str = field("relu3_3", help="VGG16 layers of the feature loss, comma-separated; "
                            "relu1_2,relu2_2,relu3_3,relu4_3 trains on the held-out perceptual distance's layers")
    w_tv: float = field(0.1, help="weight of the total-variation loss on the composite (as in the album model): "
                        "without it the adversarial reward grows a dotted 2-px pattern in the fills")
    w_adv: float = field(0.02, help="weight of the generator's LSGAN loss")
    w_cls: float = field(0.02, help="weight of the generator's land-cover loss (D's head on the fill vs requested)")
    w_d_cls: float = field(1.0, help="weight of the discriminator's land-cover loss on real images")
    clip_grad: float = field(1.0, help="clip each network's gradient norm to this (0 = off); an unclipped overfit "
                             "run diverged in one step after 270 good ones")
    amp: bool = field(True, help="mixed precision on CUDA, bf16 on CPUs with native bf16 (float32 on others, where bf16 is slower)")
    threads: int = field(0, help="torch CPU threads (0 = torch's default)")
    device: str = field("auto", help="auto, cpu or cuda")
    seed: int = field(0, help="seed for weights, windows and holes")
    # bookkeeping
    log_every: int = field(10, help="steps between log lines (tqdm postfix and OUT/log.jsonl)")
    select: str = field("psnr_hole", help="validation figure that picks the exported model: psnr_hole, judge "
                        "(the lowest judge distance, JUDGE.md), perceptual (the old distance, history), consistency (the referee's land-cover accuracy on the fills) or last (the latest)")
    val_every: int = field(250, help="steps between validations (and exports when validation improves)")
    keep_exports: bool = field(False, help="also export every validation's model to OUT/exports/stepNNNNNN.safetensors, "
                               "to choose among them with evaluate after the run (a GAN's best is not its last)")
    save_every: int = field(100, help="steps between training-state saves")
    sample_every: int = field(250, help="steps between sample grids")

    def __post_init__(self):
        preset = OVERFIT_PRESET if self.overfit_batch else FULL_RUN  # the one preset: the sanity test
        for name, value in preset.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.out is None:
            self.out = "runs/satellite-overfit" if self.overfit_batch else "runs/satellite"
        if self.resume and self.init:
            raise SystemExit("--resume continues a run, --init starts a new one from a model: pick one")
        if self.select not in SELECT:
            raise SystemExit(f"--select must be one of {', '.join(SELECT)}, got {self.select!r}")
        check_select(self.select, self.val_perceptual)
        if self.select == "consistency" and not self.referee:
            raise SystemExit("--select consistency needs the referee (drop --no-referee)")
        if not layer_names(self.vgg_layers):  # the feature loss is built even at --w-vgg 0
            raise SystemExit("--vgg-layers needs at least one VGG16 layer")


FULL_RUN = {"lr": 2e-4, "steps": 20000}
OVERFIT_PRESET = {"lr": 5e-4, "steps": 600}


def model_config(given: dict, num_classes: int, stored: dict | None = None, source: str = "") -> SatelliteConfig:
    """The run's networks: from the flags given (and SatelliteConfig's defaults), or the stored ones."""
    config = resolve_model_config(SatelliteConfig, given, stored, source, num_classes=num_classes)
    if config.num_classes != num_classes:
        raise SystemExit(f"{source} paints {config.num_classes} classes; --classes has {num_classes}")
    return config


def class_targets(landcover: torch.Tensor, ignore: tuple[int, ...], keep: torch.Tensor | None = None) -> torch.Tensor:
    """``NxHxW`` class targets with nodata classes (and pixels outside ``keep``) set to -100 (ignored)."""
    target = landcover.clone()
    for i in ignore:
        target[landcover == i] = -100
    if keep is not None:
        target[~keep] = -100
    return target


def hole_patches(mask: torch.Tensor, size) -> torch.Tensor:
    """``Nx1xHxW`` hole mask -> ``Nx1xhxw``: the share of hole pixels in each patch of D's map."""
    return F.adaptive_avg_pool2d(mask, size)


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` weighted per patch by ``weights`` (e.g. each patch's filled share)."""
    return (values * weights).sum() / weights.sum().clamp(min=1e-6)


def fake_patch_loss(patch: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
    """D's LSGAN loss on composites, balanced between their two kinds of pixels.

    A patch's filled share ``h`` says how much of it the generator made: that share is
    pulled to 0 ("fake") and the untouched rest to 1 (it IS real), each kind averaged over
    its own pixels. Without the balance (one MSE to the soft target ``1 - h`` over all
    patches), the few hole patches of a batch barely weigh against the many untouched ones
    and D settles on "everything is about 0.9": its real and fake outputs never separate.
    """
    return 0.5 * (weighted_mean(patch**2, holes) + weighted_mean((patch - 1) ** 2, 1 - holes))


def clipped_step(loss, opt, cfg, scaler=None) -> None:
    """Backward pass and ``opt.step()``, the gradient norm clipped to ``cfg.clip_grad``.

    ``scaler``: a GradScaler for fp16 autocast (:func:`~inpaint_core.training.common.grad_scaler_for`); the
    gradients are unscaled before clipping, so the clip means the same in every precision."""
    params = [p for g in opt.param_groups for p in g["params"]]
    if scaler is not None and scaler.is_enabled():
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        if cfg.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad)
        scaler.step(opt)
        scaler.update()
        return
    loss.backward()
    if cfg.clip_grad > 0:
        torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad)
    opt.step()


def d_step(disc, opt_d, real, comp, mask, landcover, ignore, cfg, device, scaler=None) -> dict[str, float]:
    """One discriminator update. Patch map: LSGAN, real -> 1; on the composite, filled
    pixels -> 0 and untouched ones -> 1 (:func:`fake_patch_loss`). Land-cover head:
    cross-entropy on REAL images only, so it learns what classes look like.
    Logged: ``d_real`` (mean patch output on real images), ``d_fake`` (mean on the filled
    pixels of composites) and ``d_acc_real`` (land-cover pixel accuracy on real images)."""
    n = real.shape[0]
    with autocast_for(device, cfg.amp):
        patch, logits = disc(torch.cat([real, comp.detach()]))  # one forward: DDP-friendly
    patch, logits = patch.float(), logits[:n].float()
    holes = hole_patches(mask, patch.shape[-2:])
    loss_real = lsgan_loss(patch[:n], real=True)
    loss_fake = fake_patch_loss(patch[n:], holes)
    loss_cls = F.cross_entropy(logits, class_targets(landcover, ignore))
    loss = 0.5 * (loss_real + loss_fake) + cfg.w_d_cls * loss_cls
    opt_d.zero_grad(set_to_none=True)
    clipped_step(loss, opt_d, cfg, scaler)
    valid = class_targets(landcover, ignore) >= 0
    acc = (logits.argmax(1) == landcover)[valid].float().mean().item() if valid.any() else float("nan")
    fake_mean = weighted_mean(patch[n:], holes)
    return {"d_loss": loss.item(), "d_cls": loss_cls.item(), "d_real": patch[:n].mean().item(),
            "d_fake": fake_mean.item(), "d_acc_real": acc}


def g_step(pred, target, mask, landcover, disc, opt_g, perceptual, ignore, cfg, device,
           whatif: torch.Tensor | None = None, scaler=None) -> tuple[float, dict[str, float]]:
    """One generator update on ``pred`` (its forward pass was shared with ``d_step``).
    D is only read here: its land-cover head must find the REQUESTED classes (``landcover``)
    in the fill. ``whatif`` (``N``, 1 = the hole asks for another class) drops the pixel
    terms inside those holes, where the target shows the erased class, not the asked one."""
    comp = pred * mask + target * (1 - mask)
    if whatif is not None and whatif.any():
        seen = 1 - mask * whatif.view(-1, 1, 1, 1)  # pixels with a target: all but what-if holes
        plain = whatif == 0
        loss_l1 = l1_loss(pred * seen, target * seen, mask * seen, cfg.hole_weight)
        loss_mse = F.mse_loss(pred * seen, target * seen)
    else:
        seen, plain = None, None
        loss_l1 = l1_loss(pred, target, mask, cfg.hole_weight)
        loss_mse = F.mse_loss(pred, target)
    disc.requires_grad_(False)  # no D gradients needed here; d_step owns D's update
    with autocast_for(device, cfg.amp):
        if cfg.w_vgg <= 0 or (plain is not None and not plain.any()):
            loss_vgg = pred.new_zeros(())
        elif plain is not None:  # the VGG term compares whole images: only windows with a target
            loss_vgg = perceptual(comp[plain], target[plain])
        else:
            loss_vgg = perceptual(comp, target)
        patch, logits = disc(comp)
    disc.requires_grad_(True)
    holes = hole_patches(mask, patch.shape[-2:])
    loss_adv = weighted_mean((patch.float() - 1) ** 2, holes)
    loss_cls = F.cross_entropy(logits.float(), class_targets(landcover, ignore, keep=mask[:, 0] > 0))
    loss_cls = torch.nan_to_num(loss_cls)  # a batch whose holes are all nodata has nothing to classify
    loss_tv = tv_loss(comp)
    total = (loss_l1 + cfg.w_mse * loss_mse + cfg.w_vgg * loss_vgg + cfg.w_tv * loss_tv + cfg.w_adv * loss_adv
             + cfg.w_cls * loss_cls)
    opt_g.zero_grad(set_to_none=True)
    clipped_step(total, opt_g, cfg, scaler)
    return total.item(), {"l1": loss_l1.item(), "mse": loss_mse.item(), "vgg": loss_vgg.item(), "tv": loss_tv.item(),
                          "adv": loss_adv.item(), "cls": loss_cls.item()}


def referee_step(referee, opt_r, real, landcover, ignore, cfg, device, scaler=None) -> None:
    """The independent land-cover segmenter: cross-entropy on real images, nothing else."""
    with autocast_for(device, cfg.amp):
        _, logits = referee(real)
    loss = F.cross_entropy(logits.float(), class_targets(landcover, ignore))
    opt_r.zero_grad(set_to_none=True)
    clipped_step(loss, opt_r, cfg, scaler)


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
        filled = hole_patches(mask, patch_real.shape[-2:])
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


def sample_grid(gen, batch, table, device, path) -> Path:
    """PNG grid, one row per window: masked (magenta holes) | output | target | land cover
    (colourised, hole outlines in white)."""
    with torch.no_grad():
        was = gen.training
        gen.eval()
        pred = gen(batch["input"].to(device), batch["mask"].to(device), batch["landcover"].to(device)).cpu()
        gen.train(was)
    mask, target = batch["mask"], batch["target"]
    masked = target * (1 - mask) + mask * torch.tensor([1.0, 0.0, 1.0]).view(1, 3, 1, 1)
    comp = pred * mask + target * (1 - mask)
    lc_rgb = []
    for lc, m in zip(batch["landcover"].numpy(), mask[:, 0].numpy().astype(np.uint8)):
        rgb = table.colorize(lc)
        rgb[cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0] = 255
        lc_rgb.append(rgb)
    return save_grid(path, [images_to_uint8(masked), images_to_uint8(comp), images_to_uint8(target), np.stack(lc_rgb)])


def load_pairs(cfg: TrainConfig, table, out: Path, is_main: bool):
    """(image, label) pairs of a tile folder, or of the tiles prepared once from a GeoTIFF scene."""
    data = Path(cfg.data)
    if data.is_file():
        if not cfg.landcover:
            raise SystemExit("--data is a file (a GeoTIFF scene): pass its land cover with --landcover")
        from inpaint_core.data.geo import (  # rasterio only on this path
            ValidityRules,
            prepare_tiles,
        )

        if is_main:
            m = prepare_tiles(data, cfg.landcover, table, out / "tiles", cfg.crop, cfg.tile_stride,
                              ValidityRules(max_nodata=cfg.max_nodata))
            print(f"{len(m['tiles'])} tiles in {out / 'tiles'} (rejected: {m['rejected']})")
        if torch.distributed.is_initialized():
            torch.distributed.barrier()
        data = out / "tiles"
    return find_tile_pairs(data)


def main(argv=None) -> dict:
    cfg, given = parse_config(TrainConfig, __doc__.split("\n\n")[0], argv, model_cls=SatelliteConfig,
                              model_skip=("num_classes",))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ddp = setup_distributed(cfg.device)
    device = ddp.device
    seed_everything(cfg.seed + ddp.rank)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    table = get_class_table(cfg.classes)
    ignore = table.nodata_indices
    # the networks: rebuilt from the state (--resume) or the checkpoint (--init), else from the flags
    state_path = out / "state.pt"
    state, init, init_meta = None, None, None
    if cfg.resume:
        if not state_path.exists():
            raise SystemExit(f"--resume: no training state at {state_path}")
        state = load_state(state_path)
        mcfg = model_config(given, len(table), state["model_config"], f"--resume: {state_path}")
    elif cfg.init:
        from inpaint_core.checkpoint import load_model_file

        init_state, init_meta = load_model_file(cfg.init)
        if init_meta["kind"] != "satellite":
            raise SystemExit(f"--init: {cfg.init} holds a {init_meta['kind']} model, not a satellite one")
        if init_meta.get("classes") != table.to_json():
            raise SystemExit(f"--init: {cfg.init} paints other classes than --classes {cfg.classes}")
        init = split_state(init_state)
        mcfg = model_config(given, len(table), init_meta["config"], f"--init: {cfg.init}")
    else:
        mcfg = model_config(given, len(table))

    pairs = load_pairs(cfg, table, out, ddp.is_main)
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
    spec = MaskSpec.parse(cfg.masks, class_count=cfg.class_count, class_size=cfg.class_size)
    steps_total, lr = cfg.steps, cfg.lr
    if cfg.overfit_batch:
        train_pairs = val_pairs = train_pairs[: cfg.batch_size]
    # the exemplar bank of the training tiles: exported with the model (land-cover PatchMatch
    # uses it), and part of the generator's pre-fill with --prefill landcover-bank or landcover-smooth
    bank = bank_from_pairs(train_pairs, table, seed=cfg.seed)
    pre_bank = bank if mcfg.prefill in BANK_PREFILLS else None
    train_set = SatelliteTiles(train_pairs, table, cfg.crop, spec, mcfg.prefill, seed=cfg.seed, fixed_masks=cfg.overfit_batch,
                               length=cfg.batch_size if cfg.overfit_batch else cfg.windows_per_epoch,
                               what_if=cfg.what_if, identity=cfg.identity, bank=pre_bank,
                               colour_jitter=cfg.colour_jitter)
    val_set = train_set if cfg.overfit_batch else SatelliteTiles(  # the overfit test scores the batch it fits
        val_pairs or train_pairs, table, cfg.crop, spec, mcfg.prefill, train=False, seed=cfg.seed + 1, length=cfg.val_windows,
        bank=pre_bank)
    # the same held-out windows, each hole asked to become another class: does the fill follow?
    whatif_set = None if cfg.overfit_batch or not cfg.what_if else SatelliteTiles(
        val_pairs or train_pairs, table, cfg.crop, spec, mcfg.prefill, train=False, seed=cfg.seed + 1,
        length=cfg.val_windows, what_if=1.0, bank=pre_bank)
    sampler = DistributedSampler(train_set, shuffle=True, seed=cfg.seed) if ddp.enabled else None
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                        num_workers=cfg.workers, drop_last=True)
    val_loader = DataLoader(val_set, batch_size=cfg.batch_size, num_workers=0)
    whatif_loader = DataLoader(whatif_set, batch_size=cfg.batch_size, num_workers=0) if whatif_set else None

    gen, disc = SatelliteGenerator(mcfg).to(device), SatelliteDiscriminator(mcfg).to(device)
    referee = SatelliteDiscriminator(mcfg).to(device) if cfg.referee else None
    if device.type == "cpu":  # measured faster for these convs on CPU
        gen, disc = gen.to(memory_format=torch.channels_last), disc.to(memory_format=torch.channels_last)
    n_params = sum(p.numel() for p in gen.parameters())
    perceptual = PerceptualLoss(load_vgg16(cfg.vgg_weights, layer_names(cfg.vgg_layers)).to(device))
    judge = None
    if not cfg.overfit_batch and ddp.is_main:  # land-cover PatchMatch with the run's bank, as evaluate runs it
        judge = held_out_judge(cfg.vgg_weights, cfg.val_perceptual, device, "landcover_patchmatch",
                               (lambda im, m, lc: landcover_patchmatch(im, m, lc, bank)) if cfg.val_baseline else None)
    # foreach: one vectorised update instead of a Python loop per tensor (measured ~0.3 s/step saved on CPU)
    adam = dict(betas=(0.5, 0.999), foreach=True)
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr, **adam)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr_d, **adam)
    opt_r = torch.optim.Adam(referee.parameters(), lr=cfg.lr_d, **adam) if referee else None
    # enabled only for fp16 autocast (a GPU without bf16); one per network, each with its own scale
    scalers = {name: grad_scaler_for(device, cfg.amp) for name in ("g", "d", "r")}

    progress, offset = Progress(), 0.0
    prior_steps = 0  # steps of the run an --init model came from, so the model card counts all training
    if state is not None:
        gen.load_state_dict(state["gen"])
        disc.load_state_dict(state["disc"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        if referee is not None and "referee" in state:
            referee.load_state_dict(state["referee"])
            opt_r.load_state_dict(state["opt_r"])
        progress = Progress.from_state(state)
        offset, prior_steps = state["elapsed"], state.get("prior_steps", 0)
        if not best_carries_over(state, cfg):  # a step count, a PSNR, a distance on other layers: no comparison
            progress.best = -float("inf")
        torch.set_rng_state(state["torch_rng"])
        if ddp.is_main:
            print(f"resumed from {state_path} at step {progress.step} ({offset / 60:.1f} min trained so far)")
    elif init is not None:
        gen.load_state_dict(init["gen"])
        if init["disc"]:
            disc.load_state_dict(init["disc"])
        if referee is not None and init["referee"]:
            referee.load_state_dict(init["referee"])
        training = init_meta.get("training", {})
        prior_steps, offset = int(training.get("steps", 0)), 60 * training.get("wall_minutes", 0.0)
        if ddp.is_main:
            print(f"initialised from {cfg.init} ({prior_steps} steps trained)")
    wrap = (lambda m: DistributedDataParallel(m)) if ddp.enabled else (lambda m: m)
    gen_t, disc_t = wrap(gen), wrap(disc)
    # the referee trains its land-cover head only: its patch head gets no gradient, which DDP must be told
    referee_t = None if referee is None else (
        DistributedDataParallel(referee, find_unused_parameters=True) if ddp.enabled else referee)
    log = JsonLog(out / "log.jsonl", enabled=ddp.is_main)
    if cfg.resume:
        log.rewind(progress.step)  # steps after the saved state are redone: their old records would be drawn twice
    timer = Timer(offset)
    sample_batch = next(iter(loader if cfg.overfit_batch else val_loader))

    def save_training_state():
        extra = {"referee": referee.state_dict(), "opt_r": opt_r.state_dict()} if referee is not None else {}
        save_state(state_path, gen=gen.state_dict(), disc=disc.state_dict(), opt_g=opt_g.state_dict(),
                   opt_d=opt_d.state_dict(), **progress.resumable(), select=cfg.select, val_perceptual=cfg.val_perceptual, elapsed=timer.elapsed, torch_rng=torch.get_rng_state(),
                   model_config=mcfg.to_dict(), train_config=dataclasses.asdict(cfg), prior_steps=prior_steps, **extra)

    bank_tensors = bank.to_tensors()

    def export(val: dict, path: str | Path | None = None) -> None:
        tensors = dict(gen.state_dict())
        tensors.update(bank_tensors)
        tensors.update({DISC_PREFIX + k: v for k, v in disc.state_dict().items()})
        if referee is not None:
            tensors.update({REFEREE_PREFIX + k: v for k, v in referee.state_dict().items()})
        steps = prior_steps + progress.step
        summary = {"steps": steps, "images_seen": steps * cfg.batch_size * ddp.world_size,
                   "wall_minutes": round(timer.elapsed / 60, 1), "parameters": n_params, "classes_name": table.name,
                   "hardware": f"{platform.processor() or platform.machine()} x{ddp.world_size} ({device.type})",
                   "train_images": len(train_pairs), "val_images": [str(p[0]) for p in val_pairs],
                   "validation": val, "train_config": dataclasses.asdict(cfg)}  # fmt: skip
        save_model(path or cfg.export, tensors, "satellite", mcfg.to_dict(), training=summary, classes=table.to_json())


    def step_fn(batch):
        """One GAN step: D on real and composite, then G, then the referee (real images only)."""
        inputs, mask = batch["input"].to(device), batch["mask"].to(device)
        real, lc = batch["target"].to(device), batch["landcover"].to(device)  # lc: the classes asked for
        lc_true, whatif = batch["landcover_true"].to(device), batch["whatif"].to(device)
        if device.type == "cpu":
            inputs, real = inputs.contiguous(memory_format=torch.channels_last), real.contiguous(memory_format=torch.channels_last)
        with autocast_for(device, cfg.amp):
            pred = gen_t(inputs, mask, lc).float()
        comp = pred * mask + real * (1 - mask)
        parts_d = d_step(disc_t, opt_d, real, comp, mask, lc_true, ignore, cfg, device, scalers["d"])
        loss, parts = g_step(pred, real, mask, lc, disc, opt_g, perceptual, ignore, cfg, device, whatif, scalers["g"])
        if referee_t is not None:
            referee_step(referee_t, opt_r, real, lc_true, ignore, cfg, device, scalers["r"])
        return loss, {**parts, **parts_d}, real.shape[0]

    optimizers = [(opt_g, lr), (opt_d, cfg.lr_d)] + ([(opt_r, cfg.lr_d)] if opt_r is not None else [])
    loop = Loop(
        loader=loader, datasets=[train_set], sampler=sampler, step_fn=step_fn, optimizers=optimizers,
        # the overfit test decays on a cosine: near the fit, tiny gradients make Adam's steps erratic
        schedule=lambda step: lr_factor(step, steps_total, cosine=cfg.overfit_batch),
        validate=lambda: validate(gen, disc, referee, val_loader, ignore, device, whatif_loader, judge),
        describe=lambda v: ", ".join(f"{k} {x:.3f}" for k, x in v.items()),
        score=lambda v: selection_score(cfg.select, v, progress.step), export=export, save_state=save_training_state,
        sample=lambda path: sample_grid(gen, sample_batch, table, device, path),
        curves=lambda: plot_curves(log.path, out / "curves.png", CURVES, log_scale=("generator loss",)),
        postfix=("l1", "vgg", "adv", "cls", "d_real", "d_fake", "d_acc_real"),
        export_on_improvement=not cfg.overfit_batch,
        snapshot=(lambda v: export(v, out / "exports" / f"step{prior_steps + progress.step:06d}.safetensors"))
        if cfg.keep_exports and not cfg.overfit_batch else None,
    )  # fmt: skip
    loss, parts = run_loop(loop, progress, steps_total, cfg, ddp, log, timer, out, "satellite")
    result = {"step": progress.step, "loss": loss, **parts, "parameters": n_params}
    if ddp.is_main:
        print(f"done: step {progress.step}, {timer.elapsed / 60:.1f} min, loss {loss:.4f} (l1 {parts['l1']:.4f}); "
              f"validation {progress.last_val}; grid {out / 'samples' / 'final.png'}"
              + ("" if cfg.overfit_batch else f"; model {cfg.export}"))
        result.update(progress.last_val)
    if ddp.enabled:
        torch.distributed.destroy_process_group()
    return result


if __name__ == "__main__":
    main()
