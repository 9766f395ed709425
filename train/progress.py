"""Draw a model's gain over PatchMatch against images seen: ``python train/progress.py -h``.

A checkout's entry point; the trainer is :mod:`inpaint_core.training.progress`
(``python -m inpaint_core.training.progress`` where the package is installed).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's package, installed or not

from inpaint_core.training.progress import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
