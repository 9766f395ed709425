"""``python -m inpaint_core evaluate``: score a model against OpenCV's baselines on the same holes.

Every image is brought to ``size x size`` (album: short side resized to ``size`` and
centre-cropped, as in training; satellite: a centre window at native resolution, as
the satellite training samples them, or with ``--windows N`` up to N windows of a grid of
non-overlapping ones, so a few large held-out tiles still give a usable sample), gets the
hole mask seeded by ``(seed, i)`` (``i`` = its place in the evaluation order), and is filled by the model and
by the classical fills: Telea, Navier-Stokes and PatchMatch, and on satellite data also
land-cover PatchMatch (with the checkpoint's exemplar bank) and the land-cover nearest fill.
Every method sees the same image with its holes blacked out, so
no method can read the original hole pixels. Outside the hole each output is the
input (the pipeline pastes only hole pixels; baselines are composited the same way).

The figures that decide are the judge's (``../shared/JUDGE.md``): the judge's perceptual
distance (LPIPS-shaped, VGG16 relu1_2 to relu5_3), hole PSNR, the median detail ratio and the
win rate (the share of images where a fill's judge distance is below PatchMatch's). The old
perceptual distance (the album loss's own VGG term) is still reported, for the cards' history.
Hold out whole sources with ``--sources`` (names from the folder's manifest).

Writes into ``--out``: ``report.json`` (means, paired deltas vs Telea and vs the strongest
classical fill, PatchMatch or land-cover PatchMatch, win rates, median detail ratios,
per-image scores and seconds per image), ``report.md`` (the table) and ``examples.png``
(masked | every method | target, and for satellite data the requested land cover). With
several ``--masks`` kinds, one such folder per kind and a ``summary.md`` across them.
Metric definitions: :mod:`inpaint_core.eval.metrics`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inpaint_core.checkpoint import CheckpointError, read_meta
from inpaint_core.data.landcover import TABLE_HELP, get_class_table
from inpaint_core.data.masks import MASK_KINDS, PICTURE_KINDS, evaluation_mask
from inpaint_core.engine import STRATEGIES, InferenceOptions
from inpaint_core.eval.metrics import (
    JUDGE_LAYERS,
    METRICS,
    JudgeDistance,
    detail_ratio,
    image_metrics,
)
from inpaint_core.eval.referee import consistency, load_reader
from inpaint_core.eval.reports import (
    _grid_row,
    _json_safe,
    _nanmean,
    _save_grid,
    _summarise,
    write_markdown,
    write_summary,
)
from inpaint_core.eval.samples import choose_sources, find_sources, samples, tiles
from inpaint_core.eval.whatif import what_if as run_what_if
from inpaint_core.eval.whatif import windows_in_tiles
from inpaint_core.models.network import resolve_device
from inpaint_core.models.vgg import VGG_ENV, load_vgg16
from inpaint_core.registry import (
    CLASSICAL_FILLS,
    FILLS,
    LANDCOVER_FILLS,
    load_inpainter,
)

__all__ = ["evaluate", "evaluate_kinds", "add_arguments", "main"]

BASELINE_ONLY = "telea"  # --checkpoint telea: score only the classical fills


def _load_vgg(vgg, vgg_weights) -> tuple[object, str]:
    if vgg is not None:
        return vgg, "injected module"
    source = str(vgg_weights) if vgg_weights else (f"${VGG_ENV}" if os.environ.get(VGG_ENV) else "torch hub")
    try:
        return load_vgg16(vgg_weights, JUDGE_LAYERS), source
    except ValueError as err:  # e.g. a file that stops at conv4_3
        raise ValueError(f"the judge reads VGG16 to relu5_3: {err}. Pass weights to conv5_3, e.g. --vgg-weights "
                         "vgg16_imagenet_features_to_relu4_3.pth,vgg16_imagenet_features_conv5.pth") from err


def _class_table(model, classes):
    """The land-cover table: the satellite checkpoint's, or ``--classes`` (which must agree with it)."""
    table = model.classes if model is not None and "landcover" in model.extra_inputs else None
    if classes is not None:
        asked = get_class_table(classes)
        if table is not None and asked.to_json() != table.to_json():
            raise ValueError(f"--classes {classes} differs from the checkpoint's class table ({table.name})")
        table = asked
    if table is None:
        raise ValueError("satellite data needs --classes NAME|FILE.json (or a satellite checkpoint)")
    return table


