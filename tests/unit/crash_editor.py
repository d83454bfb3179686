"""Keeps making random annotation edits until killed (run by test_crash_recovery.py).

    python crash_editor.py DATASET_ROOT WORKSPACE SEED

Prints one line per state, flushed: ``<seq> <time.monotonic()> <digest>`` (seq 0 = the state on
opening, before any edit), so the test knows which edits happened when, and what the store held after each.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time

from spinegui.core.annotations.model import ann_to_json
from spinegui.core.annotations.store import AnnotationStore
from spinegui.core.dataset.vindr import LESION_TYPES, load_index
from spinegui.core.dataset.workspace import Workspace
from spinegui.core.errors import InputError


def digest(store: AnnotationStore) -> str:
    """A fingerprint of every edit the store holds (uids, coordinates, readers, timestamps)."""
    doc = {i: ann_to_json(store.annotations(i)) for i in sorted(store.edited_image_ids())}
    return hashlib.sha1(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def random_edit(store: AnnotationStore, rng: random.Random, image_ids: list[str]) -> None:
    image_id = rng.choice(image_ids)
    boxes = store.boxes(image_id)
    op = rng.random()
    if op < 0.05:
        store.reader = rng.choice(["rad1", "rad2", "rad7", "Dr Ana Pérez"])
    if op < 0.10:
        store.undo()
    elif op < 0.13:
        store.redo()
    elif op < 0.40 or not boxes:
        x, y = rng.uniform(0, 400), rng.uniform(0, 700)
        store.add_box(image_id, rng.choice(LESION_TYPES), (x, y, x + rng.uniform(5, 200), y + rng.uniform(5, 200)))
    elif op < 0.65:
        b = rng.choice(boxes)
        dx, dy = rng.uniform(-30, 30), rng.uniform(-30, 30)
        x0, y0, x1, y1 = b.xyxy
        store.move_box(image_id, b.uid, (x0 + dx, y0 + dy, x1 + dx + rng.uniform(0, 9), y1 + dy))
    elif op < 0.75:
        store.set_lesion_type(image_id, rng.choice(boxes).uid, rng.choice(LESION_TYPES))
    elif op < 0.85:
        store.delete_box(image_id, rng.choice(boxes).uid)
    elif op < 0.92:
        store.mark_no_finding(image_id)
    else:
        store.set_verified(image_id, rng.random() < 0.7)


def main(root: str, workspace: str, seed: int) -> None:
    rng = random.Random(seed)
    index = load_index(root)
    store = AnnotationStore(index, Workspace.for_dataset(root, workspace), reader="rad1")
    image_ids = list(index.images)
    print(f"0 {time.monotonic():.6f} {digest(store)}", flush=True)
    seq = 0
    while True:
        try:
            random_edit(store, rng, image_ids)
        except InputError:  # e.g. a move that clipped to nothing: refused, state unchanged
            pass
        seq += 1
        print(f"{seq} {time.monotonic():.6f} {digest(store)}", flush=True)
        time.sleep(rng.uniform(0.001, 0.015))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
