"""Class tables: built-ins, JSON round trips, colour/code mapping, unknown-value reporting."""

import json

import numpy as np
import pytest
from PIL import Image

from inpaint_core.data.geo import read_landcover
from inpaint_core.data.landcover import (
    BUILTIN_TABLES,
    TABLES_DIR,
    ClassTable,
    LandCoverClass,
    format_color,
    get_class_table,
)
from inpaint_core.data.pictures import write_png


@pytest.mark.parametrize("name", list(BUILTIN_TABLES))
def test_builtin_tables_round_trip_through_json(name):
    table = get_class_table(name)
    again = ClassTable.from_json(json.loads(json.dumps(table.to_json())), name=name)
    assert again == table and again.name == name
    assert all(isinstance(c, LandCoverClass) for c in table)
    assert isinstance(table[0].color, tuple) and len(table[0].color) == 3


def test_builtin_sizes_and_dubai_colours_follow_the_readme():
    assert len(get_class_table("s2glc")) == 15
    assert len(get_class_table("s2glc9")) == 9
    dubai = get_class_table("dubai-aerial")
    assert dubai.names == ["Unlabeled", "Water", "Land (unpaved area)", "Road", "Building", "Vegetation"]
    assert dubai[dubai.index("Water")].color == (0xE2, 0xA9, 0x29)  # not classes.json's #50E3C2
    assert dubai.nodata_indices == (0,)


def test_deepglobe_table_follows_its_readme():
    table = get_class_table("deepglobe")
    assert table.names == ["Urban land", "Agriculture land", "Rangeland", "Forest land", "Water", "Barren land",
                           "Unknown"]
    assert [format_color(c.color) for c in table] == ["#00FFFF", "#FFFF00", "#FF00FF", "#00FF00", "#0000FF",
                                                     "#FFFFFF", "#000000"]
    assert table.nodata_indices == (6,)
    rgb = np.array([[[0, 0, 255], [255, 255, 255]]], np.uint8)
    assert table.index_from_colors(rgb).tolist() == [[4, 5]]


def test_every_builtin_table_is_a_file_in_the_users_format():
    """A built-in table is nothing but a JSON file beside the others: what a user writes for a
    third data set is read by the same code."""
    files = sorted(TABLES_DIR.glob("*.json"))
    assert [f.stem for f in files] == sorted(BUILTIN_TABLES) and {"dubai-aerial", "deepglobe"} <= set(BUILTIN_TABLES)
    for f in files:
        assert get_class_table(f).name == get_class_table(f.stem).name == json.loads(f.read_text())["name"] == f.stem
    # the research's 9-class reduction keeps its meaning in the file: "Other" reads every S2GLC
    # colour and code that is not kept as a class of its own, and nothing else
    s2, nine = get_class_table("s2glc"), get_class_table("s2glc9")
    dropped = [c for c in s2 if c.name not in nine.names]
    assert set(nine[nine.index("Other")].aliases) == {c.color for c in dropped}
    assert set(nine[nine.index("Other")].alias_codes) == {c.code for c in dropped}
    assert all(nine[nine.index(c.name)] == c for c in s2 if c.name in nine.names)


def test_colour_map_to_index_and_back():
    table = get_class_table("dubai-aerial")
    idx = np.arange(6).repeat(4).reshape(4, 6)
    rgb = table.colorize(idx)
    assert rgb.dtype == np.uint8 and rgb.shape == (4, 6, 3)
    np.testing.assert_array_equal(table.index_from_colors(rgb), idx)
    rgb[0, 0] = 0  # black is an alias of "Unlabeled" in the published masks
    assert table.index_from_colors(rgb)[0, 0] == 0


def test_unknown_colours_are_reported_with_counts():
    table = get_class_table("dubai-aerial")
    rgb = table.colorize(np.full((5, 5), 1))
    rgb[:2, :] = (1, 2, 3)  # 10 px
    rgb[4, 4] = (250, 0, 0)  # 1 px
    with pytest.raises(ValueError, match=r"#010203: 10 px.*#FA0000: 1 px"):
        table.index_from_colors(rgb)
    out = table.index_from_colors(rgb, unknown=0)
    assert (out[:2] == 0).all() and out[3, 3] == 1


def test_codes_map_and_s2glc9_merges_other_codes():
    s2 = get_class_table("s2glc")
    codes = np.array([[0, 62, 162], [255, 106, 123]])
    idx = s2.index_from_codes(codes)
    np.testing.assert_array_equal(s2.codes_from_index(idx), codes)
    nine = get_class_table("s2glc9")
    idx9 = nine.index_from_codes(codes)
    other = nine.index("Other")
    assert idx9[0, 0] == idx9[0, 2] == idx9[1, 0] == idx9[1, 2] == other
    assert nine[idx9[1, 1]].name == "Peatbogs"
    with pytest.raises(ValueError, match=r"7: 2 px"):
        s2.index_from_codes(np.array([[7, 7, 62]]))


def test_user_json_table(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps([{"name": "sea", "code": 3, "color": "#0000FF"},
                                {"name": "land", "code": 9, "color": [0, 255, 0], "nodata": False}]))
    table = get_class_table(path)
    assert table.name == "mine" and len(table) == 2 and table[1].color == (0, 255, 0)
    with pytest.raises(ValueError, match="unknown class table"):
        get_class_table("no-such-table")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "a", "code": 1, "color": "#000000"}, {"name": "b", "code": 1, "color": "#FFFFFF"}]))
    with pytest.raises(ValueError, match="code 1"):
        get_class_table(bad)


def test_read_landcover_palette_rgb_and_coded_png(tmp_path):
    table = get_class_table("dubai-aerial")
    idx = np.random.default_rng(0).integers(0, 6, (8, 9))
    rgb = table.colorize(idx)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=8).save(tmp_path / "pal.png")
    assert Image.open(tmp_path / "pal.png").mode == "P"
    write_png(tmp_path / "codes.png", table.codes_from_index(idx).astype(np.uint8))
    for name in ("rgb.png", "pal.png", "codes.png"):
        np.testing.assert_array_equal(read_landcover(tmp_path / name, table), idx)
    s2 = get_class_table("s2glc")
    codes = np.array([[62, 162, 255]], dtype=np.uint16) * 1  # 8-bit values stored in a 16-bit PNG
    write_png(tmp_path / "codes16.png", codes.astype(np.uint16))
    np.testing.assert_array_equal(s2.codes_from_index(read_landcover(tmp_path / "codes16.png", s2)), codes)
