"""Train the album-cover inpainting U-Net.

    python train/album.py --data DIR --vgg-weights FILE            # the default run
    python train/album.py --data DIR --vgg-weights FILE --resume   # continue an interrupted run
    python train/album.py --data DIR --vgg-weights FILE --overfit-batch
    python train/album.py --data DIR --vgg-weights FILE --lr-find
    torchrun --nproc_per_node=2 train/album.py --data DIR ...      # data-parallel

Losses (summed here, logged as parts): L1 with hole pixels weighted ``hole_weight``,
VGG16 perceptual distance and total variation on the composite (prediction in the
holes, target elsewhere); optionally (``--w-style``) the Gram-matrix style term on the same
VGG features, and (``--w-adv``) a PatchGAN's hinge term on the composite's filled patches.
Holes are new on every read (see inpaint_core.data.pictures).

Validation reads the judge of ``../shared/JUDGE.md`` on whole held-out sources
(``--val-sources``), on the judge's four hole kinds in turn, against PatchMatch and Telea;
the export is selected by the judge (``--select judge``), never by a term of the loss.
"""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from inpaint_core.checkpoint import save_model
from inpaint_core.data.masks import ALBUM_MASKS, PICTURE_KINDS, MaskSpec
from inpaint_core.data.pictures import (
    InpaintDataset,
    list_images,
    split_by_source,
    split_files,
)
from inpaint_core.fills.classical import patchmatch, telea
from inpaint_core.models.album import AlbumConfig, AlbumUNet, PatchDiscriminator
from inpaint_core.models.vgg import load_vgg16
from inpaint_core.training.common import (
    JUDGE,
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
from inpaint_core.training.losses import (
    PerceptualLoss,
    hinge_d_loss,
    hinge_g_loss,
    l1_loss,
    tv_loss,
)

CURVES = {"training loss": ["loss", "l1", "vgg", "style", "tv"],
          "validation hole PSNR (dB)": ["psnr_hole", "psnr_hole_patchmatch", "psnr_hole_telea"],
          "validation judge distance (JUDGE.md)": ["judge", "judge_patchmatch", "judge_telea"],
          "validation detail ratio (median)": ["detail", "detail_patchmatch", "detail_telea"],
          "validation win rate against PatchMatch": ["win_rate_patchmatch"],
          "old perceptual distance (history)": ["perceptual", "perceptual_patchmatch"],
          "discriminator (with --w-adv)": ["d_real", "d_fake", "adv"]}
SELECT = ("judge", "psnr_hole", "perceptual", "last")
VAL_SOURCES_EXAMPLE = "vncntxl/crate,ryonlunar/Algeo02-23052,luanfujun/deep-photo-styletransfer,Li-Chongyi/Zero-DCE,debian"


@dataclasses.dataclass
class TrainConfig:
    data: str = field(help="folder(s) of training images, comma-separated (searched recursively; jpg/png/webp; "
                      "any size)")
    extra_data: str | None = field(None, help="more image folders, comma-separated, added to the training side "
                                   "only: the validation split of --data stays unchanged, so old and new "
                                   "models are scored on the same images")
    vgg_weights: str | None = field(None, help="local VGG16 ImageNet state dict (torchvision layout); "
                                    "default: $INPAINT_VGG16_WEIGHTS, else download via torch.hub")
    out: str | None = field(None, help="run folder: training state, log, sample grids (default: runs/album, or runs/album-overfit with --overfit-batch, so the sanity test never overwrites a real run)")
    export: str = field("checkpoints/album.safetensors", help="where the trained model is exported")
    resume: bool = field(False, help="continue from OUT/state.pt (model, optimiser, step, timer)")
    init: str | None = field(None, help="start a NEW run from the weights of an exported model (e.g. the "
                             "shipped checkpoints/album.safetensors) instead of from the Telea fill")
    overfit_batch: bool = field(False, help="the research's sanity test: fit 8 images with fixed holes (1000 steps "
                                "unless --steps; LR 1e-3 unless --lr; validation scores the fitted batch)")
    lr_find: bool = field(False, help="LR range test: write OUT/lr_find.png and suggest a learning rate")
    # data
    resize: int = field(256, help="images are resized so their short side is this (the research's 256)")
    crop: int = field(128, help="training crop side (crops are cheaper; holes keep their 256-scale size)")
    masks: str = field(ALBUM_MASKS, help="mix of hole kinds: research "
                       "(4 32-px squares), strokes (2-5, 8-28 px wide), large (8-45 %%), very-large (40-70 %%); "
                       "'research:1' is the research's recipe")
    val_sources: str = field("", help="hold out whole sources, comma-separated: every file of each is kept out of "
                             "training, and validation draws from each in turn. A file's source is its "
                             "repository or package in a *manifest*.csv of its folder (or NAME_manifest.csv "
                             "beside it), else its first sub-folder; 'debian' names every 'debian:' package. "
                             f"E.g. {VAL_SOURCES_EXAMPLE}. Empty: the old hash split of the first --data folder")
    val_fraction: float = field(0.05, help="without --val-sources: share of the first --data folder's images held "
                                "out for validation (by file-name hash; files of the same sources: it flatters)")
    val_images: int = field(64, help="validation images scored at each validation")
    val_masks: str = field(",".join(PICTURE_KINDS), help="hole kinds of the validation images, given in turn "
                           "(the judge's: research, strokes, large, very-large); '' = the training mix")
    val_perceptual: str = val_perceptual_field()
    val_patchmatch: bool = field(True, help="score PatchMatch on the validation holes once per run (0.5-0.8 s an "
                                 "image), so every validation reads as a gain over it; skipped with a note where "
                                 "PyPatchMatch is not installed")
    workers: int = field(1, help="data-loading worker processes")
    # optimisation
    batch_size: int = field(8, help="images per step per process")
    lr: float | None = field(None, help="AdamW learning rate (default: 3e-4, the research's choice for the full run; "
                             "1e-3 with --overfit-batch)")
    weight_decay: float = field(1e-4, help="AdamW weight decay")
    warmup: int = field(100, help="linear LR warm-up steps")
    steps: int | None = field(None, help="total optimisation steps (default: 20000; 1000 with --overfit-batch)")
    max_minutes: float = field(0.0, help="stop (saving state and model) after this many minutes of this run; 0 = no limit")
    hole_weight: float = field(6.0, help="L1 weight of hole pixels relative to known pixels")
    w_vgg: float = field(0.05, help="weight of the VGG16 perceptual loss")
    vgg_every: int = field(1, help="apply the perceptual term on every Nth step only, at N times its weight "
                           "(the same expected pull, at a fraction of its cost: on 2 CPU cores the VGG term "
                           "makes a step ~4x slower); 1 = every step, the research's recipe")
    w_style: float = field(0.0, help="weight of the style (texture) loss: L1 between Gram matrices of the VGG "
                           "activations of the composite and the original, on --vgg-layers, on the steps the "
                           "perceptual term runs (0 = off; the partial-convolution recipe uses 120)")
    w_tv: float = field(0.1, help="weight of the total-variation loss")
    w_adv: float = field(0.0, help="weight of an adversarial term: a spectral-norm PatchGAN (hinge loss) judges "
                         "the patches of the composite that hold filled pixels, to reward texture that L1 "
                         "averages away (0 = off, the research's recipe; LaMa and MI-GAN train with one)")
    lr_d: float = field(2e-4, help="Adam learning rate of the discriminator (with --w-adv)")
    disc_base: int = field(32, help="discriminator channels after its first stride-2 conv (with --w-adv)")
    disc_depth: int = field(3, help="stride-2 convs of the discriminator: each score judges a ~2**(depth+2)-px "
                            "patch (with --w-adv)")
    vgg_layers: str = field("relu1_2,relu2_2,relu3_3", help="VGG16 layers of the perceptual loss")
    amp: bool = field(True, help="mixed precision on CUDA, bf16 on CPUs with native bf16 (float32 on others, where bf16 is slower)")
    device: str = field("auto", help="auto, cpu or cuda")
    seed: int = field(0, help="seed for weights, data order and holes")
    # bookkeeping
    log_every: int = field(20, help="steps between log lines")
    val_every: int = field(500, help="steps between validations (and exports when validation improves)")
    save_every: int = field(200, help="steps between training-state saves")
    sample_every: int = field(500, help="steps between sample grids")
    select: str = field(JUDGE, help="validation figure that picks the exported model: judge (the lowest judge "
                        "distance, JUDGE.md), psnr_hole, perceptual (the old distance: the loss's own term, history "
                        "only) or last (the latest validated model)")
    keep_exports: bool = field(False, help="also export every validation's model to OUT/exports/stepNNNNNN.safetensors, "
                               "to choose among them with evaluate after the run")

    def __post_init__(self):
        # the one preset: the research's single-batch sanity test (everything else has one default)
        preset = OVERFIT_PRESET if self.overfit_batch else FULL_RUN
        for name, value in preset.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.out is None:
            self.out = "runs/album-overfit" if self.overfit_batch else "runs/album"
        if self.overfit_batch and self.lr_find:
            raise SystemExit("--overfit-batch and --lr-find are separate modes; pick one")
        if self.vgg_every < 1:
            raise SystemExit(f"--vgg-every must be at least 1, got {self.vgg_every}")
        if self.select not in SELECT:
            raise SystemExit(f"--select must be one of {', '.join(SELECT)}, got {self.select!r}")
        check_select(self.select, self.val_perceptual)


FULL_RUN = {"lr": 3e-4, "steps": 20000}
OVERFIT_PRESET = {"lr": 1e-3, "steps": 1000}  # the research's best LR when fitting one batch


def model_config(given: dict, stored: dict | None = None, source: str = "") -> AlbumConfig:
    """The run's model: from the flags given (and AlbumConfig's defaults), or the stored one."""
    return resolve_model_config(AlbumConfig, given, stored, source)


def compute_losses(pred, target, mask, perceptual, cfg, vgg_weight: float | None = None
                   ) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum and its logged parts. ``pred``/``target`` Nx3xHxW in [0,1], ``mask`` Nx1xHxW.
    ``vgg_weight``: this step's weight of the perceptual term (default ``cfg.w_vgg``; 0 skips
    the VGG pass, and the part is then not logged)."""
    w_vgg = cfg.w_vgg if vgg_weight is None else vgg_weight
    comp = pred * mask + target * (1 - mask)
    loss_l1 = l1_loss(pred, target, mask, cfg.hole_weight)
    loss_tv = tv_loss(comp)
    total = loss_l1 + cfg.w_tv * loss_tv
    parts = {"l1": loss_l1.item(), "tv": loss_tv.item()}
    if w_vgg > 0:
        loss_vgg, loss_style = perceptual.with_style(comp, target, style=cfg.w_style > 0)
        total = total + w_vgg * loss_vgg
        parts["vgg"] = loss_vgg.item()
        if loss_style is not None:  # on the perceptual term's steps, at the same every-Nth factor
            total = total + cfg.w_style * (w_vgg / cfg.w_vgg) * loss_style
            parts["style"] = loss_style.item()
    elif cfg.w_vgg == 0:
        parts["vgg"] = 0.0  # the recipe has no perceptual term (not a skipped step)
    return total, parts


def vgg_weight_at(step: int, cfg) -> float:
    """The perceptual term's weight on (1-based) ``step``: ``--vgg-every N`` puts N times the
    weight on every Nth step and none on the others."""
    return cfg.w_vgg * cfg.vgg_every if step % cfg.vgg_every == 0 else 0.0


def train_step(model, opt, inputs, mask, target, perceptual, cfg, device, scaler=None, vgg_weight=None,
               adversary=None) -> tuple[torch.Tensor, dict[str, float]]:
    """One optimisation step on a batch; returns the loss and its logged parts. ``scaler``:
    the GradScaler of fp16 autocast (:func:`~inpaint_core.training.common.grad_scaler_for`), else None;
    ``vgg_weight``: this step's perceptual weight (see :func:`vgg_weight_at`); ``adversary``:
    ``(discriminator, its optimiser, its module)`` with ``--w-adv`` (the module: the bare
    :class:`PatchDiscriminator` when the first is its data-parallel wrapper), else None. Then
    the generator's loss gains ``w_adv`` times the hinge term on its filled patches, and the
    discriminator takes one step on the batch's real images and the detached composites."""
    with autocast_for(device, cfg.amp):
        pred = model(inputs, mask)
        loss, parts = compute_losses(pred.float(), target, mask, perceptual, cfg, vgg_weight)
        if adversary is not None:
            disc, _, module = adversary
            comp = pred.float() * mask + target * (1 - mask)
            fake_patches = module.hole_patches(mask)
            module.requires_grad_(False)  # the generator's step: D's weights are only read
            adv = hinge_g_loss(module(comp).float(), fake_patches)  # bare: nothing of D's to sync here
            module.requires_grad_(True)
            loss = loss + cfg.w_adv * adv
            parts["adv"] = adv.item()
    opt.zero_grad(set_to_none=True)
    if scaler is not None and scaler.is_enabled():
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()
    if adversary is not None:
        disc, opt_d, _ = adversary
        # float32: the discriminator is small, and its hinge margins need no GradScaler this way
        real_scores, fake_scores = disc(target), disc(comp.detach().float())
        d_loss = hinge_d_loss(real_scores, fake_scores, fake_patches)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        parts.update(d_loss=d_loss.item(), d_real=real_scores.mean().item(),
                     d_fake=fake_scores[fake_patches].mean().item() if fake_patches.any() else 0.0)
    return loss, parts


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


