"""train/album.py end to end at toy sizes: overfitting works, resume continues, torchrun runs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaint_core import load_inpainter
from inpaint_core.checkpoint import read_meta
from inpaint_core.training import album

ROOT = Path(__file__).resolve().parent.parent
TOY = ["--resize", "64", "--crop", "32", "--base", "8", "--depth", "2", "--bottleneck-blocks", "1",
       "--batch-size", "4", "--val-images", "4", "--workers", "0", "--log-every", "1", "--warmup", "1"]


def _args(image_folder, vgg, out, *extra):
    return ["--data", str(image_folder), "--vgg-weights", str(vgg), "--out", str(out),
            "--export", str(out / "album.safetensors"), *TOY, *extra]


def _losses(out: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (out / "log.jsonl").read_text().splitlines()) if "loss" in r]


def test_overfit_batch_loss_falls(image_folder, random_vgg_file, tmp_path):
    out = tmp_path / "overfit"
    result = album.main(_args(image_folder, random_vgg_file, out, "--overfit-batch", "--steps", "40",
                              "--prefill", "zeros", "--no-residual", "--resize", "32"))
    losses = _losses(out)
    assert len(losses) == 40
    # from scratch on black holes, 40 steps take a toy net's loss down by about 40%
    assert sum(losses[-5:]) / 5 < 0.75 * sum(losses[:5]) / 5
    assert (out / "samples" / "final.png").is_file()
    assert Image.open(out / "curves.png").size[0] > 400  # the loss curves, drawn from log.jsonl
    assert result["step"] == 40


def test_run_exports_a_loadable_model_and_resumes(image_folder, random_vgg_file, tmp_path):
    out = tmp_path / "run"
    album.main(_args(image_folder, random_vgg_file, out, "--steps", "4", "--val-every", "2", "--save-every", "2"))
    model = load_inpainter(out / "album.safetensors", device="cpu")
    assert model.kind == "album"
    meta = read_meta(out / "album.safetensors")
    assert meta["training"]["steps"] in (2, 4) and "psnr_hole_telea" in meta["training"]["validation"]
    # a crash after the last save leaves records of steps the resumed run will redo
    with open(out / "log.jsonl", "a") as f:
        f.write(json.dumps({"step": 5, "loss": 123.0}) + "\n")
    result = album.main(_args(image_folder, random_vgg_file, out, "--steps", "6", "--resume"))
    assert result["step"] == 6
    assert len(_losses(out)) == 6 and 123.0 not in _losses(out)  # 4 steps, then 2 more; nothing repeated


def test_resume_without_state_is_a_clear_error(image_folder, random_vgg_file, tmp_path):
    with pytest.raises(SystemExit, match="no training state"):
        album.main(_args(image_folder, random_vgg_file, tmp_path / "empty", "--resume"))


def test_init_from_an_exported_model(image_folder, random_vgg_file, tmp_path):
    first = tmp_path / "first"
    album.main(_args(image_folder, random_vgg_file, first, "--steps", "2", "--val-every", "2"))
    second = tmp_path / "second"
    album.main(_args(image_folder, random_vgg_file, second, "--steps", "2", "--val-every", "2", "--lr", "0",
                     "--init", str(first / "album.safetensors")))
    # at learning rate 0 the weights stay the ones --init loaded: the exported model's, tensor for tensor
    from inpaint_core.checkpoint import load_model_file
    from inpaint_core.training.state import load_state

    exported, _ = load_model_file(first / "album.safetensors")
    started = load_state(second / "state.pt")["model"]
    assert set(started) == set(exported)
    for key, value in exported.items():
        assert torch.equal(started[key].float(), value.float()), key
    with pytest.raises(SystemExit, match="--init"):
        album.main(_args(image_folder, random_vgg_file, tmp_path / "third", "--steps", "1",
                         "--init", str(first / "album.safetensors"), "--base", "12"))


def test_resume_and_init_together_are_refused(image_folder, random_vgg_file, tmp_path):
    """--resume continues a run from its state; --init starts a new one: the album trainer used to
    take both and silently drop --init."""
    with pytest.raises(SystemExit, match="pick one"):
        album.AlbumTrainConfig(data="x", resume=True, init="model.safetensors")
    first = tmp_path / "first"
    album.main(_args(image_folder, random_vgg_file, first, "--steps", "1", "--val-every", "1"))
    with pytest.raises(SystemExit, match="pick one"):
        album.main(_args(image_folder, random_vgg_file, first, "--steps", "2", "--resume",
                         "--init", str(first / "album.safetensors")))


def test_lr_find_writes_a_plot(image_folder, random_vgg_file, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "lr"
    result = album.main(_args(image_folder, random_vgg_file, out, "--lr-find"))
    assert (out / "lr_find.png").stat().st_size > 1000
    assert 1e-6 <= result["suggested_lr"] <= 1e-1


def test_help_documents_every_option():
    text = subprocess.run([sys.executable, str(ROOT / "train" / "album.py"), "-h"], capture_output=True,
                          text=True, check=True).stdout
    for flag in ("--data", "--vgg-weights", "--overfit-batch", "--lr-find", "--resume", "--init", "--max-minutes"):
        assert flag in text


def test_torchrun_two_processes(image_folder, random_vgg_file, tmp_path):
    """Data-parallel, with the adversarial term on: its discriminator is synchronised too."""
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(ROOT / "train" / "album.py"), *_args(image_folder, random_vgg_file, out, "--steps", "3",
                                                    "--val-every", "3", "--w-adv", "0.1", "--disc-base", "8",
                                                    "--disc-depth", "2")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "album.safetensors").is_file()
    assert read_meta(out / "album.safetensors")["training"]["images_seen"] == 3 * 4 * 2


def test_curves_are_skipped_without_matplotlib(tmp_path, monkeypatch, capsys):
    """The GPU machines have no matplotlib: training must go on, saying where the log is."""
    from inpaint_core.training.logs import plot_curves

    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps({"step": s, "loss": 1 / s}) for s in range(1, 50)) + "\n")
    assert plot_curves(log, tmp_path / "curves.png", {"loss": ["loss"]}).is_file()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert plot_curves(log, tmp_path / "none.png", {"loss": ["loss"]}) is None
    assert not (tmp_path / "none.png").exists() and "matplotlib is not installed" in capsys.readouterr().out


def test_patchmatch_guide_prefill_trains_and_exports(image_folder, random_vgg_file, tmp_path):
    """--prefill patchmatch-half: the data pipeline and the exported model use the guide."""
    out = tmp_path / "guide"
    album.main(_args(image_folder, random_vgg_file, out, "--steps", "2", "--val-every", "2", "--prefill",
                     "patchmatch-half"))
    model = load_inpainter(out / "album.safetensors", device="cpu")
    assert model.model.config.prefill == "patchmatch-half"
    with pytest.raises(SystemExit, match="unknown prefill 'landcover-nearest'"):
        album.main(_args(image_folder, random_vgg_file, out, "--prefill", "landcover-nearest"))


def test_init_and_resume_rebuild_the_stored_model(image_folder, random_vgg_file, tmp_path):
    """The model config lives in the model: --init and --resume rebuild it without its flags,
    and a flag that contradicts it stops the run instead of being ignored."""
    first, second = tmp_path / "first", tmp_path / "second"
    album.main(_args(image_folder, random_vgg_file, first, "--steps", "2", "--val-every", "2"))
    pairs = list(zip(TOY[::2], TOY[1::2]))
    no_model_flags = [x for flag, value in pairs if flag not in ("--base", "--depth", "--bottleneck-blocks")
                      for x in (flag, value)]
    assert len(no_model_flags) == len(TOY) - 6
    args = ["--data", str(image_folder), "--vgg-weights", str(random_vgg_file), "--out", str(second),
            "--export", str(second / "album.safetensors"), *no_model_flags]
    album.main(args + ["--steps", "3", "--val-every", "3", "--init", str(first / "album.safetensors")])
    from inpaint_core.training.state import load_state

    # (the export happens only when validation beats the --init model's: the state always says)
    assert load_state(second / "state.pt")["model_config"] == read_meta(first / "album.safetensors")["config"]
    result = album.main(args + ["--steps", "4", "--resume"])
    assert result["step"] == 4
    with pytest.raises(SystemExit, match="--base 16 \\(it has 8\\)"):
        album.main(args + ["--steps", "5", "--resume", "--base", "16"])
    with pytest.raises(SystemExit, match="holds a satellite model"):
        sat = tmp_path / "sat.safetensors"
        from inpaint_core.checkpoint import save_model
        from inpaint_core.models.satellite import SatelliteConfig, SatelliteGenerator

        gen = SatelliteGenerator(SatelliteConfig(base=8, depth=2, lc_channels=4, bottleneck_blocks=1))
        save_model(sat, gen.state_dict(), "satellite", gen.config.to_dict())
        album.main(args + ["--init", str(sat)])


def test_stop_and_resume_trains_exactly_as_one_run(image_folder, random_vgg_file, tmp_path):
    """k steps, a stop, then --resume to N gives the very weights of N steps in one go, also
    when the stop falls inside an epoch (the resumed run replays the epoch's shuffle)."""
    import torch

    from inpaint_core.training.state import load_state

    once, twice = tmp_path / "once", tmp_path / "twice"
    common = ["--val-every", "100", "--sample-every", "100", "--save-every", "100"]
    album.main(_args(image_folder, random_vgg_file, once, "--steps", "6", *common))
    album.main(_args(image_folder, random_vgg_file, twice, "--steps", "4", *common))  # 3 batches an epoch
    stopped = load_state(twice / "state.pt")
    assert (stopped["epoch"], stopped["batch_in_epoch"]) == (1, 1)  # mid-epoch
    album.main(_args(image_folder, random_vgg_file, twice, "--steps", "6", "--resume", *common))
    a, b = load_state(once / "state.pt"), load_state(twice / "state.pt")
    position = ("step", "epoch", "batch_in_epoch")
    assert [a[k] for k in position] == [b[k] for k in position] and a["step"] == 6
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_resume_keeps_the_runs_own_selection_and_intervals(image_folder, random_vgg_file, tmp_path, monkeypatch,
                                                          capsys):
    """A run begun with other defaults (an old satellite run: --select psnr_hole) goes on as it
    began: with the default --select, its best score reset and the next validation, however
    worse, overwrote its export. A flag given now still wins."""
    scripted = iter([30.0, 20.0])  # the resumed run validates worse than the export

    def fake_validate(*_):
        return {"psnr_hole": next(scripted), "psnr_hole_telea": 10.0, "judge": 0.5}

    monkeypatch.setattr(album, "validate", fake_validate)
    out = tmp_path / "old"
    intervals = ["--val-every", "3", "--save-every", "3", "--sample-every", "3"]
    album.main(_args(image_folder, random_vgg_file, out, "--steps", "3", "--select", "psnr_hole", *intervals))
    result = album.main(_args(image_folder, random_vgg_file, out, "--steps", "5", "--resume"))
    assert result["step"] == 5 and result["psnr_hole"] == 20.0
    card = read_meta(out / "album.safetensors")["training"]
    assert card["steps"] == 3 and card["validation"]["psnr_hole"] == 30.0  # the better model stays exported
    assert "--resume keeps the run's own --select psnr_hole, --val-every 3, --save-every 3" in capsys.readouterr().out
    from inpaint_core.training.state import load_state

    stored = load_state(out / "state.pt")["train_config"]
    assert (stored["select"], stored["val_every"], stored["workers"]) == ("psnr_hole", 3, 0)
    assert [r["step"] for r in map(json.loads, (out / "log.jsonl").read_text().splitlines()) if "loss" in r] == [
        1, 2, 3, 4, 5]  # the log goes on where it stopped

    from inpaint_core.training.config import parse_config, resumed_settings

    _, _, given = parse_config(album.AlbumTrainConfig, "", ["--data", "x", "--val-every", "500", "--no-amp"])
    assert given == {"data", "val_every", "amp"}  # given, even at the default's value
    stored = {"select": "psnr_hole", "val_every": 250, "workers": 0, "lr": 1.0}
    assert resumed_settings(stored, given) == {"select": "psnr_hole", "workers": 0}


def test_select_last_exports_the_latest_validated_model(image_folder, random_vgg_file, tmp_path):
    out = tmp_path / "last"
    album.main(_args(image_folder, random_vgg_file, out, "--steps", "4", "--val-every", "2", "--select", "last"))
    assert read_meta(out / "album.safetensors")["training"]["steps"] == 4
    with pytest.raises(SystemExit, match="--select"):
        album.main(_args(image_folder, random_vgg_file, out, "--select", "sharpness"))


def test_vgg_every_applies_the_perceptual_term_on_every_nth_step(image_folder, random_vgg_file, tmp_path):
    """--vgg-every 2: the VGG pass (and its logged part) on steps 2, 4, ... only, at twice the weight."""
    cfg = album.AlbumTrainConfig(data="x", vgg_every=3, w_vgg=0.05)
    assert [album.vgg_weight_at(s, cfg) for s in (1, 2, 3, 6)] == [0.0, 0.0, pytest.approx(0.15), pytest.approx(0.15)]
    assert album.vgg_weight_at(5, album.AlbumTrainConfig(data="x")) == pytest.approx(0.05)  # the default: every step
    out = tmp_path / "run"
    album.main(_args(image_folder, random_vgg_file, out, "--steps", "4", "--val-every", "4", "--vgg-every", "2",
                     "--log-every", "1"))
    steps = [r for r in map(json.loads, (out / "log.jsonl").read_text().splitlines()) if "loss" in r]
    assert [("vgg" in r) for r in steps] == [False, True, False, True]
    with pytest.raises(SystemExit, match="--vgg-every"):
        album.main(_args(image_folder, random_vgg_file, out, "--vgg-every", "0"))


def test_adversarial_term_trains_resumes_and_stays_out_of_the_export(image_folder, random_vgg_file, tmp_path):
    """--w-adv: a PatchGAN judges the filled patches; it is saved with the training state (an exact
    resume) and never exported: the model file is the generator alone, as without it."""
    from inpaint_core.checkpoint import load_model_file
    from inpaint_core.models.album import PatchDiscriminator
    from inpaint_core.training.losses import hinge_d_loss, hinge_g_loss

    disc = PatchDiscriminator(base=8, depth=2)
    mask = torch.zeros(2, 1, 16, 16)
    mask[0, :, 0:3, 0:3] = 1  # touches the first 4x4 patch only
    patches = disc.hole_patches(mask)
    assert patches.shape == (2, 1, 4, 4) and patches.sum() == 1 and patches[0, 0, 0, 0]
    scores = disc(torch.rand(2, 3, 16, 16))
    assert scores.shape == (2, 1, 4, 4)
    assert hinge_d_loss(torch.full_like(scores, 2.0), torch.full_like(scores, -2.0), patches) == 0  # both sides won
    assert hinge_g_loss(torch.full_like(scores, 3.0), patches) == -3
    assert hinge_g_loss(scores, torch.zeros_like(patches)) == 0  # no hole, nothing to judge
    out = tmp_path / "run"
    args = ("--w-adv", "0.1", "--disc-base", "8", "--disc-depth", "2", "--log-every", "1", "--val-every", "2",
            "--save-every", "2")
    album.main(_args(image_folder, random_vgg_file, out, "--steps", "2", *args))
    steps = [r for r in map(json.loads, (out / "log.jsonl").read_text().splitlines()) if "loss" in r]
    assert all({"adv", "d_loss", "d_real", "d_fake"} <= set(r) for r in steps)
    state = torch.load(out / "state.pt", weights_only=False)
    assert state["disc"] is not None and state["opt_d"] is not None
    tensors, _ = load_model_file(out / "album.safetensors")
    plain = tmp_path / "plain"
    album.main(_args(image_folder, random_vgg_file, plain, "--steps", "2", "--val-every", "2"))
    assert set(tensors) == set(load_model_file(plain / "album.safetensors")[0])  # the generator only
    result = album.main(_args(image_folder, random_vgg_file, out, "--steps", "3", "--resume", *args))
    assert result["step"] == 3 and "adv" in result


def test_validation_reads_the_judge_against_patchmatch_and_telea(image_folder, random_vgg_file, tmp_path):
    """Each validation scores the judge's distance and detail ratio (the model's pixels pasted
    into the holes only), and each peer's PSNR, distance and detail on the same holes, filled
    once per run; the win rate is the share of images where the model is nearer than PatchMatch."""
    from torch.utils.data import DataLoader

    from inpaint_core.data.datasets import InpaintDataset
    from inpaint_core.data.pictures import list_images
    from inpaint_core.eval.metrics import JUDGE_LAYERS, JudgeDistance, detail_ratio
    from inpaint_core.fills.classical import patchmatch, telea
    from inpaint_core.models.album import AlbumConfig, AlbumUNet
    from inpaint_core.models.vgg import load_vgg16
    from inpaint_core.training.album_validation import describe_validation, validate
    from inpaint_core.training.validation import HeldOutJudge, hole_psnr

    files = list_images(image_folder)[:3]
    data = InpaintDataset(files, 64, 64, None, "telea", train=False, seed=1, mask_kinds=("large", "strokes"))
    loader = DataLoader(data, batch_size=2)
    model = AlbumUNet(AlbumConfig(base=8, depth=2, bottleneck_blocks=1))
    torch.nn.init.normal_(model.head.weight, std=0.05)  # not the pre-fill: pasting must matter
    distance = JudgeDistance(load_vgg16(random_vgg_file, JUDGE_LAYERS))
    judge = HeldOutJudge(distance, patchmatch, "patchmatch", peers={"telea": telea})
    val = validate(model, loader, "cpu", judge)
    want_pm, want_dist, want_model, want_detail = [], [], [], []
    with torch.no_grad():
        for i in range(len(data)):
            item = data[i]
            t = (item["target"].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            m = item["mask"][0].bool().numpy()
            masked = np.where(m[..., None], 0, t).astype(np.uint8)  # PatchMatch never sees the hole's pixels
            pm = np.where(m[..., None], patchmatch(masked, m), t).astype(np.uint8)
            want_pm.append(hole_psnr(pm, t, m))
            want_dist.append(distance(pm, t))
            pred = model(item["input"][None], item["mask"][None])[0].permute(1, 2, 0).numpy()
            p = np.where(m[..., None], (pred.clip(0, 1) * 255).round().astype(np.uint8), t).astype(np.uint8)
            want_model.append(distance(p, t))
            want_detail.append(detail_ratio(p, t, m))
    assert val["psnr_hole_patchmatch"] == pytest.approx(np.mean(want_pm))
    assert val["judge_patchmatch"] == pytest.approx(np.mean(want_dist))
    assert val["judge"] == pytest.approx(np.mean(want_model), rel=1e-4)
    assert val["detail"] == pytest.approx(np.nanmedian(want_detail), rel=1e-4)
    assert val["win_rate_patchmatch"] == pytest.approx(np.mean(np.array(want_model) < np.array(want_dist)))
    assert {"judge_telea", "detail_telea", "win_rate_telea", "psnr_hole_telea"} <= set(val)
    assert set(judge.baseline) == {"patchmatch", "telea"} and len(judge.baseline["patchmatch"]) == len(data)
    judge.baseline = {"patchmatch": [(0.0, 1.0, 1.0)] * len(data)}  # cached: a second validation does not refill
    assert validate(model, loader, "cpu", judge)["psnr_hole_patchmatch"] == 0.0
    line = describe_validation(val)
    assert "PatchMatch" in line and "x PatchMatch's" in line and "wins" in line and "detail" in line


def test_sources_are_held_out_whole(tmp_path):
    """--val-sources: every file of a held-out source stays out of training, whichever folder
    it is in; validation draws from each held-out name in turn; an unknown name lists the known."""
    from inpaint_core.data.pictures import file_sources, split_by_source

    covers, photos = tmp_path / "covers", tmp_path / "photos"
    for folder, names in ((covers, ["a1", "a2", "b1", "b2", "b3"]), (photos / "images", ["x1", "y1", "y2"])):
        folder.mkdir(parents=True)
        for n in names:
            Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / f"{n}.png")
    (tmp_path / "covers_manifest.csv").write_text("file,repo\na1.png,o/A\na2.png,o/A\nb1.png,o/B\nb2.png,o/B\n"
                                                  "b3.png,o/B\n")
    (photos / "manifest.csv").write_text("file,source_repo_or_package\nimages/x1.png,debian:wall\n"
                                         "images/y1.png,github:p/Y\nimages/y2.png,github:p/Y\n")
    assert file_sources(sorted(covers.glob("*.png")), covers) == ["o/A", "o/A", "o/B", "o/B", "o/B"]
    train, val, counts = split_by_source([covers, photos], ["B", "debian"], 3)
    assert sorted(p.stem for p in train) == ["a1", "a2", "y1", "y2"]
    assert counts == {"B": 3, "debian": 1}
    assert len(val) == 3 and {p.stem for p in val} >= {"x1"}  # both names are in every validation
    with pytest.raises(ValueError, match="o/A"):
        split_by_source([covers], ["nowhere"], 3)


def test_select_judge_and_keep_exports(image_folder, random_vgg_file, tmp_path, monkeypatch):
    out = tmp_path / "perc"
    album.main(_args(image_folder, random_vgg_file, out, "--steps", "4", "--val-every", "2", "--keep-exports"))
    kept = sorted(p.name for p in (out / "exports").glob("*.safetensors"))
    assert kept == ["step000002.safetensors", "step000004.safetensors"]
    for name in kept:  # the judge's figures, model and both peers, reach the card
        assert {"judge", "judge_patchmatch", "win_rate_patchmatch", "detail", "judge_telea", "psnr_hole_patchmatch"} <= set(
            read_meta(out / "exports" / name)["training"]["validation"])
    log = [json.loads(r) for r in (out / "log.jsonl").read_text().splitlines()]
    assert sum("judge_patchmatch" in r for r in log) == 2

    # the selection itself, on scripted figures: the lowest judge distance wins, whatever its PSNR,
    # its step or the old distance (the loss's own term)
    scripted = iter([(0.5, 0.9), (0.7, 0.1), (0.6, 0.1), (0.4, 0.9)])

    def fake_validate(*_):
        judge, old = next(scripted)
        return {"psnr_hole": 30.0, "psnr_hole_telea": 10.0, "judge": judge, "perceptual": old}

    monkeypatch.setattr(album, "validate", fake_validate)
    sel = tmp_path / "sel"
    album.main(_args(image_folder, random_vgg_file, sel, "--steps", "4", "--val-every", "2"))
    card = read_meta(sel / "album.safetensors")["training"]
    assert card["steps"] == 2 and card["validation"]["judge"] == 0.5
    # --init from it, validated the same way: its 0.5 is the bar; 0.6 is not exported, 0.4 is
    init = tmp_path / "init"
    args = _args(image_folder, random_vgg_file, init, "--steps", "2", "--val-every", "2",
                 "--init", str(sel / "album.safetensors"))
    album.main(args)
    assert not (init / "album.safetensors").exists()
    album.main(args)
    assert read_meta(init / "album.safetensors")["training"]["validation"]["judge"] == 0.4

    with pytest.raises(SystemExit, match="--select judge"):
        album.main(_args(image_folder, random_vgg_file, tmp_path / "old", "--val-perceptual", "relu1_2,relu4_3"))
    with pytest.raises(SystemExit, match="--select perceptual"):
        album.main(_args(image_folder, random_vgg_file, tmp_path / "none", "--val-perceptual", "",
                         "--select", "perceptual"))


def test_the_judge_needs_weights_to_conv5(image_folder, tmp_path):
    """A VGG file that stops at conv4_3 (the first offline file alone) is a clear stop, naming
    the second file, never a judge on fewer layers."""
    from inpaint_core.models.vgg import VGG16Features

    short = tmp_path / "to_relu4_3.pth"
    torch.save(VGG16Features(("relu4_3",)).state_dict(), short)
    with pytest.raises(SystemExit, match="conv5"):
        album.main(_args(image_folder, short, tmp_path / "o", "--steps", "2", "--vgg-layers", "relu1_2"))


def test_a_best_score_carries_over_only_where_it_compares():
    """--resume keeps the stored best only for the same --select, and for perceptual the same layers."""
    from types import SimpleNamespace

    from inpaint_core.training.state import best_carries_over

    psnr = SimpleNamespace(select="psnr_hole", val_perceptual="relu1_2,relu2_2")
    assert best_carries_over({"select": "psnr_hole", "val_perceptual": "relu4_3"}, psnr)  # layers don't matter to PSNR
    assert not best_carries_over({"select": "perceptual"}, psnr)
    assert best_carries_over({}, psnr)  # a state from before --select: psnr_hole
    perc = SimpleNamespace(select="perceptual", val_perceptual="relu1_2, relu2_2")
    assert best_carries_over({"select": "perceptual", "val_perceptual": "relu1_2,relu2_2"}, perc)
    assert not best_carries_over({"select": "perceptual", "val_perceptual": "relu1_2"}, perc)
    with pytest.raises(SystemExit, match="--select perceptual"):
        album.AlbumTrainConfig(data="x", select="perceptual", val_perceptual=",")
    judge = SimpleNamespace(select="judge", val_perceptual="judge")
    assert best_carries_over({"select": "judge", "val_perceptual": "judge"}, judge)
    assert not best_carries_over({"select": "judge", "val_perceptual": "relu1_2"}, judge)
    assert not best_carries_over({"select": "perceptual", "val_perceptual": "judge"}, judge)


def test_a_sixteen_bit_picture_is_refused_not_clipped(tmp_path):
    """Training and evaluation read pictures through load_rgb: a 16-bit grey ramp would come
    back almost all white; it is refused with a message naming the file instead."""
    from inpaint_core.data.pictures import load_rgb

    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    with pytest.raises(ValueError, match="ramp16.png.*16-bit"):
        load_rgb(tmp_path / "ramp16.png")


def test_a_gpu_pack_keeps_the_held_out_sources_and_the_budget(tmp_path, random_vgg_file):
    """train/pack.py: within its size budget, VGG weights included; every held-out picture and
    none of the held-out sources' pictures among the training ones; on the pack, --val-sources
    finds the same held-out pictures in the same order as on the full data (so figures compare)."""
    from inpaint_core.data.pictures import split_by_source
    from inpaint_core.training.pack import pack

    rng = np.random.default_rng(0)
    covers = tmp_path / "covers"
    covers.mkdir()
    rows = ["file,repo"]
    for i in range(30):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(covers / f"c{i:02d}.jpg", quality=95)
        rows.append(f"c{i:02d}.jpg,{'held/out' if i % 3 == 0 else 'train/src'}")
    (tmp_path / "covers_manifest.csv").write_text("\n".join(rows) + "\n")
    vgg_mib = random_vgg_file.stat().st_size / 2**20
    summary = pack([covers], ["held/out"], tmp_path / "pack", max_mib=vgg_mib + 0.08, val_images=4,
                   vgg_weights=str(random_vgg_file), side=64)
    size = sum(f.stat().st_size for f in (tmp_path / "pack").rglob("*") if f.is_file())
    assert size <= (vgg_mib + 0.08) * 2**20
    assert summary["val"] == 4 and 0 < summary["train"] < 20  # the budget cut the training pictures
    packed_train, packed_val, _ = split_by_source([tmp_path / "pack" / "images"], ["held/out"], 4)
    _, full_val, _ = split_by_source([covers], ["held/out"], 4)
    assert [p.name for p in packed_val] == [p.name for p in full_val]
    assert all(int(p.stem[1:]) % 3 for p in packed_train)  # no held-out source in training
    with pytest.raises(ValueError, match="held-out pictures"):
        pack([covers], ["held/out"], tmp_path / "small", max_mib=vgg_mib, val_images=4,
             vgg_weights=str(random_vgg_file), side=64)
