"""The one fill registry (``inpaint_core/registry.py``): every fill by name, and everything that reads it."""

import argparse
import subprocess
import sys

import numpy as np
import pytest

from inpaint_core.checkpoint import CheckpointError, save_model
from inpaint_core.cli.run import add_arguments
from inpaint_core.data.landcover import get_class_table
from inpaint_core.eval import evaluate
from inpaint_core.fills.landcover import ExemplarBank
from inpaint_core.fills.prefill import BANK_PREFILLS, LANDCOVER_PREFILLS, PREFILLS, prefill
from inpaint_core.fills.table import BUILTIN_FILLS, BuiltinFill
from inpaint_core.models.album import AlbumConfig, AlbumUNet
from inpaint_core.models.network import NetworkInpainter
from inpaint_core.registry import (
    CLASSICAL_FILLS,
    FILL_METHODS,
    FILLS,
    LANDCOVER_FILLS,
    NETWORKS,
    PICTURE_TAB,
    TILE_TAB,
    ClassicalInpainter,
    LandcoverFillInpainter,
    load_inpainter,
    make_inpainter,
    tab_fills,
)

TABLE = get_class_table("dubai-aerial")


def tile_and_landcover(h=48, w=64):
    rng = np.random.default_rng(0)
    landcover = np.full((h, w), TABLE.names.index("Water"), np.int64)
    landcover[:, w // 2:] = TABLE.names.index("Vegetation")
    image = np.clip(TABLE.palette()[landcover] + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)
    return image, landcover


def bank():
    image, landcover = tile_and_landcover(128, 192)
    return ExemplarBank.build([(image, landcover)], len(TABLE), TABLE.nodata_indices)


def test_every_name_makes_the_fill_it_names():
    image, landcover = tile_and_landcover()
    hole = np.zeros(landcover.shape, bool)
    hole[10:20, 20:40] = True
    for name in FILL_METHODS[1:]:
        fill = FILLS[name]
        inpainter = make_inpainter(name, classes="dubai-aerial") if not fill.needs_bank else fill.make(TABLE, bank())
        assert inpainter.kind == name and inpainter.extra_inputs == fill.extra_inputs
        extra = {"landcover": landcover} if fill.extra_inputs else {}
        out = inpainter.inpaint(image, hole, **extra)
        np.testing.assert_array_equal(out[~hole], image[~hole])  # outside the hole: the input, exactly


def test_the_table_is_the_one_list_of_names():
    assert FILL_METHODS == ("model",) + CLASSICAL_FILLS + LANDCOVER_FILLS  # the built-in fills, then the networks
    assert CLASSICAL_FILLS == ("telea", "navier-stokes", "patchmatch")  # evaluate's column order
    assert NETWORKS == ("album", "satellite")
    assert all(not FILLS[n].extra_inputs for n in CLASSICAL_FILLS)
    assert all(FILLS[n].extra_inputs == ("landcover",) for n in LANDCOVER_FILLS + ("satellite",))
    labels = [f.label for f in FILLS.values()]
    assert all(labels) and len(set(labels)) == len(labels)  # each a distinct choice in the app
    # a pre-fill that is also a fill needs a bank in both or in neither
    for name in set(LANDCOVER_PREFILLS) & set(FILLS):
        assert FILLS[name].needs_bank == (name in BANK_PREFILLS), name


def test_unknown_names_list_the_valid_ones(tiny_album_checkpoint):
    with pytest.raises(ValueError, match="valid: model, telea, navier-stokes, patchmatch, landcover-patchmatch"):
        make_inpainter("magic")
    with pytest.raises(ValueError, match="unknown classical fill 'landcover-nearest'; valid: telea, navier-stokes, "
                                         "patchmatch$"):
        ClassicalInpainter("landcover-nearest")
    with pytest.raises(ValueError, match="unknown land-cover fill 'telea'; valid: landcover-patchmatch, "
                                         "landcover-nearest, landcover-bank, landcover-smooth$"):
        LandcoverFillInpainter(TABLE, "telea")
    with pytest.raises(ValueError, match="landcover-bank needs an exemplar bank"):
        FILLS["landcover-bank"].make(TABLE)
    with pytest.raises(ValueError, match="needs a class table"):
        FILLS["landcover-nearest"].make()
    with pytest.raises(ValueError, match="load it from its checkpoint"):
        FILLS["album"].make()
    assert load_inpainter(tiny_album_checkpoint).kind == "album"


def test_a_checkpoint_kind_is_read_from_the_table(tmp_path):
    model = AlbumUNet(AlbumConfig(base=8, depth=2))
    odd = save_model(tmp_path / "odd.safetensors", model.state_dict(), "hologram", model.config.to_dict())
    with pytest.raises(CheckpointError, match="unknown model kind 'hologram'; this version knows album, satellite"):
        load_inpainter(odd)


def test_run_and_evaluate_read_the_table():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    method = next(a for a in parser._actions if a.dest == "method")
    assert tuple(method.choices) == FILL_METHODS
    assert all(name in method.help for name in FILL_METHODS)

    class WithBank:
        bank = bank()

    assert list(evaluate._baselines(None, False, None, None)) == list(CLASSICAL_FILLS)
    assert list(evaluate._baselines(None, True, TABLE, None)) == [  # no bank: no fill that needs one
        n for n in CLASSICAL_FILLS + LANDCOVER_FILLS if not FILLS[n].needs_bank]
    assert list(evaluate._baselines(None, True, TABLE, WithBank())) == list(CLASSICAL_FILLS + LANDCOVER_FILLS)
    with pytest.raises(ValueError, match="valid here: telea, navier-stokes, patchmatch$"):
        evaluate._baselines(["landcover-nearest"], False, None, None)


def test_the_fills_table_is_the_one_list_the_registry_and_the_prefills_read(monkeypatch):
    """The built-in fills are the lines of inpaint_core/fills/table.py: the registry wraps each
    (same function, same bank rule) and the pre-fills call the table's function by name."""
    assert CLASSICAL_FILLS + LANDCOVER_FILLS == tuple(BUILTIN_FILLS)
    for name, line in BUILTIN_FILLS.items():
        fill = FILLS[name]
        assert fill.function is line.function and fill.needs_bank == line.needs_bank, name
        assert (fill.inpainter is LandcoverFillInpainter) == line.landcover, name
        assert (name in LANDCOVER_PREFILLS) == line.prefill, name
        assert (name in PREFILLS) == (line.prefill and not line.landcover), name
    assert BANK_PREFILLS == tuple(n for n, f in BUILTIN_FILLS.items() if f.prefill and f.needs_bank)

    image, landcover = tile_and_landcover()
    hole = np.zeros(landcover.shape, bool)
    hole[10:20, 20:40] = True
    monkeypatch.setitem(BUILTIN_FILLS, "telea", BuiltinFill("telea", lambda im, m: np.full_like(im, 7), prefill=True))
    assert (prefill(image, hole, "telea") == 7).all()  # read from the table, not from a list of its own
    seen = []
    monkeypatch.setitem(BUILTIN_FILLS, "landcover-bank", BuiltinFill(
        "landcover-bank", lambda im, m, lc, b: seen.append(b) or im, landcover=True, needs_bank=True, prefill=True))
    prefill(image, hole, "landcover-bank", landcover=landcover, bank="the bank")
    assert seen == ["the bank"]


def test_each_tab_offers_the_fills_the_registry_places_there():
    assert tab_fills(PICTURE_TAB) == ("patchmatch", "telea")  # the judge's baseline first
    assert tab_fills(TILE_TAB) == ("landcover-patchmatch", "telea")  # plain PatchMatch ignores the land cover
    assert all(not FILLS[n].extra_inputs for n in tab_fills(PICTURE_TAB))


def test_each_network_is_named_by_its_model_module():
    """The table names a network as "module:Class" (imported when its kind is loaded): a model file of
    the models layer, whose inpainter is a network's and rebuilds checkpoints of that kind."""
    for name in NETWORKS:
        module, _, cls = FILLS[name].inpainter.partition(":")
        assert module.startswith("inpaint_core.models."), name
        inpainter = FILLS[name].inpainter_class
        assert issubclass(inpainter, NetworkInpainter) and inpainter.__name__ == cls and inpainter.kind == name


# a classical fill, the command line and a scene's cluster workers, without torch (about a CPU-second
# and a few hundred MB of each process, on every worker); loading a network brings it in
_NO_TORCH = """
import sys
import numpy as np
import inpaint_core, inpaint_core.cli.run, inpaint_core.scene.cluster, inpaint_core.scene.fill
from inpaint_core.registry import FILLS, make_inpainter
image = np.full((32, 32, 3), 90, np.uint8)
mask = np.zeros((32, 32), bool)
mask[8:20, 8:20] = True
assert abs(make_inpainter("telea").inpaint(image, mask).astype(int) - 90).max() <= 2
assert [f.extra_inputs for n, f in FILLS.items() if not f.network]
assert "torch" not in sys.modules, "torch was imported"
assert FILLS["album"].inpainter_class.kind == "album" and "torch" in sys.modules
"""


def test_classical_fills_and_the_scene_path_import_no_torch():
    done = subprocess.run([sys.executable, "-c", _NO_TORCH], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
