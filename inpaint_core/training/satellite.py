"""Train the land-cover-guided satellite inpainting GAN.

    python train/satellite.py --data DIR --classes dubai-aerial --vgg-weights FILE              # default run
    python train/satellite.py --data DIR --classes dubai-aerial --vgg-weights FILE --overfit-batch
    python train/satellite.py --data DIR --classes dubai-aerial --vgg-weights FILE --resume     # continue
    python train/satellite.py --data SCENE.tif --landcover LC.tif --classes s2glc --vgg-weights FILE
    torchrun --nproc_per_node=2 train/satellite.py --data DIR ...                                # data-parallel

DIR holds ``images/`` folders beside ``masks/`` (or ``landcover/``) folders, e.g. the aerial
set's ``Tile N/images`` + ``Tile N/masks``. A GeoTIFF scene is cut into tiles once
(OUT/tiles, see inpaint_core.data.geo.prepare_tiles). Each step runs ``d_step`` (patch LSGAN +
land-cover cross-entropy on REAL images only; then the referee's cross-entropy) then ``g_step``
(L1 + MSE + VGG relu3_3 + TV + LSGAN + cross-entropy of D's land-cover head on the fill against
the requested classes; both sums are in :mod:`inpaint_core.training.losses`). The loop around
the step is :mod:`inpaint_core.training.loop`; the held-out split and the validation figures are
:mod:`inpaint_core.training.satellite_validation`.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from inpaint_core.checkpoint import save_model
from inpaint_core.data.landcover import TABLE_HELP, ClassTable, get_class_table
from inpaint_core.data.masks import SATELLITE_MASKS, MaskSpec
from inpaint_core.data.datasets import SatelliteTiles
from inpaint_core.fills.bank import bank_from_pairs
from inpaint_core.fills.landcover import landcover_patchmatch
from inpaint_core.models.satellite import (
    DISC_PREFIX,
    REFEREE_PREFIX,
    SatelliteConfig,
    SatelliteDiscriminator,
    SatelliteGenerator,
    split_state,
)
from inpaint_core.models.vgg import load_vgg16
from inpaint_core.training.config import TrainConfig, field, layer_names, parse_config, resolve_model_config
from inpaint_core.training.device import Dist, autocast_for, data_parallel, grad_scaler_for, optimizer_step
from inpaint_core.training.loop import GeneratedBatch, Run, lr_factor, start, train, train_loader
from inpaint_core.training.losses import PerceptualLoss, class_targets, satellite_d_loss, satellite_g_loss
from inpaint_core.training.satellite_validation import split_tiles, validate
from inpaint_core.training.validation import held_out_judge, predict, sample_columns, save_grid

__all__ = ["SatelliteTrainConfig", "SatelliteTrainer", "model_config", "main"]

CURVES = {  # panels of OUT/curves.png
    "generator loss": ["loss", "l1", "vgg", "adv", "cls"],
    "discriminator patch output": ["d_real", "d_fake", "val_d_real", "val_d_fake"],
    "land-cover accuracy": ["d_acc_real", "val_d_acc_real", "consistency", "consistency_telea", "whatif_consistency"],
    "validation hole PSNR (dB)": ["psnr_hole", "psnr_hole_landcover_patchmatch", "psnr_hole_telea"],
    "validation judge distance (JUDGE.md)": ["judge", "judge_landcover_patchmatch"],
    "validation detail ratio (median)": ["detail", "detail_landcover_patchmatch"],
    "old perceptual distance (history)": ["perceptual", "perceptual_landcover_patchmatch"],
}


@dataclasses.dataclass(kw_only=True)
class SatelliteTrainConfig(TrainConfig):
    """The satellite trainer's flags: the base config's (:mod:`inpaint_core.training.config`) and these.
    Its recipe's values are the shipped model's (its card in checkpoints/README.md)."""

    recipe = {"out": "runs/satellite", "export": "checkpoints/satellite.safetensors", "masks": SATELLITE_MASKS,
              "val_fraction": 0.1, "batch_size": 4, "lr": 2e-4, "steps": 20000, "vgg_layers": "relu3_3",
              "w_adv": 0.02}
    overfit = {"out": "runs/satellite-overfit", "lr": 5e-4, "steps": 600}
    selectable = ("psnr_hole", "judge", "perceptual", "consistency", "last")

    classes: str = field(help=f"{TABLE_HELP}; the model stores it, and the app, run and evaluate read it from there")
    landcover: str | None = field(None, help="land-cover GeoTIFF (any CRS) for a GeoTIFF --data scene")
    referee: bool = field(True, help="also train an independent land-cover segmenter (real images only) for the "
                          "consistency measure; exported with the model")
    # data
    what_if: float = field(0.25, help="share of training windows whose hole asks for another class (no pixel "
                           "target there: D's land-cover head, the adversarial and TV terms teach it)")
    identity: float = field(0.05, help="share of training windows with no hole: the generator gives them back")
    colour_jitter: float = field(0.0, help="put each training window in other light: brightness x(1 +- J), each "
                                 "channel x(1 +- J/2), so the fill's colour comes from its surroundings, not from "
                                 "what the class looked like in the training tiles (tiles from many places)")
    class_count: int = field(3, help="class patches per window (most common class of each patch is removed)")
    class_size: int = field(64, help="class patch side in px at 256")
    windows_per_epoch: int = field(2000, help="random windows per epoch")
    val_tiles: str | None = field(None, help="hold out these images instead (comma-separated file names, stems, "
                                  "paths or folders relative to --data, e.g. 6399_sat,794214_sat or 'Tile 4'): for a "
                                  "few large tiles, where a hash split is too coarse")
    val_windows: int = field(32, help="fixed validation windows scored at each validation")
    val_baseline: bool = field(True, help="score land-cover PatchMatch (with this run's exemplar bank) on the "
                               "validation holes once per run, so every validation reads against it; skipped with "
                               "a note where PyPatchMatch is not installed")
    tile_stride: int = field(256, help="GeoTIFF scenes: step between prepared tiles")
    max_nodata: float = field(0.01, help="GeoTIFF scenes: largest nodata share of a kept tile")
    # optimisation
    w_mse: float = field(1.0, help="weight of the MSE between output and target")
    w_cls: float = field(0.02, help="weight of the generator's land-cover loss (D's head on the fill vs requested)")
    w_d_cls: float = field(1.0, help="weight of the discriminator's land-cover loss on real images")
    clip_grad: float = field(1.0, help="clip each network's gradient norm to this (0 = off); an unclipped overfit "
                             "run diverged in one step after 270 good ones")
    threads: int = field(0, help="torch CPU threads (0 = torch's default)")

    def __post_init__(self):
        super().__post_init__()
        if self.select == "consistency" and not self.referee:
            raise SystemExit("--select consistency needs the referee (drop --no-referee)")
        if not layer_names(self.vgg_layers):  # the feature loss is built even at --w-vgg 0
            raise SystemExit("--vgg-layers needs at least one VGG16 layer")


def model_config(given: dict, table: ClassTable, run: Run) -> SatelliteConfig:
    """The run's networks: from the flags given (and SatelliteConfig's defaults), or the stored
    ones (``--resume``, ``--init``), which must paint the classes of ``--classes``."""
    if run.init is not None and run.init[1].get("classes") != table.to_json():
        raise SystemExit(f"--init: {run.cfg.init} paints other classes than --classes {run.cfg.classes}")
    stored, source = run.stored_model()
    config = resolve_model_config(SatelliteConfig, given, stored, source, num_classes=len(table))
    if config.num_classes != len(table):
        raise SystemExit(f"{source} paints {config.num_classes} classes; --classes has {len(table)}")
    return config


@dataclasses.dataclass
class Windows(GeneratedBatch):
    """A batch of training windows on the device and the generator's fill, with the land cover."""

    asked: torch.Tensor  # NxHxW, the classes asked for (another class in a what-if hole)
    true: torch.Tensor  # NxHxW, the classes the windows show
    whatif: torch.Tensor  # N, 1 = the window's hole asks for another class


