"""Where and how a training run computes: processes, devices, precision, one optimiser step.

* one-process or ``torchrun`` data-parallel set-up (gloo on CPU, NCCL on GPU);
* autocast: fp16/bf16 on CUDA; bf16 on CPUs with native bf16 units (AVX512-BF16/AMX), where
  it roughly doubles throughput. On CPUs without them (e.g. AMD Zen 3) bf16 convolutions
  fall back to slow paths: measured here 118 s/step against 5.9 s/step in float32, so
  there training stays in float32;
* a GradScaler where autocast runs in fp16, and the backward pass and step that use it.
"""

from __future__ import annotations

import dataclasses
import os
import random
from contextlib import nullcontext

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

__all__ = ["Dist", "setup_distributed", "data_parallel", "agreed_stop", "seed_everything", "cpu_has_fast_bf16",
           "autocast_for", "grad_scaler_for", "optimizer_step"]


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


def data_parallel(module: torch.nn.Module, ddp: Dist, **kwargs) -> torch.nn.Module:
    """``module`` wrapped for data-parallel training (its gradients averaged over the processes
    at each backward pass), or itself in a one-process run."""
    return DistributedDataParallel(module, **kwargs) if ddp.enabled else module


def agreed_stop(local: bool, ddp: Dist) -> bool:
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


def optimizer_step(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler=None, clip: float = 0.0) -> None:
    """Backward pass and ``opt.step()`` from zeroed gradients, their norm clipped to ``clip``
    (0 = not clipped). ``scaler``: the GradScaler of fp16 autocast (:func:`grad_scaler_for`),
    or None; the gradients are unscaled before clipping, so a clip means the same in every
    precision."""
    opt.zero_grad(set_to_none=True)
    params = [p for g in opt.param_groups for p in g["params"]]
    if scaler is not None and scaler.is_enabled():
        scaler.scale(loss).backward()
        if clip > 0:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, clip)
        scaler.step(opt)
        scaler.update()
        return
    loss.backward()
    if clip > 0:
        torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()
