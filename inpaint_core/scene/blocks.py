"""A scene's output blocks rewritten where the windows are filled, and patched in by the one writer.

GDAL's update mode (``r+``) decodes every block a window touches and encodes it again, in the
process that writes. With sparse holes that is nearly every block of a scene, one after another,
in the one writer, which more workers do not share. Here that work is done where the windows are
filled (:func:`encode_patches`: the block read from the input, the hole pixels of every window
whose core meets it pasted in, the block encoded as the file's tags say): a block that only one
batch of windows meets with their fills (:func:`split_fills`), one that several meet from their
patches (:class:`Patch`) once the last is filled. The writer (:class:`TilePatcher`) only puts each
block's bytes in the file, over its old bytes when they fit, else at the end, and patches its
TileOffsets and TileByteCounts entries, as GDAL's update mode does. Blocks are put in a fixed
order (:func:`block_schedule`), so the file is the same byte for byte whichever process encoded a
block, and when.

A block is encoded by GDAL itself, as a one-block GeoTIFF in memory with the file's compression,
predictor and interleave, so its bytes are those GDAL's update mode would write (the same codec
library, libdeflate for deflate, at the same level); the in-memory file's tags are checked against
the output's before its bytes are used. The output's layout comes from its first IFD
(:func:`read_layout`: classic TIFF and BigTIFF, either byte order). What cannot be done so, and
checked (a codec not in :data:`CODECS`, bits per sample other than the dtype's, GDAL's
cloud-optimised layout with its block leaders, a classic TIFF that could pass 4 GB), gives no
layout, and the writer keeps GDAL's update mode.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inpaint_core.data.raster import _read_pixels
from inpaint_core.scene.inputs import Box, window_of

__all__ = ["CODECS", "Layout", "Patch", "Ready", "Share", "TilePatcher", "block_schedule", "cut_patch", "encode_block",
           "encode_patches", "encode_shared", "paste_and_encode", "present_blocks", "read_block", "read_layout",
           "split_fills"]

# TIFF compression codes whose tiles GDAL encodes from the tags alone, and GDAL's name for each
# (8 and 32946 are both zlib streams: GDAL writes 8 and reads either)
CODECS = {1: "none", 5: "lzw", 8: "deflate", 32946: "deflate", 32773: "packbits", 50000: "zstd", 34925: "lzma"}
_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8}
_ARRAYS = {3: "u2", 4: "u4", 16: "u8"}  # the types TileOffsets and TileByteCounts may have: SHORT, LONG, LONG8
_GHOST = b"GDAL_STRUCTURAL_METADATA_SIZE"  # GDAL's cloud-optimised layout: its blocks carry leaders and trailers
_NO_CRS = (1.0, 0.0, 1.0, 0.0, -1.0, 1.0)  # any transform but the identity, which rasterio warns about


@dataclass(frozen=True)
class _Entry:
    type: int
    count: int
    at: int  # where its values are in the file


class _Ifd:
    """The first IFD of a TIFF: its byte order, its entries by tag and where their values lie."""

    def __init__(self, f):
        head = f.read(16)
        order = {b"II": "<", b"MM": ">"}.get(head[:2])
        if order is None:
            raise ValueError("not a TIFF")
        self.order = order
        version = struct.unpack(order + "H", head[2:4])[0]
        if version not in (42, 43):
            raise ValueError("not a TIFF")
        self.big = version == 43
        first = struct.unpack(order + ("Q" if self.big else "I"), head[8:16] if self.big else head[4:8])[0]
        f.seek(first)
        n = struct.unpack(order + ("Q" if self.big else "H"), f.read(8 if self.big else 2))[0]
        size, inline = (20, 8) if self.big else (12, 4)
        table = f.read(n * size)
        self.entries: dict[int, _Entry] = {}
        for i in range(n):
            raw = table[i * size: (i + 1) * size]
            tag, typ = struct.unpack(order + "HH", raw[:4])
            count = struct.unpack(order + ("Q" if self.big else "I"), raw[4: 4 + inline])[0]
            value_at = first + (8 if self.big else 2) + i * size + 4 + inline
            pointer = struct.unpack(order + ("Q" if self.big else "I"), raw[4 + inline:])[0]
            at = value_at if _SIZES.get(typ, 1) * count <= inline else pointer
            self.entries[tag] = _Entry(typ, count, at)

    def values(self, f, tag: int, default=None):
        """The values of ``tag`` as an int64 array (``default`` when it is absent)."""
        entry = self.entries.get(tag)
        if entry is None:
            return None if default is None else np.asarray(default, np.int64)
        kind = _ARRAYS.get(entry.type) or {1: "u1"}.get(entry.type)
        if kind is None:
            raise ValueError(f"TIFF tag {tag} has type {entry.type}")
        f.seek(entry.at)
        return np.frombuffer(f.read(entry.count * _SIZES[entry.type]), self.order + kind).astype(np.int64)


def _tile_tags(ifd: _Ifd, f) -> tuple:
    """What decides how a tile's bytes decode: bits and format of each sample, compression,
    samples per pixel, planar configuration, predictor, tile size."""
    spp = int(ifd.values(f, 277, [1])[0])
    bits = ifd.values(f, 258, [1])
    formats = ifd.values(f, 339, [1])
    compression = int(ifd.values(f, 259, [1])[0])
    return (tuple(np.resize(bits, spp).tolist()), tuple(np.resize(formats, spp).tolist()),
            8 if compression == 32946 else compression, spp, int(ifd.values(f, 284, [1])[0]),
            int(ifd.values(f, 317, [1])[0]), int(ifd.values(f, 322, [0])[0]), int(ifd.values(f, 323, [0])[0]))


@dataclass(frozen=True)
class Layout:
    """How a file's blocks are cut and encoded: what a block's task needs (sent to the workers)."""

    shape: tuple[int, int]  # rows, columns of the raster
    block: tuple[int, int]  # rows, columns of a block
    count: int
    dtype: str
    planar: bool  # one tile per band and block (else one tile of interleaved samples per block)
    compress: str
    predictor: int
    order: str  # the file's byte order ("<" or ">"): samples wider than a byte are stored in it
    tags: tuple  # what the IFD of a block encoded in memory must say (see _tile_tags)

    @property
    def across(self) -> int:
        return -(-self.shape[1] // self.block[1])

    @property
    def blocks(self) -> int:
        return -(-self.shape[0] // self.block[0]) * self.across

    def box(self, index: int) -> Box:
        (bh, bw), (by, bx) = self.block, divmod(index, self.across)
        return by * bh, min(self.shape[0], (by + 1) * bh), bx * bw, min(self.shape[1], (bx + 1) * bw)

    def tiles(self, index: int) -> list[int]:
        """The tiles of block ``index``: one, or one per band (planar: the bands' tiles follow each other)."""
        return [b * self.blocks + index for b in range(self.count)] if self.planar else [index]


@dataclass(frozen=True)
class _Arrays:
    """Where a file's TileOffsets and TileByteCounts lie, in what types, and the file's size."""

    order: str
    offsets: _Entry
    counts: _Entry
    size: int

    def hold(self, layout: Layout, blocks: int) -> bool:
        """Whether the arrays can point to every tile once ``blocks`` blocks are written at the end
        of the file, at any codec's worst (twice the raw block, which none reaches)."""
        most = self.size + blocks * layout.count * (2 * layout.block[0] * layout.block[1] * np.dtype(
            layout.dtype).itemsize + 4096)
        return most < 2 ** (8 * _SIZES[self.offsets.type]) and self.counts.type in (4, 16)


def read_layout(path, count: int, dtype, shape) -> tuple[Layout, _Arrays] | None:
    """The layout of the tiled TIFF at ``path`` (``count`` bands of ``dtype``, ``shape``) and where
    its tile arrays lie, when its blocks can be encoded in memory and patched in; None when not."""
    dtype = np.dtype(dtype)
    with open(path, "rb") as f:
        if _GHOST in f.read(64):
            return None
        f.seek(0)
        try:
            ifd = _Ifd(f)
            tags = _tile_tags(ifd, f)
            height, width = int(ifd.values(f, 257, [0])[0]), int(ifd.values(f, 256, [0])[0])
            subfile = int(ifd.values(f, 254, [0])[0])
        except (ValueError, struct.error):
            return None
        bits, _, compression, spp, planar, predictor, tw, th = tags
        e = ifd.entries
        if (compression not in CODECS or spp != count or set(bits) != {dtype.itemsize * 8} or planar not in (1, 2)
                or not tw or not th or 324 not in e or 325 not in e or 347 in e or 50674 in e or subfile != 0):
            return None
        offsets, counts = e[324], e[325]
        size = f.seek(0, 2)
    layout = Layout((height, width), (th, tw), count, dtype.name, planar == 2, CODECS[compression], predictor,
                    ifd.order, tags)
    tiles = layout.blocks * (count if layout.planar else 1)
    if (height, width) != tuple(shape) or offsets.count != tiles or counts.count != tiles:
        return None
    if offsets.type not in _ARRAYS or counts.type not in _ARRAYS:
        return None
    return layout, _Arrays(ifd.order, offsets, counts, size)


def present_blocks(path) -> tuple[tuple[int, int], np.ndarray] | None:
    """Which blocks of the TIFF at ``path`` hold data: ``((block rows, block columns), grid)``, the
    grid ``True`` where a block's bytes are in the file (any band's, band-interleaved). A file
    written sparse (GDAL's ``SPARSE_OK``) leaves out the blocks with nothing but 0 (or nodata),
    which read as 0 (or nodata) without being stored. None when the file cannot be parsed."""
    with open(path, "rb") as f:
        try:
            ifd = _Ifd(f)
            height, width = int(ifd.values(f, 257, [0])[0]), int(ifd.values(f, 256, [0])[0])
            if 322 in ifd.entries:
                block = int(ifd.values(f, 323)[0]), int(ifd.values(f, 322)[0])
                counts = ifd.values(f, 325)
            else:
                block = min(height, int(ifd.values(f, 278, [height])[0])), width
                counts = ifd.values(f, 279)
        except (ValueError, TypeError, struct.error):
            return None
    if counts is None or not height or not width or not all(block):
        return None
    grid = -(-height // block[0]), -(-width // block[1])
    if counts.size % (grid[0] * grid[1]):
        return None
    return block, (counts.reshape(-1, *grid) > 0).any(axis=0)


def block_schedule(layout: Layout, cores: list[Box]) -> list[tuple[int, tuple[int, ...]]]:
    """Every block a window's core meets, with the windows (plan indices) whose cores meet it, in the
    order the blocks are put in the file: by the last of their windows, then by block. A block can
    be written as soon as its last window is filled, and the order depends on the plan alone."""
    (bh, bw), touched = layout.block, {}
    for j, (y0, y1, x0, x1) in enumerate(cores):
        for by in range(y0 // bh, (y1 - 1) // bh + 1):
            for bx in range(x0 // bw, (x1 - 1) // bw + 1):
                touched.setdefault(by * layout.across + bx, []).append(j)
    return sorted(((b, tuple(js)) for b, js in touched.items()), key=lambda item: (item[1][-1], item[0]))


def encode_block(layout: Layout, data: np.ndarray) -> list[bytes]:
    """``data`` (bands x block rows x block columns, the file's dtype) as the file's tile(s): GDAL
    writes it as a one-block GeoTIFF in memory, whose tags must be the file's."""
    from rasterio.io import MemoryFile
    from rasterio.transform import Affine

    (bh, bw) = layout.block
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=bw, height=bh, count=layout.count, dtype=layout.dtype, tiled=True,
                      blockxsize=bw, blockysize=bh, compress=layout.compress, predictor=layout.predictor,
                      interleave="band" if layout.planar else "pixel", transform=Affine(*_NO_CRS),
                      endianness="BIG" if layout.order == ">" else "LITTLE") as ds:
            ds.write(data)
        raw = mem.read()
    f = io.BytesIO(raw)
    ifd = _Ifd(f)
    got = (ifd.order, _tile_tags(ifd, f))
    if got != (layout.order, layout.tags):
        raise ValueError(f"GDAL encoded a block as {got}, not as the file's tiles {(layout.order, layout.tags)}")
    offsets, counts = ifd.values(f, 324), ifd.values(f, 325)
    return [raw[o: o + n] for o, n in zip(offsets.tolist(), counts.tolist())]


def _overlap(a: Box, b: Box) -> Box | None:
    y0, y1, x0, x1 = max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3])
    return (y0, y1, x0, x1) if y0 < y1 and x0 < x1 else None


@dataclass
class Patch:
    """A window's hole pixels in one block: where (``box``, scene pixels), which of them
    (``hole``, ``HxW`` bool) and their values (``B x N``, the file's dtype)."""

    box: Box
    hole: np.ndarray
    values: np.ndarray


def cut_patch(layout: Layout, fill, index: int) -> Patch | None:
    """The hole pixels of ``fill`` (a window's fill) in block ``index``; None when it has none there."""
    part = _overlap(fill.core, layout.box(index))
    if part is None:
        return None
    rows, cols = slice(part[0] - fill.core[0], part[1] - fill.core[0]), slice(part[2] - fill.core[2],
                                                                               part[3] - fill.core[2])
    hole = fill.hole[rows, cols]
    if not hole.any():
        return None
    # the index of each hole pixel's value: fill.values holds them in the core's row-major order
    before = int(fill.hole[: rows.start].sum())
    rank = (np.cumsum(fill.hole[rows].ravel()).reshape(hole.shape[0], -1) - 1 + before)[:, cols]
    return Patch(part, hole, fill.values[:, rank[hole]])


def read_block(layout: Layout, scene, index: int) -> np.ndarray:
    """Block ``index`` of ``scene`` (the input: the output's pixels before any hole is written),
    a whole block (an edge block's padding is 0, never read), through this thread's dataset of
    the scene (:attr:`~inpaint_core.scene.inputs.Scene.ds`)."""
    box = layout.box(index)
    data = np.zeros((layout.count, *layout.block), layout.dtype)
    data[:, : box[1] - box[0], : box[3] - box[2]] = _read_pixels(
        scene.path, "image", lambda: scene.ds.read(window=window_of(box)))
    return data


def paste_and_encode(layout: Layout, index: int, data: np.ndarray, patches) -> list[bytes]:
    """``patches`` pasted into block ``index``'s ``data`` (:func:`read_block`), in their order, and the
    block encoded (:func:`encode_block`)."""
    y0, _, x0, _ = layout.box(index)
    for p in patches:
        data[:, p.box[0] - y0: p.box[1] - y0, p.box[2] - x0: p.box[3] - x0][:, p.hole] = p.values
    return encode_block(layout, data)


def encode_patches(layout: Layout, scene, index: int, patches) -> list[bytes] | None:
    """Block ``index`` of the output, encoded: read from ``scene`` (:func:`read_block`) with
    ``patches`` (None ones left out) pasted in their order. None when there is nothing to paste:
    the block stays as it is."""
    patches = [p for p in patches if p is not None]
    if not patches:
        return None
    return paste_and_encode(layout, index, read_block(layout, scene, index), patches)


def encode_shared(layout: Layout, scene, blocks) -> dict:
    """:func:`encode_patches` for each ``(block, patches)`` of ``blocks``: ``{block: its tiles}`` (one task
    on a cluster for the blocks that the same batch of windows was the last to meet)."""
    return {index: encode_patches(layout, scene, index, patches) for index, patches in blocks}


def split_fills(layout: Layout, fills: list, own, shared, encode) -> tuple[dict, dict]:
    """What a batch of windows' fills (in plan order) gives the output: the blocks in ``own`` (those
    only these windows meet) encoded by ``encode(block, patches)``, and the patches of the blocks
    in ``shared`` (those other windows meet too), to be pasted with theirs (None: no hole there)."""
    tiles = {b: encode(b, [cut_patch(layout, f, b) for f in fills]) for b in own}
    return tiles, {b: [cut_patch(layout, f, b) for f in fills] for b in shared}


class Ready:
    """A result already made, read as a future's is (:meth:`done`, :meth:`result`)."""

    def __init__(self, value):
        self.value = value

    def done(self) -> bool:
        return True

    def result(self):
        return self.value


class Share:
    """Key ``key`` of a future's dict result, read as a future is; the dict is fetched once, by the
    first :meth:`result` of any share of it (``cache``: a dict kept by all of them)."""

    def __init__(self, future, key, cache: dict):
        self.future, self.key, self.cache = future, key, cache

    def done(self) -> bool:
        return self.future.done()

    def result(self):
        if "result" not in self.cache:
            self.cache["result"] = self.future.result()
        return self.cache["result"][self.key]


class TilePatcher:
    """The one writer of a file's blocks: each block's tile bytes over its old ones when they fit
    (and no other tile shares them), else at the end of the file; the tile arrays written back on
    :meth:`close`. Blocks must come in :func:`block_schedule`'s order for the file to be the same
    whoever encoded them."""

    def __init__(self, path, layout: Layout, arrays: _Arrays):
        self.layout, self.arrays = layout, arrays
        self.f = open(Path(path), "r+b")  # noqa: SIM115 - open from the first block to close()
        self.offsets = self._read(arrays.offsets)
        self.counts = self._read(arrays.counts)
        self.end = self.f.seek(0, 2)
        # a tile may be overwritten in place only if its bytes are its own
        order = np.argsort(self.offsets, kind="stable")
        start, stop = self.offsets[order], self.offsets[order] + self.counts[order]
        alone = (self.counts[order] > 0) & (start > 0)
        alone[1:] &= start[1:] >= stop[:-1]
        alone[:-1] &= stop[:-1] <= start[1:]
        self.own = np.zeros(len(order), bool)
        self.own[order] = alone
        self.written = 0

    def _read(self, entry: _Entry) -> np.ndarray:
        self.f.seek(entry.at)
        kind = self.arrays.order + _ARRAYS[entry.type]
        return np.frombuffer(self.f.read(entry.count * _SIZES[entry.type]), kind).astype(np.int64)

    def put(self, index: int, tiles: list[bytes] | None) -> None:
        """Block ``index``'s encoded tiles (None: the block is unchanged)."""
        if tiles is None:
            return
        for t, data in zip(self.layout.tiles(index), tiles):
            if self.own[t] and len(data) <= self.counts[t]:
                at = int(self.offsets[t])
            else:
                at, self.end = self.end, self.end + len(data)
            self.f.seek(at)
            self.f.write(data)
            self.offsets[t], self.counts[t] = at, len(data)
        self.written += 1

    def close(self) -> None:
        for entry, values in ((self.arrays.offsets, self.offsets), (self.arrays.counts, self.counts)):
            if values.max(initial=0) >= 2 ** (8 * _SIZES[entry.type]):
                raise ValueError(f"a tile lies past what TIFF type {entry.type} can point to")
            self.f.seek(entry.at)
            self.f.write(values.astype(self.arrays.order + _ARRAYS[entry.type]).tobytes())
        self.f.close()

    def abort(self) -> None:
        self.f.close()
