"""The annotation store: edits, validation, undo/redo, notifications, the overlay file, autosave."""

import hashlib
import json
import threading
import time

import pytest

from spinegui.core.annotations.overlay import current_annotations, edits_path
from spinegui.core.dataset.vindr import LESION_TYPES
from spinegui.core.errors import InputError
from waiting import wait_for


def boxed_image(index, min_readers=1):
    return next(r.image_id for r in index.images.values() if len({b.rad_id for b in r.boxes}) >= min_readers)


def tree_digest(root):
    h = hashlib.sha1()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes() + str(p.stat().st_mtime_ns).encode())
    return h.hexdigest()


# --- reading ------------------------------------------------------------------------------------
def test_unedited_store_shows_the_dataset(index, open_store):
    store = open_store()
    for rec in index.images.values():
        ann = store.annotations(rec.image_id)
        assert [(b.lesion_type, b.xyxy, b.rad_id) for b in ann.boxes] == [(b.lesion_type, b.xyxy, b.rad_id)
                                                                         for b in rec.boxes]
        assert ann.no_finding == rec.no_finding_readers
        assert [b.uid for b in ann.boxes] == [f"d{i}" for i in range(len(rec.boxes))]  # stable uids
    assert store.edited_image_ids() == [] and not store.dirty and not store.can_undo
    assert len(store.snapshot()) == len(index.images)


# --- editing and validation ---------------------------------------------------------------------
def test_edit_needs_a_reader(index, open_store):
    store = open_store(reader=None)
    image_id = boxed_image(index)
    with pytest.raises(InputError, match="reader"):
        store.add_box(image_id, "Osteophytes", (1, 2, 30, 40))
    assert not store.is_edited(image_id) and not store.can_undo
    for bad in ("", "   ", "a\nb", "x" * 65):
        with pytest.raises(InputError, match="reader"):
            store.reader = bad
    store.reader = "  Dr Ana Pérez "
    uid = store.add_box(image_id, "Osteophytes", (1, 2, 30, 40))
    box = store.annotations(image_id).box(uid)
    assert box.rad_id == box.edited_by == "Dr Ana Pérez" and box.edited_at.endswith("Z")


@pytest.mark.parametrize("args, message", [
    (("Osteophyte", (1, 2, 3, 4)), "unknown lesion type 'Osteophyte'"),
    (("No finding", (1, 2, 3, 4)), "not a box label"),
    (("Osteophytes", (10, 2, 10, 4)), "empty or inverted"),
    (("Osteophytes", (10, 20, 5, 40)), "empty or inverted"),
    (("Osteophytes", (1, 2, 3)), "4 numbers"),
    (("Osteophytes", (1, float("nan"), 3, 4)), "finite"),
    (("Osteophytes", "abcd"), "4 numbers"),
])
def test_bad_boxes_are_refused_with_one_line(index, open_store, args, message):
    store = open_store()
    image_id = boxed_image(index)
    with pytest.raises(InputError, match=message) as info:
        store.add_box(image_id, *args)
    assert "\n" not in str(info.value)
    assert not store.is_edited(image_id) and not store.can_undo and not store.dirty


def test_unknown_image_and_box(index, open_store):
    store = open_store()
    with pytest.raises(InputError, match="unknown image 'nope'"):
        store.add_box("nope", "Osteophytes", (1, 2, 3, 4))
    image_id = boxed_image(index)
    for call in (lambda: store.move_box(image_id, "zz", (1, 2, 3, 4)), lambda: store.delete_box(image_id, "zz"),
                 lambda: store.set_lesion_type(image_id, "zz", "Osteophytes")):
        with pytest.raises(InputError, match="no box 'zz'"):
            call()
    with pytest.raises(InputError, match="unknown lesion type"):
        store.set_lesion_type(image_id, "d0", "bogus")


def test_boxes_clip_to_known_image_size(index, open_store):
    image_id = boxed_image(index)
    store = open_store(sizes={image_id: (100, 50)})  # rows, cols
    uid = store.add_box(image_id, "Osteophytes", (-10, 20, 70, 130.5))
    assert store.annotations(image_id).box(uid).xyxy == (0.0, 20.0, 50.0, 100.0)
    with pytest.raises(InputError, match="outside the 50x100 image"):
        store.move_box(image_id, uid, (60, 10, 80, 20))
    other = next(i for i in index.images if i != image_id)
    uid2 = store.add_box(other, "Osteophytes", (-10, -5, 5000, 6000))  # size unknown: kept as drawn
    assert store.annotations(other).box(uid2).xyxy == (-10.0, -5.0, 5000.0, 6000.0)
    store.set_sizes({other: (300, 200)})
    store.move_box(other, uid2, (-10, -5, 5000, 6000.5))
    assert store.annotations(other).box(uid2).xyxy == (0.0, 0.0, 200.0, 300.0)


