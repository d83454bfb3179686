"""Journey: two app windows (two real processes) on one workspace. The second opens read-only and says
why, follows what the first saves, and takes the workspace over once the first closes; no reader's
box is lost (before the lock, each window rewrote the whole edits file with its own state)."""

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from PIL import Image

from spinegui.core.annotations.overlay import edits_path

DRIVER = Path(__file__).with_name("window_driver.py")


class App:
    """One `spinegui --dataset ROOT --workspace WS` process, driven through window_driver.py."""

    def __init__(self, root, ws, home, reader):
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SPINEGUI_HOME=str(home))
        self.proc = subprocess.Popen([sys.executable, str(DRIVER), str(root), str(ws), reader], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.put(json.loads(line))

    def next(self, timeout=60.0) -> dict:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError(f"no answer from the app; stderr: {self.proc.stderr.read()[-3000:]}") from None

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.next()

    def wait_state(self, ok, timeout=15.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            state = self.ask("state")
            if ok(state) or time.monotonic() > deadline:
                return state
            time.sleep(0.2)

    def quit(self) -> int:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        return self.proc.wait(60)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_a_second_window_is_read_only_and_no_readers_box_is_lost(demo_root, cached_workspace, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(cached_workspace, ws)
    first = App(demo_root, ws, tmp_path / "home1", "rad1")
    second = None
    try:
        ready1 = first.next()
        assert ready1["event"] == "ready" and ready1["read_only"] is None and ready1["edit_enabled"]
        second = App(demo_root, ws, tmp_path / "home2", "rad2")
        ready2 = second.next()
        assert ready2["event"] == "ready" and ready2["image"] == ready1["image"]

        added = []  # every box a reader was told was added
        tried = second.ask("add 10 10 60 60")  # while the first window has the workspace
        added += [tried["added"]] if "added" in tried else []
        one = first.ask("add 20 20 80 80")
        assert "added" in one
        added.append(one["added"])
        assert first.ask("save") == {"saved": True}
        # the second window shows what the first saved (it re-reads the file; it never writes it)
        seen = second.wait_state(lambda s: one["added"] in s["boxes"])
        shot = tmp_path / "read_only_window.png"
        assert second.ask(f"grab {shot}")["grabbed"]
        assert first.quit() == 0

        taken = second.wait_state(lambda s: s["read_only"] is None)  # the first closed: take over
        assert taken["read_only"] is None and taken["edit_enabled"], taken
        two = second.ask("add 30 30 90 90")
        assert "added" in two
        added.append(two["added"])
        assert second.quit() == 0

        saved = json.loads(edits_path(ws).read_text(encoding="utf-8"))["images"][ready1["image"]]["boxes"]
        assert set(added) <= {b["uid"] for b in saved}, "a reader's box was lost"

        # the second window was read-only while the first had the workspace, and said so and why
        assert one["added"] in seen["boxes"], seen
        assert "refused" in tried and "read-only" in tried["refused"], tried
        assert f"a spinegui app window (pid {first.proc.pid}" in ready2["read_only"]
        assert "(read-only)" in ready2["title"] and ready2["read_only_label"]
        assert "READ-ONLY" in ready2["panel"] and not ready2["edit_enabled"]
        assert "read-only" in ready2["status"] and "\n" not in ready2["status"]
        assert Image.open(shot).width >= 800
    finally:
        first.kill()
        if second is not None:
            second.kill()
