"""Training habits shared by ``train/album.py`` and ``train/satellite.py``.

* flags from a training-config dataclass (argparse with ``-h``, types, defaults, help
  from each field's ``metadata["help"]``);
* one-process or ``torchrun`` data-parallel set-up (gloo on CPU, NCCL on GPU);
* autocast: fp16/bf16 on CUDA; bf16 on CPUs with native bf16 units (AVX512-BF16/AMX), where
  it roughly doubles throughput. On CPUs without them (e.g. AMD Zen 3) bf16 convolutions
  fall back to slow paths: measured here 118 s/step against 5.9 s/step in float32, so
  there training stays in float32;
* a resumable training state next to the run (model, optimiser, step, config), saved
  atomically; exported models go through :mod:`inpaint_core.checkpoint` instead;
* PNG sample grids, a JSON-lines log and PNG training curves drawn from it.

Importable without gradio or rasterio (the GPU machines have neither).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import time
import types
import typing
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image

__all__ = [
    "field", "build_parser", "parse_config", "resolve_model_config", "Dist", "setup_distributed", "autocast_for",
    "seed_everything", "save_state", "cpu_has_fast_bf16", "load_state", "save_grid", "JsonLog", "unwrap", "Timer", "images_to_uint8", "hole_psnr",
    "plot_curves", "grad_scaler_for", "agreed_stop", "Progress", "Loop", "run_loop", "lr_factor",
]  # fmt: skip


def field(default=dataclasses.MISSING, help: str = "", **kwargs):  # noqa: A002 - mirrors argparse
    """A dataclass field whose ``help`` text becomes the flag's ``-h`` line."""
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


def _flag_type(tp):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _flag_type(args[0])
    return tp


def build_parser(config_cls, description: str, model_cls=None, model_skip: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """An argparse parser with one ``--flag`` per dataclass field (``_`` becomes ``-``).

    With ``model_cls`` (a model config dataclass), its fields (but ``model_skip``) become
    flags too, in their own group. A flag not given is left out: a new run builds the
    model from the given ones and the dataclass's own defaults, the one place they live;
    ``--resume`` and ``--init`` rebuild the stored model (see :func:`resolve_model_config`).
    """
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints = typing.get_type_hints(config_cls)
    for f in dataclasses.fields(config_cls):
        flag = "--" + f.name.replace("_", "-")
        tp = _flag_type(hints[f.name])
        help_text = f.metadata.get("help", "")
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = None if required else (f.default if f.default is not dataclasses.MISSING else f.default_factory())
        if tp is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        else:
            parser.add_argument(flag, type=tp, default=default, required=required, help=help_text)
    if model_cls is not None:
        group = parser.add_argument_group(
            f"model ({model_cls.__name__}; a new run only: --resume and --init rebuild the stored model)")
        model_hints = typing.get_type_hints(model_cls)
        for f in dataclasses.fields(model_cls):
            if f.name in model_skip:
                continue
            flag = "--" + f.name.replace("_", "-")
            tp = _flag_type(model_hints[f.name])
            help_text = f"{f.metadata.get('help', '')} (default: {f.default})"
            # SUPPRESS: a flag not given is absent from the namespace (and -h shows the real default)
            if tp is bool:
                group.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                   help=help_text)
            else:
                group.add_argument(flag, type=tp, default=argparse.SUPPRESS, help=help_text)
    return parser


def resolve_model_config(model_cls, given: dict, stored: dict | None = None, source: str = "", **fixed):
    """The model config of a run: ``model_cls(**fixed, **given)`` for a new one; the
    ``stored`` config (of ``--resume``'s state or ``--init``'s checkpoint) otherwise, where
    a given flag that disagrees with it stops the run instead of being silently ignored."""
    try:
        if stored is None:
            return model_cls(**fixed, **given)
        conflicts = [f"--{k.replace('_', '-')} {v} (it has {stored.get(k)})" for k, v in given.items()
                     if stored.get(k) != v]
        if conflicts:
            raise SystemExit(f"{source} holds a model built differently: {'; '.join(conflicts)}. Drop those flags "
                             "(the stored model is rebuilt as it is) or start a new run")
        return model_cls(**stored)
    except (TypeError, ValueError) as err:
        raise SystemExit(f"model config: {err}") from None


