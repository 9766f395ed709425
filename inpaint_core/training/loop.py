"""The one training loop both trainers run, and the bookkeeping around it.

A trainer (:mod:`inpaint_core.training.album`, :mod:`inpaint_core.training.satellite`) builds
its data, networks and optimisers and gives :func:`train` an object with the attributes and
methods of :class:`Trainer`: its GAN step (``forward``, then ``d_step``, then ``g_step``), its
validation figures, its sample grid and its export. The loop owns the rest, the same for both:

* the start (:func:`start`): processes and devices, seeds, the run folder, and what the run
  continues from: ``--resume``'s training state or ``--init``'s model file;
* the resumable training state next to the run (:mod:`inpaint_core.training.state`), saved
  every ``--save-every`` steps, from which a resumed run goes on exactly where the run stopped,
  mid-epoch included;
* the learning-rate schedule, the log and its curves (:mod:`inpaint_core.training.logs`);
* validation every ``--val-every`` steps, the export of the best validated model by
  ``--select``, and ``--keep-exports``;
* ``--max-minutes``, agreed by every data-parallel process.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import time
import typing
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from inpaint_core.checkpoint import load_model_file
from inpaint_core.training.config import TrainConfig, resumed_settings
from inpaint_core.training.device import (
    Dist,
    agreed_stop,
    seed_everything,
    setup_distributed,
)
from inpaint_core.training.logs import JsonLog, plot_curves
from inpaint_core.training.state import Progress, best_carries_over, load_state, save_state
from inpaint_core.training.validation import selection_score

__all__ = ["GeneratedBatch", "Trainer", "Run", "start", "train", "train_loader", "lr_factor", "Timer"]


@dataclasses.dataclass
class GeneratedBatch:
    """A training batch on the device and the generator's output for it: a trainer's
    ``forward`` makes one (or a subclass with more of the batch), and both steps read it."""

    mask: torch.Tensor  # Nx1xHxW, 1 = hole
    target: torch.Tensor  # Nx3xHxW in [0, 1], the originals
    pred: torch.Tensor  # Nx3xHxW float32, the generator's output

    @property
    def comp(self) -> torch.Tensor:
        """The composite: the output in the holes, the original elsewhere."""
        return self.pred * self.mask + self.target * (1 - self.mask)


class Trainer(typing.Protocol):
    """What a trainer gives :func:`train`."""

    kind: str  # the model kind ("album", "satellite"): the progress bar's name
    model_config: typing.Any  # the networks' config dataclass, kept in the state and the exports
    loader: DataLoader  # the training batches (see :func:`train_loader`); ``set_epoch`` draws new holes
    optimizers: list  # [(optimiser, base learning rate)]: rates are set from ``schedule`` before each step
    parameters: int  # the exported generator's parameter count
    card: dict  # the trainer's part of an export's training summary: its data and held-out files
    curves: dict  # OUT/curves.png's panels, {title: [log keys]}; the first (the losses) on a log scale
    postfix: tuple  # the loss parts shown in the progress bar

    def schedule(self, step: int) -> float:
        """The learning-rate factor of (0-based) ``step``: see :func:`lr_factor`."""

    def forward(self, batch: dict) -> GeneratedBatch:
        """The batch on the device and the generator's output for it, which both steps read."""

    def d_step(self, generated: GeneratedBatch) -> dict[str, float]:
        """The discriminators' update on the real images and ``generated``'s composites; its logged parts."""

    def g_step(self, generated: GeneratedBatch, step: int) -> tuple[float, dict[str, float]]:
        """The generator's update; its loss and logged parts. ``step``: this step's number, from 1."""

    def validate(self) -> dict[str, float]:
        """The figures on the fixed held-out holes, logged and read by ``--select``."""

    def describe(self, val: dict) -> str:
        """One terminal line for a validation."""

    def sample(self, path: Path) -> None:
        """Write a sample grid PNG."""

    def export(self, path, summary: dict) -> None:
        """Write the model file; ``summary``: its training summary."""

    def state(self) -> dict:
        """The networks' and optimisers' state dicts, by their names in OUT/state.pt."""

    def load_state(self, state: dict) -> None:
        """Load what :meth:`state` saved."""

    def load_init(self, tensors: dict) -> None:
        """Load the networks of an exported model file (``--init``)."""

    def init_best(self, training: dict) -> float:
        """The ``--select`` score that an ``--init`` model's training summary gives, which an
        export must beat; ``-inf`` where none compares with this run's validation."""


