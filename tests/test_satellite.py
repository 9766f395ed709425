"""The satellite model: shapes, the inpaint invariant, land-cover validation, checkpoint
round trip, and a tiny training run (overfit smoke, export, resume) on generated tiles."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaint_core import load_inpainter
from inpaint_core.checkpoint import save_model
from inpaint_core.data.landcover import get_class_table
from inpaint_core.engine import InferenceOptions
from inpaint_core.eval.referee import landcover_accuracy, load_reader
from inpaint_core.models.satellite import (
    SatelliteConfig,
    SatelliteDiscriminator,
    SatelliteGenerator,
    SatelliteInpainter,
)
from inpaint_core.models.vgg import VGG16Features

ROOT = Path(__file__).resolve().parent.parent
TABLE = get_class_table("dubai-aerial")
TINY = dict(num_classes=len(TABLE), base=8, depth=2, lc_channels=4, bottleneck_blocks=1, disc_base=8, disc_depth=3)


def perturbed_generator(seed=0) -> SatelliteGenerator:
    """A generator whose head is not zero, so outputs differ from the Telea pre-fill."""
    torch.manual_seed(seed)
    gen = SatelliteGenerator(SatelliteConfig(**TINY))
    torch.nn.init.normal_(gen.head.weight, std=0.05)
    return gen


def sample(h=40, w=52, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), bool)
    mask[8:20, 10:30] = True
    return image, mask, rng.integers(0, len(TABLE), (h, w))


def test_generator_and_discriminator_shapes():
    cfg = SatelliteConfig(**TINY)
    gen, disc = SatelliteGenerator(cfg), SatelliteDiscriminator(cfg)
    x, m = torch.rand(2, 3, 32, 48), torch.zeros(2, 1, 32, 48)
    lc = torch.randint(0, cfg.num_classes, (2, 32, 48))
    out = gen(x, m, lc)
    assert out.shape == x.shape and out.dtype == torch.float32
    torch.testing.assert_close(out, x)  # zero-initialised head: starts exactly at the pre-fill
    patch, logits = disc(x)
    assert patch.shape == (2, 1, 4, 6) and logits.shape == (2, cfg.num_classes, 32, 48)
    with pytest.raises(ValueError, match="multiple"):
        gen(torch.rand(1, 3, 30, 32), torch.zeros(1, 1, 30, 32), torch.zeros(1, 30, 32, dtype=torch.long))


def test_landcover_changes_the_fill():
    gen = perturbed_generator()
    x, m = torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32)
    a = gen(x, m, torch.full((1, 32, 32), 1))
    b = gen(x, m, torch.full((1, 32, 32), 4))
    assert (a - b).abs().max() > 1e-4


@pytest.mark.parametrize("strategy", ["full", "crop", "resize"])
def test_inpaint_keeps_unmasked_pixels(strategy):
    model = SatelliteInpainter(perturbed_generator(), TABLE, device="cpu", options=InferenceOptions(working_size=32))
    image, mask, lc = sample()
    out = model.inpaint(image, mask, landcover=lc, strategy=strategy)
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert (out[mask] != image[mask]).any()
    np.testing.assert_array_equal(model.inpaint(image, np.zeros_like(mask), landcover=lc), image)


def test_missing_or_mismatched_landcover_raises():
    model = SatelliteInpainter(perturbed_generator(), TABLE, device="cpu")
    image, mask, lc = sample()
    with pytest.raises(ValueError, match="needs landcover"):
        model.inpaint(image, mask)
    with pytest.raises(ValueError, match="does not match"):
        model.inpaint(image, mask, landcover=lc[:-1])
    with pytest.raises(ValueError, match="0..5"):
        model.inpaint(image, mask, landcover=lc + 6)
    with pytest.raises(ValueError, match="index_from_colors"):
        model.inpaint(image, mask, landcover=TABLE.colorize(lc))
    with pytest.raises(ValueError, match="integer"):
        model.inpaint(image, mask, landcover=lc.astype(np.float32))
    with pytest.raises(ValueError, match="not"):
        model.inpaint(image, mask, landcover=lc, land=lc)


def test_checkpoint_round_trip(tmp_path):
    gen = perturbed_generator()
    disc = SatelliteDiscriminator(gen.config)
    tensors = dict(gen.state_dict()) | {"referee." + k: v for k, v in disc.state_dict().items()}
    path = save_model(tmp_path / "sat.safetensors", tensors, "satellite", gen.config.to_dict(),
                      training={"classes_name": TABLE.name}, classes=TABLE.to_json())
    model = load_inpainter(path, device="cpu")
    assert model.kind == "satellite" and model.classes == TABLE
    assert [(c.name, c.color) for c in model.classes][1] == ("Water", (0xE2, 0xA9, 0x29))
    image, mask, lc = sample()
    expected = SatelliteInpainter(gen, TABLE, device="cpu").inpaint(image, mask, landcover=lc)
    np.testing.assert_array_equal(model.inpaint(image, mask, landcover=lc), expected)
    reader = load_reader(path, device="cpu")
    assert reader.segment(image).shape == mask.shape


def test_landcover_accuracy():
    req = np.array([[1, 1, 2, 0]])
    pred = np.array([[1, 2, 2, 3]])
    mask = np.array([[True, True, True, True]])
    assert landcover_accuracy(pred, req, mask, ignore=(0,)) == pytest.approx(2 / 3)
    assert np.isnan(landcover_accuracy(pred, req, np.zeros_like(mask)))


@pytest.fixture()
def tile_folder(tmp_path):
    """Two generated 'aerial' pairs in the published layout: Tile 1/images + Tile 1/masks."""
    rng = np.random.default_rng(0)
    for i in range(2):
        lc = np.zeros((48, 64), np.int64) + 2
        lc[:, 32:] = 1  # water on the right
        lc[10:30, 5:25] = 4
        image = np.where(lc[..., None] == 1, (40, 90, 160), np.where(lc[..., None] == 4, (200, 200, 190), (180, 140, 90)))
        image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
        for sub, arr, ext in (("images", image, "jpg"), ("masks", TABLE.colorize(lc), "png")):
            (tmp_path / "Tile 1" / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(tmp_path / "Tile 1" / sub / f"image_part_00{i}.{ext}")
    vgg = tmp_path / "vgg_random.pth"
    torch.save(VGG16Features(("relu3_3",)).state_dict(), vgg)  # random weights: tests never download
    return tmp_path, vgg


def tiny_args(data, vgg, out):
    return ["--data", str(data), "--classes", "dubai-aerial", "--vgg-weights", str(vgg), "--out", str(out),
            "--export", str(out / "model.safetensors"), "--base", "8", "--depth", "2", "--lc-channels", "4",
            "--bottleneck-blocks", "1", "--disc-base", "8", "--crop", "32", "--batch-size", "2", "--val-fraction", "0",
            "--val-windows", "2", "--log-every", "1", "--no-amp", "--windows-per-epoch", "4", "--workers", "0",
            "--val-perceptual", "relu1_2,relu2_2,relu3_3", "--select", "psnr_hole"]  # the random VGG stops at relu3_3


def test_overfit_smoke_loss_falls(tile_folder):
    from inpaint_core.training.satellite import main

    data, vgg = tile_folder
    out = data / "run"
    # Telea's pre-fill: on these flat synthetic classes the default land-cover nearest fill is
    # already nearly exact, leaving too little to fit for the test to say anything
    main(tiny_args(data, vgg, out) + ["--overfit-batch", "--lr", "2e-3", "--steps", "40", "--sample-every", "40",
                                      "--val-every", "40", "--prefill", "telea"])
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "l1" in r]
    assert steps[-1]["l1"] < 0.7 * steps[0]["l1"]
    assert {"d_real", "d_fake", "d_acc_real"} <= set(steps[-1])
    assert (out / "samples" / "final.png").is_file() and (out / "state.pt").is_file()
    assert Image.open(out / "curves.png").size[0] > 800  # four panels: G loss, D outputs, land cover, PSNR


def test_run_exports_and_resumes(tile_folder):
    from inpaint_core.training.satellite import main

    data, vgg = tile_folder
    out = data / "run2"
    args = tiny_args(data, vgg, out) + ["--val-every", "2", "--sample-every", "2", "--save-every", "2"]
    main(args + ["--steps", "2"])
    model = load_inpainter(out / "model.safetensors", device="cpu")
    assert model.kind == "satellite" and len(model.classes) == len(TABLE)
    # the export carries an exemplar bank cut from the training tiles, one strip per class seen
    assert model.bank is not None and len(model.bank) == len(TABLE)
    assert model.bank.valid.any() and not model.bank.valid[list(TABLE.nodata_indices)].any()
    result = main(args + ["--steps", "3", "--resume"])
    assert result["step"] == 3
    assert "tv" in result and "val_d_real" in json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    # --select last exports whatever the latest validation says; the export's step shows it
    main(args + ["--steps", "4", "--resume", "--select", "last"])
    assert load_inpainter(out / "model.safetensors", device="cpu").meta["training"]["steps"] == 4
    # the feature loss can train on the held-out perceptual distance's layers; the export records them
    main(args + ["--steps", "5", "--resume", "--select", "last", "--vgg-layers", "relu1_2,relu2_2,relu3_3"])
    meta = load_inpainter(out / "model.safetensors", device="cpu").meta["training"]
    assert meta["steps"] == 5 and meta["train_config"]["vgg_layers"] == "relu1_2,relu2_2,relu3_3"
    with pytest.raises(SystemExit, match="--select"):
        main(args + ["--select", "sharpness"])
    with pytest.raises(SystemExit, match="--vgg-layers"):
        main(args + ["--vgg-layers", ""])


def test_resume_and_init_together_are_refused():
    """The base config refuses the pair, for both trainers alike."""
    from inpaint_core.training.satellite import SatelliteTrainConfig

    with pytest.raises(SystemExit, match="pick one"):
        SatelliteTrainConfig(data="-", classes="dubai-aerial", resume=True, init="model.safetensors")


def test_training_script_imports_without_rasterio_or_gradio():
    code = ("import sys; sys.modules['rasterio'] = None; sys.modules['gradio'] = None; "
            "import inpaint_core.training.satellite")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_discriminator_fake_loss_weighs_filled_pixels():
    """A D that scores every patch 0.9 must be punished: only 0 on the filled pixels and 1 on
    the untouched ones is a perfect answer, however small the hole."""
    from inpaint_core.training.losses import fake_patch_loss

    holes = torch.zeros(2, 1, 8, 8)
    holes[:, :, 2, 3] = 1.0  # one filled patch in 64
    holes[:, :, 5, 5] = 0.25  # and one a quarter filled
    perfect = 1 - (holes > 0.5).float()
    assert fake_patch_loss(perfect, holes) < fake_patch_loss(torch.full_like(holes, 0.9), holes)
    assert fake_patch_loss(torch.full_like(holes, 0.9), holes) > 0.3  # 0.5 * 0.81 on the holes
    assert fake_patch_loss(torch.ones_like(holes), torch.zeros_like(holes)) == 0  # no holes: all real is right


def test_bank_command_adds_a_bank_and_keeps_the_weights(tile_folder, tmp_path):
    """``python -m inpaint_core bank`` on a checkpoint without one: same weights, a bank from training tiles."""
    from inpaint_core.__main__ import main as cli
    from inpaint_core.checkpoint import load_model_file

    data, _ = tile_folder
    gen = perturbed_generator()
    held = sorted(data.rglob("images/*"))[0]
    ckpt = save_model(tmp_path / "sat.safetensors", gen.state_dict(), "satellite", gen.config.to_dict(),
                      training={"val_images": [str(held)]}, classes=TABLE.to_json())
    assert load_inpainter(ckpt, device="cpu").bank is None
    assert cli(["bank", "--checkpoint", str(ckpt), "--data", str(data), "--out", str(tmp_path / "b.safetensors")]) == 0
    before, _ = load_model_file(ckpt)
    after, meta = load_model_file(tmp_path / "b.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert meta["training"]["bank"]["held_out_skipped"] == 1
    model = load_inpainter(tmp_path / "b.safetensors", device="cpu")
    assert model.bank is not None and model.bank.valid.any()
    image, mask, lc = sample()
    np.testing.assert_array_equal(model.inpaint(image, mask, landcover=lc),
                                  load_inpainter(ckpt, device="cpu").inpaint(image, mask, landcover=lc))
    assert cli(["bank", "--checkpoint", str(tmp_path / "missing.safetensors"), "--data", str(data)]) == 2


def test_landcover_nearest_prefill_trains_and_exports(tile_folder):
    from inpaint_core.training.satellite import main

    data, vgg = tile_folder
    out = data / "run-nearest"
    main(tiny_args(data, vgg, out) + ["--steps", "2", "--val-every", "2", "--prefill", "landcover-nearest"])
    model = load_inpainter(out / "model.safetensors", device="cpu")
    assert model.model.config.prefill == "landcover-nearest"


def test_normalized_generator_fills_the_same_in_any_light():
    """With ``normalize`` the generator sees a window relative to its known pixels, so a window
    in other light (each channel times a > 0, plus b) gets the same fill in that light:
    g(a x + b) = a g(x) + b, for any weights. Untrained, it returns its pre-fill."""
    from inpaint_core.models.satellite import window_stats

    torch.manual_seed(0)
    cfg = SatelliteConfig(num_classes=len(TABLE), base=8, depth=2, lc_channels=4, bottleneck_blocks=1, normalize=True)
    gen = SatelliteGenerator(cfg).eval()
    image, mask, lc = torch.rand(2, 3, 32, 32) * 0.5 + 0.2, torch.zeros(2, 1, 32, 32), torch.randint(0, 6, (2, 32, 32))
    mask[:, :, 8:20, 6:24] = 1
    torch.testing.assert_close(gen(image, mask, lc), image)
    torch.nn.init.normal_(gen.head.weight, 0, 0.3)  # a generator that changes things
    a, b = torch.tensor([0.7, 1.1, 0.9]).view(1, 3, 1, 1), torch.tensor([0.05, -0.1, 0.02]).view(1, 3, 1, 1)
    with torch.no_grad():
        out, relit = gen.train()(image, mask, lc), gen(image * a + b, mask, lc)  # train(): no clamp to [0, 1]
    assert (out - image).abs().max() > 0.01
    torch.testing.assert_close(relit, out * a + b, atol=1e-5, rtol=1e-4)
    centre, spread = window_stats(image, mask)
    known = image[0, :, mask[0, 0] == 0]
    torch.testing.assert_close(centre[0].flatten(), known.mean(dim=1))
    torch.testing.assert_close(spread[0].flatten(), 2 * known.std(dim=1, unbiased=False))
    with pytest.raises(ValueError, match="normalize needs residual"):
        SatelliteConfig(normalize=True, residual=False)


def test_normalized_generator_trains_exports_and_loads(tile_folder):
    from inpaint_core.training.satellite import main

    data, vgg = tile_folder
    out = data / "run-normalize"
    main(tiny_args(data, vgg, out) + ["--steps", "2", "--val-every", "2", "--normalize", "--colour-jitter", "0.2"])
    model = load_inpainter(out / "model.safetensors", device="cpu")
    assert model.model.config.normalize
    image = np.full((40, 48, 3), 120, np.uint8)
    mask = np.zeros((40, 48), bool)
    mask[10:20, 10:30] = True
    out_img = model.inpaint(image, mask, landcover=np.full((40, 48), 2))
    np.testing.assert_array_equal(out_img[~mask], image[~mask])


def test_landcover_bank_prefill_trains_keeps_exports_and_needs_its_bank(tile_folder, tmp_path):
    """The bank pre-fill trains from the bank it exports; --keep-exports keeps each validation's
    model; a file that lost its bank is refused, not filled with something else."""
    from inpaint_core.checkpoint import CheckpointError, load_model_file
    from inpaint_core.training.satellite import main

    data, vgg = tile_folder
    out = data / "run-bank"
    main(tiny_args(data, vgg, out) + ["--steps", "4", "--val-every", "2", "--prefill", "landcover-bank",
                                      "--keep-exports"])
    model = load_inpainter(out / "model.safetensors", device="cpu")
    assert model.model.config.prefill == "landcover-bank" and model.bank is not None
    kept = sorted(p.name for p in (out / "exports").iterdir())
    assert kept == ["step000002.safetensors", "step000004.safetensors"]
    val = load_inpainter(out / "exports" / kept[1], device="cpu").meta["training"]["validation"]
    # every validation reads the targets' figures: the model's perceptual distance, land-cover PatchMatch's
    assert {"perceptual", "perceptual_landcover_patchmatch", "psnr_hole_landcover_patchmatch"} <= set(val)
    assert load_inpainter(out / "exports" / kept[0], device="cpu").meta["training"]["steps"] == 2
    image, mask, lc = sample()
    lc[mask] = 1  # asked for water where the window has little: the bank's water texture is the start
    out_img = model.inpaint(image, mask, landcover=lc)
    np.testing.assert_array_equal(out_img[~mask], image[~mask])
    state, meta = load_model_file(out / "model.safetensors")
    bare = save_model(tmp_path / "nobank.safetensors", {k: v for k, v in state.items() if not k.startswith("bank.")},
                      "satellite", meta["config"], training=meta["training"], classes=meta["classes"])
    with pytest.raises(CheckpointError, match="exemplar bank"):
        load_inpainter(bare, device="cpu")


def test_what_if_and_identity_windows(tile_folder):
    """What-if windows ask their hole for one other (non-nodata) class and keep the true map
    apart; identity windows have no hole; held-out what-if windows repeat exactly."""
    from inpaint_core.data.datasets import SatelliteTiles
    from inpaint_core.data.tiles import find_tile_pairs

    data, _ = tile_folder
    pairs = find_tile_pairs(data)
    tiles = SatelliteTiles(pairs, TABLE, size=32, seed=0, length=60, what_if=0.5, identity=0.2)
    kinds = {"whatif": 0, "identity": 0, "plain": 0}
    for i in range(60):
        item = tiles[i]
        mask = item["mask"][0].bool()
        asked, true = item["landcover"], item["landcover_true"]
        assert torch.equal(asked[~mask], true[~mask])
        if item["whatif"]:
            kinds["whatif"] += 1
            assert len(asked[mask].unique()) == 1 and int(asked[mask][0]) not in TABLE.nodata_indices
            assert (asked[mask] != true[mask]).any()
        elif not mask.any():
            kinds["identity"] += 1
            torch.testing.assert_close(item["input"], item["target"])
        else:
            kinds["plain"] += 1
            assert torch.equal(asked, true)
    assert all(n > 5 for n in kinds.values()), kinds
    held = SatelliteTiles(pairs, TABLE, size=32, seed=1, length=4, train=False, what_if=1.0)
    assert all(held[i]["whatif"] == 1 for i in range(4))
    assert torch.equal(held[2]["landcover"], held[2]["landcover"])
    with pytest.raises(ValueError, match="sum to at most 1"):
        SatelliteTiles(pairs, TABLE, what_if=0.8, identity=0.4)


def test_colour_jitter_relights_training_windows_only(tile_folder):
    """A jittered training window is the same window in other light: every pixel times one
    gain per channel, within the promised range, input and target alike (the known pixels
    still match); held-out windows never are; a jitter of 1 or more is refused."""
    from inpaint_core.data.datasets import SatelliteTiles
    from inpaint_core.data.tiles import find_tile_pairs

    data, _ = tile_folder
    pairs = find_tile_pairs(data)
    j = 0.3
    jittered = SatelliteTiles(pairs, TABLE, size=32, seed=0, length=20, colour_jitter=j)
    plain = SatelliteTiles(pairs, TABLE, size=32, seed=0, length=20)
    gains = []
    for i in range(20):
        torch.manual_seed(i)  # the same window (place, turn, flip) from both
        item = jittered[i]
        torch.manual_seed(i)
        ref = plain[i]["target"]
        known = item["mask"][0] == 0
        torch.testing.assert_close(item["input"][:, known], item["target"][:, known])
        ok = (ref > 0.1) & (item["target"] < 0.99)  # away from rounding at black and clipping at white
        for c in range(3):
            ratio = item["target"][c][ok[c]] / ref[c][ok[c]]
            assert ratio.std() < 0.02, "one gain per channel"
            gains.append(float(ratio.mean()))
    gains = np.array(gains)
    assert gains.min() >= (1 - j) * (1 - j / 2) - 0.02 and gains.max() <= (1 + j) * (1 + j / 2) + 0.02
    assert gains.std() > 0.05  # the light changes from window to window
    held = SatelliteTiles(pairs, TABLE, size=32, seed=1, length=4, train=False, colour_jitter=j)
    held_plain = SatelliteTiles(pairs, TABLE, size=32, seed=1, length=4, train=False)
    assert all(torch.equal(held[i]["target"], held_plain[i]["target"]) for i in range(4))
    with pytest.raises(ValueError, match="colour_jitter"):
        SatelliteTiles(pairs, TABLE, colour_jitter=1.0)


def test_what_if_holes_carry_no_pixel_loss():
    """In a what-if hole the target shows the erased class: the pixel terms must ignore it."""
    from inpaint_core.training.losses import satellite_g_loss
    from inpaint_core.training.satellite import SatelliteTrainConfig

    cfg = SatelliteTrainConfig(data="-", classes="dubai-aerial", w_vgg=0, w_adv=0, w_cls=0, w_tv=0, clip_grad=0)
    cfg_disc = SatelliteDiscriminator(SatelliteConfig(**TINY))
    target = torch.rand(2, 3, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 8:24, 8:24] = 1
    lc = torch.ones(2, 32, 32, dtype=torch.long)
    pred = target.clone()
    pred[:, :, 8:24, 8:24] = 1 - target[:, :, 8:24, 8:24]  # wrong inside the holes only
    losses = {}
    for name, whatif in (("plain", torch.zeros(2)), ("whatif", torch.ones(2))):
        p = pred.clone().requires_grad_(True)
        _, parts = satellite_g_loss(p, target, mask, lc, cfg_disc, None, (0,), cfg, torch.device("cpu"), whatif)
        losses[name] = parts["l1"] + parts["mse"]
    assert losses["plain"] > 0.1 and losses["whatif"] == pytest.approx(0.0, abs=1e-7)


def test_what_if_training_logs_the_referee_reading(tile_folder):
    from inpaint_core.training.satellite import main

    data, vgg = tile_folder
    out = data / "run-whatif"
    main(tiny_args(data, vgg, out) + ["--steps", "2", "--val-every", "2", "--what-if", "0.5", "--identity", "0.25",
                                      "--val-fraction", "0"])
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert any("whatif_consistency" in r for r in records)


def test_init_starts_a_new_run_from_an_exported_model(tile_folder):
    """--init rebuilds the exported networks as they were built, with no model flags; the
    export counts the steps of the run it came from; a contradicting flag stops the run."""
    from inpaint_core.training.satellite import main
    from inpaint_core.training.state import load_state

    data, vgg = tile_folder
    first, second = data / "first", data / "second"
    main(tiny_args(data, vgg, first) + ["--steps", "2", "--val-every", "2"])
    from inpaint_core.checkpoint import read_meta

    args = ["--data", str(data), "--classes", "dubai-aerial", "--vgg-weights", str(vgg), "--out", str(second),
            "--export", str(second / "model.safetensors"), "--crop", "32", "--batch-size", "2", "--val-fraction", "0",
            "--val-windows", "2", "--log-every", "1", "--no-amp", "--windows-per-epoch", "4", "--workers", "0",
            "--val-perceptual", "relu1_2,relu2_2,relu3_3", "--select", "psnr_hole"]  # no model flags; VGG to relu3_3
    main(args + ["--steps", "2", "--val-every", "2", "--init", str(first / "model.safetensors")])
    assert load_state(second / "state.pt")["model_config"] == read_meta(first / "model.safetensors")["config"]
    assert load_inpainter(second / "model.safetensors", device="cpu").meta["training"]["steps"] == 4
    with pytest.raises(SystemExit, match="--base 16"):
        main(args + ["--steps", "1", "--init", str(first / "model.safetensors"), "--base", "16"])


def test_random_rotations_and_flips_keep_tile_and_land_cover_aligned(tmp_path):
    """Training windows are rotated and flipped: the land cover must turn with the tile.
    Each class has its own flat colour here, so every target pixel must show its class's."""
    from inpaint_core.data.datasets import SatelliteTiles
    from inpaint_core.data.tiles import find_tile_pairs

    lc = np.full((64, 80), 2, np.int64)
    lc[:30, :20], lc[40:, 50:], lc[:, 70:] = 1, 4, 5  # an asymmetric layout: any misturn shows
    colours = {1: (40, 90, 160), 2: (180, 140, 90), 4: (200, 200, 190), 5: (30, 120, 40)}
    image = np.zeros((64, 80, 3), np.uint8)
    for c, rgb in colours.items():
        image[lc == c] = rgb
    (tmp_path / "T" / "images").mkdir(parents=True)
    (tmp_path / "T" / "masks").mkdir()
    Image.fromarray(image).save(tmp_path / "T" / "images" / "a.png")
    Image.fromarray(TABLE.colorize(lc)).save(tmp_path / "T" / "masks" / "a.png")
    tiles = SatelliteTiles(find_tile_pairs(tmp_path), TABLE, size=48, seed=3, length=40)
    palette = torch.zeros(len(TABLE), 3)
    for c, rgb in colours.items():
        palette[c] = torch.tensor(rgb, dtype=torch.float32) / 255
    seen = set()
    for i in range(40):
        item = tiles[i]
        expected = palette[item["landcover_true"]].permute(2, 0, 1)
        torch.testing.assert_close(item["target"], expected, atol=1 / 255, rtol=0)
        seen.add(item["target"][:, 0, 0].mul(255).round().int().tolist().__repr__())
    assert len(seen) > 1  # the windows did move and turn