def parse_config(config_cls, description: str, argv=None, model_cls=None, model_skip: tuple[str, ...] = ()):
    """``config_cls`` from the command line; with ``model_cls``, ``(config, given model flags)``."""
    args = build_parser(config_cls, description, model_cls, model_skip).parse_args(argv)
    if model_cls is not None:
        names = {f.name for f in dataclasses.fields(model_cls)} - set(model_skip)
        values = vars(args)
        given = {k: values.pop(k) for k in list(values) if k in names}
        return config_cls(**values), given
    return config_cls(**vars(args))


@dataclasses.dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str = "auto") -> Dist:
    """Read torchrun's environment; one process without it. gloo on CPU, NCCL on CUDA."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda was asked for but no CUDA GPU is available")
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
        if world > 1:  # share the cores between processes instead of oversubscribing them
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, world, local, dev)


def cpu_has_fast_bf16() -> bool:
    """True when oneDNN has native bf16 kernels on this CPU."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_for(device: torch.device, enabled: bool = True):
    """Mixed precision where it is fast: fp16/bf16 on CUDA, bf16 on CPUs with native bf16."""
    if not enabled:
        return nullcontext()
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    if cpu_has_fast_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return nullcontext()


def grad_scaler_for(device: torch.device, enabled: bool = True):
    """A GradScaler where autocast runs in fp16 (CUDA GPUs without bf16), whose small
    gradients would underflow; a disabled one (a no-op) everywhere else."""
    fp16 = enabled and device.type == "cuda" and not torch.cuda.is_bf16_supported()
    return torch.amp.GradScaler("cuda", enabled=fp16)


def agreed_stop(local: bool, ddp: "Dist") -> bool:
    """Whether to stop, agreed by every data-parallel process: if one says stop, all stop.

    Each rank reads ``--max-minutes`` on its own clock, and rank 0, slowed by validation,
    may be the only one past it: stopping alone would leave the others waiting in the next
    all-reduce forever.
    """
    if not ddp.enabled:
        return local
    flag = torch.tensor([1.0 if local else 0.0], device=ddp.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item() > 0)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def save_state(path, **state) -> None:
    """Save a resumable training state (tensors, numbers, strings, dicts) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # an interrupted save never destroys the previous state


def load_state(path) -> dict:
    # weights_only: the state holds only tensors and plain values, so no code runs on load
    return torch.load(path, map_location="cpu", weights_only=True)


def hole_psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB) over the hole pixels of one ``HxWx3 uint8`` image (the validation figure).

    ``inpaint_core.eval.metrics.psnr`` is the evaluation's version; this one needs no
    scikit-image, which the training machines may lack.
    """
    diff = pred[mask].astype(np.float64) - target[mask].astype(np.float64)
    mse = max(float((diff**2).mean()), 1e-10)
    return 10 * float(np.log10(255.0**2 / mse))