@dataclasses.dataclass
class Run:
    """A run as it starts: its processes, its folder, and what it continues from."""

    cfg: TrainConfig
    ddp: Dist
    out: Path
    state: dict | None = None  # --resume: OUT/state.pt
    init: tuple[dict, dict] | None = None  # --init: the model file's tensors and metadata

    @property
    def state_path(self) -> Path:
        return self.out / "state.pt"

    def stored_model(self) -> tuple[dict | None, str]:
        """The stored model config to rebuild (None for a new run) and where it comes from,
        for :func:`~inpaint_core.training.config.resolve_model_config`."""
        if self.state is not None:
            return self.state["model_config"], f"--resume: {self.state_path}"
        if self.init is not None:
            return self.init[1]["config"], f"--init: {self.cfg.init}"
        return None, ""


def start(cfg: TrainConfig, kind: str, given: set[str]) -> Run:
    """Set up the processes (see :func:`~inpaint_core.training.device.setup_distributed`), seed
    them, make the run folder and read ``--resume``'s state, or the ``--init`` file of a ``kind``
    model. A resumed run's ``run.cfg`` keeps the stored run's settings of
    :data:`~inpaint_core.training.config.RESUMED` where their flags are not in ``given`` (the
    names of the config's flags the command line gave, see
    :func:`~inpaint_core.training.config.parse_config`)."""
    ddp = setup_distributed(cfg.device)
    seed_everything(cfg.seed + ddp.rank)
    run = Run(cfg, ddp, Path(cfg.out))
    run.out.mkdir(parents=True, exist_ok=True)
    if cfg.resume:
        if not run.state_path.exists():
            raise SystemExit(f"--resume: no training state at {run.state_path}")
        run.state = load_state(run.state_path)
        kept = resumed_settings(run.state.get("train_config", {}), given)
        if kept and ddp.is_main:
            print("--resume keeps the run's own " + ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in kept.items())
                  + " (a flag given now overrides one)")
        run.cfg = dataclasses.replace(cfg, **kept)
    elif cfg.init:
        tensors, meta = load_model_file(cfg.init)
        if meta["kind"] != kind:
            article = "an" if kind[0] in "aeiou" else "a"
            raise SystemExit(f"--init: {cfg.init} holds a {meta['kind']} model, not {article} {kind} one")
        run.init = (tensors, meta)
    return run


def train_loader(dataset, cfg: TrainConfig, ddp: Dist) -> DataLoader:
    """The training batches of ``dataset``, reshuffled each epoch (over the processes of a
    data-parallel run by a DistributedSampler); an incomplete last batch is dropped unless it is
    the only one."""
    sampler = DistributedSampler(dataset, shuffle=True, seed=cfg.seed) if ddp.enabled else None
    return DataLoader(dataset, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                      num_workers=cfg.workers, drop_last=len(dataset) >= cfg.batch_size)


def lr_factor(step: int, total: int, warmup: int = 0, cosine: bool = False) -> float:
    """The learning-rate schedule, one function of the step: a linear warm-up over ``warmup``
    steps, then constant, or decaying to zero on a cosine over ``total`` steps."""
    factor = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    if cosine:
        factor *= 0.5 * (1 + math.cos(math.pi * min(step, total) / max(1, total)))
    return factor


class Timer:
    """Wall-clock seconds since creation plus an offset (time spent in earlier, resumed runs)."""

    def __init__(self, offset: float = 0.0):
        self.start, self.offset = time.time(), offset

    @property
    def elapsed(self) -> float:
        return self.offset + time.time() - self.start


def train(trainer: Trainer, run: Run) -> dict:
    """Train ``trainer`` until ``--steps`` or ``--max-minutes``, from where ``run`` starts.

    Every ``--log-every`` steps: a log line (loss, parts, images/s, learning rate, minutes);
    every ``--sample-every``: a sample grid; every ``--val-every``: a validation, the curves, and
    an export when the ``--select`` score improves; every ``--save-every``: the training state.
    At the end: the state, a last validation if the last step had none, the final grid and the
    curves. Returns the last step's loss and parts, the generator's parameter count and, on the
    main process, the last validation's figures.
    """
    cfg, ddp = run.cfg, run.ddp
    loop = _Loop(trainer, run, *_starting_point(trainer, run))
    loss, parts = loop.run()
    result = {"step": loop.progress.step, "loss": loss, **parts, "parameters": trainer.parameters}
    if ddp.is_main:
        print(f"done: step {loop.progress.step}, {loop.timer.elapsed / 60:.1f} min, loss {loss:.4f}"
              + (f" (l1 {parts['l1']:.4f})" if "l1" in parts else "")
              + f"; validation {loop.progress.last_val}; grid {run.out / 'samples' / 'final.png'}; state "
              f"{run.state_path}" + ("" if cfg.overfit_batch else f"; model {cfg.export}"))
        result.update(loop.progress.last_val)
    if ddp.enabled:
        torch.distributed.destroy_process_group()
    return result


