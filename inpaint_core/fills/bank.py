"""An exemplar bank cut from training tiles: the one place a bank is made from tile files.

The satellite trainer stores one in every model it exports, and ``python -m inpaint_core
bank`` gives one to an older checkpoint; land-cover PatchMatch and the bank pre-fills read it
(:class:`~inpaint_core.fills.landcover.ExemplarBank`).
"""

from __future__ import annotations

from tqdm import tqdm

from inpaint_core.data.datasets import SatelliteTiles
from inpaint_core.fills.landcover import ExemplarBank

__all__ = ["bank_from_pairs"]


def bank_from_pairs(pairs, table, seed: int = 0, progress: bool = False) -> ExemplarBank:
    """An :class:`ExemplarBank` cut from ``(image, label)`` file pairs read with ``table``;
    ``progress``: a progress bar over the tiles."""
    tiles = SatelliteTiles(pairs, table)
    samples = (tiles.load(i) for i in tqdm(range(len(tiles.pairs)), desc="bank", unit="tile", disable=not progress))
    return ExemplarBank.build(samples, len(tiles.table), tiles.table.nodata_indices, seed=seed)
