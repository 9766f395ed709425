"""Train the album-cover inpainting U-Net.

    python train/album.py --data DIR --vgg-weights FILE            # the default run
    python train/album.py --data DIR --vgg-weights FILE --resume   # continue an interrupted run
    python train/album.py --data DIR --vgg-weights FILE --overfit-batch
    python train/album.py --data DIR --vgg-weights FILE --lr-find
    torchrun --nproc_per_node=2 train/album.py --data DIR ...      # data-parallel

Losses (summed here, logged as parts): L1 with hole pixels weighted ``hole_weight``,
VGG16 perceptual distance and total variation on the composite (prediction in the
holes, target elsewhere); optionally (``--w-style``) the Gram-matrix style term on the same
VGG features, and (``--w-adv``) a PatchGAN's hinge term on the composite's filled patches,
the PatchGAN stepping first (``d_step``, then ``g_step``). Holes are new on every read (see
inpaint_core.data.pictures). The loop around the step is :mod:`inpaint_core.training.loop`.

Validation reads the judge of ``../shared/JUDGE.md`` on whole held-out sources
(``--val-sources``), on the judge's four hole kinds in turn, against PatchMatch and Telea;
the export is selected by the judge (``--select judge``), never by a term of the loss
(:mod:`inpaint_core.training.album_validation`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from inpaint_core.checkpoint import save_model
from inpaint_core.data.masks import ALBUM_MASKS, PICTURE_KINDS, MaskSpec
from inpaint_core.data.datasets import InpaintDataset
from inpaint_core.fills.classical import patchmatch, telea
from inpaint_core.models.album import AlbumConfig, AlbumUNet, PatchDiscriminator
from inpaint_core.models.vgg import VGG16Features, load_vgg16
from inpaint_core.training.album_validation import describe_validation, split_pictures, validate
from inpaint_core.training.config import JUDGE, TrainConfig, field, layer_names, parse_config, resolve_model_config
from inpaint_core.training.device import Dist, autocast_for, data_parallel, grad_scaler_for, optimizer_step
from inpaint_core.training.loop import GeneratedBatch, lr_factor, start, train, train_loader
from inpaint_core.training.losses import PerceptualLoss, hinge_d_loss, hinge_g_loss, l1_loss, tv_loss
from inpaint_core.training.state import best_carries_over
from inpaint_core.training.validation import held_out_judge, predict, sample_columns, save_grid

__all__ = ["AlbumTrainConfig", "AlbumSteps", "AlbumTrainer", "compute_losses", "vgg_weight_at", "lr_find", "main"]

CURVES = {"training loss": ["loss", "l1", "vgg", "style", "tv"],
          "validation hole PSNR (dB)": ["psnr_hole", "psnr_hole_patchmatch", "psnr_hole_telea"],
          "validation judge distance (JUDGE.md)": ["judge", "judge_patchmatch", "judge_telea"],
          "validation detail ratio (median)": ["detail", "detail_patchmatch", "detail_telea"],
          "validation win rate against PatchMatch": ["win_rate_patchmatch"],
          "old perceptual distance (history)": ["perceptual", "perceptual_patchmatch"],
          "discriminator (with --w-adv)": ["d_real", "d_fake", "adv"]}
VAL_SOURCES_EXAMPLE = "vncntxl/crate,ryonlunar/Algeo02-23052,luanfujun/deep-photo-styletransfer,Li-Chongyi/Zero-DCE,debian"


@dataclasses.dataclass(kw_only=True)
class AlbumTrainConfig(TrainConfig):
    """The album trainer's flags: the base config's (:mod:`inpaint_core.training.config`) and these."""

    recipe = {"out": "runs/album", "export": "checkpoints/album.safetensors", "masks": ALBUM_MASKS,
              "val_fraction": 0.05, "batch_size": 8, "lr": 3e-4, "steps": 20000,
              "vgg_layers": "relu1_2,relu2_2,relu3_3", "w_adv": 0.0}
    overfit = {"out": "runs/album-overfit", "lr": 1e-3, "steps": 1000}  # the research's best LR fitting one batch
    selectable = ("judge", "psnr_hole", "perceptual", "last")

    extra_data: str | None = field(None, help="more image folders, comma-separated, added to the training side "
                                   "only: the validation split of --data stays unchanged, so old and new "
                                   "models are scored on the same images")
    lr_find: bool = field(False, help="LR range test: write OUT/lr_find.png and suggest a learning rate")
    # data
    resize: int = field(256, help="images are resized so their short side is this (the research's 256)")
    val_sources: str = field("", help="hold out whole sources, comma-separated: every file of each is kept out of "
                             "training, and validation draws from each in turn. A file's source is its "
                             "repository or package in a *manifest*.csv of its folder (or NAME_manifest.csv "
                             "beside it), else its first sub-folder; 'debian' names every 'debian:' package. "
                             f"E.g. {VAL_SOURCES_EXAMPLE}. Empty: the old hash split of the first --data folder")
    val_images: int = field(64, help="validation images scored at each validation")
    val_masks: str = field(",".join(PICTURE_KINDS), help="hole kinds of the validation images, given in turn "
                           "(the judge's: research, strokes, large, very-large); '' = the training mix")
    val_patchmatch: bool = field(True, help="score PatchMatch on the validation holes once per run (0.5-0.8 s an "
                                 "image), so every validation reads as a gain over it; skipped with a note where "
                                 "PyPatchMatch is not installed")
    # optimisation
    weight_decay: float = field(1e-4, help="AdamW weight decay")
    warmup: int = field(100, help="linear LR warm-up steps")
    vgg_every: int = field(1, help="apply the perceptual term on every Nth step only, at N times its weight "
                           "(the same expected pull, at a fraction of its cost: on 2 CPU cores the VGG term "
                           "makes a step ~4x slower); 1 = every step, the research's recipe")
    w_style: float = field(0.0, help="weight of the style (texture) loss: L1 between Gram matrices of the VGG "
                           "activations of the composite and the original, on --vgg-layers, on the steps the "
                           "perceptual term runs (0 = off; the partial-convolution recipe uses 120)")
    disc_base: int = field(32, help="discriminator channels after its first stride-2 conv (with --w-adv)")
    disc_depth: int = field(3, help="stride-2 convs of the discriminator: each score judges a ~2**(depth+2)-px "
                            "patch (with --w-adv)")

    def __post_init__(self):
        super().__post_init__()
        if self.overfit_batch and self.lr_find:
            raise SystemExit("--overfit-batch and --lr-find are separate modes; pick one")
        if self.vgg_every < 1:
            raise SystemExit(f"--vgg-every must be at least 1, got {self.vgg_every}")


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


class AlbumSteps:
    """The album model's networks and optimisers, and one step on a batch: :meth:`forward`, then
    :meth:`d_step` (the PatchGAN's, with ``--w-adv``), then :meth:`g_step` (the U-Net's).

    ``vgg``: the perceptual loss's VGG16 (default: ImageNet weights from ``--vgg-weights``; the
    training benchmark times the step with random ones, which cost the same)."""

    kind = "album"

    def __init__(self, cfg: AlbumTrainConfig, mcfg: AlbumConfig, ddp: Dist, vgg: VGG16Features | None = None):
        self.cfg, self.model_config, self.device = cfg, mcfg, ddp.device
        self.model = AlbumUNet(mcfg).to(self.device)
        if self.device.type == "cpu":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.parameters = sum(p.numel() for p in self.model.parameters())
        vgg = load_vgg16(cfg.vgg_weights, layer_names(cfg.vgg_layers)) if vgg is None else vgg
        self.perceptual = PerceptualLoss(vgg.to(self.device))
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.optimizers = [(self.opt, cfg.lr)]
        self.disc = self.opt_d = None
        if cfg.w_adv > 0:  # training-only: the exported model is the U-Net alone
            self.disc = PatchDiscriminator(cfg.disc_base, cfg.disc_depth).to(self.device)
            self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))
            self.optimizers.append((self.opt_d, cfg.lr_d))  # its rate follows the U-Net's schedule
        self.scaler = grad_scaler_for(self.device, cfg.amp)  # enabled only for fp16 autocast (a GPU without bf16)
        self.train_model = data_parallel(self.model, ddp)
        self.train_disc = None if self.disc is None else data_parallel(self.disc, ddp)

    def forward(self, batch: dict) -> GeneratedBatch:
        inputs = batch["input"].to(self.device, non_blocking=True)
        mask = batch["mask"].to(self.device, non_blocking=True)
        target = batch["target"].to(self.device, non_blocking=True)
        if self.device.type == "cpu":
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with autocast_for(self.device, self.cfg.amp):
            pred = self.train_model(inputs, mask)
        return GeneratedBatch(mask, target, pred.float())

    def d_step(self, generated: GeneratedBatch) -> dict[str, float]:
        """The PatchGAN's hinge step on the real pictures and the detached composites (nothing
        without ``--w-adv``). In float32: the PatchGAN is small, and its hinge margins need no
        GradScaler this way. Logged: ``d_loss``, ``d_real`` (mean score of real patches) and
        ``d_fake`` (of the composites' filled patches)."""
        if self.disc is None:
            return {}
        fake_patches = self.disc.hole_patches(generated.mask)
        real_scores, fake_scores = self.train_disc(generated.target), self.train_disc(generated.comp.detach())
        loss_d = hinge_d_loss(real_scores, fake_scores, fake_patches)
        optimizer_step(loss_d, self.opt_d)
        return {"d_loss": loss_d.item(), "d_real": real_scores.mean().item(),
                "d_fake": fake_scores[fake_patches].mean().item() if fake_patches.any() else 0.0}

    def g_step(self, generated: GeneratedBatch, step: int) -> tuple[float, dict[str, float]]:
        """The U-Net's step: :func:`compute_losses` (the perceptual term on ``--vgg-every``'s
        steps) and, with ``--w-adv``, ``w_adv`` times the PatchGAN's hinge term on the filled patches."""
        with autocast_for(self.device, self.cfg.amp):
            loss, parts = compute_losses(generated.pred, generated.target, generated.mask, self.perceptual, self.cfg,
                                         vgg_weight_at(step, self.cfg))
            if self.disc is not None:
                self.disc.requires_grad_(False)  # the PatchGAN is only read here (bare: nothing of it to sync)
                adv = hinge_g_loss(self.disc(generated.comp).float(), self.disc.hole_patches(generated.mask))
                self.disc.requires_grad_(True)
                loss = loss + self.cfg.w_adv * adv
                parts["adv"] = adv.item()
        optimizer_step(loss, self.opt, self.scaler)
        return loss.item(), parts

    def state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "disc": None if self.disc is None else self.disc.state_dict(),
                "opt_d": None if self.opt_d is None else self.opt_d.state_dict()}

    def load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        if self.disc is not None and state.get("disc") is not None:
            self.disc.load_state_dict(state["disc"])
            self.opt_d.load_state_dict(state["opt_d"])

    def load_init(self, tensors: dict) -> None:
        self.model.load_state_dict(tensors)


