"""Pack a picture-training subset small enough to send to a rented GPU machine with the job.

    python train/pack.py --data ../shared/data/album/train,../shared/data/photos \
        --extra-data ../shared/data/album/extra --val-sources vncntxl/crate,debian \
        --vgg-weights to_relu4_3.pth,conv5.pth --out runs/gpu-pack --max-mib 60

GPU machines are often lent for a few minutes with a small upload allowance and no access to
the data folders. This writes OUT/images/ (the held-out pictures first, then training pictures
until the size budget is spent, each re-encoded as a JPEG at its training size) with a
``manifest.csv`` that keeps every picture's source, so ``train/album.py --val-sources`` holds out
the same whole sources on the packed folder as on the full data; and OUT/vgg/ (the VGG16
weights the loss and the judge need). It prints the training command to run there. The pack is
deterministic: the same inputs give the same files.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import sys
from pathlib import Path

from PIL import Image

from inpaint_core.data.pictures import (
    file_sources,
    in_turn,
    list_images,
    load_rgb,
    resize_short_side,
    split_by_source,
)

__all__ = ["pack", "main"]

MIB = 1024 * 1024


def _encode(path: Path, side: int, quality: int) -> bytes:
    """The picture at its training size, as a JPEG (or a PNG where its name says PNG or WebP: the
    name is kept, because validation orders held-out pictures by a hash of their names)."""
    image = resize_short_side(load_rgb(path), side)
    buf = io.BytesIO()
    if path.suffix.lower() in (".jpg", ".jpeg"):
        Image.fromarray(image).save(buf, "JPEG", quality=quality)
    else:
        Image.fromarray(image).save(buf, "PNG" if path.suffix.lower() == ".png" else "WEBP", lossless=True)
    return buf.getvalue()


def pack(folders: list, val_sources: list[str], out, max_mib: float = 60.0, val_images: int = 80,
         vgg_weights: str | None = None, side: int = 256, quality: int = 90) -> dict:
    """Write the pack (see the module's docstring) and return ``{"val": n, "train": n, "mib": size}``.

    ``folders``: the picture folders (each may have its manifest); ``val_sources``: whole sources
    held out for validation (every one of their pictures is left out of training, and up to
    ``val_images`` of them are packed); ``max_mib``: the budget for everything written, VGG
    weights included. Raises ``ValueError`` when the weights and the held-out pictures alone
    exceed it.
    """
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    budget = int(max_mib * MIB)
    used = 0
    weights = []
    for part in [w.strip() for w in (vgg_weights or "").split(",") if w.strip()]:
        src = Path(part)
        if not src.is_file():
            raise ValueError(f"VGG16 weights file not found: {src}")
        (out / "vgg").mkdir(exist_ok=True)
        shutil.copyfile(src, out / "vgg" / src.name)
        weights.append(f"vgg/{src.name}")
        used += src.stat().st_size
    train, val, _ = split_by_source(folders, val_sources, val_images)
    rows = []

    def write(path: Path, source: str, kind: str) -> bool:
        nonlocal used
        data = _encode(path, side, quality)
        if used + len(data) > budget:
            return False
        name = f"{kind}/{path.name}"  # the same name: the same validation order as on the full data
        if (out / "images" / name).exists():
            raise ValueError(f"two pictures are named {path.name}; the pack keeps names, so rename one")
        (out / "images" / name).parent.mkdir(exist_ok=True)
        (out / "images" / name).write_bytes(data)
        rows.append({"file": name, "source": source, "original": path.name})
        used += len(data)
        return True

    origin = {}
    for folder in folders:
        files = list_images(folder)
        origin.update(zip(files, file_sources(files, folder)))
    for path in val:
        if not write(path, origin[path], "val"):
            raise ValueError(f"{max_mib} MiB do not hold the VGG weights and the {len(val)} held-out pictures; "
                             "raise --max-mib or lower --val-images")
    n_train = 0
    groups: dict[str, list[Path]] = {}
    for path in train:  # in turn from each source, so a small budget still sees every one
        groups.setdefault(origin[path], []).append(path)
    for path in in_turn([g for _, g in sorted(groups.items())], hashed=True):
        if not write(path, origin[path], "train"):
            break
        n_train += 1
    manifest = out / "images" / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["file", "source", "original"])
        writer.writeheader()
        writer.writerows(rows)
    used += manifest.stat().st_size
    return {"val": len(val), "train": n_train, "train_available": len(train), "mib": used / MIB,
            "weights": weights}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python train/pack.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="picture folders, comma-separated (as train/album.py --data)")
    parser.add_argument("--extra-data", default="", help="more picture folders, comma-separated")
    parser.add_argument("--val-sources", required=True, help="whole sources held out for validation, comma-separated "
                        "(as train/album.py --val-sources)")
    parser.add_argument("--val-images", type=int, default=80, help="held-out pictures to pack")
    parser.add_argument("--vgg-weights", required=True, help="VGG16 weights to conv5_3, comma-separated files")
    parser.add_argument("--out", default="runs/gpu-pack", help="the pack's folder (replaced)")
    parser.add_argument("--max-mib", type=float, default=60.0, help="size budget of the whole pack, in MiB")
    parser.add_argument("--minutes", type=float, default=10.0, help="training minutes in the printed command")
    args = parser.parse_args(argv)
    folders = [f.strip() for f in (args.data + "," + args.extra_data).split(",") if f.strip()]
    names = [v.strip() for v in args.val_sources.split(",") if v.strip()]
    try:
        summary = pack(folders, names, args.out, args.max_mib, args.val_images, args.vgg_weights)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    weights = ",".join(f"{out}/{w}" for w in summary["weights"])
    print(f"packed {summary['val']} held-out and {summary['train']} of {summary['train_available']} training pictures "
          f"with the VGG weights: {summary['mib']:.1f} MiB in {out}/")
    print("train there (CUDA; the folder travels with the job, the export comes back under $OUT):")
    print(f"  python train/album.py --data {out}/images --val-sources {args.val_sources} --vgg-weights {weights} "
          f"--device cuda --workers 8 --batch-size 32 --val-every 250 --max-minutes {args.minutes:g} "
          f"--init checkpoints/album.safetensors --keep-exports --out $OUT/run --export $OUT/album.safetensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