class HeldOutJudge:
    """The targets' figures on a trainer's fixed validation holes, read at every validation.

    ``distance``: ``inpaint_core.eval.metrics.JudgeDistance`` (the judge of ``../shared/JUDGE.md``,
    logged as ``judge``), ``PerceptualDistance`` (the old raw-VGG distance, logged as
    ``perceptual``, for the model cards' history), or None for PSNR and detail only.
    ``fill(masked, mask, *extra) -> HxWx3 uint8``: the classical peer the targets are set
    against (PatchMatch, land-cover PatchMatch), scored under ``name``. As in ``evaluate``,
    the peer sees the image with its holes blacked out and only its hole pixels count, and
    the model's output is pasted into the holes only. The validation holes are fixed for a
    run, so the peer fills them once (the first validation) and its scores are reused.

    Per validation: :meth:`start`, :meth:`image` for each image, then :meth:`finish`.
    """

    def __init__(self, distance=None, fill: typing.Callable | None = None, name: str = "baseline",
                 peers: dict[str, typing.Callable] | None = None):
        from inpaint_core.eval.metrics import JudgeDistance

        self.distance = distance
        self.peers = dict(peers or {})  # name -> fill; ``fill``/``name`` add one more
        if fill is not None:
            self.peers[name] = fill
        self.key = "judge" if isinstance(distance, JudgeDistance) else "perceptual"
        # per peer, per image: (hole PSNR, distance, detail), filled once per run
        self.baseline: dict[str, list[tuple[float, float | None, float]]] | None = None
        self._model: list[tuple[float | None, float]] = []  # per image: (distance, detail)
        self._count, self._new = 0, None

    def start(self) -> None:
        self._model, self._count = [], 0
        self._new = {name: [] for name in self.peers} if self.peers and self.baseline is None else None

    def image(self, pred: np.ndarray, target: np.ndarray, mask: np.ndarray, *extra) -> None:
        """One validation image: ``pred`` the model's output, ``target`` the original (both
        ``HxWx3 uint8``), ``mask`` the ``HxW`` bool hole; ``extra``: the fills' other inputs."""
        from inpaint_core.eval.metrics import detail_ratio

        self._count += 1
        hole = mask[..., None]
        feats = None if self.distance is None else self.distance.features(target)  # once for every fill
        comp = np.where(hole, pred, target).astype(np.uint8)
        self._model.append((None if feats is None else self.distance(comp, feats), detail_ratio(comp, target, mask)))
        if self._new is not None:
            masked = np.where(hole, 0, target).astype(np.uint8)  # no fill sees the hole's own pixels
            for name, fill in self.peers.items():
                filled = np.where(hole, fill(masked, mask, *extra), target).astype(np.uint8)
                self._new[name].append((hole_psnr(filled, target, mask),
                                        None if feats is None else self.distance(filled, feats),
                                        detail_ratio(filled, target, mask)))

    def finish(self) -> dict[str, float]:
        """The model's ``judge`` (or ``perceptual``) distance and median ``detail`` ratio; each
        peer's ``psnr_hole_NAME``, ``judge_NAME`` and ``detail_NAME``; and ``win_rate_NAME``, the
        share of images where the model's distance is below that peer's."""
        if self._new is not None:
            self.baseline, self._new = self._new, None
        out = {}
        if self._model:
            out["detail"] = float(np.nanmedian([d for _, d in self._model]))
            if self.distance is not None:
                out[self.key] = float(np.mean([v for v, _ in self._model]))
        for name, rows in (self.baseline or {}).items():
            if len(rows) != self._count:
                raise RuntimeError(f"{name} scored {len(rows)} validation images, the model {self._count}")
            out[f"psnr_hole_{name}"] = float(np.mean([r[0] for r in rows]))
            out[f"detail_{name}"] = float(np.nanmedian([r[2] for r in rows]))
            if self.distance is not None:
                out[f"{self.key}_{name}"] = float(np.mean([r[1] for r in rows]))
                out[f"win_rate_{name}"] = float(np.mean([m[0] < r[1] for m, r in zip(self._model, rows)]))
        return out


JUDGE = "judge"  # --val-perceptual's value for the judge of ../shared/JUDGE.md


def val_perceptual_field():
    """The trainers' ``--val-perceptual`` flag: which perceptual distance the validation reads."""
    return field(JUDGE, help="the validation's perceptual distance: 'judge' (the judge of JUDGE.md: LPIPS-shaped, "
                 "relu1_2 to relu5_3, channel-normalised; --vgg-weights must reach conv5_3, e.g. two files "
                 "comma-separated), or VGG16 layer names for the old raw-activation distance (the card history's "
                 "figure); '' = none")


def layer_names(layers: str) -> tuple[str, ...]:
    """``--val-perceptual``'s comma-separated names: ``("judge",)``, VGG16 layers, or none."""
    return tuple(x.strip() for x in layers.split(",") if x.strip())


def check_select(select: str, val_perceptual: str) -> None:
    """Stop with a clear message where ``--select`` names a figure the validation does not read."""
    names = layer_names(val_perceptual)
    if select == "judge" and names != (JUDGE,):
        raise SystemExit("--select judge needs the judge in validation (--val-perceptual judge)")
    if select == "perceptual" and (not names or names == (JUDGE,)):
        raise SystemExit("--select perceptual needs the old distance's layers in --val-perceptual "
                         "(e.g. relu1_2,relu2_2,relu3_3,relu4_3); the judge is --select judge")


def best_carries_over(state: dict, cfg) -> bool:
    """Whether a resumed run's best score still compares with this run's: the same ``--select``,
    and for ``perceptual``/``judge`` the same distance (another figure, or a distance on other
    layers, does not)."""
    if state.get("select", "psnr_hole") != cfg.select:
        return False
    return cfg.select not in ("perceptual", JUDGE) or layer_names(
        state.get("val_perceptual", cfg.val_perceptual)) == layer_names(cfg.val_perceptual)