def sample_grid(model, batch, device, path) -> Path:
    with torch.no_grad():
        was_training = model.training
        model.eval()
        pred = model(batch["input"].to(device), batch["mask"].to(device)).cpu()
        model.train(was_training)
    mask = batch["mask"]
    masked = batch["target"] * (1 - mask) + mask * torch.tensor([1.0, 0.0, 1.0]).view(1, 3, 1, 1)  # magenta holes
    comp = pred * mask + batch["target"] * (1 - mask)
    return save_grid(path, [images_to_uint8(masked), images_to_uint8(comp), images_to_uint8(batch["target"])])


def lr_find(model, loader, perceptual, cfg, device, out: Path, steps: int = 120, lo=1e-6, hi=1e-1) -> float:
    """Exponential LR sweep; stops when the smoothed loss passes 4x its minimum."""
    opt = torch.optim.AdamW(model.parameters(), lr=lo, weight_decay=cfg.weight_decay)
    lrs, losses, smooth, best = [], [], None, float("inf")
    it = iter(loader)
    for i in tqdm(range(steps), desc="lr-find"):
        lr = lo * (hi / lo) ** (i / (steps - 1))
        for g in opt.param_groups:
            g["lr"] = lr
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        loss, _ = train_step(model, opt, batch["input"].to(device), batch["mask"].to(device),
                             batch["target"].to(device), perceptual, cfg, device)
        smooth = loss.item() if smooth is None else 0.9 * smooth + 0.1 * loss.item()
        lrs.append(lr)
        losses.append(smooth)
        best = min(best, smooth)
        if smooth > 4 * best and i > 10:
            break
    # suggestion: the LR of steepest descent of the smoothed curve, a common rule of thumb
    grads = np.gradient(np.array(losses), np.log10(np.array(lrs)))
    suggestion = float(lrs[int(np.argmin(grads[: max(2, len(grads) - 5)]))])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(lrs, losses)
    ax.axvline(suggestion, color="red", linestyle="--", label=f"suggested {suggestion:.1e}")
    ax.set(xscale="log", xlabel="learning rate", ylabel="smoothed training loss", title="LR range test")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "lr_find.png", dpi=100)
    plt.close(fig)
    return suggestion


