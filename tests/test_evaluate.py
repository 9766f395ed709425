"""``evaluate``: reports on a tmp folder with a tiny random model and a random VGG (no real weights)."""

import json

import numpy as np
import pytest
import torch
from conftest import make_picture
from PIL import Image

from inpaint_core.__main__ import main as cli
from inpaint_core.checkpoint import load_model_file, save_model
from inpaint_core.data.landcover import get_class_table
from inpaint_core.data.pictures import held_out_files
from inpaint_core.data.tiles import tile_windows
from inpaint_core.eval.evaluate import evaluate
from inpaint_core.eval.metrics import JUDGE_LAYERS, METRICS
from inpaint_core.eval.samples import fit_square
from inpaint_core.models.satellite import REFEREE_PREFIX
from inpaint_core.models.vgg import VGG16Features

SIZE = 64
PIXEL_KEYS = {"psnr_hole", "psnr_whole", "ssim_hole", "ssim_whole", "l1_hole", "judge", "detail", "perceptual"}


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return VGG16Features(JUDGE_LAYERS)


@pytest.fixture(scope="module")
def covers(tmp_path_factory):
    root = tmp_path_factory.mktemp("covers")
    for i in range(4):
        Image.fromarray(make_picture(80, 72 + 8 * i, i)).save(root / f"c{i}.png")
    return root


def run(ckpt, covers, out, vgg, **kw):
    kw = {"masks": "research", "seed": 0, "size": SIZE, "progress": False, **kw}
    return evaluate(ckpt, covers, out, vgg=vgg, **kw)


def test_reports_have_the_expected_keys(tiny_album_checkpoint, covers, tmp_path, vgg):
    report = run(tiny_album_checkpoint, covers, tmp_path, vgg)
    assert report["count"] == 4
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert set(on_disk["methods"]) == {"model", "telea", "navier-stokes", "patchmatch"}
    for means in on_disk["methods"].values():
        assert set(means) == PIXEL_KEYS
    assert set(on_disk["delta_vs_telea"]) == {"model", "navier-stokes", "patchmatch"}
    # the model is also measured against the strongest classical fill, paired per image
    assert on_disk["reference"] == "patchmatch"
    per = on_disk["per_image"]
    expected = np.mean([r["scores"]["model"]["psnr_hole"] - r["scores"]["patchmatch"]["psnr_hole"] for r in per])
    assert on_disk["delta_vs_reference"]["model"]["psnr_hole"] == pytest.approx(expected)
    assert set(on_disk["seconds_per_image"]) == set(on_disk["methods"])
    assert on_disk["perceptual"]["layers"] == list(JUDGE_LAYERS)
    assert len(on_disk["per_image"]) == 4 and on_disk["per_image"][0]["mask_seed"] == [0, 0]
    for record in on_disk["per_image"]:
        for scores in record["scores"].values():
            # only hole pixels change, so the whole-image error is the hole's, diluted
            assert scores["psnr_whole"] >= scores["psnr_hole"]
            assert scores["ssim_whole"] >= scores["ssim_hole"]
    md = (tmp_path / "report.md").read_text()
    assert "| model |" in md and "| telea |" in md and "| navier-stokes |" in md and "model − telea" in md
    assert "model − patchmatch" in md and "Seconds per image" in md
    for key in PIXEL_KEYS:
        assert METRICS[key][0] in md
    grid = np.asarray(Image.open(tmp_path / "examples.png"))
    assert grid.shape[0] > 4 * SIZE and grid.shape[1] >= 5 * SIZE  # 4 rows; masked, model, telea, patchmatch, target


def test_baselines_repeat_exactly_with_the_same_seed(covers, tmp_path, vgg):
    a = run("telea", covers, tmp_path / "a", vgg)
    b = run("telea", covers, tmp_path / "b", vgg)
    c = run("telea", covers, tmp_path / "c", vgg, seed=1)
    assert set(a["methods"]) == {"telea", "navier-stokes", "patchmatch"}
    assert a["methods"] == b["methods"]
    assert [r["scores"] for r in a["per_image"]] == [r["scores"] for r in b["per_image"]]
    assert a["methods"]["telea"]["psnr_hole"] != c["methods"]["telea"]["psnr_hole"]  # other seed, other holes