def test_splits_are_stable_when_files_are_added_or_moved(tmp_path):
    """The album split hashes file names: adding covers never moves an old one across, and the
    same covers under another folder split the same way."""
    from inpaint_core.data.pictures import split_files

    names = [f"cover{i:03d}.jpg" for i in range(200)]
    train, val = split_files([tmp_path / "a" / n for n in names], 0.1)
    more_train, more_val = split_files([tmp_path / "a" / n for n in names + [f"new{i}.jpg" for i in range(50)]], 0.1)
    assert {p.name for p in val} <= {p.name for p in more_val}
    assert {p.name for p in train} <= {p.name for p in more_train}
    moved_train, moved_val = split_files([tmp_path / "elsewhere" / "deeper" / n for n in reversed(names)], 0.1)
    assert {p.name for p in moved_val} == {p.name for p in val} and 5 < len(val) < 40


def test_torchrun_two_processes(tile_folder):
    """The GAN under DistributedDataParallel (gloo on the CPU): both processes step, rank 0 exports."""
    import os

    data, vgg = tile_folder
    out = data / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(ROOT / "train" / "satellite.py"), *tiny_args(data, vgg, out), "--steps", "2", "--val-every", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from inpaint_core.checkpoint import read_meta

    assert read_meta(out / "model.safetensors")["training"]["images_seen"] == 2 * 2 * 2


