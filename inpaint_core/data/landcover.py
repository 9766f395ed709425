"""Land-cover class tables: names, raster codes and display colours, as data.

A :class:`ClassTable` is an ordered sequence of :class:`LandCoverClass`; a class's
position in the table is its *index*, the value stored in the ``HxW`` land-cover maps
the models use. The built-in tables are JSON files in ``inpaint_core/tables/``:

* ``dubai-aerial`` - the 6 classes of the "Semantic segmentation of aerial imagery" set,
  with the colours its masks really use (its own ``classes.json`` is wrong);
* ``deepglobe`` - the 7 classes of the DeepGlobe 2018 Land Cover challenge (rural tiles);
* ``s2glc`` - the S2GLC land-cover map (14 classes + "No data"), keyed by raster code;
* ``s2glc9`` - the research's 9-class reduction of S2GLC ("Other" takes every S2GLC
  code and colour not kept, so an S2GLC raster or colour map reads directly into it).

A user's own table is a JSON file in the same format: ``{"name", "description",
"classes": [...]}`` (or just the list), one ``{"name", "code", "color"}`` object per class
with optional ``"aliases"`` (extra mask colours), ``"alias_codes"`` and ``"nodata"``. Pass
its path wherever a table name is taken (``--classes my-table.json``); a trained model
stores its table, so the app and the CLI read it from the checkpoint. Pixels whose colour
or code is in no class are reported with their counts, never silently mapped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["LANDCOVER", "LandCoverClass", "ClassTable", "BUILTIN_TABLES", "TABLES_DIR", "TABLE_HELP", "get_class_table",
           "read_table_file", "table_from_meta", "parse_color", "format_color"]

RGB = tuple[int, int, int]

LANDCOVER = ("landcover",)  # the extra inputs (Inpainter.extra_inputs) of a fill that follows a land-cover map


def parse_color(value) -> RGB:
    """``"#RRGGBB"`` or a 3-sequence of 0..255 ints -> ``(r, g, b)``; ``ValueError`` otherwise."""
    if isinstance(value, str):
        text = value.strip().lstrip("#")
        if len(text) != 6:
            raise ValueError(f"colour {value!r} is not #RRGGBB")
        try:
            return tuple(int(text[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
        except ValueError as err:
            raise ValueError(f"colour {value!r} is not #RRGGBB") from err
    rgb = tuple(int(v) for v in value)
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise ValueError(f"colour {value!r} must be three integers in 0..255")
    return rgb  # type: ignore[return-value]


def format_color(rgb: RGB) -> str:
    return "#{:02X}{:02X}{:02X}".format(*rgb)


@dataclass(frozen=True)
class LandCoverClass:
    """One class: ``name``, raster ``code``, display/mask ``color`` (RGB).

    ``aliases`` are further mask colours read as this class, ``alias_codes`` further
    raster codes (both used when several source values merge into one class);
    ``nodata`` marks classes that are not land cover (unlabeled, no data): holes are
    never made of them and the land-cover losses ignore them.
    """

    name: str
    code: int
    color: RGB
    aliases: tuple[RGB, ...] = ()
    alias_codes: tuple[int, ...] = ()
    nodata: bool = False


class ClassTable(Sequence):
    """An ordered, immutable sequence of :class:`LandCoverClass` (index = position)."""

    def __init__(self, classes: Sequence[LandCoverClass], name: str = "custom"):
        self.name = name
        self._classes = tuple(classes)
        if not self._classes:
            raise ValueError(f"class table {name!r} has no classes")
        if len(self._classes) > 255:
            raise ValueError(f"class table {name!r} has {len(self._classes)} classes; at most 255 are supported")
        self._by_color: dict[RGB, int] = {}
        self._by_code: dict[int, int] = {}
        for i, cls in enumerate(self._classes):
            for color in (cls.color, *cls.aliases):
                if self._by_color.setdefault(tuple(color), i) != i:
                    raise ValueError(f"class table {name!r}: colour {format_color(color)} is used by two classes")
            for code in (cls.code, *cls.alias_codes):
                if self._by_code.setdefault(int(code), i) != i:
                    raise ValueError(f"class table {name!r}: code {code} is used by two classes")

    # --- sequence protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._classes)

    def __getitem__(self, i):
        return self._classes[i]

    def __eq__(self, other) -> bool:
        return isinstance(other, ClassTable) and self._classes == other._classes

    def __hash__(self) -> int:
        return hash(self._classes)

    def __repr__(self) -> str:
        return f"ClassTable({self.name!r}, {[c.name for c in self._classes]})"

    @property
    def names(self) -> list[str]:
        return [c.name for c in self._classes]

    @property
    def nodata_indices(self) -> tuple[int, ...]:
        """Indices of the classes marked ``nodata`` (ignored by losses and hole making)."""
        return tuple(i for i, c in enumerate(self._classes) if c.nodata)

    def index(self, name: str) -> int:  # type: ignore[override]
        """Index of the class called ``name``; ``ValueError`` listing the valid names."""
        for i, c in enumerate(self._classes):
            if c.name == name:
                return i
        raise ValueError(f"no class {name!r} in table {self.name!r}; classes: {', '.join(self.names)}")

    def check_index_map(self, landcover, shape: tuple[int, int]) -> np.ndarray:
        """Validate an ``HxW`` map of class indices for an image of ``shape``; returns it as int32.

        Raises ``ValueError`` saying what is wrong (a colour map, a float map, another size,
        indices outside the table) and how to fix it.
        """
        if landcover is None:
            raise ValueError(f"this fill needs landcover=HxW map of class indices "
                             f"(0..{len(self) - 1}: {', '.join(self.names)})")
        lc = np.asarray(landcover)
        if lc.ndim == 3:
            raise ValueError(f"landcover must be an HxW index map, got shape {lc.shape}; convert a colour map "
                             "with classes.index_from_colors(rgb)")
        if lc.ndim != 2 or not (np.issubdtype(lc.dtype, np.integer) or lc.dtype == bool):
            raise ValueError(f"landcover must be an HxW integer index map, got {lc.dtype} with shape {lc.shape}")
        if lc.shape != tuple(shape):
            raise ValueError(f"landcover size {lc.shape[1]}x{lc.shape[0]} does not match image size {shape[1]}x{shape[0]}")
        if lc.size and (lc.min() < 0 or lc.max() >= len(self)):
            raise ValueError(f"landcover holds values {lc.min()}..{lc.max()}; the classes of {self.name!r} are "
                             f"0..{len(self) - 1}")
        return lc.astype(np.int32)

    # --- conversions -------------------------------------------------------------------
    def hex_colors(self) -> list[str]:
        """The class colours as ``#rrggbb`` strings (row i = class i), as HTML and Gradio take them."""
        return [format_color(c.color).lower() for c in self._classes]

    def palette(self) -> np.ndarray:
        """The class colours as a ``Kx3 uint8`` array (row i = class i)."""
        return np.array([c.color for c in self._classes], dtype=np.uint8).reshape(-1, 3)

    def colorize(self, index_map: np.ndarray) -> np.ndarray:
        """``HxW`` integer index map -> ``HxWx3 uint8`` RGB using each class's colour."""
        index_map = np.asarray(index_map)
        if index_map.ndim != 2 or not np.issubdtype(index_map.dtype, np.integer):
            raise ValueError(f"index map must be an HxW integer array, got {index_map.dtype} {index_map.shape}")
        if index_map.size and (index_map.min() < 0 or index_map.max() >= len(self)):
            raise ValueError(f"index map holds values outside 0..{len(self) - 1} (table {self.name!r})")
        return self.palette()[index_map]

    def indices(self, names) -> list[int]:
        """Class names (one, or a list, as a class picker returns them) -> their indices;
        ``ValueError`` naming the unknown ones and the valid names."""
        names = [names] if isinstance(names, str) else list(names or [])
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ValueError(f"unknown class {', '.join(map(repr, unknown))}; the classes are: {', '.join(self.names)}")
        return [self.names.index(n) for n in names]

    def index_from_colors(self, rgb: np.ndarray, unknown: int | None = None) -> np.ndarray:
        """``HxWx3 uint8`` colour-coded map -> ``HxW int64`` class indices.

        Colours in no class raise ``ValueError`` listing them with their pixel counts,
        unless ``unknown`` gives the index to use for them.
        """
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"colour map must be HxWx3 uint8, got {rgb.dtype} {rgb.shape}")
        packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
        keys = {(r << 16) | (g << 8) | b: i for (r, g, b), i in self._by_color.items()}
        return self._lookup(packed, keys, unknown, "colour", lambda v: format_color(((v >> 16) & 255, (v >> 8) & 255, v & 255)))

    def index_from_codes(self, codes: np.ndarray, unknown: int | None = None) -> np.ndarray:
        """``HxW`` integer raster codes -> ``HxW int64`` class indices (unknown codes as for colours)."""
        codes = np.asarray(codes)
        if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"code raster must be an HxW integer array, got {codes.dtype} {codes.shape}")
        return self._lookup(codes.astype(np.int64), self._by_code, unknown, "code", str)

    def _lookup(self, values: np.ndarray, keys: dict[int, int], unknown, what: str, show) -> np.ndarray:
        # binary search against the few known keys: much faster than np.unique on a 4 Mpx map
        known = np.array(sorted(keys), dtype=np.int64)
        lut = np.array([keys[k] for k in known.tolist()], dtype=np.int64)
        pos = np.clip(np.searchsorted(known, values), 0, len(known) - 1)
        hit = known[pos] == values
        out = lut[pos]
        if not hit.all():
            if unknown is None:
                uniq, counts = np.unique(values[~hit], return_counts=True)
                listed = sorted(zip(counts.tolist(), uniq.tolist()), reverse=True)
                text = ", ".join(f"{show(v)}: {n} px" for n, v in listed[:20])
                more = f" (and {len(listed) - 20} more)" if len(listed) > 20 else ""
                raise ValueError(
                    f"{int(counts.sum())} pixels have a {what} that is in no class of table "
                    f"{self.name!r}: {text}{more}. Valid {what}s: "
                    + ", ".join(f"{c.name}={format_color(c.color) if what == 'colour' else c.code}" for c in self._classes)
                )
            if not 0 <= unknown < len(self):
                raise ValueError(f"unknown={unknown} is not a class index of table {self.name!r}")
            out[~hit] = unknown
        return out

    def codes_from_index(self, index_map: np.ndarray) -> np.ndarray:
        """``HxW`` index map -> ``HxW`` raster codes (each class's main ``code``), int64."""
        return np.array([c.code for c in self._classes], dtype=np.int64)[np.asarray(index_map)]

    # --- JSON ----------------------------------------------------------------------------
    def to_json(self) -> list[dict]:
        """A JSON-able list, one dict per class (what checkpoints store as ``classes``)."""
        out = []
        for c in self._classes:
            item = {"name": c.name, "code": c.code, "color": format_color(c.color)}
            if c.aliases:
                item["aliases"] = [format_color(a) for a in c.aliases]
            if c.alias_codes:
                item["alias_codes"] = list(c.alias_codes)
            if c.nodata:
                item["nodata"] = True
            out.append(item)
        return out

    @classmethod
    def from_json(cls, data, name: str = "custom") -> "ClassTable":
        """Inverse of :meth:`to_json`; also accepts ``{"name": ..., "classes": [...]}``."""
        if isinstance(data, dict):
            name = data.get("name", name)
            data = data.get("classes")
        if not isinstance(data, list):
            raise ValueError("a class table is a JSON list of {name, code, color} objects (or {name, classes})")
        classes = []
        for i, item in enumerate(data):
            try:
                classes.append(LandCoverClass(
                    name=str(item["name"]), code=int(item["code"]), color=parse_color(item["color"]),
                    aliases=tuple(parse_color(a) for a in item.get("aliases", ())),
                    alias_codes=tuple(int(c) for c in item.get("alias_codes", ())),
                    nodata=bool(item.get("nodata", False)),
                ))  # fmt: skip
            except (KeyError, TypeError) as err:
                raise ValueError(f"class {i} of table {name!r} needs name, code and color ({err})") from err
        return cls(classes, name)


