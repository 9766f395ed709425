"""``python -m inpaint_core scene-benchmark``: wall time and peak memory of whole-scene fills.

Generates tiled, compressed scenes (kept in ``--work`` for the next run) and fills each one with
``inpaint run`` in a child process, as a user would, for every method asked:

* uint8 RGB scenes of ``--sizes`` px a side with sparse holes covering about 1 % (rectangles of
  20-120 px), plus the largest size with the smallest one's number of holes (time should grow
  with the hole area, not the scene area);
* with ``--s2``, a 10980x10980 13-band uint16 scene (a Sentinel-2 tile) with the same 1 %;
* with ``--cluster N``, the ``--cluster-size`` scene on a local Dask cluster of N workers, one
  thread each, against one process with one thread (torch, GDAL and OpenMP at one thread).

Peak memory is the child's peak resident set (``wait4``'s ``ru_maxrss``: the process that reads,
fills and writes; on a cluster, the workers' own peak as the run prints it). Scenes are generated
in a process of their own, so this one stays small: Linux counts the peak of the process a child
was forked from as the child's own. Scenes and holes are
seeded, so two runs fill the same pixels. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["make_scene", "add_arguments", "main"]

_STRIP = 512  # rows written at a time while a scene is generated


def make_scene(work: Path, side: int, holes: int, bands: int = 3, dtype: str = "uint8", seed: int = 0):
    """A ``side`` x ``side`` tiled, deflate-compressed scene in ``work`` and a hole mask of ``holes``
    rectangles of 20-120 px, both written strip by strip in bounded memory, each once (kept for
    later runs). Returns ``(scene, mask)`` paths."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    path, mask_path = work / f"scene_{side}_{bands}b_{dtype}.tif", work / f"mask_{side}_{holes}h.tif"
    common = dict(driver="GTiff", width=side, height=side, tiled=True, blockxsize=512, blockysize=512,
                  compress="deflate", crs="EPSG:32632", transform=from_origin(500_000, 6_200_000, 10, 10),
                  bigtiff="IF_SAFER", num_threads="ALL_CPUS")
    rng = np.random.default_rng(seed)
    scale = 255 if dtype == "uint8" else 4000
    if not path.is_file():
        part = path.with_name(path.name + ".part")
        with rasterio.open(part, "w", count=bands, dtype=dtype, nodata=None if dtype == "uint8" else 0, **common) as ds:
            x = np.arange(side, dtype=np.float32)[None, :]
            for y0 in range(0, side, _STRIP):
                y = np.arange(y0, min(side, y0 + _STRIP), dtype=np.float32)[:, None]
                fields = 0.5 + 0.2 * np.sin(x / 300.0 + y / 500.0) + 0.1 * np.cos(y / 41.0) * np.sin(x / 53.0)
                noise = rng.integers(0, 4, (bands,) + fields.shape).astype(np.float32) / 255
                strip = (fields[None] * (1 + 0.03 * np.arange(bands))[:, None, None] + noise) * scale
                ds.write(strip.clip(1, scale).astype(dtype), window=Window(0, y0, side, strip.shape[1]))
        part.replace(path)
    if not mask_path.is_file():
        holes_rng = np.random.default_rng([seed, holes])
        with rasterio.open(mask_path, "w", count=1, dtype="uint8", sparse_ok=True, **common) as ds:
            for _ in range(holes):
                h, w = holes_rng.integers(20, 121, 2)
                y, x = holes_rng.integers(0, side - h), holes_rng.integers(0, side - w)
                ds.write(np.full((1, h, w), 255, np.uint8), window=Window(int(x), int(y), int(w), int(h)))
    return path, mask_path


def _holes(side: int, fraction: float = 0.01) -> int:
    return max(1, round(fraction * side * side / 70**2))  # rectangles of 20-120 px: 70^2 px on average