def test_tile_split_is_keyed_on_paths_relative_to_the_data_folder(tile_folder, tmp_path, monkeypatch):
    """Spelling --data differently (relative, absolute, trailing slash) keeps the same split."""
    from inpaint_core.data.tiles import find_tile_pairs, split_pairs

    data, _ = tile_folder
    for i in range(2, 40):  # enough tiles for both sides of a 30 % split
        (data / "Tile 1" / "images" / f"image_part_00{i}.jpg").write_bytes(b"")
        (data / "Tile 1" / "masks" / f"image_part_00{i}.png").write_bytes(b"")
    absolute = split_pairs(find_tile_pairs(data), 0.3, data)
    monkeypatch.chdir(data.parent)
    relative = split_pairs(find_tile_pairs(data.name + "/"), 0.3, data.name + "/")
    names = [[Path(p[0]).name for p in side] for side in absolute]
    assert names == [[Path(p[0]).name for p in side] for side in relative]
    assert names[1] and names[0]


def test_named_images_pair_and_hold_out(tmp_path):
    """DeepGlobe's naming (119_sat.jpg + 119_mask.png) pairs; --val-tiles holds out named tiles."""
    from inpaint_core.data.tiles import find_tile_pairs, split_named

    for sub, end in (("images", "_sat.jpg"), ("masks", "_mask.png")):
        (tmp_path / sub).mkdir()
        for i in (119, 6399, 794214):
            (tmp_path / sub / f"{i}{end}").write_bytes(b"")
    pairs = find_tile_pairs(tmp_path)
    assert [(a.name, b.name) for a, b in pairs] == [("119_sat.jpg", "119_mask.png"), ("6399_sat.jpg", "6399_mask.png"),
                                                    ("794214_sat.jpg", "794214_mask.png")]
    train, val = split_named(pairs, "6399_sat, 794214_sat.jpg")
    assert [p[0].name for p in val] == ["6399_sat.jpg", "794214_sat.jpg"] and [p[0].name for p in train] == ["119_sat.jpg"]
    with pytest.raises(ValueError, match="'42_sat'"):
        split_named(pairs, "42_sat")
    with pytest.raises(ValueError, match="no image named"):
        split_named(pairs, " , ")
    # the run and evaluate pair them the same way
    from inpaint_core.data.tiles import match_by_stem

    images, masks = sorted((tmp_path / "images").iterdir()), sorted((tmp_path / "masks").iterdir())
    assert match_by_stem(images, masks, "land cover") == pairs