def _referee(model, checkpoint, device, referee=None):
    """The land-cover reader for the consistency measure, or None: the one stored in
    ``referee`` (another satellite checkpoint, so several models face one judge) or else
    the evaluated checkpoint's own."""
    if model is None or "landcover" not in model.extra_inputs:
        return None
    if referee is not None:
        reader = load_reader(referee, device=device)  # asked for by name: its errors are the user's to see
        if reader.classes.to_json() != model.classes.to_json():
            raise ValueError(f"--referee {referee} reads the {reader.classes.name} classes, the model paints "
                             f"{model.classes.name}")
        return reader

    try:
        return load_reader(checkpoint, device=device)
    except CheckpointError as err:
        print(f"note: no land-cover consistency ({err})", file=sys.stderr)
        return None


def _consistency(reader, filled, landcover, mask) -> float:
    return consistency(reader, filled, landcover, mask)["accuracy"]


def _baselines(names, satellite: bool, table, model) -> dict:
    """The classical fills to score, as ``name -> fill(image, mask, landcover)``.

    Land-cover fills take the class table; land-cover PatchMatch, ``landcover-bank`` and ``-smooth`` take
    the exemplar bank of the evaluated checkpoint when it has one (so a model is judged
    against the classical fill it ships with; the last two exist only then).
    """
    bank = getattr(model, "bank", None)
    valid = list(CLASSICAL_FILLS) + (list(LANDCOVER_FILLS) if satellite else [])
    if bank is None:  # these need the evaluated checkpoint's exemplar bank
        valid = [n for n in valid if not FILLS[n].needs_bank]
    names = valid if names is None else list(names)
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(unknown)}; valid here: {', '.join(valid)}")
    if "telea" not in names:
        names.insert(0, "telea")  # every report's deltas are against Telea
    fills = {}
    for name in names:  # each fill's own function from the table, as its inpainter calls it
        if FILLS[name].extra_inputs:
            fills[name] = lambda im, m, lc, f=FILLS[name].function: f(im, m, lc.astype(np.int32), bank)
        else:
            fills[name] = lambda im, m, lc, f=FILLS[name].function: f(im, m)
    return fills


def _score(filled, target, mask, judge, feats_t, reader, landcover) -> dict[str, float]:
    scores = {**image_metrics(filled, target, mask), **judge.scores(filled, feats_t),
              "detail": detail_ratio(filled, target, mask)}
    if reader is not None:
        scores["landcover_consistency"] = _consistency(reader, filled, landcover, mask)
    return scores


@dataclass
class _Scores:
    """What the windows gave: a record per window, the rows of ``examples.png``, and each
    method's seconds in all."""

    per_image: list = field(default_factory=list)
    grid_rows: list = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _score_windows(samples, model, methods: dict, masks: str, size: int, seed: int, table, judge, reader,
                   examples: int) -> _Scores:
    """Fill window ``i`` of ``samples`` with every method on its hole seeded by ``(seed, i)``
    (:func:`~inpaint_core.data.masks.evaluation_mask`) and score each fill against the window."""
    out = _Scores(seconds={m: 0.0 for m in methods})
    ignore = table.nodata_indices if table is not None else ()
    for i, (name, target, lc) in enumerate(samples):
        mask = evaluation_mask(masks, size, seed, i, lc, ignore)
        masked = target.copy()
        masked[mask] = 0  # no method may see the original hole pixels
        scores, fills = {}, {}
        feats_t = judge.features(target)  # once per image, shared by every method
        for method, fill in methods.items():
            t_fill = time.perf_counter()
            if fill is None:
                extra = {"landcover": lc} if "landcover" in model.extra_inputs else {}
                fills[method] = model.inpaint(masked, mask, **extra)
            else:
                fills[method] = target.copy()
                fills[method][mask] = fill(masked, mask, lc)[mask]
            out.seconds[method] += time.perf_counter() - t_fill
            scores[method] = _score(fills[method], target, mask, judge, feats_t, reader, lc)
        record = {"file": name, "mask_seed": [seed, i], "hole_fraction": float(mask.mean()), "scores": scores}
        if reader is not None:  # the referee on the untouched image: the ceiling a fill can reach
            record["landcover_consistency_target"] = _consistency(reader, target, lc, mask)
        out.per_image.append(record)
        if len(out.grid_rows) < examples:
            out.grid_rows.append(_grid_row(target, mask, fills, lc, table))
    return out


