"""Worker processes that die with their parent.

A spawned pool worker holds both ends of its queue pipe, so it never notices that the app which
started it was killed (SIGKILL, the OOM killer, Task Manager) and would live on forever. Every pool
of ours uses `exit_with_parent` as (part of) its initializer.
"""

from __future__ import annotations

import multiprocessing
import os
import threading


def exit_with_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # returns when the parent's sentinel closes, i.e. the parent is gone
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
