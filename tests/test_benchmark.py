"""``benchmark``: runs end to end on tiny sizes and prints its table (no timing assertions)."""

import numpy as np
import torch

from inpaint_core.__main__ import main as cli
from inpaint_core.eval.benchmark import PeakMemory, benchmark, few_strokes, format_table
from inpaint_core.training.benchmark import album_training, format_training


def test_benchmark_runs_on_a_tiny_config(tiny_album_checkpoint):
    result = benchmark(tiny_album_checkpoint, device="cpu", repeats=2, sizes=(32, 48), big=(96, 128),
                       progress=lambda line: None)
    assert [c["name"] for c in result["cases"]] == ["32x32", "48x48", "128x96, few strokes"]
    assert [c["strategy"] for c in result["cases"]] == ["full", "full", "crop"]
    for case in result["cases"]:
        assert case["model_ms"] > 0 and case["telea_ms"] > 0 and 0 < case["hole_fraction"] < 1
        assert case["peak_mb"] is None or case["peak_mb"] >= 0
    table = format_table(result)
    assert "| 48x48 | full |" in table and str(tiny_album_checkpoint) in table
    training = album_training(tiny_album_checkpoint, "cpu", batch=2, crop=32, steps=1)
    assert training["images_per_s"] > 0 and training["batch"] == 2 and "random" in training["vgg"]
    assert training["model"] == "this checkpoint's album config"
    assert training["parameters"] == result["parameters"]  # the checkpoint's own network was trained
    assert "images/s" in format_training(training)


def test_cli_without_checkpoint_says_the_model_is_random(capsys):
    rc = cli(["benchmark", "--device", "cpu", "--repeats", "1", "--sizes", "32", "--big", "none",
              "--train-steps", "1", "--train-batch", "2", "--train-crop", "32"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "randomly initialised album model" in out and "| 32x32 | full |" in out
    assert "randomly initialised VGG16" in out


def test_peak_memory_sees_a_large_torch_allocation():
    with PeakMemory(torch.device("cpu")) as mem:
        block = torch.ones(64, 2**20 // 4)  # 64 MiB of float32, touched so it is resident
        del block
    assert mem.mb is not None
    if mem.method == "VmHWM":
        assert mem.mb > 48


def test_few_strokes_cover_a_small_part_of_a_big_image():
    mask = few_strokes(3000, 4000, np.random.default_rng(0))
    assert mask.shape == (3000, 4000) and 0 < mask.mean() < 0.05
