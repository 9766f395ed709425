"""The model file format: one ``.safetensors`` file per model.

Weights are stored as safetensors tensors; the file's string metadata holds
``format`` (``"inpaint-core"``), ``format_version``, ``meta``, a JSON document with
the model ``kind``, its ``config`` (the model dataclass as a dict), optional ``classes``
(a land-cover class table) and a ``training`` summary, and ``tensors_sha256``, a digest
of every tensor's name, dtype, shape and bytes written at export. Loading never
unpickles anything, and any wrong or damaged file raises :class:`CheckpointError` with
a message that names the file: one that is no safetensors file (a pickled ``.pt``
renamed), weights that are not finite, and weights whose digest differs from the one
written at export (flipped bits fill every hole wrongly and silently). Files written
before the digest existed load without that check; the finiteness check is always made.

torch is imported only where tensors are written or loaded: reading a checkpoint's metadata,
or importing this module, does not need it.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from safetensors import SafetensorError, safe_open

if TYPE_CHECKING:
    import torch

__all__ = ["CheckpointError", "FORMAT", "FORMAT_VERSION", "save_model", "read_meta", "load_model_file",
           "tensors_sha256"]

FORMAT = "inpaint-core"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, damaged, of another format or of an unknown version."""


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """Hex sha256 of ``tensors``: each one's name, dtype, shape and bytes, in name order.

    The digest is of the tensors, not of the file, so it does not depend on how safetensors
    lays the file out, and the metadata that holds it is not part of what it covers.
    """
    import torch

    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy())  # the raw bytes, whatever the dtype
    return digest.hexdigest()


def save_model(path, state_dict: dict[str, torch.Tensor], kind: str, config: dict, training: dict | None = None,
               classes: list | None = None) -> Path:
    """Write ``state_dict`` and its metadata to ``path`` atomically (temp file + rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    meta = {"kind": kind, "config": config, "training": training or {}}
    if classes is not None:
        meta["classes"] = classes
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    metadata = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "meta": json.dumps(meta, sort_keys=True),
                "tensors_sha256": tensors_sha256(tensors)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def _check_safetensors_layout(path: Path) -> None:
    """``CheckpointError`` when ``path`` cannot be a safetensors file, saying what it looks like.

    A safetensors file starts with the 8-byte length of a JSON header that follows it. A
    pickle renamed ``.safetensors`` reads as a header length beyond the file, and the
    library then reports "header too large", which tells a person nothing.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) == 9:
        (length,) = struct.unpack("<Q", head[:8])
        if 0 < length <= size - 8 and head[8:9] == b"{":
            return
    if head[:1] == b"\x80" or head[:4] == b"PK\x03\x04":  # pickle protocol 2+; torch.save's zip
        looks = "it looks like a pickled PyTorch file (.pt / .pth / .ckpt) renamed"
    elif size == 0:
        looks = "it is empty"
    else:
        looks = "its first bytes are no safetensors header"
    raise CheckpointError(f"{path.name} is not a safetensors file ({looks}); this app loads only .safetensors "
                          "checkpoints, which hold no code")


def _open_meta(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path.name}")
    _check_safetensors_layout(path)
    try:
        with safe_open(str(path), framework="numpy") as f:  # the header only: no torch needed
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path.name} is not a readable safetensors checkpoint ({err})") from err
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is a safetensors file but not an inpaint-core checkpoint "
                              f"(no '{FORMAT}' metadata)")
    try:
        version = int(header.get("format_version", "0"))
    except ValueError:
        version = -1
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path.name} has checkpoint format version {header.get('format_version')!r}; "
            f"this inpaint_core reads version {FORMAT_VERSION}"
        )
    try:
        meta = json.loads(header["meta"])
    except (KeyError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path.name} has damaged metadata ({err})") from err
    if not isinstance(meta, dict) or "kind" not in meta or "config" not in meta:
        raise CheckpointError(f"{path.name} metadata lacks 'kind' or 'config'")
    return meta


def read_meta(path) -> dict:
    """The checkpoint's metadata dict (``kind``, ``config``, ``training``, maybe ``classes``)."""
    return _open_meta(Path(path))


def load_model_file(path) -> tuple[dict[str, torch.Tensor], dict]:
    """Return ``(state_dict, meta)`` of a checkpoint on the CPU.

    Refuses (``CheckpointError``) weights that are NaN or infinite, and weights whose
    ``tensors_sha256`` differs from the one written at export; files without a digest
    (written before it existed) are checked for finiteness only.
    """
    import torch

    path = Path(path)
    meta = _open_meta(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}
            expected = (f.metadata() or {}).get("tensors_sha256")
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path.name} is damaged: its tensors cannot be read ({err})") from err
    damaged = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if damaged:
        raise CheckpointError(f"{path.name} is damaged: {len(damaged)} tensor(s) hold NaN or infinite weights "
                              f"(e.g. {damaged[0]}), which would fill every hole with garbage; export or copy "
                              "the model again")
    if expected is not None and tensors_sha256(state) != expected:
        raise CheckpointError(f"{path.name} is damaged: its weights differ from the ones written at export (the "
                              "sha256 in its metadata does not match), so its fills would be silently wrong; "
                              "export or copy the model again")
    return state, meta
