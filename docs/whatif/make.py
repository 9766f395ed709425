"""Write the what-if grids of docs/whatif/ from the app's example tiles (free to redistribute).

    python docs/whatif/make.py [--checkpoint checkpoints/satellite-dubai.safetensors]

Each example tile is cut into its four 256-px windows; each window's class-patch hole is asked
to become the class farthest in colour from the one erased, and filled in the whole tile as
the app fills it (``evaluate --what-if``, :mod:`inpaint_core.eval.whatif`). The town tile is filled
by the Dubai model and the classical fills (with its exemplar bank); the rural tile, whose
DeepGlobe classes no shipped model paints, by the classical fills alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {  # folder under docs/whatif: (tile, land cover, class table)
    "town": ("examples/satellite/tile.tif", "examples/satellite/landcover.png", "dubai-aerial"),
    "rural": ("examples/satellite-deepglobe/rural-tile.tif", "examples/satellite-deepglobe/rural-landcover.png",
              "deepglobe"),
}


def main() -> int:
    import sys

    sys.path.insert(0, str(ROOT))
    from inpaint_core.eval.evaluate import _referee
    from inpaint_core.data.geo import read_tile
    from inpaint_core.registry import load_inpainter
    from inpaint_core.data.landcover import get_class_table
    from inpaint_core.eval.whatif import what_if, windows_in_tiles

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "checkpoints" / "satellite-dubai.safetensors")
    args = parser.parse_args()
    model = load_inpainter(args.checkpoint, device="cpu") if args.checkpoint.is_file() else None
    for name, (tile_path, lc_path, table_name) in EXAMPLES.items():
        table = get_class_table(table_name)
        fits = model is not None and model.classes.to_json() == table.to_json()
        tile = read_tile(ROOT / tile_path, ROOT / lc_path, table)
        windows = windows_in_tiles([(Path(tile_path).name, tile.rgb, tile.landcover)], 256, 0)
        reader = _referee(model, args.checkpoint, "cpu", None) if fits else None
        report = what_if(model if fits else None, table, windows, ROOT / "docs" / "whatif" / name, reader=reader,
                         examples=len(windows), checkpoint=args.checkpoint.name if fits else "classical fills",
                         progress=False)
        print(f"{name}: {report['count']} windows -> docs/whatif/{name}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