def _write_report(out: Path, scored: _Scores, methods: list[str], reference, run: dict, training: dict, reader,
                  table, t0: float) -> dict:
    """``report.json``, ``report.md`` and ``examples.png`` in ``out``: the summary of ``scored``,
    the run's settings (``run``) and the checkpoint's ``training`` figures; returns the report."""
    per_image = scored.per_image
    report = _summarise(per_image, methods, reference)
    report["seconds_per_image"] = {m: round(t / len(per_image), 4) for m, t in scored.seconds.items()}
    report.update({
        **run,
        "metrics": {k: v[0] for k, v in METRICS.items() if k in report["methods"][methods[0]]},
        "training": training, "per_image": per_image,
    })
    if reader is not None:
        report["landcover_consistency_target"] = _nanmean([r["landcover_consistency_target"] for r in per_image])
    out.mkdir(parents=True, exist_ok=True)
    report["grid"] = "examples.png"
    _save_grid(out / "examples.png", scored.grid_rows, methods, lc_column=table is not None)
    report["seconds"] = round(time.time() - t0, 1)
    (out / "report.json").write_text(json.dumps(_json_safe(report), indent=2, allow_nan=False))
    write_markdown(report, out / "report.md")
    return report


def evaluate(checkpoint, images, out, masks: str = "research", seed: int = 0, size: int = 256,
             limit: int | None = None, split: str = "all", landcover=None, classes=None, vgg=None,
             vgg_weights=None, device: str = "auto", strategy: str = "full", examples: int = 6,
             windows: int = 1, referee=None, progress: bool = True, baselines=None, what_if: bool = False,
             split_from=None, sources: list[str] | None = None) -> dict:
    """Run the evaluation and write ``report.json``, ``report.md`` and ``examples.png`` to ``out``.

    ``checkpoint``: a model file, or ``"telea"`` to score only the baselines. ``vgg``: a
    :class:`~inpaint_core.models.vgg.VGG16Features` to use instead of loading ImageNet weights
    (tests inject a random one). ``windows``: satellite tiles give up to this many
    non-overlapping windows each (0 = all; 1 = the centre one). ``referee``: a satellite
    checkpoint whose land-cover referee scores consistency (default: the model's own).
    ``baselines``: the classical fills to score (default: all that apply to the data).
    ``what_if``: satellite data only; score what-if fills instead (:mod:`inpaint_core.eval.whatif`:
    ``whatif.json``, ``whatif.md``, ``whatif.png``). ``sources``: pictures only; keep the files
    of these sources (held out from training; names as ``train/album.py --val-sources`` takes).
    Returns the report dict. Raises ``ValueError`` for bad
    arguments or data.
    """
    if masks not in MASK_KINDS:
        raise ValueError(f"unknown mask kind {masks!r}; valid: {', '.join(MASK_KINDS)}")
    if windows < 0:
        raise ValueError(f"--windows must be 0 (all) or a positive count, got {windows}")
    if split not in ("all", "val"):
        raise ValueError(f"--split must be all or val, got {split!r}")
    images, out = Path(images), Path(out)
    held_sources = [s.strip() for s in (sources or []) if s.strip()]
    t0 = time.time()
    model, meta = None, {}
    if str(checkpoint) != BASELINE_ONLY:
        model = load_inpainter(checkpoint, device=device, options=InferenceOptions(strategy=strategy))
        meta = model.meta
    elif split == "val":
        raise ValueError("--split val needs a checkpoint (its training summary lists the held-out files)")
    follows_landcover = model is not None and "landcover" in model.extra_inputs
    satellite = follows_landcover or landcover is not None or classes is not None
    table = _class_table(model, classes) if satellite else None
    if masks == "class-patches" and not satellite:
        raise ValueError("--masks class-patches needs land cover: a satellite checkpoint or --landcover/--classes")

    # --split-from: another model's held-out files, so two models are scored on the same tiles
    split_meta = read_meta(split_from) if split == "val" and split_from else meta
    sources = choose_sources(find_sources(images, Path(landcover) if landcover else None, satellite), images, satellite,
                      split, split_meta, held_sources, limit)
    reader = _referee(model, checkpoint, device, referee)
    if what_if:
        if not satellite:
            raise ValueError("--what-if needs land cover: a satellite checkpoint or --landcover/--classes")
        # whole tiles: each window's hole is filled in its tile, as the app fills it
        found = windows_in_tiles(tiles(sources, images, table, progress), size, windows)
        if not found:
            raise ValueError(f"no tile could be evaluated in {images}")
        return run_what_if(model, table, found, out, seed=seed, reader=reader, examples=examples,
                           checkpoint=str(checkpoint), progress=progress)
    vgg, vgg_source = _load_vgg(vgg, vgg_weights)
    perceptual = JudgeDistance(vgg, resolve_device(device))

    methods = _baselines(baselines, satellite, table, model)  # name -> fill(image, mask, landcover)
    if model is not None:
        methods = {"model": None, **methods}
    reference = "landcover-patchmatch" if "landcover-patchmatch" in methods else (
        "patchmatch" if "patchmatch" in methods else None)
    skipped = []
    read = samples(sources, images, table, size, windows, skipped, progress)
    scored = _score_windows(read, model, methods, masks, size, seed, table, perceptual, reader, examples)
    if not scored.per_image:
        raise ValueError(f"no image could be evaluated in {images}")
    run = {
        "checkpoint": str(checkpoint), "model_kind": model.kind if model else None, "images": str(images),
        "split": split, "masks": masks, "held_out_sources": held_sources, "seed": seed, "size": size,
        "windows": windows if satellite else 1, "strategy": strategy, "count": len(scored.per_image),
        "sources": len(sources), "referee": str(referee or checkpoint) if reader is not None else None,
        "skipped": skipped, "perceptual": {"layers": list(perceptual.layers), "weights": vgg_source},
        "judge": "JUDGE.md: LPIPS-shaped VGG16 relu1_2..relu5_3 distance, hole PSNR, median detail ratio, win rate",
    }  # fmt: skip
    training = {k: meta.get("training", {}).get(k) for k in ("steps", "wall_minutes", "images_seen")}
    return _write_report(out, scored, list(methods), reference, run, training, reader, table, t0)