class AlbumTrainer(AlbumSteps):
    """What :func:`~inpaint_core.training.loop.train` runs for the album model: :class:`AlbumSteps`
    on pictures whose holes are drawn on the fly, validated on held-out pictures by the judge,
    against PatchMatch and Telea."""

    curves = CURVES
    postfix = ("l1", "vgg", "style", "tv", "adv", "d_real", "d_fake")

    def __init__(self, cfg: AlbumTrainConfig, mcfg: AlbumConfig, ddp: Dist):
        train_files, val_files, held_counts = split_pictures(cfg)
        mask_spec = MaskSpec.parse(cfg.masks)
        if cfg.overfit_batch:
            train_files = train_files[:8]
            val_files = train_files  # the test is whether the model can fit these very images
        train_set = InpaintDataset(train_files, cfg.resize, cfg.crop, mask_spec, mcfg.prefill, train=True,
                                   seed=cfg.seed, fixed_masks=cfg.overfit_batch)
        # the overfit test scores the very crops and holes it fits; a real run, held-out images at full size
        val_set = train_set if cfg.overfit_batch else InpaintDataset(
            (val_files or train_files)[: cfg.val_images], cfg.resize, cfg.resize, mask_spec, mcfg.prefill,
            train=False, seed=cfg.seed + 1,
            mask_kinds=tuple(k.strip() for k in cfg.val_masks.split(",") if k.strip()) or None)
        self.loader = train_loader(train_set, cfg, ddp)
        self.val_loader = DataLoader(val_set, batch_size=8, num_workers=0)
        super().__init__(cfg, mcfg, ddp)
        self.judge = None
        if not cfg.overfit_batch and not cfg.lr_find and ddp.is_main:  # patch_size 3, seed 0: as evaluate runs it
            self.judge = held_out_judge(cfg.vgg_weights, cfg.val_perceptual, self.device, "patchmatch",
                                        patchmatch if cfg.val_patchmatch else None, more={"telea": telea})
            if held_counts:
                print(f"held-out sources: {held_counts}; validating on {len(val_files)} of their images")
        self.card = {"train_images": len(train_files), "val_images": len(val_set),
                     "val_files": [p.name for p in val_files], "val_sources": held_counts}
        # the overfit test shows the very images and holes it fits; a real run shows held-out ones
        self.sample_batch = next(iter(self.loader if cfg.overfit_batch else self.val_loader))
        self.warmup = min(cfg.warmup, 10) if cfg.overfit_batch else cfg.warmup  # one fixed batch: a short warm-up

    def schedule(self, step: int) -> float:
        return lr_factor(step, self.cfg.steps, self.warmup)

    def validate(self) -> dict[str, float]:
        return validate(self.model, self.val_loader, self.device, self.judge)

    def describe(self, val: dict) -> str:
        return describe_validation(val)

    def sample(self, path: Path) -> None:
        batch = self.sample_batch
        pred = predict(self.model, batch["input"].to(self.device), batch["mask"].to(self.device))
        save_grid(path, sample_columns(batch, pred))

    def export(self, path, summary: dict) -> None:
        save_model(path, self.model.state_dict(), "album", self.model_config.to_dict(), training=summary)

    def init_best(self, training: dict) -> float:
        """The ``--init`` model's own figure, where its card has it for this run's ``--select``
        on this run's validation (the same pictures and holes, the same distance)."""
        cfg = self.cfg
        init_val, init_cfg = training.get("validation", {}), training.get("train_config", {})
        same_val = all(init_cfg.get(k) == getattr(cfg, k) for k in ("val_sources", "val_images", "val_masks", "data"))
        same_distance = best_carries_over({"select": cfg.select, "val_perceptual": init_cfg.get("val_perceptual", "")},
                                          cfg)
        if cfg.select == "psnr_hole" and same_val:
            return init_val.get("psnr_hole", -float("inf"))
        if cfg.select == JUDGE and "judge" in init_val and same_val and same_distance:
            return -init_val["judge"]
        if cfg.select == "perceptual" and "perceptual" in init_val and same_distance:
            return -init_val["perceptual"]
        return -float("inf")


