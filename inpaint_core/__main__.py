"""Command line: ``python -m inpaint_core {run,evaluate,benchmark,app-benchmark,bank} ...``.

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and
``main(args) -> int``; this file only wires them together.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "run": ("fill a folder (or one file) of images with a model", "inpaint_core.batch"),
    "evaluate": ("score a model against OpenCV baselines on seeded holes", "inpaint_core.evaluate"),
    "benchmark": ("print inference latency, peak memory and training throughput", "inpaint_core.benchmark"),
    "app-benchmark": ("time the app's click-to-result in a real browser (needs playwright and chromium)",
                      "inpaint_core.app_benchmark"),
    "bank": ("cut a land-cover exemplar bank from training tiles into a satellite checkpoint", "inpaint_core.bank"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inpaint_core", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    for name, (help_text, module_name) in COMMANDS.items():
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
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
