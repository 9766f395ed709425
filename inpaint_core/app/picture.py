"""The Inpaint tab without its widgets: the picture to paint on, one fill, and the files it gives back.

The tab's handlers (:mod:`inpaint_core.app.handlers`) turn widget values into calls of these
functions, so what a click does is reachable from plain tests. Pictures are ``HxWx3 uint8``
RGB, masks ``HxW`` bool (True = hole); bad input raises ``ValueError`` with a message for the
app's user.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inpaint_core.app import editing, editor_state
from inpaint_core.data.masks import dilate_mask
from inpaint_core.data.pictures import animation_note
from inpaint_core.engine import Inpainter

__all__ = ["picture_view", "fill_picture", "comparison", "example_pictures"]


def picture_view(image: np.ndarray, path: str, history=()) -> tuple[dict, str]:
    """The editor value for painting on ``image`` (read from ``path``: a screen-size copy of a
    big picture) and the line under it: its size, the copy's, an animation's first frame, the
    fills kept so far (``history``)."""
    shown = editing.editing_copy(image)
    h, w = image.shape[:2]
    sh, sw = shown["background"].shape[:2]
    note = f"{w}x{h} pixels" + ("" if (sh, sw) == (h, w) else
                                f"; painted on a {sw}x{sh} copy, filled and saved at full size")
    extra = [line for line in (animation_note(path), editor_state.history_note(history)) if line]
    return shown, "; ".join([note, *extra])


def fill_picture(fill: Inpainter, image: np.ndarray, mask: np.ndarray, dilation: float, strategy: str,
                 workdir) -> tuple[str, tuple[str, str], str]:
    """Fill ``image``'s painted ``mask``, grown by ``dilation`` pixels, with ``fill`` and write the
    downloads into a fresh folder under ``workdir``. Returns the paths of the result PNG, the
    before/after pair for the slider (:func:`comparison`) and the mask PNG (white = filled)."""
    if not mask.any():
        raise ValueError("nothing painted: paint over what should disappear, then press Inpaint")
    mask = dilate_mask(mask, dilation)
    result = fill.inpaint(image, mask, strategy=strategy)
    out = editing.output_dir(workdir)
    after = editing.save_png(out / "result.png", result)
    return after, comparison(out, image, result, after), editing.save_png(out / "mask.png", editing.mask_image(mask))


def comparison(out: Path, before: np.ndarray, after: np.ndarray, after_path: str) -> tuple[str, str]:
    """Files for the before/after slider: previews of big pictures (the page then loads no 12 Mpx
    PNG), the result itself otherwise."""
    if max(before.shape[:2]) <= editing.PREVIEW_SIDE:
        return editing.save_png(out / "before.png", before), after_path
    return (editing.save_png(out / "before_preview.png", editing.preview(before)),
            editing.save_png(out / "after_preview.png", editing.preview(after)))


def example_pictures(examples: Path) -> list[Path]:
    """The example photos the Inpaint tab offers: ``examples/photos/*.jpg``, by name."""
    return sorted((Path(examples) / "photos").glob("*.jpg"))