def _generate(work: Path, side: int, holes: int, bands: int, dtype: str) -> tuple[Path, Path]:
    """:func:`make_scene` in a process of its own. Linux carries a process's peak resident memory
    over its ``exec``, and a child starts as a copy of this one: had this process grown to hold a
    40000 px scene's strips, every fill started after it would report that peak as its own."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(make_scene, (work, side, holes, bands, dtype))


def _run(scene: Path, mask: Path, out: Path, method: str, checkpoint, extra: list[str], env: dict) -> dict:
    """``inpaint run`` on ``scene`` in a child process: wall seconds, its peak RSS, what it printed.

    Each run writes a new file, with no other run's writes still going to disk: the last run's
    output is removed and the disks synced first. Otherwise a run pays for the one before it: the
    writeback of the last run's gigabytes throttles its writes, and on ext4 renaming the finished
    file over an old one of the same name first flushes the new one to disk (ext4's
    ``auto_da_alloc``, which keeps a crash from leaving an empty file in place of the old one):
    measured on the 40000 px scene with 51 holes, 2.0-2.2 s into a new file, 3.8-8.2 s over the last
    run's output (what a user who fills the same scene again into the same folder sees)."""
    (out / f"{scene.stem}.tif").unlink(missing_ok=True)
    os.sync()
    cmd = [sys.executable, "-m", "inpaint_core", "run", "--image", str(scene), "--output", str(out),
           "--mask", str(mask), "--dilate", "0", "--method", method, *extra]
    if method == "model":
        cmd += ["--checkpoint", str(checkpoint)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"inpaint run failed on {scene.name} ({method}):\n{output[-2000:]}")
    found = re.search(r"regions filled: ([\d,]*\d), pixels filled: ([\d,]*\d)", output)
    workers = re.search(r"workers' peak (\d+) MB", output)
    return {"wall_s": wall, "peak_mb": usage.ru_maxrss / 1024, "regions": found and found.group(1),
            "pixels": found and found.group(2), "workers_mb": workers and float(workers.group(1))}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work", type=Path, default=Path("scene-benchmark"), help="folder for the generated scenes "
                        "(kept: generating a 40000 px scene takes minutes) and the outputs")
    parser.add_argument("--sizes", default="5000,20000,40000", help="sides of the uint8 RGB scenes, comma-separated")
    parser.add_argument("--s2", action="store_true", help="also the 10980x10980 13-band uint16 scene")
    parser.add_argument("--methods", default="telea,model", help="fills to time, comma-separated (model needs "
                        "--checkpoint)")
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/album.safetensors"),
                        help="the album model for the 'model' method")
    parser.add_argument("--cluster", type=int, default=0, metavar="N", help="also the --cluster-size scene on a "
                        "local cluster of N workers (one thread each), against one process with one thread")
    parser.add_argument("--cluster-size", type=int, default=20000, help="side of the scene of the cluster case")
    parser.add_argument("--torch-threads", type=int, help="threads torch uses (default: torch's choice)")


def main(args: argparse.Namespace) -> int:
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if "model" in methods and not args.checkpoint.is_file():
        print(f"error: the model method needs --checkpoint (not found: {args.checkpoint})", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    threads = ["--torch-threads", str(args.torch_threads)] if args.torch_threads else []
    cases = []  # (name, scene, extra arguments, environment)
    for side in sizes:
        cases.append((f"{side}x{side} uint8 RGB, 1 % holes", (side, _holes(side), 3, "uint8"), threads, {}))
    if len(sizes) > 1:
        small, large = min(sizes), max(sizes)
        cases.append((f"{large}x{large} uint8 RGB, the holes of {small}", (large, _holes(small), 3, "uint8"),
                      threads, {}))
    if args.s2:
        cases.append(("10980x10980 13-band uint16, 1 % holes", (10980, _holes(10980), 13, "uint16"), threads, {}))
    if args.cluster:
        side = args.cluster_size
        one = {"OMP_NUM_THREADS": "1"}
        cases.append((f"{side}x{side}, 1 process, 1 thread", (side, _holes(side), 3, "uint8"),
                       ["--torch-threads", "1", "--gdal-threads", "1"], one))
        cases.append((f"{side}x{side}, {args.cluster} local workers x 1 thread", (side, _holes(side), 3, "uint8"),
                      ["--workers", str(args.cluster), "--torch-threads", "1", "--gdal-threads", "1"], one))
    rows = []
    for name, (side, holes, bands, dtype), extra, env in cases:
        print(f"  {name}: generating the scene (once) ...", file=sys.stderr, flush=True)
        scene, mask = _generate(args.work, side, holes, bands, dtype)
        for method in methods:
            print(f"  {name}: {method} ...", file=sys.stderr, flush=True)
            result = _run(scene, mask, args.work / "out", method, args.checkpoint, extra, env)
            rows.append((name, method, result))
    print("| scene | fill | wall s | peak MB | workers' peak MB | regions | pixels filled |\n"
          "| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, method, r in rows:
        workers = f"{r['workers_mb']:.0f}" if r["workers_mb"] else "-"
        print(f"| {name} | {method} | {r['wall_s']:.1f} | {r['peak_mb']:.0f} | {workers} | {r['regions']} | "
              f"{r['pixels']} |")
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other processes slow these figures)")
    return 0