def main(argv=None) -> dict:
    cfg, given = parse_config(TrainConfig, __doc__.split("\n\n")[0], argv, model_cls=AlbumConfig)
    ddp = setup_distributed(cfg.device)
    device = ddp.device
    seed_everything(cfg.seed + ddp.rank)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)

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
    mask_spec = MaskSpec.parse(cfg.masks)
    # the model: rebuilt from the state (--resume) or the checkpoint (--init), else from the flags
    state_path = out / "state.pt"
    state, init_state, init_meta = None, None, None
    if cfg.resume:
        if not state_path.exists():
            raise SystemExit(f"--resume: no training state at {state_path}")
        state = load_state(state_path)
        mcfg = model_config(given, state["model_config"], f"--resume: {state_path}")
    elif cfg.init:
        from inpaint_core.checkpoint import load_model_file

        init_state, init_meta = load_model_file(cfg.init)
        if init_meta["kind"] != "album":
            raise SystemExit(f"--init: {cfg.init} holds a {init_meta['kind']} model, not an album one")
        mcfg = model_config(given, init_meta["config"], f"--init: {cfg.init}")
    else:
        mcfg = model_config(given)
    if cfg.overfit_batch:
        train_files = train_files[:8]
        val_files = train_files  # the test is whether the model can fit these very images
    train_set = InpaintDataset(train_files, cfg.resize, cfg.crop, mask_spec, mcfg.prefill, train=True,
                               seed=cfg.seed, fixed_masks=cfg.overfit_batch)
    # the overfit test scores the very crops and holes it fits; a real run, held-out images at full size
    val_set = train_set if cfg.overfit_batch else InpaintDataset(
        (val_files or train_files)[: cfg.val_images], cfg.resize, cfg.resize, mask_spec, mcfg.prefill, train=False,
        seed=cfg.seed + 1, mask_kinds=tuple(k.strip() for k in cfg.val_masks.split(",") if k.strip()) or None)
    sampler = DistributedSampler(train_set, shuffle=True, seed=cfg.seed) if ddp.enabled else None
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                        num_workers=cfg.workers, drop_last=len(train_set) >= cfg.batch_size,
                        persistent_workers=False)
    val_loader = DataLoader(val_set, batch_size=8, num_workers=0)

    model = AlbumUNet(mcfg).to(device)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    n_params = sum(p.numel() for p in model.parameters())
    vgg = load_vgg16(cfg.vgg_weights, tuple(cfg.vgg_layers.split(","))).to(device)
    perceptual = PerceptualLoss(vgg)
    judge = None
    if not cfg.overfit_batch and not cfg.lr_find and ddp.is_main:  # patch_size 3, seed 0: as evaluate runs it
        judge = held_out_judge(cfg.vgg_weights, cfg.val_perceptual, device, "patchmatch",
                               patchmatch if cfg.val_patchmatch else None, more={"telea": telea})
        if held_counts and ddp.is_main:
            print(f"held-out sources: {held_counts}; validating on {len(val_files)} of their images")

    if cfg.lr_find:
        suggestion = lr_find(model, loader, perceptual, cfg, device, out)
        print(f"LR range test written to {out / 'lr_find.png'}; suggested learning rate {suggestion:.2e}")
        return {"suggested_lr": suggestion}

    warmup = min(cfg.warmup, 10) if cfg.overfit_batch else cfg.warmup  # one fixed batch needs no long warm-up
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    disc = opt_d = None
    if cfg.w_adv > 0:  # training-only: the exported model is the generator alone
        disc = PatchDiscriminator(cfg.disc_base, cfg.disc_depth).to(device)
        opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))
    scaler = grad_scaler_for(device, cfg.amp)  # enabled only for fp16 autocast (a GPU without bf16)
    progress, timer_offset = Progress(), 0.0
    prior_steps = 0  # steps of the run an --init model came from, so the model card counts all training
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if disc is not None and state.get("disc") is not None:
            disc.load_state_dict(state["disc"])
            opt_d.load_state_dict(state["opt_d"])
        progress = Progress.from_state(state)
        if not best_carries_over(state, cfg):  # a step count, a PSNR, a distance on other layers: no comparison
            progress.best = -float("inf")
        timer_offset, prior_steps = state["elapsed"], state.get("prior_steps", 0)
        torch.set_rng_state(state["torch_rng"])
        if ddp.is_main:
            print(f"resumed from {state_path} at step {progress.step} ({timer_offset / 60:.1f} min trained so far)")
    elif init_state is not None:
        training = init_meta.get("training", {})
        model.load_state_dict(init_state)
        # export only what beats the model it started from (where its card has the figure)
        init_val = training.get("validation", {})
        init_cfg = training.get("train_config", {})
        same_val = all(init_cfg.get(k) == getattr(cfg, k) for k in ("val_sources", "val_images", "val_masks", "data"))
        if cfg.select == "psnr_hole" and same_val:
            progress.best = init_val.get("psnr_hole", progress.best)
        elif cfg.select == JUDGE and "judge" in init_val and same_val and best_carries_over(
                {"select": JUDGE, "val_perceptual": init_cfg.get("val_perceptual", "")}, cfg):
            progress.best = -init_val["judge"]
        elif cfg.select == "perceptual" and "perceptual" in init_val and best_carries_over(
                {"select": "perceptual", "val_perceptual": training.get("train_config", {}).get("val_perceptual", "")}, cfg):
            progress.best = -init_val["perceptual"]
        timer_offset, prior_steps = 60 * training.get("wall_minutes", 0.0), int(training.get("steps", 0))
        if ddp.is_main:
            print(f"initialised from {cfg.init} ({training.get('steps', '?')} steps trained)")
    train_model = DistributedDataParallel(model) if ddp.enabled else model
    adversary = None
    if disc is not None:
        adversary = (DistributedDataParallel(disc) if ddp.enabled else disc, opt_d, disc)
    log = JsonLog(out / "log.jsonl", enabled=ddp.is_main)
    if cfg.resume:
        log.rewind(progress.step)  # steps after the saved state are redone: their old records would be drawn twice
    timer = Timer(timer_offset)
    # the overfit test shows the very images and holes it fits; a real run shows held-out ones
    sample_batch = next(iter(loader if cfg.overfit_batch else val_loader))

    def save_training_state():
        save_state(state_path, model=model.state_dict(), optimizer=opt.state_dict(), **progress.resumable(),
                   disc=None if disc is None else disc.state_dict(), opt_d=None if opt_d is None else opt_d.state_dict(),
                   select=cfg.select, val_perceptual=cfg.val_perceptual,
                   elapsed=timer.elapsed, torch_rng=torch.get_rng_state(), prior_steps=prior_steps,
                   model_config=mcfg.to_dict(), train_config=dataclasses.asdict(cfg))

    def export(val: dict, path=None) -> None:
        steps = prior_steps + progress.step
        summary = {
            "steps": steps, "images_seen": steps * cfg.batch_size * ddp.world_size,
            "wall_minutes": round(timer.elapsed / 60, 1), "hardware": f"{platform.processor() or platform.machine()}"
            f" x{ddp.world_size} ({device.type})", "parameters": n_params, "train_images": len(train_files),
            "val_images": len(val_set), "validation": val, "train_config": dataclasses.asdict(cfg),
            "val_files": [p.name for p in val_files], "val_sources": held_counts,
        }  # fmt: skip
        save_model(path or cfg.export, model.state_dict(), "album", mcfg.to_dict(), training=summary)

    def step_fn(batch):
        inputs = batch["input"].to(device, non_blocking=True)
        mask = batch["mask"].to(device, non_blocking=True)
        target = batch["target"].to(device, non_blocking=True)
        if device.type == "cpu":
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        loss, parts = train_step(train_model, opt, inputs, mask, target, perceptual, cfg, device, scaler,
                                 vgg_weight_at(progress.step + 1, cfg), adversary)
        return loss.item(), parts, inputs.shape[0]

    loop = Loop(
        loader=loader, datasets=[train_set], sampler=sampler, step_fn=step_fn,
        optimizers=[(opt, cfg.lr)] + ([(opt_d, cfg.lr_d)] if opt_d is not None else []),
        schedule=lambda step: lr_factor(step, cfg.steps, warmup),  # the discriminator's rate follows it too
        validate=lambda: validate(model, val_loader, device, judge),
        describe=describe_validation, score=lambda v: selection_score(cfg.select, v, progress.step), export=export, save_state=save_training_state,
        sample=lambda path: sample_grid(model, sample_batch, device, path),
        curves=lambda: plot_curves(log.path, out / "curves.png", CURVES, log_scale=("training loss",)),
        postfix=("l1", "vgg", "style", "tv", "adv", "d_real", "d_fake"), export_on_improvement=not cfg.overfit_batch,
        snapshot=(lambda v: export(v, out / "exports" / f"step{prior_steps + progress.step:06d}.safetensors"))
        if cfg.keep_exports and not cfg.overfit_batch else None,
    )  # fmt: skip
    loss, parts = run_loop(loop, progress, cfg.steps, cfg, ddp, log, timer, out, "album")
    result = {"step": progress.step, "loss": loss, **parts, "parameters": n_params}
    if ddp.is_main:
        if cfg.overfit_batch:
            print(f"overfit test: final loss {loss:.4f} (l1 {parts['l1']:.4f}); grid {out / 'samples' / 'final.png'}")
        print(f"done: step {progress.step}, {timer.elapsed / 60:.1f} min; validation {progress.last_val}; "
              f"state {state_path}" + ("" if cfg.overfit_batch else f"; model {cfg.export}"))
        result.update(progress.last_val)
    if ddp.enabled:
        torch.distributed.destroy_process_group()
    return result


if __name__ == "__main__":
    main()