def test_baselines_can_be_chosen(covers, tmp_path, vgg):
    report = run("telea", covers, tmp_path, vgg, baselines=["patchmatch"])
    assert list(report["methods"]) == ["telea", "patchmatch"]  # telea always: the deltas are against it
    with pytest.raises(ValueError, match="landcover-patchmatch"):  # only on satellite data
        run("telea", covers, tmp_path, vgg, baselines=["landcover-patchmatch"])


def test_model_and_baseline_only_runs_share_the_holes(tiny_album_checkpoint, covers, tmp_path, vgg):
    with_model = run(tiny_album_checkpoint, covers, tmp_path / "m", vgg, limit=2)
    baseline = run("telea", covers, tmp_path / "t", vgg, limit=2)
    assert with_model["count"] == 2
    assert with_model["methods"]["telea"] == baseline["methods"]["telea"]


def test_split_val_keeps_only_held_out_files(tmp_path, covers, vgg):
    from inpaint_core.models.album import AlbumConfig, AlbumUNet

    model = AlbumUNet(AlbumConfig(base=8, depth=2, bottleneck_blocks=1))
    ckpt = save_model(tmp_path / "m.safetensors", model.state_dict(), "album", model.config.to_dict(),
                      training={"val_files": ["c1.png", "c3.png"]})
    report = run(ckpt, covers, tmp_path / "out", vgg, split="val")
    assert [r["file"] for r in report["per_image"]] == ["c1.png", "c3.png"]
    # another model's held-out files: both scored on the same covers
    other = save_model(tmp_path / "o.safetensors", model.state_dict(), "album", model.config.to_dict(),
                       training={"val_files": ["c2.png"]})
    report = run(ckpt, covers, tmp_path / "out2", vgg, split="val", split_from=other)
    assert [r["file"] for r in report["per_image"]] == ["c2.png"]
    files = sorted(covers.iterdir())
    assert held_out_files(files, {"training": {"val_images": [f"/elsewhere/{covers.parent.name}/{covers.name}/c2.png"]}}) == [covers / "c2.png"]
    with pytest.raises(ValueError, match="held-out"):
        held_out_files(files, {"training": {}})
    with pytest.raises(ValueError, match="none of"):
        held_out_files(files, {"training": {"val_files": ["zzz.png"]}})


def test_fit_square_resizes_short_side_and_centre_crops():
    """A 100x200 picture whose red channel encodes the column: after scaling the short side
    to 64 (200 -> 128 wide) the centre crop keeps original columns ~50..150, the middle half."""
    x = np.linspace(0, 255, 200)
    img = np.zeros((100, 200, 3), np.uint8)
    img[..., 0] = np.round(x).astype(np.uint8)[None, :]
    out = fit_square(img, SIZE)
    assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.uint8
    red = out[..., 0].astype(float)
    assert np.ptp(red, axis=0).max() <= 1  # every row the same: scaled, not distorted
    assert abs(red[0, 0] - x[50]) <= 4 and abs(red[0, -1] - x[149]) <= 4


def test_cli_writes_reports_and_rejects_bad_masks(tiny_album_checkpoint, covers, tmp_path, vgg, capsys):
    weights = tmp_path / "vgg.pth"
    torch.save(vgg.state_dict(), weights)
    rc = cli(["evaluate", "--checkpoint", str(tiny_album_checkpoint), "--images", str(covers), "--masks", "strokes",
              "--size", str(SIZE), "--limit", "2", "--vgg-weights", str(weights), "--out", str(tmp_path / "o")])
    assert rc == 0
    assert "| model |" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"report.json", "report.md", "examples.png"}
    rc = cli(["evaluate", "--checkpoint", str(tiny_album_checkpoint), "--images", str(covers), "--masks",
              "class-patches", "--vgg-weights", str(weights), "--out", str(tmp_path / "x")])
    assert rc == 2
    assert "land cover" in capsys.readouterr().err


