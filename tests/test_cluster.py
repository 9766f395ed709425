"""A scene over a Dask LocalCluster of 2 worker processes (inpaint_core.scene.cluster): the same bytes as the
one-process run, its blocks encoded on the workers in batches of windows or a window a task, and still the
same bytes when a worker is killed in the middle of the run."""

import hashlib
import multiprocessing
import os
import signal
import sys

import numpy as np
import pytest

pytest.importorskip("distributed")
rasterio = pytest.importorskip("rasterio")
from PIL import Image  # noqa: E402
from test_scene import scene_data, write_scene  # noqa: E402

from inpaint_core.registry import make_inpainter  # noqa: E402
from inpaint_core.scene.cluster import DaskRunner, FillSpec  # noqa: E402
from inpaint_core.scene.fill import fill_scene  # noqa: E402
from inpaint_core.scene.inputs import HoleRule, Scene  # noqa: E402
from inpaint_core.scene.plan import SceneOptions  # noqa: E402

_TRIM_SET = "MALLOC_TRIM_THRESHOLD_" in os.environ  # before any nanny has run here


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def runner():
    runner = DaskRunner(FillSpec("telea"), workers=2, threads_per_worker=1, ahead=4)
    yield runner
    runner.close()


def test_local_workers_are_forked_from_a_server_that_imported_the_fills(runner):
    """Not spawned, each importing the fills itself: forked from one server process that did (and, for a
    classical fill, without torch, which it does not need)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork server on this platform")
    parents = set(runner.client.run(os.getppid).values())
    assert len(parents) == 1 and os.getpid() not in parents
    assert all(runner.client.run(lambda: "torch" not in sys.modules and "inpaint_core.scene.cluster" in sys.modules,
                                 on_error="raise").values())
    if not _TRIM_SET:  # glibc's own allocation, as in this process (Dask's nanny puts its setting in ours)
        assert not any(runner.client.run(lambda: "MALLOC_TRIM_THRESHOLD_" in os.environ).values())


def test_two_workers_give_the_bytes_of_one_process_even_when_one_dies(tmp_path, runner):
    h, w = 1200, 1200
    data = scene_data(h, w, 4, "uint16", seed=2)
    data[:, 590:600, :] = 0  # nodata through the middle
    image = write_scene(tmp_path / "scene.tif", data, nodata=0)
    mask = np.zeros((h, w), np.uint8)
    for y in range(60, h, 300):  # regions apart from each other (boxes at the edges merge): 9 windows
        for x in range(60, w, 300):
            mask[y: y + 25, x: x + 40] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    scene = Scene(image, HoleRule(mask=str(tmp_path / "mask.png")))
    opts = SceneOptions(block=50)
    one = fill_scene(make_inpainter("telea"), scene, tmp_path / "one.tif", opts)
    assert one.windows == 9 and one.blocks  # a deflate copy, its blocks encoded apart and patched in
    two = fill_scene(make_inpainter("telea"), scene, tmp_path / "two.tif", opts, runner=runner)
    assert _digest(two.path) == _digest(one.path)
    runner.batch = 1  # a window a task: many in flight when a worker dies

    pids = sorted(runner.worker_pids().values())
    killed = []

    def kill_one_worker(total):  # after the first window is written: the rest are queued or running
        if total is None and not killed:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    three = fill_scene(make_inpainter("telea"), scene, tmp_path / "three.tif", opts, runner=runner,
                       progress=kill_one_worker)
    runner.batch = 8
    assert killed and pids[0] not in runner.worker_pids().values()
    assert _digest(three.path) == _digest(one.path)
