"""Property tests of the GeoTIFF round trip: read -> fill -> write back, on random rasters.

Hypothesis draws the dtype (uint8, uint16, int16, float32), the band count (1-13), the
nodata value (none, 0, a value, NaN; NaN values also where none is declared), where nodata
and the hole lie, which bands are shown as RGB and whether the fill is Telea's (through
:func:`inpaint_core.data.geo.fill_raster`, as the app and the CLI fill) or arbitrary bytes handed to
:func:`inpaint_core.data.geo.write_filled` (every fill value, 0 and 255 included). Every written
file must keep what the README promises: dtype, bands, CRS, transform, nodata and band
descriptions; every pixel outside the filled ones bit-identical (nodata included); no filled
pixel at the nodata value, no NaN where there was none, filled values inside their band's
range. Rasters are at most 16x16, so the examples take seconds in all.
"""

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
rasterio = pytest.importorskip("rasterio")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from rasterio.enums import ColorInterp  # noqa: E402
from rasterio.transform import from_origin  # noqa: E402

from inpaint_core.data.geo import fill_raster, read_raster, write_filled  # noqa: E402
from inpaint_core.registry import ClassicalInpainter  # noqa: E402

# a nodata "value" per dtype: the top of uint8/uint16, the usual -9999 of signed data
NODATA_VALUE = {"uint8": 255, "uint16": 65535, "int16": -9999, "float32": -9999.0}
# the data each dtype holds: full-range bytes (so values meet nodata by chance), 12-bit
# reflectance, signed values around 0, reflectance in 0-1 with a few negatives
DATA_RANGE = {"uint8": (0, 255), "uint16": (0, 4095), "int16": (-1000, 3000), "float32": (-0.05, 1.0)}


def _box(draw, h, w):
    """A rectangle of an ``h x w`` raster as a bool map, possibly empty."""
    y0, y1 = sorted(draw(st.tuples(st.integers(0, h), st.integers(0, h))))
    x0, x1 = sorted(draw(st.tuples(st.integers(0, w), st.integers(0, w))))
    out = np.zeros((h, w), bool)
    out[y0:y1, x0:x1] = True
    return out


@st.composite
def cases(draw):
    dtype = draw(st.sampled_from(sorted(DATA_RANGE)))
    count = draw(st.integers(1, 13))
    h, w = draw(st.integers(4, 16)), draw(st.integers(4, 16))
    kinds = ["none", "zero", "value"] + (["nan"] if dtype == "float32" else [])
    kind = draw(st.sampled_from(kinds))
    nodata = {"none": None, "zero": 0, "value": NODATA_VALUE[dtype], "nan": float("nan")}[kind]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    lo, hi = DATA_RANGE[dtype]
    if dtype == "float32":
        data = rng.uniform(lo, hi, (count, h, w)).astype(np.float32)
    else:
        data = rng.integers(lo, hi, (count, h, w), endpoint=True).astype(dtype)
    gap = _box(draw, h, w)  # a nodata area: every band at nodata (NaN for float data without one)
    if nodata is not None:
        data[:, gap] = nodata
    elif dtype == "float32":
        data[:, gap] = np.nan
    if dtype == "float32" and draw(st.booleans()):  # a lone NaN value in one band
        data[draw(st.integers(0, count - 1)), draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))] = np.nan
    mask = _box(draw, h, w) | _box(draw, h, w)
    if count < 3:
        bands = (1, 1, 1)  # a grey raster shown as grey (--rgb-bands 1,1,1)
    else:
        bands = draw(st.none() | st.tuples(*[st.integers(1, count)] * 3))
    descriptions = [draw(st.sampled_from(["", f"B{i + 1}", "nir"])) for i in range(count)]
    georeferenced = draw(st.booleans())
    fill = draw(st.sampled_from(["telea", "bytes"]))
    return dtype, nodata, data, mask, bands, descriptions, georeferenced, fill, rng


