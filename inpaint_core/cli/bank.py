"""``python -m inpaint_core bank``: cut a land-cover exemplar bank and store it in a checkpoint.

The satellite training script stores a bank in every model it exports, cut as here
(:func:`inpaint_core.fills.bank.bank_from_pairs`). This command gives one to a checkpoint
made before banks existed (or rebuilds it), from the checkpoint's own training tiles: the
tiles its training summary lists as held out are never used, so an evaluation on them
stays honest. The weights and metadata are kept as they are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from inpaint_core.checkpoint import load_model_file, save_model
from inpaint_core.data.landcover import table_from_meta
from inpaint_core.data.pictures import held_out_files
from inpaint_core.data.tiles import find_tile_pairs
from inpaint_core.fills.bank import bank_from_pairs
from inpaint_core.fills.landcover import BANK_PREFIX

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="satellite checkpoint to give a bank")
    parser.add_argument("--data", required=True, type=Path,
                        help="its tile folder (images/ beside masks/), as given to train/satellite.py")
    parser.add_argument("--out", type=Path, help="write here instead of replacing --checkpoint")
    parser.add_argument("--seed", type=int, default=0, help="seed of the exemplar draw")


def main(args: argparse.Namespace) -> int:
    try:
        state, meta = load_model_file(args.checkpoint)
        if "classes" not in meta:
            raise ValueError(f"{args.checkpoint} has no land-cover class table: it is not a satellite checkpoint")
        table = table_from_meta(meta)
        pairs = find_tile_pairs(args.data)
        try:
            val = set(held_out_files([p for p, _ in pairs], meta))
        except ValueError:  # a checkpoint that lists no held-out tiles: every tile is training data
            val = set()
        train = [p for p in pairs if p[0] not in val]
        if not train:
            raise ValueError(f"every tile under {args.data} is held out by {args.checkpoint}")
        bank = bank_from_pairs(train, table, seed=args.seed, progress=True)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    state = {k: v for k, v in state.items() if not k.startswith(BANK_PREFIX)}
    state.update(bank.to_tensors())
    meta.setdefault("training", {})["bank"] = {
        "tiles": len(train), "held_out_skipped": len(val), "seed": args.seed,
        "classes": {table[i].name: round(float(bank.purity[i]), 3) for i in range(len(table)) if bank.valid[i]},
    }
    out = save_model(args.out or args.checkpoint, state, meta["kind"], meta["config"], training=meta["training"],
                     classes=meta.get("classes"))
    names = ", ".join(f"{n} ({p:.2f})" for n, p in meta["training"]["bank"]["classes"].items())
    print(f"bank of {len(train)} training tiles ({len(val)} held out, not used) written to {out}; "
          f"classes (worst exemplar's purity): {names}")
    return 0