def held_out_judge(vgg_weights, layers: str, device, name: str, fill: typing.Callable | None,
                   more: dict[str, typing.Callable] | None = None) -> HeldOutJudge:
    """The trainers' :class:`HeldOutJudge`: ``--val-perceptual``'s distance, and ``fill`` (a
    PatchMatch-based peer, or None when switched off) unless PyPatchMatch cannot run here,
    which is said, not fatal (the GPU training machine lacks it); ``more``: other peers."""
    if fill is not None:
        why = _patchmatch_missing()
        if why:
            print(f"validation: {name} skipped ({why}); pip install pypatchmatch to score it")
            fill = None
    return HeldOutJudge(validation_distance(vgg_weights, layers, device), fill, name, peers=more)


def selection_score(select: str, val: dict, step: int) -> float:
    """The figure ``--select`` exports by (higher is better): the step for ``last``, minus the
    distance for ``judge`` and ``perceptual``, else the validation figure of that name."""
    if select == "last":
        return float(step)
    if select in ("perceptual", JUDGE):
        return -val[select]
    return val.get(select, -float("inf"))


def validation_distance(vgg_weights, layers: str, device):
    """``--val-perceptual``'s metric: the judge (``judge``), the old distance on ``layers``
    (comma-separated), or None for ``''``; a clear stop when the VGG file lacks the layers."""
    from inpaint_core.eval.metrics import (
        JUDGE_LAYERS,
        JudgeDistance,
        PerceptualDistance,
    )
    from inpaint_core.models.vgg import load_vgg16

    names = layer_names(layers)
    if not names:
        return None
    try:
        if names == (JUDGE,):
            return JudgeDistance(load_vgg16(vgg_weights, JUDGE_LAYERS), device)
        return PerceptualDistance(load_vgg16(vgg_weights, names), device)
    except ValueError as err:
        hint = ("the judge reads relu5_3: pass weights to conv5_3 (e.g. --vgg-weights "
                "vgg16_imagenet_features_to_relu4_3.pth,vgg16_imagenet_features_conv5.pth)") if names == (JUDGE,) else \
            "name layers the file holds, or '' for PSNR only"
        raise SystemExit(f"--val-perceptual {layers}: {err} ({hint})") from err


def _patchmatch_missing() -> str | None:
    """Why PyPatchMatch cannot run here (not installed, or its native library did not load), or None."""
    try:
        import patchmatch as pm
    except ImportError as err:
        return str(err)
    return None if getattr(pm, "patchmatch_available", True) else "its native library did not load"


