"""Command line: ``inpaint {run,evaluate,benchmark,app-benchmark,scene-benchmark,bank} ...`` (or ``python -m inpaint_core ...``).

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and
``main(args) -> int``; this file only wires them together. ``-h`` is written for people, not
for Sphinx: the usage names the command as it was typed, and the texts carry no markup.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

COMMANDS = {
    "run": ("fill a folder (or one file) of images with a model", "inpaint_core.cli.run"),
    "evaluate": ("score a model against OpenCV baselines on seeded holes", "inpaint_core.eval.evaluate"),
    "benchmark": ("print inference latency, peak memory and training throughput", "inpaint_core.training.benchmark"),
    "app-benchmark": ("time the app's click-to-result in a real browser (needs playwright and chromium)",
                      "inpaint_core.app.benchmark"),
    "scene-benchmark": ("time whole-scene fills of generated GeoTIFFs (5000 to 40000 px a side, a Sentinel-2 tile, "
                        "a local Dask cluster) and their peak memory", "inpaint_core.scene.benchmark"),
    "bank": ("cut a land-cover exemplar bank from training tiles into a satellite checkpoint", "inpaint_core.cli.bank"),
}


DESCRIPTION = "Inpainting studio's command line: fill pictures and tiles, score and time the fills."


def program_name(argv0: str | None = None) -> str:
    """How the command was typed, for its usage line: ``inpaint`` when run as the installed
    script, ``python -m inpaint_core`` when run as a module (``argv0`` is then this file)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    name = Path(argv0 or "").name
    if not name or name in ("__main__.py", "-c", "-m") or name.endswith(".py"):
        return "python -m inpaint_core"
    return name


def build_parser(prog: str | None = None, only: set[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser. ``only``: the commands whose modules are imported for their
    flags (default: all); the others are listed by name and purpose alone, so typing one
    command does not import every other one's dependencies (the app's benchmark loads Gradio)."""
    parser = argparse.ArgumentParser(prog=prog or program_name(), description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    for name, (help_text, module_name) in COMMANDS.items():
        if only is not None and name not in only:
            sub.add_parser(name, help=help_text, description=help_text)
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:  # keep the other commands usable if one module is missing
            p = sub.add_parser(name, help=f"{help_text} (unavailable: {err})")
            p.set_defaults(func=lambda args, err=err: sys.exit(f"error: {err}"))
            continue
        p = sub.add_parser(name, help=help_text, description=help_text,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(func=module.main)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    typed = next((a for a in argv if a in COMMANDS), None)
    args = build_parser(only={typed} if typed else set()).parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