def _starting_point(trainer: Trainer, run: Run) -> tuple[Progress, float, int]:
    """``(progress, seconds trained before, steps of the run an --init model came from)``:
    the trainer's networks and optimisers restored from ``--resume``'s state, or its networks
    from ``--init``'s file (so an export's card counts all its training), or a new run."""
    progress = Progress()
    if run.state is not None:
        state = run.state
        trainer.load_state(state)
        progress = Progress.from_state(state)
        if not best_carries_over(state, run.cfg):  # a step count, a PSNR, a distance on other layers: no comparison
            progress.best = -float("inf")
        torch.set_rng_state(state["torch_rng"])
        if run.ddp.is_main:
            print(f"resumed from {run.state_path} at step {progress.step} ({state['elapsed'] / 60:.1f} min trained "
                  "so far)")
        return progress, state["elapsed"], state.get("prior_steps", 0)
    if run.init is not None:
        tensors, meta = run.init
        training = meta.get("training", {})
        trainer.load_init(tensors)
        progress.best = trainer.init_best(training)  # export only what beats the model it started from
        if run.ddp.is_main:
            print(f"initialised from {run.cfg.init} ({training.get('steps', '?')} steps trained)")
        return progress, 60 * training.get("wall_minutes", 0.0), int(training.get("steps", 0))
    return progress, 0.0, 0