def test_judge_figures_win_rate_and_detail_are_reported(tiny_album_checkpoint, covers, tmp_path, vgg):
    report = run(tiny_album_checkpoint, covers, tmp_path, vgg, masks="large")
    per = report["per_image"]
    wins = np.mean([r["scores"]["model"]["judge"] < r["scores"]["patchmatch"]["judge"] for r in per])
    assert report["win_rate"]["model"] == pytest.approx(wins)
    assert "patchmatch" not in report["win_rate"]  # the reference is not scored against itself
    assert report["detail_median"]["telea"] == pytest.approx(
        np.nanmedian([r["scores"]["telea"]["detail"] for r in per]))
    text = (tmp_path / "report.md").read_text()
    assert "Win rate against patchmatch" in text and "judge dist." in text and "Detail ratio, median" in text


def test_every_judge_kind_in_one_run_with_a_summary(tiny_album_checkpoint, covers, tmp_path, vgg, capsys):
    weights = tmp_path / "vgg.pth"
    torch.save(vgg.state_dict(), weights)
    rc = cli(["evaluate", "--checkpoint", str(tiny_album_checkpoint), "--images", str(covers), "--masks", "all",
              "--size", str(SIZE), "--limit", "2", "--vgg-weights", str(weights), "--baselines", "patchmatch",
              "--out", str(tmp_path / "o")])
    assert rc == 0
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"research", "strokes", "large", "very-large",
                                                            "summary.md"}
    summary = (tmp_path / "o" / "summary.md").read_text()
    assert all(f"| {k} |" in summary for k in ("research", "strokes", "large", "very-large"))
    assert "model wins" in capsys.readouterr().out
    holes = [json.loads((tmp_path / "o" / k / "report.json").read_text())["per_image"][0]["hole_fraction"]
             for k in ("research", "very-large")]
    assert holes[0] < 0.1 < 0.4 <= holes[1]
    assert cli(["evaluate", "--checkpoint", "telea", "--images", str(covers), "--masks", "research,blobs",
                "--vgg-weights", str(weights), "--out", str(tmp_path / "x")]) == 2
    assert "blobs" in capsys.readouterr().err


def test_sources_keep_only_held_out_sources(covers, tmp_path, vgg):
    """Whole sources, named in a manifest beside the folder, are evaluated alone; a name that
    is not there says which are."""
    root = tmp_path / "pics"
    root.mkdir()
    for i in range(4):
        Image.fromarray(make_picture(72, 72, i)).save(root / f"p{i}.png")
    (tmp_path / "pics_manifest.csv").write_text("file,repo\np0.png,a/one\np1.png,b/two\np2.png,a/one\np3.png,b/two\n")
    report = run("telea", root, tmp_path / "o", vgg, sources=["a/one"])
    assert sorted(r["file"] for r in report["per_image"]) == ["p0.png", "p2.png"]
    assert report["held_out_sources"] == ["a/one"]
    with pytest.raises(ValueError, match="b/two"):
        run("telea", root, tmp_path / "o2", vgg, sources=["c/three"])
    both = run("telea", root, tmp_path / "o3", vgg, sources=["b/two", "a/one"], limit=2)  # one of each, in turn
    assert [r["file"] for r in both["per_image"]] == ["p1.png", "p0.png"]


@pytest.fixture(scope="module")
def satellite_setup(tmp_path_factory):
    """A tile folder in the aerial set's layout and a tiny random satellite checkpoint with a referee."""
    from inpaint_core.data.landcover import get_class_table
    from inpaint_core.models.satellite import (
        REFEREE_PREFIX,
        SatelliteConfig,
        SatelliteDiscriminator,
        SatelliteGenerator,
    )

    table = get_class_table("dubai-aerial")
    root = tmp_path_factory.mktemp("tiles")
    for t in range(2):
        (root / f"Tile {t}" / "images").mkdir(parents=True)
        (root / f"Tile {t}" / "masks").mkdir()
        lc = np.ones((72, 80), np.int64)  # water, with land and road blocks
        lc[10:40, 5:45], lc[45:, 30:] = 2, 3
        Image.fromarray(make_picture(72, 80, t)).save(root / f"Tile {t}" / "images" / "part_001.jpg")
        Image.fromarray(table.colorize(lc)).save(root / f"Tile {t}" / "masks" / "part_001.png")
    torch.manual_seed(0)
    cfg = SatelliteConfig(num_classes=len(table), base=8, depth=2, lc_channels=4, disc_base=8, disc_depth=3)
    tensors = dict(SatelliteGenerator(cfg).state_dict())
    tensors.update({REFEREE_PREFIX + k: v for k, v in SatelliteDiscriminator(cfg).state_dict().items()})
    ckpt = save_model(root / "sat.safetensors", tensors, "satellite", cfg.to_dict(),
                      training={"val_images": [str(root / "Tile 1" / "images" / "part_001.jpg")]},
                      classes=table.to_json())
    return root, ckpt