# --- undo / redo --------------------------------------------------------------------------------
def test_every_edit_undoes_and_redoes_exactly(index, open_store):
    store = open_store()
    image_id = boxed_image(index)
    original = store.annotations(image_id)
    states, texts = [original], []

    def step(fn, text):
        fn()
        states.append(store.annotations(image_id))
        texts.append(text)
        assert store.undo_text == f"Undo {text}" and store.redo_text is None

    uid = None

    def add():
        nonlocal uid
        uid = store.add_box(image_id, "Vertebral collapse", (10, 20, 110, 220))

    step(add, "add box")
    step(lambda: store.move_box(image_id, uid, (15, 25, 115, 225)), "move box")
    step(lambda: store.move_box(image_id, uid, (15, 25, 150, 225)), "resize box")
    step(lambda: store.set_lesion_type(image_id, uid, "Other lesions"), "change lesion type")
    step(lambda: store.move_box(image_id, "d0", (1, 1, 9, 9)), "resize box")  # someone else's box
    step(lambda: store.delete_box(image_id, "d0"), "delete box")
    step(lambda: store.set_verified(image_id), "mark verified")
    step(lambda: store.mark_no_finding(image_id), "mark No finding")
    step(lambda: store.set_verified(image_id, False), "mark unverified")
    assert len(set(states)) == len(states)  # every step changed something

    for i in range(len(texts) - 1, -1, -1):
        assert store.undo_text == f"Undo {texts[i]}"
        assert store.undo() == image_id
        assert store.annotations(image_id) == states[i]
        assert store.redo_text == f"Redo {texts[i]}"
    assert not store.can_undo and store.undo() is None
    assert not store.is_edited(image_id)  # back to the dataset's state: no longer an edit
    for i in range(len(texts)):
        assert store.redo() == image_id
        assert store.annotations(image_id) == states[i + 1]
    assert not store.can_redo and store.redo() is None


def test_edited_box_records_editor_but_keeps_its_reader(index, open_store):
    store = open_store()
    image_id = boxed_image(index)
    before = store.annotations(image_id).box("d0")
    store.move_box(image_id, "d0", (1, 2, 3, 4))
    after = store.annotations(image_id).box("d0")
    assert after.rad_id == before.rad_id != "rad9" and after.edited_by == "rad9" and after.edited_at


def test_new_edit_after_undo_clears_redo(index, open_store):
    store = open_store()
    image_id = boxed_image(index)
    store.add_box(image_id, "Osteophytes", (1, 2, 30, 40))
    store.undo()
    assert store.can_redo
    store.set_verified(image_id)
    assert not store.can_redo and store.redo() is None


def test_noop_edits_make_no_undo_step(index, open_store):
    store = open_store()
    image_id = boxed_image(index)
    xyxy = store.annotations(image_id).box("d0").xyxy
    store.move_box(image_id, "d0", xyxy)
    store.set_lesion_type(image_id, "d0", store.annotations(image_id).box("d0").lesion_type)
    store.set_verified(image_id, False)
    assert not store.can_undo and not store.is_edited(image_id) and not store.dirty


def test_undo_reaches_back_over_a_thousand_steps(index, open_store):
    store = open_store()
    image_id = boxed_image(index)
    original = store.annotations(image_id)
    uid = store.add_box(image_id, "Osteophytes", (0, 0, 10, 10))
    for i in range(1, 1000):
        store.move_box(image_id, uid, (i, 0, i + 10, 10))
    for _ in range(1000):
        assert store.undo() == image_id
    assert store.annotations(image_id) == original and not store.can_undo
    assert store.redo() == image_id  # the box is back
    for i in range(1100):
        store.move_box(image_id, uid, (i, 0, i + 10, 10))
    n = 0
    while store.undo():
        n += 1
    assert n == 1000  # the oldest steps fell off


def test_no_finding_removes_only_the_readers_boxes_and_undoes(index, open_store):
    store = open_store(reader="rad1")
    image_id = boxed_image(index)
    other_uid = store.annotations(image_id).boxes[0].uid
    store.reader = "rad_x"
    mine = [store.add_box(image_id, "Osteophytes", (1, 2, 30, 40)),
            store.add_box(image_id, "Foraminal stenosis", (5, 6, 70, 80))]
    before = store.annotations(image_id)
    assert store.mark_no_finding(image_id) == 2
    ann = store.annotations(image_id)
    assert "rad_x" in ann.no_finding
    assert {b.uid for b in ann.boxes} == {b.uid for b in before.boxes} - set(mine)
    assert ann.box(other_uid) is not None  # another reader's box stays
    assert store.undo_text == "Undo mark No finding"
    store.undo()
    assert store.annotations(image_id) == before
    store.redo()
    store.add_box(image_id, "Osteophytes", (1, 2, 30, 40))  # drawing a box withdraws the mark
    assert "rad_x" not in store.annotations(image_id).no_finding
    store.mark_no_finding(image_id)
    store.clear_no_finding(image_id)
    assert "rad_x" not in store.annotations(image_id).no_finding


