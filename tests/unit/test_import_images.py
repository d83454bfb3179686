"""AnnotationStore.import_images: many images replaced in ONE undo step, counted, saved like any edit."""

import json
from dataclasses import replace

import pytest

from spinegui.core.annotations.exports import export_annotations, import_annotations
from spinegui.core.annotations.model import AnnBox, AnnotatedImage, ImageAnnotations
from spinegui.core.annotations.overlay import edits_path
from spinegui.core.errors import InputError
from waiting import wait_for


def as_file(store, image_id, ann):
    """An image as an importer returns it (uids renumbered d0, d1, …; no editor)."""
    rec = store.index.images[image_id]
    boxes = tuple(AnnBox(f"d{i}", b.lesion_type, b.xyxy, b.rad_id) for i, b in enumerate(ann.boxes))
    return AnnotatedImage(image_id, rec.study_id, rec.series_id, rec.split, replace(ann, boxes=boxes))


def content(ann):
    return sorted((b.lesion_type, b.rad_id) + b.xyxy for b in ann.boxes), ann.no_finding


def three_changes(store):
    """Imported versions of three images: one with a new box, one with its boxes gone, one marked
    No finding by another reader. Returns (imported images, their ids)."""
    ids = [r.image_id for r in store.index.images.values() if r.boxes][:2]
    ids.append(next(r.image_id for r in store.index.images.values() if r.image_id not in ids))
    a0, a1, a2 = (store.annotations(i) for i in ids)
    new = AnnBox("x", "Osteophytes", (10.5, 20.25, 110.0, 140.75), "rad_file", "someone", "2020-01-01T00:00:00Z")
    imported = [as_file(store, ids[0], replace(a0, boxes=a0.boxes + (new,))),
                as_file(store, ids[1], replace(a1, boxes=())),
                as_file(store, ids[2], replace(a2, boxes=(), no_finding=a2.no_finding | {"rad_other"}))]
    return imported, ids


def test_import_is_one_undo_step_across_images(open_store):
    store = open_store()
    originals = {r.image_id: store.annotations(r.image_id) for r in store.index.images.values()}
    imported, ids = three_changes(store)
    store.add_box(ids[0], "Disc space narrowing", (1, 2, 30, 40))  # an edit before the import
    edited0 = store.annotations(ids[0])

    counts = store.import_images(imported)
    assert counts == {"images_changed": 3, "boxes": sum(len(im.ann.boxes) for im in imported),
                      "unknown_images": 0, "unchanged": 0}
    for im in imported:
        assert content(store.annotations(im.image_id)) == content(im.ann)
    assert store.undo_text == "Undo import annotations" and store.redo_text is None

    after = {i: store.annotations(i) for i in ids}
    assert store.undo() == ids[0]  # the first changed image
    assert store.annotations(ids[0]) == edited0  # the edit before the import is back
    for i in ids[1:]:
        assert store.annotations(i) == originals[i] and not store.is_edited(i)
    assert store.undo_text == "Undo add box" and store.redo_text == "Redo import annotations"
    assert store.redo() == ids[0]
    assert {i: store.annotations(i) for i in ids} == after
    assert store.undo() == ids[0] and store.undo() == ids[0]
    assert {r.image_id: store.annotations(r.image_id) for r in store.index.images.values()} == originals
    assert not store.can_undo and store.edited_image_ids() == []


def test_new_boxes_get_fresh_uids_and_the_importer_as_editor_matched_ones_stay(open_store):
    store = open_store(reader="importer")
    imported, ids = three_changes(store)
    before = store.annotations(ids[0])
    store.import_images(imported[:1], text="import COCO JSON")
    after = store.annotations(ids[0])
    assert after.boxes[:len(before.boxes)] == before.boxes  # same boxes: same uid, no editor
    new = after.boxes[-1]
    assert new.uid not in {b.uid for b in before.boxes} and len({b.uid for b in after.boxes}) == len(after.boxes)
    assert new.rad_id == "rad_file"  # the reader comes from the file
    assert new.edited_by == "importer" and new.edited_at.endswith("Z")
    assert store.undo_text == "Undo import COCO JSON"


def test_listeners_hear_each_changed_image_once(open_store):
    store = open_store()
    imported, ids = three_changes(store)
    heard = []
    store.listeners.append(heard.append)
    store.import_images(imported)
    assert sorted(heard) == sorted(ids)
    heard.clear()
    store.undo()
    assert sorted(heard) == sorted(ids)
    heard.clear()
    store.redo()
    assert sorted(heard) == sorted(ids)


def test_unknown_and_unchanged_images_are_counted_and_skipped(open_store):
    store = open_store()
    imported, ids = three_changes(store)
    stranger = AnnotatedImage("not_in_the_index", "s", "e", "train",
                              ImageAnnotations((AnnBox("d0", "Osteophytes", (1, 2, 3, 4), "r"),)))
    same = as_file(store, ids[1], store.annotations(ids[1]))
    counts = store.import_images([imported[0], stranger, same, stranger])
    assert counts["images_changed"] == 1 and counts["unknown_images"] == 1 and counts["unchanged"] == 1
    assert store.edited_image_ids() == [ids[0]]
    with pytest.raises(InputError, match="unknown image"):
        store.annotations("not_in_the_index")


def test_importing_the_current_annotations_back_changes_nothing(open_store, tmp_path):
    store = open_store()
    imported, ids = three_changes(store)
    store.import_images(imported)
    export_annotations(store.snapshot(), "vindr", tmp_path / "out", provenance=True)
    counts = store.import_images(import_annotations("vindr", tmp_path / "out"))
    assert counts["images_changed"] == 0 and counts["unchanged"] == len(store.index.images)
    assert store.undo_text == "Undo import annotations" and store.undo() == ids[0]
    assert not store.can_undo  # the no-op import made no step


def test_import_needs_a_reader_and_an_open_store(open_store):
    store = open_store(reader=None)
    imported, _ = three_changes(store)
    with pytest.raises(InputError, match="reader"):
        store.import_images(imported)
    assert store.edited_image_ids() == [] and not store.can_undo
    store.reader = "rad9"
    store.close()
    with pytest.raises(InputError, match="closed"):
        store.import_images(imported)


def test_an_unusable_box_refuses_the_whole_import(index, open_store):
    image_id = next(iter(index.images))
    store = open_store(sizes={image_id: (100, 100)})
    imported, ids = three_changes(store)
    outside = as_file(store, image_id, ImageAnnotations((AnnBox("d0", "Osteophytes", (500, 500, 600, 600), "r"),)))
    with pytest.raises(InputError, match=f"image {image_id}.*outside"):
        store.import_images(imported + [outside])
    assert store.edited_image_ids() == [] and not store.can_undo


def test_autosave_writes_the_import_and_its_undo(open_store, tmp_path):
    store = open_store(autosave=True)
    path = edits_path(tmp_path / "ws")
    imported, ids = three_changes(store)
    store.import_images(imported)

    def saved():
        return json.loads(path.read_text(encoding="utf-8"))["images"] if path.exists() else {}

    assert wait_for(lambda: set(saved()) == set(ids), 5.0)
    assert any(b["rad_id"] == "rad_file" for b in saved()[ids[0]]["boxes"])
    assert "rad_other" in saved()[ids[2]]["no_finding"]
    store.undo()
    assert wait_for(lambda: saved() == {}, 5.0)