def evaluate_kinds(kinds: list[str], out, **kwargs) -> dict[str, dict]:
    """:func:`evaluate` once per hole kind, into ``out/KIND/`` when there are several (``out``
    itself for one), and ``out/summary.md``: the judge's figures of every kind in one table."""
    out = Path(out)
    if len(kinds) == 1:
        return {kinds[0]: evaluate(out=out, masks=kinds[0], **kwargs)}
    reports = {kind: evaluate(out=out / kind, masks=kind, **kwargs) for kind in kinds}
    write_summary(reports, out / "summary.md")
    return reports


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help=f"model file (.safetensors), or '{BASELINE_ONLY}' "
                        "to score only the OpenCV baselines")
    parser.add_argument("--images", required=True, type=Path, help="folder of images (searched recursively); "
                        "satellite: the tile folder (images/ beside masks/) unless --landcover is given")
    parser.add_argument("--landcover", type=Path,
                        help="satellite: folder of land-cover rasters matched to images by stem")
    parser.add_argument("--classes", help=f"satellite: {TABLE_HELP}; default: the checkpoint's")
    parser.add_argument("--masks", default="research", help="hole kind, or several comma-separated (one report "
                        f"each under OUT/KIND/, and OUT/summary.md): {', '.join(MASK_KINDS)}; 'all' = the "
                        f"judge's four picture kinds ({', '.join(PICTURE_KINDS)})")
    parser.add_argument("--sources", help="pictures: evaluate only the files of these sources, comma-separated "
                        "(whole sources held out from training; named as in the folder's manifest, e.g. "
                        "vncntxl/crate, or 'debian' for every debian: package)")
    parser.add_argument("--seed", type=int, default=0, help="mask i is seeded by (seed, i)")
    parser.add_argument("--split", choices=("all", "val"), default="all",
                        help="val: only the files the checkpoint's training held out (training.val_files)")
    parser.add_argument("--split-from", help="with --split val: the held-out files of this checkpoint instead of "
                        "the evaluated one's (to score the shipped model on a candidate's held-out tiles)")
    parser.add_argument("--limit", type=int, help="evaluate at most this many images (the first ones, in sorted order; "
                        "with --sources, taken in turn from each source)")
    parser.add_argument("--size", type=int, default=256, help="side of the square each image is brought to")
    parser.add_argument("--windows", type=int, default=1, help="satellite: windows per tile, from a grid of "
                        "non-overlapping size x size ones (0 = all; default 1 = the centre window)")
    parser.add_argument("--referee", help="satellite: score land-cover consistency with the referee stored in "
                        "this checkpoint instead of the model's own (to compare several models with one judge)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="full",
                        help="engine size strategy; full: the network sees the whole SIZE image, as in training")
    parser.add_argument("--vgg-weights", help="VGG16 ImageNet state dict for the perceptual distance "
                        "(default: $INPAINT_VGG16_WEIGHTS, else torch hub)")
    parser.add_argument("--examples", type=int, default=6, help="rows in examples.png")
    parser.add_argument("--what-if", action="store_true", help="satellite: ask each class-patch hole to become "
                        "the class farthest in colour from the erased one, and score how far each fill follows "
                        "(mean colour, and the referee's reading): whatif.json, whatif.md, whatif.png")
    parser.add_argument("--baselines", help="comma-separated classical fills to score (default: all that apply: "
                        f"{', '.join(CLASSICAL_FILLS)}, and on satellite data {', '.join(LANDCOVER_FILLS)}); "
                        "telea is always scored")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice; on a busy "
                        "machine 1 can be much faster)")
    parser.add_argument("--out", required=True, type=Path, help="folder for report.json, report.md, examples.png")