def lr_find(trainer: AlbumTrainer, out: Path, steps: int = 120, lo: float = 1e-6, hi: float = 1e-1) -> float:
    """Exponential LR sweep of the U-Net's loss (no adversarial term); stops when the smoothed
    loss passes 4x its minimum. Writes ``out/lr_find.png``; returns the suggested rate."""
    cfg = trainer.cfg
    opt = torch.optim.AdamW(trainer.model.parameters(), lr=lo, weight_decay=cfg.weight_decay)
    lrs, losses, smooth, best = [], [], None, float("inf")
    it = iter(trainer.loader)
    for i in tqdm(range(steps), desc="lr-find"):
        lr = lo * (hi / lo) ** (i / (steps - 1))
        for g in opt.param_groups:
            g["lr"] = lr
        try:
            batch = next(it)
        except StopIteration:
            it = iter(trainer.loader)
            batch = next(it)
        generated = trainer.forward(batch)
        with autocast_for(trainer.device, cfg.amp):
            loss, _ = compute_losses(generated.pred, generated.target, generated.mask, trainer.perceptual, cfg)
        optimizer_step(loss, opt)
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
    cfg, model_flags, given = parse_config(AlbumTrainConfig, __doc__.split("\n\n")[0], argv, model_cls=AlbumConfig)
    run = start(cfg, "album", given)
    cfg = run.cfg  # --resume: with the stored run's own settings where no flag is given
    trainer = AlbumTrainer(cfg, resolve_model_config(AlbumConfig, model_flags, *run.stored_model()), run.ddp)
    if cfg.lr_find:
        suggestion = lr_find(trainer, run.out)
        print(f"LR range test written to {run.out / 'lr_find.png'}; suggested learning rate {suggestion:.2e}")
        return {"suggested_lr": suggestion}
    return train(trainer, run)


if __name__ == "__main__":
    main()
