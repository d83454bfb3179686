"""Crash recovery: SIGKILL an editing process at a random moment; every edit older than 2 s survives.

Each run starts ``crash_editor.py`` (random edits in a loop, each reported with its time and a digest
of the store's state), kills it 2.2-3.5 s after its first report, reopens the workspace here and checks
that the overlay parses and holds the state after some edit at least as late as the last edit reported
more than 2 s before the kill. 4 batches x 5 concurrent runs = 20 kills.
"""

import json
import random
import shutil
import signal
import sys
import threading
from pathlib import Path

import pytest

from crash_editor import digest
from crash_runner import run_and_kill
from spinegui.core.annotations.overlay import edits_path
from spinegui.core.annotations.store import AnnotationStore
from spinegui.core.dataset.vindr import load_index
from spinegui.core.dataset.workspace import Workspace

HELPER = Path(__file__).with_name("crash_editor.py")
RUNS_PER_BATCH = 5
GUARANTEE_S = 2.0


def _run_and_kill(root: Path, ws: Path, seed: int, kill_after: float, out: dict) -> None:
    run_and_kill([sys.executable, str(HELPER), str(root), str(ws), str(seed)], kill_after, out)
    if "error" in out:
        out["error"] = "editor " + out["error"]


@pytest.mark.parametrize("batch", range(4))
def test_sigkill_keeps_every_edit_older_than_2s(demo_root, tmp_path, batch):
    root = tmp_path / "dataset"
    shutil.copytree(demo_root, root)
    rng = random.Random()
    runs = [{"seed": rng.randrange(10**6), "kill_after": rng.uniform(2.2, 3.5), "ws": tmp_path / f"ws{i}"}
            for i in range(RUNS_PER_BATCH)]
    threads = [threading.Thread(target=_run_and_kill, args=(root, r["ws"], r["seed"], r["kill_after"], r))
               for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    index = load_index(root)
    checked = 0
    for r in runs:
        label = f"seed {r['seed']}, killed after {r['kill_after']:.2f} s"
        assert "error" not in r, f"{label}: {r['error']}"
        assert r["returncode"] == -signal.SIGKILL, label
        states = r["states"]
        # The last edit (seq >= 1) reported more than 2 s before the kill must be on disk.
        old = [s for s, t, _ in states if s >= 1 and t < r["t_kill"] - GUARANTEE_S]
        assert old, f"{label}: no edit older than {GUARANTEE_S} s (the editor is too slow)"
        required = max(old)
        path = edits_path(r["ws"])
        assert path.exists(), f"{label}: nothing saved in {r['t_kill'] - states[required][1]:.2f} s"
        json.loads(path.read_text(encoding="utf-8"))  # whole, never half-written
        store = AnnotationStore(index, Workspace.for_dataset(root, r["ws"]), autosave=False)
        try:
            recovered = digest(store)
        finally:
            store.close()
        matching = [s for s, _, d in states if d == recovered]
        assert matching, f"{label}: the reopened state matches no state the editor reported"
        assert max(matching) >= required, (
            f"{label}: reopened state is that after edit {max(matching)}, but edit {required} was "
            f"made {r['t_kill'] - states[required][1]:.2f} s before the kill")
        checked += required
    print(f"batch {batch}: {checked} edits older than {GUARANTEE_S} s checked over {len(runs)} kills")