def main(args: argparse.Namespace) -> int:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    kinds = list(PICTURE_KINDS) if args.masks == "all" else [k.strip() for k in args.masks.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in MASK_KINDS]
    if unknown or not kinds:
        print(f"error: unknown hole kind(s) {', '.join(unknown) or repr(args.masks)}; valid: {', '.join(MASK_KINDS)} "
              "or all", file=sys.stderr)
        return 2
    if args.what_if and len(kinds) > 1:
        print("error: --what-if draws its own holes (a patch of one class painted as another), so it takes no list "
              "of --masks kinds; leave --masks out", file=sys.stderr)
        return 2
    try:
        reports = evaluate_kinds(kinds, args.out, checkpoint=args.checkpoint, images=args.images, seed=args.seed,
                                 size=args.size, limit=args.limit, split=args.split, landcover=args.landcover,
                                 classes=args.classes, vgg_weights=args.vgg_weights, device=args.device,
                                 strategy=args.strategy, examples=args.examples, windows=args.windows,
                                 referee=args.referee, baselines=args.baselines.split(",") if args.baselines else None,
                                 what_if=args.what_if, split_from=args.split_from,
                                 sources=args.sources.split(",") if args.sources else None)
    except (ValueError, RuntimeError, FileNotFoundError) as err:  # CheckpointError is a ValueError
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = next(iter(reports.values()))
    if len(kinds) > 1:
        print((args.out / "summary.md").read_text())
        print(f"wrote {args.out / 'summary.md'} and one report per kind under {args.out}/")
        return 0
    if args.what_if:
        print((args.out / "whatif.md").read_text().split("\n\n![")[0])
        print(f"\nwrote {args.out / 'whatif.json'}, {args.out / 'whatif.md'}, {args.out / 'whatif.png'} "
              f"({report['count']} windows, {report['seconds']} s)")
        return 0
    print((args.out / "report.md").read_text().split("\n\n![")[0])
    print(f"\nwrote {args.out / 'report.json'}, {args.out / 'report.md'}, {args.out / 'examples.png'} "
          f"({report['count']} images, {report['seconds']} s)")
    return 0
