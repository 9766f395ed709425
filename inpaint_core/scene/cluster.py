"""Scenes over a Dask cluster: ``inpaint run --scheduler tcp://HOST:8786`` or ``--workers N``.

Dask schedules; this module only hands it the same functions the one-process run calls
(:func:`inpaint_core.scene.plan.scan_strip` per strip; :func:`inpaint_core.scene.fill.fill_window` per
window, a batch of consecutive windows a task, and, where the output's blocks can be encoded
apart, :func:`inpaint_core.scene.blocks.split_fills` after them in the same task and
:func:`inpaint_core.scene.blocks.encode_shared` for the blocks that several batches meet, one task for
those whose last batch is the same) and takes their results back **in plan order**, with at
most ``ahead`` tasks submitted beyond the oldest one not yet taken. So the one writer of each
file (this process) writes what the one-process run writes, in its order, and the file is the
same, byte for byte, whichever worker finished first; and what waits to be written stays
bounded. The workers read, paste and encode the blocks; this process only puts their bytes in
the file. No task waits for another's result: a block that several batches meet gets their
patches (their few hole pixels in it) from here.

Each worker builds the fill once, from a :class:`FillSpec` (method, checkpoint, options), and keeps
it for every later window and file. A task that raises is retried (``retries``); a worker that
dies has its tasks run again elsewhere by Dask's scheduler. The files must be readable by the
workers at the same paths (a shared file system, or GDAL's ``/vsis3/``-style paths); only this
process writes. Local workers are forked from a server process that imported the fills once
(:func:`_start_method`), not spawned to import them each.

Needs the ``cluster`` extra: ``pip install -e ".[cluster]"`` (dask and distributed), imported
only when a :class:`DaskRunner` is made.
"""

from __future__ import annotations

import resource
import sys
from collections import deque
from dataclasses import dataclass

from inpaint_core.engine import InferenceOptions
from inpaint_core.registry import make_inpainter
from inpaint_core.scene.blocks import Ready, Share, encode_patches, encode_shared, split_fills
from inpaint_core.scene.fill import fill_window
from inpaint_core.scene.inputs import gdal_env

__all__ = ["FillSpec", "DaskRunner", "torch_threads"]

_FILLS: dict = {}  # repr(FillSpec) -> its fill, built once per worker process


@dataclass(frozen=True)
class FillSpec:
    """How a worker builds the fill: the arguments of :func:`inpaint_core.registry.make_inpainter`,
    and how many threads torch may use there (None: torch's choice)."""

    method: str = "model"
    checkpoint: str | None = None
    classes: str | None = None
    device: str = "auto"
    options: InferenceOptions | None = None
    torch_threads: int | None = None

    def build(self):
        key = repr(self)  # the options are a mutable dataclass: no hash, but a faithful repr
        fill = _FILLS.get(key)
        if fill is None:
            fill = _FILLS[key] = make_inpainter(self.method, self.checkpoint, classes=self.classes,
                                                 device=self.device, options=self.options)
            torch_threads(self.torch_threads)
        return fill


def torch_threads(threads: int | None) -> None:
    """At most ``threads`` threads for torch in this process, where a network has brought torch in:
    a classical fill runs without torch, and importing it only to set this costs about a CPU-second."""
    if threads and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _fill_task(spec: FillSpec, scene, job, scale, stats):
    return fill_window(spec.build(), scene, job, scale, stats)


def _windows_task(spec: FillSpec, scene, jobs, scale, stats, layout, own, shared):
    """A batch of windows filled, then the blocks only they meet encoded and their patches of the others cut."""
    fills = [fill_window(spec.build(), scene, job, scale, stats) for job in jobs]
    return split_fills(layout, fills, own, shared,
                       lambda b, patches: encode_patches(layout, scene, b, patches))


def _in_gdal_env(fn, *args):
    """``fn(*args)`` on a worker, with the scene's GDAL settings (its bounded block cache)."""
    with gdal_env():
        return fn(*args)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _start_method(preload_torch: bool) -> str:
    """How a local cluster's worker processes start: forked from a server process that has imported this
    module (and with it GDAL, OpenCV and the fills; torch too with ``preload_torch``, when the fill reads a
    checkpoint, a network's or the exemplar bank of a land-cover fill, whose tensors torch loads) once,
    where the platform has one. Spawned, each worker imported them itself (about a CPU-second each, and
    under ``python -m inpaint_core`` the command line too): on a 2-core machine, CPU the fills did not get.
    The server only imports (one thread, no torch or OpenMP pool started), so forking it is safe. A worker
    that Dask starts again after one died is spawned, as before. A method set in Dask's configuration
    other than its default (spawn) is kept."""
    import multiprocessing

    import dask
    from distributed.utils import get_mp_context

    method = dask.config.get("distributed.worker.multiprocessing-method")
    if method != "spawn" or "forkserver" not in multiprocessing.get_all_start_methods():
        return method
    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
        get_mp_context()  # Dask sets its own preloads once; this module's replace them before the server starts
    multiprocessing.get_context("forkserver").set_forkserver_preload(
        ["distributed", "numpy", __name__] + (["torch"] if preload_torch else []))
    return "forkserver"