TABLES_DIR = Path(__file__).resolve().parent / "tables"  # the built-in tables, one JSON file each


def _builtin_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in TABLES_DIR.glob("*.json")))


def read_table_file(path) -> ClassTable:
    """The class table in a JSON file (a list of classes, or ``{"name", "classes"}``);
    ``ValueError`` saying what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"class table file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"class table {path} is not valid JSON ({err})") from err
    return ClassTable.from_json(data, name=path.stem)


# name -> loader; each built-in table is a file in inpaint_core/tables/, in the format a user's own
# table uses, so adding a data set's table is adding a file
BUILTIN_TABLES = {name: (lambda n=name: read_table_file(TABLES_DIR / f"{n}.json")) for name in _builtin_names()}
if not BUILTIN_TABLES:  # an install that lost its package data: say so now, not at the first lookup
    raise ImportError(f"no built-in class tables in {TABLES_DIR}: reinstall the package (pip install .)")
# what every --classes flag says it takes
TABLE_HELP = f"a built-in class table ({', '.join(BUILTIN_TABLES)}) or your own FILE.json in the same format"


def table_from_meta(meta: dict) -> ClassTable:
    """The class table a checkpoint stores (``meta["classes"]``, named by its training's
    ``classes_name``); ``KeyError`` when it has none."""
    if "classes" not in meta:
        raise KeyError("the checkpoint has no land-cover class table ('classes' metadata)")
    return ClassTable.from_json(meta["classes"], name=meta.get("training", {}).get("classes_name", "custom"))


def get_class_table(name_or_path) -> ClassTable:
    """A built-in table by name (a file of ``inpaint_core/tables/``: ``deepglobe``, ``dubai-aerial``,
    ``s2glc``, ``s2glc9``) or the table in a JSON file."""
    if isinstance(name_or_path, ClassTable):
        return name_or_path
    key = str(name_or_path)
    if key in BUILTIN_TABLES:
        return BUILTIN_TABLES[key]()
    path = Path(key)
    if path.suffix.lower() == ".json" or path.is_file():
        return read_table_file(path)
    raise ValueError(f"unknown class table {key!r}; built-in: {', '.join(BUILTIN_TABLES)}, or a path to a .json table")