class SatelliteTrainer:
    """What :func:`~inpaint_core.training.loop.train` runs for the satellite model: the generator,
    the two-headed PatchGAN (patch realism and land cover) and the referee on random windows of
    the training tiles; :meth:`d_step` (D, then the referee on real windows), then :meth:`g_step`."""

    kind = "satellite"
    curves = CURVES
    postfix = ("l1", "vgg", "adv", "cls", "d_real", "d_fake", "d_acc_real")

    def __init__(self, cfg: SatelliteTrainConfig, mcfg: SatelliteConfig, table: ClassTable, ddp: Dist):
        self.cfg, self.model_config, self.table, self.device = cfg, mcfg, table, ddp.device
        self.ignore = table.nodata_indices
        self._data(cfg, mcfg, ddp)
        self.gen, self.disc = SatelliteGenerator(mcfg).to(self.device), SatelliteDiscriminator(mcfg).to(self.device)
        self.referee = SatelliteDiscriminator(mcfg).to(self.device) if cfg.referee else None
        if self.device.type == "cpu":  # measured faster for these convs on CPU
            self.gen = self.gen.to(memory_format=torch.channels_last)
            self.disc = self.disc.to(memory_format=torch.channels_last)
        self.parameters = sum(p.numel() for p in self.gen.parameters())
        self.perceptual = PerceptualLoss(load_vgg16(cfg.vgg_weights, layer_names(cfg.vgg_layers)).to(self.device))
        self.judge = None
        if not cfg.overfit_batch and ddp.is_main:  # land-cover PatchMatch with the run's bank, as evaluate runs it
            self.judge = held_out_judge(cfg.vgg_weights, cfg.val_perceptual, self.device, "landcover_patchmatch",
                                        self._bank_fill if cfg.val_baseline else None)
        # foreach: one vectorised update instead of a Python loop per tensor (measured ~0.3 s/step saved on CPU)
        adam = dict(betas=(0.5, 0.999), foreach=True)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=cfg.lr, **adam)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=cfg.lr_d, **adam)
        self.opt_r = torch.optim.Adam(self.referee.parameters(), lr=cfg.lr_d, **adam) if self.referee else None
        self.optimizers = [(self.opt_g, cfg.lr), (self.opt_d, cfg.lr_d)] + (
            [(self.opt_r, cfg.lr_d)] if self.opt_r is not None else [])
        # enabled only for fp16 autocast (a GPU without bf16); one per network, each with its own scale
        self.scalers = {name: grad_scaler_for(self.device, cfg.amp) for name in ("g", "d", "r")}
        self.train_gen, self.train_disc = data_parallel(self.gen, ddp), data_parallel(self.disc, ddp)
        # the referee trains its land-cover head only: its patch head gets no gradient, which DDP must be told
        self.train_referee = None if self.referee is None else data_parallel(self.referee, ddp,
                                                                              find_unused_parameters=True)
        self.sample_batch = next(iter(self.loader if cfg.overfit_batch else self.val_loader))

    def _data(self, cfg: SatelliteTrainConfig, mcfg: SatelliteConfig, ddp: Dist) -> None:
        """The windows: training, held-out, held-out asking for other classes; the exemplar bank."""
        train_pairs, val_pairs = split_tiles(cfg, self.table, ddp.is_main)
        spec = MaskSpec.parse(cfg.masks, class_count=cfg.class_count, class_size=cfg.class_size)
        # the exemplar bank of the training tiles: exported with the model (land-cover PatchMatch
        # uses it), and part of the generator's pre-fill with --prefill landcover-bank, landcover-smooth
        # or landcover-patchmatch, as the exported model's inpainter gives it (the others ignore it)
        self.bank = bank_from_pairs(train_pairs, self.table, seed=cfg.seed)
        self.bank_tensors = self.bank.to_tensors()
        train_set = SatelliteTiles(train_pairs, self.table, cfg.crop, spec, mcfg.prefill, seed=cfg.seed,
                                   fixed_masks=cfg.overfit_batch,
                                   length=cfg.batch_size if cfg.overfit_batch else cfg.windows_per_epoch,
                                   what_if=cfg.what_if, identity=cfg.identity, bank=self.bank,
                                   colour_jitter=cfg.colour_jitter)
        held_out = functools.partial(SatelliteTiles, val_pairs or train_pairs, self.table, cfg.crop, spec, mcfg.prefill,
                                     train=False, seed=cfg.seed + 1, length=cfg.val_windows, bank=self.bank)
        val_set = train_set if cfg.overfit_batch else held_out()  # the overfit test scores the batch it fits
        self.loader = train_loader(train_set, cfg, ddp)
        self.val_loader = DataLoader(val_set, batch_size=cfg.batch_size, num_workers=0)
        # the same held-out windows, each hole asked to become another class: does the fill follow?
        self.whatif_loader = None if cfg.overfit_batch or not cfg.what_if else DataLoader(
            held_out(what_if=1.0), batch_size=cfg.batch_size, num_workers=0)
        self.card = {"classes_name": self.table.name, "train_images": len(train_pairs),
                     "val_images": [str(p[0]) for p in val_pairs]}

    def _bank_fill(self, image: np.ndarray, mask: np.ndarray, landcover: np.ndarray) -> np.ndarray:
        """Land-cover PatchMatch with the run's exemplar bank: the peer the validation scores."""
        return landcover_patchmatch(image, mask, landcover, self.bank)

    def schedule(self, step: int) -> float:
        # the overfit test decays on a cosine: near the fit, tiny gradients make Adam's steps erratic
        return lr_factor(step, self.cfg.steps, cosine=self.cfg.overfit_batch)

    def forward(self, batch: dict) -> Windows:
        on = {k: batch[k].to(self.device) for k in ("input", "mask", "target", "landcover", "landcover_true", "whatif")}
        inputs, real = on["input"], on["target"]
        if self.device.type == "cpu":  # measured faster for these convs on CPU
            inputs, real = (x.contiguous(memory_format=torch.channels_last) for x in (inputs, real))
        with autocast_for(self.device, self.cfg.amp):
            pred = self.train_gen(inputs, on["mask"], on["landcover"]).float()
        return Windows(on["mask"], real, pred, asked=on["landcover"], true=on["landcover_true"], whatif=on["whatif"])

    def d_step(self, windows: Windows) -> dict[str, float]:
        """D's step (:func:`~inpaint_core.training.losses.satellite_d_loss`) on the real windows
        and the composites, then the referee's: a land-cover cross-entropy on the real windows,
        nothing else."""
        cfg = self.cfg
        loss, parts = satellite_d_loss(self.train_disc, windows.target, windows.comp, windows.mask, windows.true,
                                       self.ignore, cfg, self.device)
        optimizer_step(loss, self.opt_d, self.scalers["d"], cfg.clip_grad)
        if self.referee is not None:
            with autocast_for(self.device, cfg.amp):
                _, logits = self.train_referee(windows.target)
            loss_r = F.cross_entropy(logits.float(), class_targets(windows.true, self.ignore))
            optimizer_step(loss_r, self.opt_r, self.scalers["r"], cfg.clip_grad)
        return parts

    def g_step(self, windows: Windows, step: int) -> tuple[float, dict[str, float]]:
        """The generator's step (:func:`~inpaint_core.training.losses.satellite_g_loss`); the
        step number changes nothing here."""
        loss, parts = satellite_g_loss(windows.pred, windows.target, windows.mask, windows.asked, self.disc,
                                       self.perceptual, self.ignore, self.cfg, self.device, windows.whatif)
        optimizer_step(loss, self.opt_g, self.scalers["g"], self.cfg.clip_grad)
        return loss.item(), parts

    def validate(self) -> dict[str, float]:
        return validate(self.gen, self.disc, self.referee, self.val_loader, self.ignore, self.device,
                        self.whatif_loader, self.judge)

    def describe(self, val: dict) -> str:
        return ", ".join(f"{k} {x:.3f}" for k, x in val.items())

    def sample(self, path: Path) -> None:
        """A grid, one row per window: masked (magenta holes) | output | target | land cover
        (colourised, hole outlines in white)."""
        batch, dev = self.sample_batch, self.device
        pred = predict(self.gen, batch["input"].to(dev), batch["mask"].to(dev), batch["landcover"].to(dev))
        landcover = []
        for lc, m in zip(batch["landcover"].numpy(), batch["mask"][:, 0].numpy().astype(np.uint8)):
            rgb = self.table.colorize(lc)
            rgb[cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0] = 255
            landcover.append(rgb)
        save_grid(path, [*sample_columns(batch, pred), np.stack(landcover)])

    def export(self, path, summary: dict) -> None:
        """The generator with the exemplar bank, D (``disc.*``) and the referee (``referee.*``)."""
        tensors = dict(self.gen.state_dict())
        tensors.update(self.bank_tensors)
        tensors.update({DISC_PREFIX + k: v for k, v in self.disc.state_dict().items()})
        if self.referee is not None:
            tensors.update({REFEREE_PREFIX + k: v for k, v in self.referee.state_dict().items()})
        save_model(path, tensors, "satellite", self.model_config.to_dict(), training=summary,
                   classes=self.table.to_json())

    def state(self) -> dict:
        nets = {"gen": self.gen.state_dict(), "disc": self.disc.state_dict(), "opt_g": self.opt_g.state_dict(),
                "opt_d": self.opt_d.state_dict()}
        if self.referee is not None:
            nets.update(referee=self.referee.state_dict(), opt_r=self.opt_r.state_dict())
        return nets

    def load_state(self, state: dict) -> None:
        self.gen.load_state_dict(state["gen"])
        self.disc.load_state_dict(state["disc"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.referee is not None and "referee" in state:
            self.referee.load_state_dict(state["referee"])
            self.opt_r.load_state_dict(state["opt_r"])

    def load_init(self, tensors: dict) -> None:
        """The generator, and D and the referee where the file has them."""
        nets = split_state(tensors)
        self.gen.load_state_dict(nets["gen"])
        if nets["disc"]:
            self.disc.load_state_dict(nets["disc"])
        if self.referee is not None and nets["referee"]:
            self.referee.load_state_dict(nets["referee"])

    def init_best(self, training: dict) -> float:
        """Nothing to beat: a run from an exported model exports its first validation, then its gains."""
        return -float("inf")


def main(argv=None) -> dict:
    cfg, model_flags, given = parse_config(SatelliteTrainConfig, __doc__.split("\n\n")[0], argv,
                                           model_cls=SatelliteConfig, model_skip=("num_classes",))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = start(cfg, "satellite", given)
    table = get_class_table(cfg.classes)
    return train(SatelliteTrainer(run.cfg, model_config(model_flags, table, run), table, run.ddp), run)


if __name__ == "__main__":
    main()