class DaskRunner:
    """The runner of :func:`inpaint_core.scene.fill.fill_scene` on a Dask cluster.

    ``scheduler``: the address of a running cluster's scheduler (``tcp://HOST:8786``); else a
    ``LocalCluster`` of ``workers`` processes with ``threads_per_worker`` threads each is started
    here, and closed by :meth:`close`. ``retries``: how often a task that raised is run again.
    ``ahead``: tasks submitted beyond the oldest result not yet taken (default: 4 per worker thread).
    ``batch``: most windows of one task (a Telea window's fill takes milliseconds, about what a
    task costs Dask in this process and the worker).
    """

    def __init__(self, spec: FillSpec, scheduler: str | None = None, workers: int | None = None,
                 threads_per_worker: int = 1, retries: int = 2, ahead: int | None = None, batch: int = 8):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as err:
            raise ValueError("--scheduler and --workers need Dask: pip install -e \".[cluster]\"") from err
        self.spec, self.retries, self.cluster, self.batch = spec, retries, None, batch
        if scheduler:
            self.client = Client(scheduler, timeout=30)
        else:
            import dask

            # Dask sets MALLOC_TRIM_THRESHOLD_ for its workers, which turns off glibc's sliding mmap threshold: every
            # window's and block's arrays were then mapped and faulted in afresh (measured on a 10000 px scene: 5x a
            # worker's page faults, 2.3x its system time), so the workers allocate as this process does
            environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()
                       if k != "MALLOC_TRIM_THRESHOLD_"}
            start = _start_method(preload_torch=spec.checkpoint is not None)
            with dask.config.set({"distributed.worker.multiprocessing-method": start,
                                  "distributed.nanny.pre-spawn-environ": environ}):
                self.cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=threads_per_worker,
                                            processes=True, dashboard_address=None)
            self.client = Client(self.cluster)
        threads = sum(self.client.nthreads().values()) or 1
        self.ahead = ahead or 4 * threads

    def describe(self) -> str:
        workers = self.client.nthreads()
        where = "local cluster" if self.cluster else f"cluster {self.client.scheduler.address}"
        return f"{where}: {len(workers)} worker(s), {sum(workers.values())} thread(s)"

    def _ordered(self, fn, items):
        """``fn(*args)`` for each of ``items`` on the cluster, results in the order of ``items``."""
        items, pending = iter(items), deque()

        def top_up():
            while len(pending) < self.ahead:
                args = next(items, None)
                if args is None:
                    return
                pending.append(self.client.submit(_in_gdal_env, fn, *args, retries=self.retries, pure=False))

        top_up()
        try:
            while pending:
                result = pending.popleft().result()
                top_up()
                yield result
        finally:
            for future in pending:
                future.cancel()

    def map(self, fn, items):
        return self._ordered(fn, items)

    def fill(self, scene, jobs, scale, stats):
        return self._ordered(_fill_task, [(self.spec, scene, job, scale, stats) for job in jobs])

    def windows(self, scene, jobs, scale, stats, layout, runs, own, shared):
        """For each batch of windows (``(first, end)`` plan indices), filled on the cluster as one
        task, in plan order: the tiles of its own blocks (as futures already done) and its patches
        of the blocks it shares."""
        items = ((self.spec, scene, jobs[first:end], scale, stats, layout, own.get(k, ()), shared.get(k, ()))
                 for k, (first, end) in enumerate(runs))
        for tiles, patches in self._ordered(_windows_task, items):
            yield {b: Ready(t) for b, t in tiles.items()}, patches

    def encode(self, layout, scene, blocks) -> dict:
        """Each ``(block, patches)`` of ``blocks`` pasted and encoded on the cluster, all in one task
        run before the windows queued: ``{block: a future of its tiles}``."""
        future = self.client.submit(_in_gdal_env, encode_shared, layout, scene, blocks, retries=self.retries,
                                    pure=False, priority=1)
        cache = {}
        return {index: Share(future, index, cache) for index, _ in blocks}

    def worker_pids(self) -> dict[str, int]:
        import os

        return self.client.run(os.getpid)

    def worker_peak_mb(self) -> float:
        """The largest peak resident memory of any worker process so far, in MiB."""
        return max(self.client.run(_peak_mb).values(), default=0.0)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
