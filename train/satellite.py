"""Train the land-cover-guided satellite generator: ``python train/satellite.py -h``.

A checkout's entry point; the trainer is :mod:`inpaint_core.training.satellite`
(``python -m inpaint_core.training.satellite`` where the package is installed).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's package, installed or not

from inpaint_core.training.satellite import main  # noqa: E402

if __name__ == "__main__":
    main()