def second_tile(data):
    """``data`` with a copy of its Tile 1 as Tile 2 (the aerial set's layout: the same part names
    in every tile's folders); returns ``data``."""
    for sub in ("images", "masks"):
        (data / "Tile 2" / sub).mkdir(parents=True)
        for src in (data / "Tile 1" / sub).iterdir():
            (data / "Tile 2" / sub / src.name).write_bytes(src.read_bytes())
    return data


def test_named_hold_out_is_unambiguous_in_a_many_folder_layout(tile_folder):
    """Every Tile N/images/ of the aerial set has an image_part_001: a bare name that matches
    several images is refused; a path relative to --data names one."""
    from inpaint_core.data.tiles import find_tile_pairs, split_named

    data, _ = tile_folder
    pairs = find_tile_pairs(second_tile(data))
    with pytest.raises(ValueError, match="names 2 images"):
        split_named(pairs, "image_part_001", data)
    train, val = split_named(pairs, "Tile 2/images/image_part_001", data)
    assert [p[0].relative_to(data).as_posix() for p in val] == ["Tile 2/images/image_part_001.jpg"]
    assert len(train) == 3


def test_named_hold_out_of_a_whole_folder(tile_folder):
    """--val-tiles 'Tile 2' holds out every image of that tile (a whole tile never trained on),
    and a folder that holds no image is refused like an unknown name."""
    from inpaint_core.data.tiles import find_tile_pairs, split_named

    data, _ = tile_folder
    pairs = find_tile_pairs(second_tile(data))
    train, val = split_named(pairs, "Tile 2", data)
    assert val and all(p[0].relative_to(data).parts[0] == "Tile 2" for p in val)
    assert train and all(p[0].relative_to(data).parts[0] == "Tile 1" for p in train)
    assert split_named(pairs, "Tile 2/", data) == (train, val)
    with pytest.raises(ValueError, match="no image called"):
        split_named(pairs, "Tile 9", data)