def _write(path, data, nodata, descriptions, georeferenced):
    count, h, w = data.shape
    where = {"crs": "EPSG:32632", "transform": from_origin(500_000.0, 6_200_000.0, 10.0, 10.0)} if georeferenced else {}
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=count, dtype=str(data.dtype),
                       nodata=nodata, **where) as ds:
        ds.write(data)
        for i, text in enumerate(descriptions):
            if text:
                ds.set_band_description(i + 1, text)


def _same_nodata(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and (a == b or np.isnan(a) and np.isnan(b)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases())
def test_geotiff_fill_round_trip_loses_nothing(case, tmp_path):
    dtype, nodata, data, mask, bands, descriptions, georeferenced, fill, rng = case
    count = data.shape[0]
    src, dst = tmp_path / "in.tif", tmp_path / "out.tif"
    _write(src, data, nodata, descriptions, georeferenced)
    raster = read_raster(src, bands=bands)

    # nodata, as the README states it: any band at the nodata value, or any value NaN; and, as
    # GDAL reads a 4-band uint8 file, a zero in its alpha band
    # (the alpha band says transparency: its 0 is nodata, its value never is)
    with rasterio.open(src) as ds:
        alpha = [i for i, c in enumerate(ds.colorinterp) if c == ColorInterp.alpha]
    valid = np.isfinite(data.astype(np.float64)).all(axis=0)
    if nodata is not None and not np.isnan(nodata):
        bands = [i for i in range(count) if i not in alpha] or list(range(count))
        valid &= (data[bands] != np.dtype(dtype).type(nodata)).all(axis=0)
    for band in alpha:
        valid &= data[band] > 0
    np.testing.assert_array_equal(raster.valid, valid)
    hole = mask & valid
    if hole.any() and not (valid & ~hole).any():  # nothing left to fill from: refused, never guessed
        with pytest.raises(ValueError, match="nothing to fill it from"):
            fill_raster(ClassicalInpainter("telea"), raster, mask)
        return
    if fill == "telea":
        filled, hole_used = fill_raster(ClassicalInpainter("telea"), raster, mask)
        np.testing.assert_array_equal(hole_used, hole)
    else:  # any bytes at all, 0 and 255 included (the values whose inverse stretch may hit nodata)
        filled = rng.integers(0, 256, data.shape[1:] + (3,), endpoint=False).astype(np.uint8)
        filled[rng.random(data.shape[1:]) < 0.3] = rng.choice([0, 255])
    write_filled(dst, raster, filled, hole)

    with rasterio.open(src) as a, rasterio.open(dst) as b:
        assert (b.dtypes, b.count, b.crs, b.transform, b.descriptions) == (a.dtypes, a.count, a.crs, a.transform,
                                                                           a.descriptions)
        assert _same_nodata(a.nodata, b.nodata)
        out = b.read()
    assert out.dtype == data.dtype and out.shape == data.shape
    # every pixel not filled, nodata included, bit for bit (NaN too: compared as bytes)
    as_bits = np.dtype(f"u{data.dtype.itemsize}")
    np.testing.assert_array_equal(out.view(as_bits)[:, ~hole], data.view(as_bits)[:, ~hole])
    got = out[:, hole]
    assert not np.isnan(got.astype(np.float64)).any()  # no NaN where there was none
    if nodata is not None and not np.isnan(nodata):
        assert (got != np.dtype(dtype).type(nodata)).all()  # a filled pixel never reads as nodata
    known = valid & ~hole
    for band in range(data.shape[0] if hole.any() else 0):
        values = got[band].astype(np.float64)
        if band in raster.rgb_bands:  # the inverse display stretch: 0 .. the stretch's top
            top = 255 if raster.scale is None else raster.scale
            top = float(np.float32(top)) if dtype == "float32" else round(top)
            lo = min(0.0, float(data[band][valid].min()))
            hi = max(float(data[band][valid].max()), top)
        else:  # Telea's fill of the band from its known pixels
            lo, hi = float(data[band][known].min()), float(data[band][known].max())
        assert lo <= values.min() and values.max() <= hi, (band, lo, hi, values)