def test_satellite_reports_landcover_consistency(satellite_setup, tmp_path, vgg):
    root, ckpt = satellite_setup
    report = run(ckpt, root, tmp_path, vgg, masks="class-patches")
    assert report["model_kind"] == "satellite" and report["count"] == 2
    assert list(report["methods"]) == ["model", "telea", "navier-stokes", "patchmatch", "landcover-patchmatch",
                                       "landcover-nearest"]
    assert report["reference"] == "landcover-patchmatch"
    for means in report["methods"].values():
        assert set(means) == PIXEL_KEYS | {"landcover_consistency"}
        assert 0.0 <= means["landcover_consistency"] <= 1.0
    assert 0.0 <= report["landcover_consistency_target"] <= 1.0
    assert "land-cover consistency" in (tmp_path / "report.md").read_text()
    grid = np.asarray(Image.open(tmp_path / "examples.png"))
    assert grid.shape[1] >= 5 * SIZE  # the land-cover column is there
    val = run(ckpt, root, tmp_path / "val", vgg, masks="class-patches", split="val")
    assert [r["file"] for r in val["per_image"]] == ["Tile 1/images/part_001.jpg"]


def test_tile_windows_cover_a_centred_grid():
    image = np.arange(100 * 130 * 3, dtype=np.uint32).reshape(100, 130, 3).astype(np.uint8)
    lc = np.arange(100 * 130).reshape(100, 130) % 5
    found = tile_windows(image, lc, 32)  # default: the centre window only
    assert [rc for rc, _, _ in found] == [(0, 0)] and np.array_equal(found[0][2], lc[34:66, 49:81])
    found = tile_windows(image, lc, 32, limit=0)  # all: 3 rows x 4 columns, centred (2 px top, 1 px left)
    assert [rc for rc, _, _ in found] == [(r, c) for r in range(3) for c in range(4)]
    (_, rgb, first), (_, _, last) = found[0], found[-1]
    assert np.array_equal(first, lc[2:34, 1:33]) and np.array_equal(last, lc[66:98, 97:129])
    assert np.array_equal(rgb, image[2:34, 1:33]) and first.dtype == np.int64
    assert len(tile_windows(image, lc, 32, limit=5)) == 5


