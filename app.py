"""The Gradio app from a checkout: paint a hole into any picture and inpaint it; erase land cover from satellite tiles.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--device auto] [--checkpoints checkpoints]
                  [--max-queue 32]
    gradio app.py                      # reload mode, for work on the page

A launcher only: the page is :mod:`inpaint_core.app.ui` (installed, the same app is the
``inpaint-studio`` command), its handlers :mod:`inpaint_core.app.handlers`, and the logic they
call the rest of :mod:`inpaint_core.app`. The names below are those a checkout's scripts and
tests reach as ``app.X``.
"""

from inpaint_core.app.handlers import Handlers
from inpaint_core.app.ui import (
    MAX_FILE_SIZE,
    build_demo,
    demo_from_command_line,
    launch,
    main,
)

__all__ = ["Handlers", "MAX_FILE_SIZE", "build_demo", "main"]

if __name__ == "__main__":
    demo, args = demo_from_command_line()  # a module-level demo, which `gradio app.py` reloads
    launch(demo, args)