def test_listeners_hear_every_change_and_a_broken_one_is_harmless(index, open_store):
    store = open_store()
    image_id = boxed_image(index)
    heard = []
    store.listeners.append(lambda i: 1 / 0)
    store.listeners.append(heard.append)
    uid = store.add_box(image_id, "Osteophytes", (1, 2, 30, 40))
    store.move_box(image_id, uid, (1, 2, 30, 40))  # no-op: not heard
    store.undo()
    store.redo()
    store.set_verified(image_id)
    assert heard == [image_id] * 4
    assert store.annotations(image_id).box(uid) is not None


def test_concurrent_edits_are_all_kept(index, open_store):
    store = open_store(autosave=True)
    ids = list(index.images)[:4]

    def worker(image_id):
        for k in range(50):
            store.add_box(image_id, LESION_TYPES[k % 7], (k, k, k + 5, k + 5))

    threads = [threading.Thread(target=worker, args=(i,)) for i in ids for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in ids:
        assert len(store.boxes(i)) == len(index.images[i].boxes) + 100
    store.close()
    reopened = open_store()
    for i in ids:
        assert reopened.annotations(i) == store.annotations(i)


# --- persistence --------------------------------------------------------------------------------
def test_edits_persist_in_a_small_overlay_and_never_touch_the_dataset(index, open_store, demo_root, tmp_path):
    before = tree_digest(demo_root)
    store = open_store()
    ids = list(index.images)
    uid = store.add_box(ids[0], "Spondylolysthesis", (10.123456789, 20.5, 30.25, 40.0))
    store.mark_no_finding(ids[1])
    store.set_verified(ids[2])
    store.set_verified(ids[3])
    store.undo()  # ids[3] is back to the dataset's state
    assert store.dirty
    store.save()
    assert not store.dirty
    doc = json.loads(edits_path(tmp_path / "ws").read_text(encoding="utf-8"))
    assert doc["format"] == "spinegui-annotation-edits" and doc["version"] == 1
    assert set(doc["images"]) == {ids[0], ids[1], ids[2]}  # only the edited images
    store.close()
    again = open_store()
    for i in ids:
        assert again.annotations(i) == store.annotations(i)
    assert again.annotations(ids[0]).box(uid).xyxy == (10.123456789, 20.5, 30.25, 40.0)
    assert set(again.edited_image_ids()) == {ids[0], ids[1], ids[2]}
    assert not again.can_undo  # the history is per session
    assert {im.image_id: im.ann for im in current_annotations(index, tmp_path / "ws")} == \
           {im.image_id: im.ann for im in again.snapshot()}
    assert tree_digest(demo_root) == before


def test_leftover_temp_files_are_ignored(index, open_store, tmp_path):
    store = open_store()
    image_id = boxed_image(index)
    store.set_verified(image_id)
    store.close()
    folder = edits_path(tmp_path / "ws").parent
    (folder / ".edits.json.abc123.tmp").write_text('{"format": "spinegui-annotation-edits", "vers')
    again = open_store()
    assert again.annotations(image_id).verified_by == "rad9"


def test_corrupt_overlay_is_moved_aside_not_overwritten(index, open_store, tmp_path):
    path = edits_path(tmp_path / "ws")
    path.parent.mkdir(parents=True)
    junk = b'{"format": "spinegui-annotation-edits", "version": 1, "images": {"x": {"boxes": [{"ui'
    path.write_bytes(junk)
    with pytest.raises(InputError, match="corrupt annotation edits") as info:
        open_store()
    assert str(path) in str(info.value) and "moved it aside to edits.json.corrupt-" in str(info.value)
    aside = list(path.parent.glob("edits.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == junk and not path.exists()
    store = open_store()  # opening again starts from the dataset's annotations
    store.set_verified(boxed_image(index))
    store.save()
    assert aside[0].read_bytes() == junk


@pytest.mark.parametrize("content", ['{"format": "spinegui-annotation-edits", "version": 1, "images": []}',
                                     '{"format": "spinegui-annotation-edits", "version": 1, "images": '
                                     '{"a": {"boxes": [{"uid": "d0", "lesion_type": "Bone", "xyxy": [1,2,3,4], '
                                     '"rad_id": "r"}]}}}',
                                     "[1, 2]", "\xff\xfe"])
def test_other_corruptions_are_detected(open_store, tmp_path, content):
    path = edits_path(tmp_path / "ws")
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="latin-1")
    with pytest.raises(InputError, match="corrupt"):
        open_store()
    assert list(path.parent.glob("edits.json.corrupt-*"))


def test_newer_format_is_refused_and_left_alone(open_store, tmp_path):
    path = edits_path(tmp_path / "ws")
    path.parent.mkdir(parents=True)
    path.write_text('{"format": "spinegui-annotation-edits", "version": 99, "images": {}}')
    with pytest.raises(InputError, match="newer spinegui"):
        open_store()
    assert path.exists() and not list(path.parent.glob("*.corrupt-*"))


def test_orphan_edits_are_kept(index, open_store, tmp_path):
    store = open_store()
    store.set_verified(boxed_image(index))
    store.close()
    path = edits_path(tmp_path / "ws")
    doc = json.loads(path.read_text())
    doc["images"]["0" * 32] = {"boxes": [], "no_finding": ["rad1"]}
    path.write_text(json.dumps(doc))
    again = open_store()
    assert "0" * 32 in again.orphans and "0" * 32 not in again.edited_image_ids()
    again.set_verified(boxed_image(index), False)
    again.save()
    assert json.loads(path.read_text())["images"] == {"0" * 32: {"boxes": [], "no_finding": ["rad1"]}}


# --- autosave -----------------------------------------------------------------------------------
def test_autosave_writes_every_change_within_2s(index, open_store, tmp_path):
    store = open_store(autosave=True)
    path = edits_path(tmp_path / "ws")
    image_id = boxed_image(index)
    t0 = time.monotonic()
    uid = store.add_box(image_id, "Osteophytes", (1, 2, 30, 40))
    assert wait_for(lambda: path.exists() and uid in path.read_text(), 2.0)
    assert time.monotonic() - t0 < 2.0 and wait_for(lambda: not store.dirty, 0.5)
    # edits that never pause for the quiet period still reach the disk while they go on
    saved_during = False
    for k in range(1, 31):
        store.move_box(image_id, uid, (1, 2, 31 + k, 40))
        time.sleep(0.05)
        doc = json.loads(path.read_text(encoding="utf-8"))
        saved_during |= any(b["xyxy"][2] > 31 for b in doc["images"][image_id]["boxes"] if b["uid"] == uid)
    assert saved_during


def test_write_failure_keeps_edits_reports_and_relocates(index, open_store, tmp_path):
    store = open_store(autosave=True)
    errors = []
    store.save_listeners.append(errors.append)
    # a file where the annotations folder should be: no one (root included) can write the overlay
    (tmp_path / "ws" / "annotations").write_text("in the way")
    image_id = boxed_image(index)
    uid = store.add_box(image_id, "Osteophytes", (1, 2, 30, 40))
    with pytest.raises(InputError, match="cannot save annotation edits"):
        store.save()
    assert store.dirty and "cannot save" in store.last_save_error and errors and errors[0]
    assert store.annotations(image_id).box(uid) is not None  # kept in memory
    assert not store.flush()

    store.relocate(tmp_path / "elsewhere")
    assert not store.dirty and store.last_save_error is None and errors[-1] is None
    assert store.workspace.path == (tmp_path / "elsewhere").resolve()
    store.close()
    again = open_store("elsewhere")
    assert again.annotations(image_id).box(uid) is not None
    with pytest.raises(InputError, match="already holds annotation edits"):
        again.relocate(tmp_path / "elsewhere")


def test_autosave_retries_after_the_disk_comes_back(index, open_store, tmp_path):
    store = open_store(autosave=True)
    blocker = tmp_path / "ws" / "annotations"
    blocker.write_text("in the way")
    image_id = boxed_image(index)
    store.set_verified(image_id)
    assert wait_for(lambda: store.last_save_error is not None, 2.0) and store.dirty
    blocker.unlink()
    assert wait_for(lambda: not store.dirty, 4.0)  # retried every 2 s
    assert store.last_save_error is None and edits_path(tmp_path / "ws").exists()


def test_close_saves_and_then_refuses_edits(index, open_store, tmp_path):
    store = open_store(autosave=True)
    image_id = boxed_image(index)
    store.set_verified(image_id)
    store.close()
    assert not store.dirty and image_id in edits_path(tmp_path / "ws").read_text()
    with pytest.raises(InputError, match="closed"):
        store.set_verified(image_id, False)
    with pytest.raises(InputError, match="closed"):
        store.undo()