def test_satellite_windows_score_every_window(satellite_setup, tmp_path, vgg):
    root, ckpt = satellite_setup
    report = run(ckpt, root, tmp_path, vgg, masks="class-patches", windows=0, size=32)
    per_tile = (72 // 32) * (80 // 32)
    assert report["count"] == 2 * per_tile and report["sources"] == 2
    assert report["per_image"][1]["file"] == "Tile 0/images/part_001.jpg#0,1"
    assert len({tuple(r["mask_seed"]) for r in report["per_image"]}) == report["count"]  # a new hole per window
    assert f"{report['count']} windows of 2 tiles" in (tmp_path / "report.md").read_text()
    with pytest.raises(ValueError, match="--windows"):
        run(ckpt, root, tmp_path, vgg, windows=-1)


def test_satellite_referee_from_another_checkpoint(satellite_setup, tmp_path, vgg):
    """A judge that reads every pixel as class k scores each fill by the share of its hole
    requested as k: over k = 1, 2, 3 (the fixture's classes) those shares sum to 1."""
    root, ckpt = satellite_setup
    state, meta = load_model_file(ckpt)
    own = run(ckpt, root, tmp_path / "own", vgg, masks="class-patches")
    total = 0.0
    for k in (1, 2, 3):
        judge_state = {n: (torch.zeros_like(v) if n.startswith(REFEREE_PREFIX) and v.is_floating_point() else v)
                       for n, v in state.items()}
        judge_state[REFEREE_PREFIX + "lc_coarse.bias"] = torch.nn.functional.one_hot(torch.tensor(k), 6).float() * 10
        judge = save_model(tmp_path / f"judge{k}.safetensors", judge_state, "satellite", meta["config"],
                           classes=meta["classes"])
        judged = run(ckpt, root, tmp_path / f"judged{k}", vgg, masks="class-patches", referee=judge)
        assert judged["referee"] == str(judge) and own["referee"] == str(ckpt)
        assert judged["methods"]["model"]["psnr_hole"] == own["methods"]["model"]["psnr_hole"]
        scores = {m["landcover_consistency"] for m in judged["methods"].values()}
        assert scores == {judged["landcover_consistency_target"]}  # a constant judge cannot tell fills apart
        total += judged["landcover_consistency_target"]
    assert total == pytest.approx(1.0)
    assert "Referee: the one stored in" in (tmp_path / "judged3" / "report.md").read_text()
    s2 = save_model(tmp_path / "s2.safetensors", state, "satellite", meta["config"],
                    classes=get_class_table("s2glc9").to_json())
    with pytest.raises(ValueError, match="--referee"):
        run(ckpt, root, tmp_path / "bad", vgg, masks="class-patches", referee=s2)


def test_what_if_asks_the_farthest_colour_class_and_scores_every_fill(satellite_setup, tmp_path, vgg):
    root, ckpt = satellite_setup
    report = run(ckpt, root, tmp_path, vgg, what_if=True, windows=0)
    assert {p.name for p in tmp_path.iterdir()} == {"whatif.json", "whatif.md", "whatif.png"}
    assert list(report["methods"]) == ["model", "landcover-patchmatch", "landcover-nearest", "telea"]
    for scores in report["methods"].values():
        assert 0 <= scores["follows"] <= 1 and 0 <= scores["referee_asked"] <= 1
    for record in report["per_window"]:
        assert record["asked"] != record["erased"] and record["asked"] != "Unlabeled"
    assert "follows (mean colour)" in (tmp_path / "whatif.md").read_text()
    with pytest.raises(ValueError, match="--what-if needs land cover"):
        run("telea", root, tmp_path / "x", vgg, what_if=True)


def test_asked_class_is_the_farthest_in_colour():
    from inpaint_core.eval.whatif import asked_class, class_means

    rgb = np.zeros((4, 4, 3), np.uint8)
    lc = np.array([[0, 1, 2, 3]] * 4)
    rgb[lc == 1] = (0, 0, 200)  # water: blue
    rgb[lc == 2] = (190, 180, 150)  # land: sand
    rgb[lc == 3] = (170, 160, 150)  # road: grey
    means = class_means([(rgb, lc)], 6)
    assert np.isnan(means[4]).all()  # absent classes have no mean
    assert asked_class(2, means, ignore=(0,)) == 1  # sand is farthest from blue water ...
    assert asked_class(1, means, ignore=(0,)) == 2  # ... and back
    assert asked_class(4, means, ignore=(0,)) is None  # a class never seen cannot be re-asked


def test_progress_curve_from_evaluate_reports(covers, tmp_path, vgg, capsys):
    """train/progress.py draws the model's gain over PatchMatch against images seen, per hole kind."""
    from inpaint_core.models.album import AlbumConfig, AlbumUNet
    from inpaint_core.training import progress

    reports = []
    for seen in (800, 4000):
        torch.manual_seed(seen)
        model = AlbumUNet(AlbumConfig(base=8, depth=2, bottleneck_blocks=1))
        ckpt = save_model(tmp_path / f"m{seen}.safetensors", model.state_dict(), "album", model.config.to_dict(),
                          training={"images_seen": seen})
        for kind in ("research", "strokes"):
            run(ckpt, covers, tmp_path / f"{kind}{seen}", vgg, masks=kind, baselines=["patchmatch"], limit=2)
            reports.append(tmp_path / f"{kind}{seen}" / "report.json")
    groups = progress.load_points(reports)
    assert set(groups) == {"research", "strokes"}
    assert [p["images_seen"] for p in groups["strokes"]] == [800, 4000]
    report = json.loads(reports[0].read_text())
    expected = report["delta_vs_reference"]["model"]["perceptual"] / report["methods"]["patchmatch"]["perceptual"]
    assert groups["research"][0]["perceptual"] == pytest.approx(expected)
    assert progress.main([*map(str, reports), "--out", str(tmp_path / "curve.png")]) == 0
    assert Image.open(tmp_path / "curve.png").size[0] > 800
    assert "research:       800 images" in capsys.readouterr().out