class _Loop:
    """One run of the loop: the trainer, where it stands, its log and its clock."""

    def __init__(self, trainer: Trainer, run: Run, progress: Progress, elapsed: float, prior_steps: int):
        self.trainer, self.cfg, self.ddp = trainer, run.cfg, run.ddp
        self.out, self.state_path = run.out, run.state_path
        self.progress, self.prior_steps = progress, prior_steps
        self.timer = Timer(elapsed)
        self.log = JsonLog(run.out / "log.jsonl", enabled=run.ddp.is_main)
        if self.cfg.resume:  # steps after the saved state are redone: their old records would be drawn twice
            self.log.rewind(progress.step)
        self.seen, self.since = 0, time.time()  # images trained on since the last log line, and when that was

    def run(self) -> tuple[float, dict]:
        """The loop itself; returns the last step's ``(loss, parts)``."""
        cfg, progress = self.cfg, self.progress
        bar = tqdm(total=cfg.steps, initial=progress.step, desc=self.trainer.kind, disable=not self.ddp.is_main,
                   dynamic_ncols=True)
        began, stop = time.time(), False
        loss, parts = float("nan"), {}
        skip = progress.batch_in_epoch  # a resumed run: these batches of this epoch are done
        while progress.step < cfg.steps and not stop:
            for batch in self._epoch_batches(skip):
                loss, parts = self._step(batch, bar)
                self._on_schedule()
                stop = agreed_stop(bool(cfg.max_minutes) and time.time() - began > cfg.max_minutes * 60, self.ddp)
                if progress.step >= cfg.steps or stop:
                    break
            else:  # the epoch ran to its end (a break leaves the run mid-epoch, as the state records)
                progress.epoch += 1
                progress.batch_in_epoch = 0
            skip = 0
        bar.close()
        if self.ddp.is_main:
            self._save()
            if progress.last_val_step != progress.step:
                self._validate()
            self.trainer.sample(self.out / "samples" / "final.png")
            self._curves()
        return loss, parts

    def _epoch_batches(self, skip: int):
        """The epoch's batch iterator, in the order a run that never stopped would see them.

        A new epoch records torch's RNG state before the loader draws its shuffle. A resumed
        run replays that shuffle from the recorded state, passes over the ``skip`` batches it
        already trained on, and goes on with the RNG state of the moment it stopped: so k steps,
        a stop and a resume to N train exactly as N steps in one go.
        """
        loader, progress = self.trainer.loader, self.progress
        loader.dataset.set_epoch(progress.epoch)  # new holes every epoch
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(progress.epoch)
        if skip and progress.epoch_rng is not None:
            now = torch.get_rng_state()
            torch.set_rng_state(progress.epoch_rng)
            batches = iter(loader)
            for _ in range(skip):
                next(batches, None)
            torch.set_rng_state(now)
            progress.batch_in_epoch = skip
            return batches
        progress.epoch_rng = torch.get_rng_state()
        progress.batch_in_epoch = 0
        return iter(loader)

    def _step(self, batch: dict, bar) -> tuple[float, dict]:
        """One optimisation step: this step's learning rates, the generator's forward pass, the
        discriminators' step, the generator's step; then the progress bar and the log line."""
        trainer, progress = self.trainer, self.progress
        factor = trainer.schedule(progress.step)
        for opt, base in trainer.optimizers:
            for group in opt.param_groups:
                group["lr"] = base * factor
        generated = trainer.forward(batch)
        parts_d = trainer.d_step(generated)
        loss, parts = trainer.g_step(generated, progress.step + 1)
        parts.update(parts_d)
        progress.step += 1
        progress.batch_in_epoch += 1
        self.seen += len(batch["input"]) * self.ddp.world_size
        bar.update(1)
        if progress.step % self.cfg.log_every == 0 or progress.step == 1:
            ips, self.seen, self.since = self.seen / max(1e-9, time.time() - self.since), 0, time.time()
            bar.set_postfix(loss=f"{loss:.4f}", **{k: f"{parts[k]:.3f}" for k in trainer.postfix if k in parts},
                            ips=f"{ips:.1f}")
            self.log.write(step=progress.step, loss=loss, **parts, images_per_s=ips,
                           lr=trainer.optimizers[0][1] * factor, minutes=self.timer.elapsed / 60)
        return loss, parts

    def _on_schedule(self) -> None:
        """The sample grid, validation and state save that fall on this step (main process only)."""
        step, cfg = self.progress.step, self.cfg
        if not self.ddp.is_main:
            return
        if step % cfg.sample_every == 0 or step == cfg.steps:
            self.trainer.sample(self.out / "samples" / f"step{step:06d}.png")
        if step % cfg.val_every == 0 or step == cfg.steps:
            self._validate()
        if step % cfg.save_every == 0:
            self._save()

    def _validate(self) -> None:
        """Validate, log and draw; export when the ``--select`` score beats the best so far
        (and every validation's model with ``--keep-exports``). The sanity test exports nothing."""
        progress, cfg = self.progress, self.cfg
        val = self.trainer.validate()
        progress.last_val, progress.last_val_step = val, progress.step
        self.log.write(step=progress.step, **val)
        tqdm.write(f"step {progress.step}: {self.trainer.describe(val)}")
        self._curves()
        if cfg.overfit_batch:
            return
        if cfg.keep_exports:
            self._export(val, self.out / "exports" / f"step{self.prior_steps + progress.step:06d}.safetensors")
        score = selection_score(cfg.select, val, progress.step)
        if score > progress.best:
            progress.best = score
            self._export(val, cfg.export)

    def _export(self, val: dict, path) -> None:
        cfg, ddp = self.cfg, self.ddp
        steps = self.prior_steps + self.progress.step
        summary = {
            "steps": steps, "images_seen": steps * cfg.batch_size * ddp.world_size,
            "wall_minutes": round(self.timer.elapsed / 60, 1),
            "hardware": f"{platform.processor() or platform.machine()} x{ddp.world_size} ({ddp.device.type})",
            "parameters": self.trainer.parameters, **self.trainer.card, "validation": val,
            "train_config": dataclasses.asdict(cfg),
        }  # fmt: skip
        self.trainer.export(path, summary)

    def _save(self) -> None:
        save_state(self.state_path, **self.trainer.state(), **self.progress.resumable(), select=self.cfg.select,
                   val_perceptual=self.cfg.val_perceptual, elapsed=self.timer.elapsed, torch_rng=torch.get_rng_state(),
                   prior_steps=self.prior_steps, model_config=self.trainer.model_config.to_dict(),
                   train_config=dataclasses.asdict(self.cfg))

    def _curves(self) -> None:
        plot_curves(self.log.path, self.out / "curves.png", self.trainer.curves,
                    log_scale=(next(iter(self.trainer.curves)),))