def test_smoothed_correction_moves_colour_but_adds_no_texture():
    """--smooth-correction S: the generator's correction is constant-ish over S px (it moves the
    pre-fill's light and colour, it cannot speckle or smear its texture); bad sizes are refused."""
    torch.manual_seed(0)
    gen = SatelliteGenerator(SatelliteConfig(**TINY, smooth_correction=8))
    torch.nn.init.normal_(gen.head.weight, std=0.05)
    x, m = torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32)
    lc = torch.randint(0, len(TABLE), (1, 32, 32))
    delta = gen(x, m, lc) - x
    rough = SatelliteGenerator(SatelliteConfig(**TINY))
    rough.load_state_dict(gen.state_dict())
    raw = rough(x, m, lc) - x
    assert delta.abs().max() > 1e-3  # it does move the fill
    step = lambda d: (d[..., 1:, :] - d[..., :-1, :]).abs().mean()  # noqa: E731
    assert step(delta) < 0.25 * step(raw)  # but smoothly
    torch.testing.assert_close(delta.mean(), raw.mean(), atol=2e-3, rtol=0)  # the same mean shift
    for bad in (3, 1, 16):  # not a power of 2, too small, larger than the input multiple (8 at depth 2)
        with pytest.raises(ValueError, match="smooth_correction"):
            SatelliteConfig(**TINY, smooth_correction=bad)
    with pytest.raises(ValueError, match="smooth_correction"):
        SatelliteConfig(**TINY, smooth_correction=4, residual=False)
