"""The model file format: one ``.safetensors`` file per model.

Weights are stored as safetensors tensors; the file's string metadata holds
``format`` (``"inpaint-core"``), ``format_version`` and ``meta``, a JSON document with
the model ``kind``, its ``config`` (the model dataclass as a dict), optional ``classes``
(a land-cover class table) and a ``training`` summary. Loading never unpickles
anything, and any wrong or damaged file raises :class:`CheckpointError` with a
message that names the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

__all__ = ["CheckpointError", "FORMAT", "FORMAT_VERSION", "save_model", "read_meta", "load_model_file"]

FORMAT = "inpaint-core"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, damaged, of another format or of an unknown version."""


def save_model(path, state_dict: dict[str, torch.Tensor], kind: str, config: dict, training: dict | None = None,
               classes: list | None = None) -> Path:
    """Write ``state_dict`` and its metadata to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    meta = {"kind": kind, "config": config, "training": training or {}}
    if classes is not None:
        meta["classes"] = classes
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "meta": json.dumps(meta, sort_keys=True)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def _open_meta(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint ({err})") from err
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not an inpaint-core checkpoint (no '{FORMAT}' metadata)")
    try:
        version = int(header.get("format_version", "0"))
    except ValueError:
        version = -1
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {header.get('format_version')!r}; "
            f"this inpaint_core reads version {FORMAT_VERSION}"
        )
    try:
        meta = json.loads(header["meta"])
    except (KeyError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} has damaged metadata ({err})") from err
    if not isinstance(meta, dict) or "kind" not in meta or "config" not in meta:
        raise CheckpointError(f"{path} metadata lacks 'kind' or 'config'")
    return meta


def read_meta(path) -> dict:
    """The checkpoint's metadata dict (``kind``, ``config``, ``training``, maybe ``classes``)."""
    return _open_meta(Path(path))


def load_model_file(path) -> tuple[dict[str, torch.Tensor], dict]:
    """Return ``(state_dict, meta)`` of a checkpoint on the CPU."""
    path = Path(path)
    meta = _open_meta(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path} is damaged: its tensors cannot be read ({err})") from err
    return state, meta
