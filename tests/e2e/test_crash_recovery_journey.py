"""Journey: edit in the app, the app is killed (SIGKILL), restart: every edit older than 2 s is back.

20 kills at random moments (10 batches of 2 apps at once; more at once would measure the
machine's overload rather than the app), each checked against the states the app
reported before it died; the saved file always parses (never half-written).
"""

import json
import random
import shutil
import signal
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from crash_editor import digest
from crash_runner import run_and_kill
from spinegui.core.annotations.overlay import edits_path
from spinegui.core.annotations.store import AnnotationStore
from spinegui.core.dataset.vindr import load_index
from spinegui.core.dataset.workspace import Workspace

APP = Path(__file__).with_name("crash_app.py")
GUARANTEE_S = 2.0


def run_app_and_kill(root, ws, home, seed, kill_after, out):
    # The kill clock starts at the app's first edit (its second report), not at start-up.
    run_and_kill([sys.executable, str(APP), str(root), str(ws), str(home), str(seed)], kill_after, out,
                 clock_starts_at_line=2, env_extra={"QT_QPA_PLATFORM": "offscreen"})
    if "error" in out:
        out["error"] = "app " + out["error"]


@pytest.mark.parametrize("batch", range(10))
def test_app_killed_at_random_moments_keeps_edits(demo_root, cached_workspace, tmp_path, batch):
    rng = random.Random()
    runs = []
    for i in range(2):
        ws = tmp_path / f"ws{i}"
        shutil.copytree(cached_workspace, ws)  # cache already built: the app goes straight to editing
        runs.append({"seed": rng.randrange(10**6), "kill_after": rng.uniform(2.3, 4.0), "ws": ws,
                     "home": tmp_path / f"home{i}"})
    threads = [threading.Thread(target=run_app_and_kill, args=(demo_root, r["ws"], r["home"], r["seed"],
                                                          r["kill_after"], r)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    index = load_index(demo_root)
    for r in runs:
        label = f"seed {r['seed']}, killed {r['kill_after']:.2f} s after the first edit"
        assert "error" not in r, f"{label}: {r['error']}"
        assert r["returncode"] == -signal.SIGKILL, label
        old = [s for s, t, _ in r["states"] if s >= 1 and t < r["t_kill"] - GUARANTEE_S]
        assert old, f"{label}: no edit older than {GUARANTEE_S} s"
        path = edits_path(r["ws"])
        json.loads(path.read_text(encoding="utf-8"))  # whole, never half-written
        store = AnnotationStore(index, Workspace.for_dataset(demo_root, r["ws"]), autosave=False)
        try:
            recovered = digest(store)
        finally:
            store.close()
        matching = [s for s, _, d in r["states"] if d == recovered]
        assert matching and max(matching) >= max(old), f"{label}: edits older than 2 s were lost"