def images_to_uint8(t: torch.Tensor) -> np.ndarray:
    """``Nx3xHxW`` float [0,1] -> ``NxHxWx3`` uint8."""
    return (t.detach().float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def save_grid(path, columns: list[np.ndarray], gap: int = 4) -> Path:
    """Save a grid PNG: ``columns`` is a list of ``NxHxWx3 uint8`` arrays, one per column
    (e.g. masked | output | target); each row is one sample."""
    n, h, w = columns[0].shape[:3]
    grid = np.full((n * h + (n - 1) * gap, len(columns) * w + (len(columns) - 1) * gap, 3), 255, np.uint8)
    for c, col in enumerate(columns):
        for r in range(n):
            grid[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = col[r]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
    return path


class JsonLog:
    """Append one JSON object per line (step, losses, validation figures) to ``path``."""

    def __init__(self, path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def rewind(self, step: int) -> int:
        """Drop the records of steps after ``step`` (a resumed run redoes them from its last
        saved state, so keeping them would draw every such step twice). Returns how many."""
        if not self.enabled or not self.path.exists():
            return 0
        lines = [line for line in self.path.read_text().splitlines() if line.strip()]
        kept = [line for line in lines if json.loads(line).get("step", 0) <= step]
        if len(kept) < len(lines):
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in kept))
            os.replace(tmp, self.path)
        return len(lines) - len(kept)

    def write(self, **record) -> None:
        if self.enabled:
            record.setdefault("time", time.time())
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")


class Timer:
    """Wall-clock seconds since creation plus an offset (time spent in earlier, resumed runs)."""

    def __init__(self, offset: float = 0.0):
        self.start, self.offset = time.time(), offset

    @property
    def elapsed(self) -> float:
        return self.offset + time.time() - self.start


def plot_curves(log_path, out_path, panels: dict[str, list[str]], log_scale: tuple[str, ...] = ()) -> Path | None:
    """Training curves from a JSON-lines log as one PNG, a panel per ``{title: [keys]}``.

    Each key is drawn against ``step`` from the records that have it (training lines and
    validation lines alike), so a resumed run's log gives one continuous curve. Returns
    None (with a note) where matplotlib is missing, e.g. on a bare GPU machine: the log
    itself is the record.
    """
    try:
        import matplotlib
    except ImportError:
        print(f"note: matplotlib is not installed; no curves at {out_path} (the log is {log_path})")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels.items()):
        for key in keys:
            points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float)) and "step" in r]
            if len(points) >= 30:  # per-batch figures are noisy: faint raw line, moving average on top
                steps, values = map(np.asarray, zip(*points))
                k = max(3, len(points) // 10)
                line, = ax.plot(steps, values, alpha=0.25, linewidth=0.8)
                ax.plot(steps[k - 1 :], np.convolve(values, np.ones(k) / k, mode="valid"), color=line.get_color(),
                        label=f"{key} (mean of {k})")
            elif points:
                steps, values = zip(*points)
                ax.plot(steps, values, label=key, marker="o", markersize=3)
        ax.set(title=title, xlabel="step", yscale="log" if title in log_scale else "linear")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path


# --- the training loop both scripts share ------------------------------------------------------

@dataclasses.dataclass
class Progress:
    """Where a run stands; the loop advances it, the scripts' save and export read it."""

    step: int = 0
    epoch: int = 0
    best: float = -float("inf")  # the best validation figure exported so far (see ``Loop.score``)
    batch_in_epoch: int = 0  # batches of ``epoch`` already trained on
    epoch_rng: typing.Any = None  # torch's RNG state when ``epoch`` began (it drew the epoch's shuffle)
    last_val: dict = dataclasses.field(default_factory=dict)
    last_val_step: int = -1

    def resumable(self) -> dict:
        """What a training state must keep so that a resumed run continues exactly where it stopped."""
        return {"step": self.step, "epoch": self.epoch, "best": self.best, "batch_in_epoch": self.batch_in_epoch,
                "epoch_rng": self.epoch_rng}

    @classmethod
    def from_state(cls, state: dict) -> "Progress":
        return cls(state["step"], state["epoch"], state["best"], state.get("batch_in_epoch", 0),
                   state.get("epoch_rng"))


def lr_factor(step: int, total: int, warmup: int = 0, cosine: bool = False) -> float:
    """The learning-rate schedule, one function of the step: a linear warm-up over ``warmup``
    steps, then constant, or decaying to zero on a cosine over ``total`` steps."""
    factor = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    if cosine:
        factor *= 0.5 * (1 + math.cos(math.pi * min(step, total) / max(1, total)))
    return factor


@dataclasses.dataclass
class Loop:
    """What a training script gives :func:`run_loop`: its data, its step, its validation,
    and how it saves, samples and exports; the loop owns the bookkeeping around them."""

    loader: typing.Any  # the training DataLoader
    datasets: list  # datasets whose ``set_epoch`` is called at each epoch (new holes every epoch)
    step_fn: typing.Callable  # batch -> (loss: float, parts: dict of floats, images in the batch)
    optimizers: list  # [(optimizer, base learning rate)]: their rate is set from ``schedule`` before each step
    schedule: typing.Callable  # step -> learning-rate factor (see :func:`lr_factor`)
    validate: typing.Callable  # () -> dict of held-out figures
    describe: typing.Callable  # validation dict -> one line for the terminal
    score: typing.Callable  # validation dict -> the figure whose improvement exports the model
    export: typing.Callable  # validation dict -> None: write the model file
    save_state: typing.Callable  # () -> None: write the resumable state (reads Progress)
    sample: typing.Callable  # path -> None: write a sample grid
    curves: typing.Callable  # () -> None: redraw the training curves
    postfix: tuple  # part names shown in the progress bar
    sampler: typing.Any = None  # a DistributedSampler, or None
    export_on_improvement: bool = True  # False for the overfit test: nothing to export
    snapshot: typing.Callable | None = None  # validation dict -> None: also keep this validation's model


def run_loop(loop: Loop, progress: Progress, steps_total: int, cfg, ddp: Dist, log: "JsonLog", timer: "Timer",
             out: Path, desc: str):
    """Train until ``steps_total`` steps or ``cfg.max_minutes``; returns the last ``(loss, parts)``.

    Every ``cfg.log_every`` steps: a log line (loss, parts, images/s, learning rate, minutes);
    every ``sample_every``: a sample grid; every ``val_every``: a validation, the curves, and an
    export when ``loop.score`` improves; every ``save_every``: the training state. At the end:
    the state, a last validation if the last step had none, the final grid, the curves and an
    export if that last validation is the best. All processes of a data-parallel run stop
    together (:func:`agreed_stop`).
    """
    from tqdm import tqdm

    bar = tqdm(total=steps_total, initial=progress.step, desc=desc, disable=not ddp.is_main, dynamic_ncols=True)
    run_start, t0, seen, stop = time.time(), time.time(), 0, False
    loss, parts = float("nan"), {}
    skip = progress.batch_in_epoch  # a resumed run: these batches of this epoch are done
    while progress.step < steps_total and not stop:
        for dataset in loop.datasets:
            dataset.set_epoch(progress.epoch)
        if loop.sampler is not None:
            loop.sampler.set_epoch(progress.epoch)
        batches = _epoch_batches(loop, progress, skip)
        skip = 0
        for batch in batches:
            factor = loop.schedule(progress.step)
            for opt, base in loop.optimizers:
                for group in opt.param_groups:
                    group["lr"] = base * factor
            loss, parts, images = loop.step_fn(batch)
            progress.step += 1
            progress.batch_in_epoch += 1
            step = progress.step
            seen += images * ddp.world_size
            bar.update(1)
            if step % cfg.log_every == 0 or step == 1:
                ips, seen, t0 = seen / max(1e-9, time.time() - t0), 0, time.time()
                bar.set_postfix(loss=f"{loss:.4f}", **{k: f"{parts[k]:.3f}" for k in loop.postfix if k in parts},
                                ips=f"{ips:.1f}")
                log.write(step=step, loss=loss, **parts, images_per_s=ips, lr=loop.optimizers[0][1] * factor,
                          minutes=timer.elapsed / 60)
            if ddp.is_main and (step % cfg.sample_every == 0 or step == steps_total):
                loop.sample(out / "samples" / f"step{step:06d}.png")
            if ddp.is_main and (step % cfg.val_every == 0 or step == steps_total):
                _validate(loop, progress, log)
            if ddp.is_main and step % cfg.save_every == 0:
                loop.save_state()
            stop = agreed_stop(bool(cfg.max_minutes) and time.time() - run_start > cfg.max_minutes * 60, ddp)
            if step >= steps_total or stop:
                break
        else:  # the epoch ran to its end (a break leaves the run mid-epoch, as the state records)
            progress.epoch += 1
            progress.batch_in_epoch = 0
    bar.close()
    if ddp.is_main:
        loop.save_state()
        if progress.last_val_step != progress.step:
            _validate(loop, progress, log)
        loop.sample(out / "samples" / "final.png")
        loop.curves()
    return loss, parts


def _epoch_batches(loop: Loop, progress: Progress, skip: int):
    """The epoch's batch iterator, in the order a run that never stopped would see them.

    A new epoch records torch's RNG state before the loader draws its shuffle. A resumed
    run replays that shuffle from the recorded state, passes over the ``skip`` batches it
    already trained on, and goes on with the RNG state of the moment it stopped: so k steps,
    a stop and a resume to N train exactly as N steps in one go.
    """
    if skip and progress.epoch_rng is not None:
        now = torch.get_rng_state()
        torch.set_rng_state(progress.epoch_rng)
        batches = iter(loop.loader)
        for _ in range(skip):
            next(batches, None)
        torch.set_rng_state(now)
        progress.batch_in_epoch = skip
        return batches
    progress.epoch_rng = torch.get_rng_state()
    progress.batch_in_epoch = 0
    return iter(loop.loader)


def _validate(loop: Loop, progress: Progress, log: "JsonLog") -> None:
    from tqdm import tqdm

    val = loop.validate()
    progress.last_val, progress.last_val_step = val, progress.step
    log.write(step=progress.step, **val)
    tqdm.write(f"step {progress.step}: {loop.describe(val)}")
    loop.curves()
    if loop.snapshot is not None:
        loop.snapshot(val)
    if loop.export_on_improvement and loop.score(val) > progress.best:
        progress.best = loop.score(val)
        loop.export(val)
