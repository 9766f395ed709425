"""Inpainting engine for artwork and land-cover-guided satellite tiles.

Conventions, fixed here once and asserted at the edges of the package:

* Colour is always RGB, never BGR (OpenCV calls convert at their boundary).
* Images at I/O boundaries are ``HxWx3 uint8`` arrays; inside the package they are
  float tensors ``NCHW`` in ``[0, 1]``. Models may work in ``[-1, 1]`` internally and
  convert at their own edge.
* A mask is ``HxW``; nonzero / ``True`` / white means *hole* (pixels to fill).
  Grey-level masks are binarised at 127.
* Land cover is an ``HxW`` integer map of indices into a class table.

Public API::

    from inpaint_core import load_inpainter
    model = load_inpainter("checkpoints/album.safetensors", device="auto")
    out = model.inpaint(image, mask)   # HxWx3 uint8; unmasked pixels identical to input
"""

from inpaint_core.engine import Inpainter
from inpaint_core.registry import load_inpainter, make_inpainter

__all__ = ["Inpainter", "load_inpainter", "make_inpainter"]
__version__ = "0.1.0"
