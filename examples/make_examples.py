"""Regenerate the app's bundled example pictures (see README.md here for sources and licences).

    python examples/make_examples.py

* ``photos/*.jpg``: public-domain / CC0 photographs shipped inside scikit-image's
  ``skimage.data`` module, re-encoded as JPEG;
* ``satellite/tile.tif`` + ``satellite/landcover.png``: a synthetic aerial tile drawn here
  (sand, a shore, roads, buildings with shadows, trees) as a GeoTIFF with made-up
  georeferencing, and its land cover in the ``dubai-aerial`` class colours;
* ``satellite-deepglobe/rural-*``: the same for a rural scene (fields, forest, a river, a village,
  grassland, bare ground) in the ``deepglobe`` class colours.

Deterministic: the same seed gives the same files.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
TILE_SIZE = 512
# UTM zone 40N (Dubai); the origin and 0.5 m pixels are made up for the example
TILE_CRS = "EPSG:32640"
TILE_ORIGIN = (326_000.0, 2_786_000.0)
TILE_PIXEL = 0.5


def export_photos(out: Path) -> None:
    import skimage.data

    out.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        rgb = getattr(skimage.data, name)()
        Image.fromarray(rgb).save(out / f"{name}.jpg", quality=92)


def value_noise(rng: np.random.Generator, size: int, cells: int, octaves: int = 4) -> np.ndarray:
    """Smooth random texture in [-1, 1]: random grids upsampled with cubic interpolation."""
    total = np.zeros((size, size), np.float32)
    weight = 1.0
    for _ in range(octaves):
        grid = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
        total += weight * cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
        cells *= 2
        weight /= 2
    return np.clip(total / 1.9, -1, 1)


def canvas(rng: np.random.Generator, cells: int):
    """A tile's drawing aids: pixel coordinates ``yy, xx``, a smooth ``grain`` with ``cells``
    cells and per-pixel ``fine`` noise (both ``HxWx1``)."""
    n = TILE_SIZE
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    grain = value_noise(rng, n, cells)[..., None]
    fine = rng.normal(0, 1, (n, n, 1)).astype(np.float32)
    return yy, xx, grain, fine


def draw_tile(seed: int = 7) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return the tile (``HxWx3 uint8``) and one ``HxW`` bool map per land-cover kind."""
    rng = np.random.default_rng(seed)
    n = TILE_SIZE
    yy, xx, grain, fine = canvas(rng, 8)

    # sand everywhere first
    img = np.array([205, 182, 140], np.float32) + grain * 18 + fine * 5

    # the sea in the lower-left corner behind a wavy shore
    shore = 0.55 * n + 30 * np.sin(xx / 55.0) + 20 * value_noise(rng, n, 3, 2)
    water = (yy - 0.9 * xx) > shore - 0.35 * n
    depth = np.clip(((yy - 0.9 * xx) - (shore - 0.35 * n)) / 120.0, 0, 1)[..., None]
    sea = np.array([70, 150, 160], np.float32) * (1 - depth) + np.array([25, 70, 110], np.float32) * depth
    img = np.where(water[..., None], sea + grain * 8 + fine * 3, img)

    # two roads: one along the shore, one across the tile
    road = np.zeros((n, n), np.uint8)
    cv2.line(road, (60, 0), (n, 330), 1, 16)
    cv2.line(road, (300, 0), (330, n), 1, 14)
    road = road.astype(bool) & ~water
    img[road] = np.array([92, 92, 96], np.float32) + fine[road] * 4
    marks = np.zeros((n, n), np.uint8)
    for t in range(0, 600, 24):
        p = np.array([60, 0]) + (np.array([n - 60, 330]) * t / 600)
        q = np.array([60, 0]) + (np.array([n - 60, 330]) * (t + 10) / 600)
        cv2.line(marks, tuple(int(v) for v in p), tuple(int(v) for v in q), 1, 2)
    img[(marks > 0) & road] = (230, 230, 225)

    # buildings: roofs in a few colours with a shadow to the lower right
    building = np.zeros((n, n), bool)
    shadow = np.zeros((n, n), bool)
    roofs = [(232, 232, 228), (196, 110, 80), (170, 175, 182), (240, 225, 200)]
    placed = 0
    while placed < 14:
        w, h = rng.integers(26, 60, 2)
        x, y = rng.integers(10, n - 70, 2)
        box = np.zeros((n, n), bool)
        box[y:y + h, x:x + w] = True
        grown = np.zeros((n, n), bool)
        grown[max(0, y - 10):y + h + 14, max(0, x - 10):x + w + 14] = True
        if (grown & (water | road | building)).any():
            continue
        building |= box
        shadow[y + 6:y + h + 6, x + 6:x + w + 6] = True
        roof = np.array(roofs[placed % len(roofs)], np.float32)
        img[box] = roof + fine[box] * 3
        # a ridge line makes the roofs read as roofs
        img[y + h // 2, x:x + w] = roof * 0.8
        placed += 1
    shadow &= ~building & ~water & ~road
    img[shadow] *= 0.62

    # trees: clusters of round crowns on sand, away from roads and houses
    vegetation = np.zeros((n, n), bool)
    for _ in range(14):
        cx, cy = rng.integers(0, n, 2)
        for _ in range(rng.integers(6, 16)):
            px, py = cx + rng.normal(0, 18), cy + rng.normal(0, 18)
            r = rng.uniform(5, 11)
            crown = (xx - px) ** 2 + (yy - py) ** 2 < r * r
            crown &= ~(water | road | building)
            vegetation |= crown
    light = np.clip(value_noise(rng, n, 32, 2), -1, 1)[..., None]
    green = np.array([62, 102, 48], np.float32) + light * 22 + fine * 4
    img = np.where(vegetation[..., None], green, img)

    land = ~(water | road | building | vegetation)
    tile = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return tile, {"water": water, "road": road, "building": building, "vegetation": vegetation, "land": land}


def draw_rural_tile(seed: int = 11) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A rural scene like DeepGlobe's: ``(HxWx3 uint8, {kind: HxW bool})``, the kinds being
    the first words of the ``deepglobe`` class names."""
    rng = np.random.default_rng(seed)
    n = TILE_SIZE
    yy, xx, grain, fine = canvas(rng, 6)

    # rangeland (dry grass and shrubs) everywhere first
    img = np.array([150, 146, 98], np.float32) + grain * 16 + fine * 6
    kinds = {k: np.zeros((n, n), bool) for k in ("urban", "agriculture", "rangeland", "forest", "water", "barren")}

    # fields: a grid of parcels left of the river, each with its own crop colour and furrows
    crops = [(112, 150, 70), (160, 170, 90), (96, 128, 62), (178, 160, 110), (130, 160, 84)]
    for row, y0 in enumerate(range(12, 300, 72)):
        for col, x0 in enumerate(range(10, 250, 80)):
            if rng.random() < 0.2:
                continue  # a few parcels stay grassland
            y1, x1 = y0 + int(rng.integers(54, 68)), x0 + int(rng.integers(60, 76))
            base = np.array(crops[(row * 3 + col) % len(crops)], np.float32)
            angle = rng.uniform(0, np.pi)
            furrows = np.sin((xx[y0:y1, x0:x1] * np.cos(angle) + yy[y0:y1, x0:x1] * np.sin(angle)) / 2.2)[..., None]
            img[y0:y1, x0:x1] = base + furrows * 10 + fine[y0:y1, x0:x1] * 4
            kinds["agriculture"][y0:y1, x0:x1] = True

    # the river: a winding band from top to bottom, with darker deep water
    centre = 330 + 45 * np.sin(yy / 70.0) + 25 * value_noise(rng, n, 3, 2)
    dist = np.abs(xx - centre)
    kinds["water"] = dist < 24
    depth = np.clip(1 - dist / 24, 0, 1)[..., None]
    river = np.array([70, 98, 92], np.float32) * (1 - depth) + np.array([34, 58, 70], np.float32) * depth
    img = np.where(kinds["water"][..., None], river + fine * 3, img)
    kinds["agriculture"] &= ~kinds["water"]

    # forest: right of the river, rough dark canopy
    forest = (xx > centre + 40) & (value_noise(rng, n, 4, 3) + (yy < 300) * 0.6 > 0.1)
    canopy = np.clip(value_noise(rng, n, 48, 2), -1, 1)[..., None]
    img = np.where(forest[..., None], np.array([42, 78, 40], np.float32) + canopy * 20 + fine * 5, img)
    kinds["forest"] = forest

    # a village: roofs and yards in the lower left, on bare earth
    village = np.zeros((n, n), bool)
    village[360:n - 10, 20:230] = True
    village &= ~kinds["water"]
    img[village] = np.array([168, 140, 112], np.float32) + fine[village] * 6
    roofs = [(196, 92, 70), (150, 150, 156), (210, 200, 180), (120, 80, 60)]
    for i in range(26):
        w, h = (int(v) for v in rng.integers(10, 22, 2))
        x, y = int(rng.integers(24, 210)), int(rng.integers(364, n - 30))
        img[y + 3:y + h + 3, x + 3:x + w + 3] *= 0.7  # shadow
        img[y:y + h, x:x + w] = np.array(roofs[i % len(roofs)], np.float32) + fine[y:y + h, x:x + w] * 3
    cv2.line(img, (0, 350), (300, 340), (120, 104, 86), 6)  # a dirt track into the village
    kinds["urban"] = village

    # bare ground: a sandbar on the river and a dry patch between fields and village
    barren = ((xx - (centre + 60)) ** 2 / 900 + (yy - 470) ** 2 / 300 < 1) | (
        (xx - 300) ** 2 / 1600 + (yy - 330) ** 2 / 500 < 1)
    barren &= ~kinds["water"] & ~village
    img = np.where(barren[..., None], np.array([214, 196, 160], np.float32) + grain * 10 + fine * 4, img)
    kinds["barren"] = barren
    kinds["forest"] &= ~barren
    kinds["agriculture"] &= ~(village | barren | forest)
    taken = np.zeros((n, n), bool)
    for k in ("urban", "agriculture", "forest", "water", "barren"):
        kinds[k] &= ~taken
        taken |= kinds[k]
    kinds["rangeland"] = ~taken
    return np.clip(np.round(img), 0, 255).astype(np.uint8), kinds


def class_index(table, word: str) -> int:
    for i, c in enumerate(table):
        if c.name.lower().startswith(word):
            return i
    raise SystemExit(f"class table has no class starting with {word!r}")


def export_satellite(out: Path, table_name: str = "dubai-aerial", draw=draw_tile, crs: str = TILE_CRS,
                     prefix: str = "") -> None:
    import rasterio
    from rasterio.transform import from_origin

    from inpaint_core.data.landcover import get_class_table

    out.mkdir(parents=True, exist_ok=True)
    table = get_class_table(table_name)
    tile, kinds = draw()
    landcover = np.zeros(tile.shape[:2], np.int64)
    for word, where in kinds.items():
        landcover[where] = class_index(table, word)
    colours = np.array([c.color for c in table], np.uint8)[landcover]
    Image.fromarray(colours).save(out / f"{prefix}landcover.png")
    transform = from_origin(TILE_ORIGIN[0], TILE_ORIGIN[1], TILE_PIXEL, TILE_PIXEL)
    with rasterio.open(
        out / f"{prefix}tile.tif", "w", driver="GTiff", width=TILE_SIZE, height=TILE_SIZE, count=3,
        dtype="uint8", crs=crs, transform=transform, compress="deflate", photometric="RGB",
    ) as dst:
        dst.write(tile.transpose(2, 0, 1))


if __name__ == "__main__":
    export_photos(HERE / "photos")
    export_satellite(HERE / "satellite")
    # UTM zone 47N (Thailand): made up as well
    export_satellite(HERE / "satellite-deepglobe", "deepglobe", draw_rural_tile, "EPSG:32647", "rural-")
    print(f"wrote examples under {HERE}")
