"""Journey: edit, export in all four formats from the File menu, import back: identical annotations."""

import pytest
from PySide6.QtWidgets import QFileDialog

from spinegui.core.annotations.exports import FORMATS, import_annotations


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_from_the_menu_round_trips(qtbot, window, tmp_path, monkeypatch, fmt):
    store = window.store
    edited = window.current
    store.add_box(edited, "Surgical implant", (30.5, 40.25, 130.75, 240.5))
    store.set_verified(edited, True)
    out = tmp_path / f"export_{fmt}"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    window.actions[f"export_{fmt}"].trigger()
    back = {img.image_id: img for img in import_annotations(fmt, out)}
    current = {img.image_id: img for img in store.snapshot()}
    assert set(back) == set(current)
    for image_id, img in current.items():
        got = back[image_id]
        assert (got.study_id, got.series_id, got.split) == (img.study_id, img.series_id, img.split)
        want = sorted((b.lesion_type, b.rad_id) + b.xyxy for b in img.ann.boxes)
        have = sorted((b.lesion_type, b.rad_id) + b.xyxy for b in got.ann.boxes)
        assert len(want) == len(have)
        for w, h in zip(want, have):
            assert w[:2] == h[:2] and h[2:] == pytest.approx(w[2:], abs=1e-3)
        assert got.ann.no_finding == img.ann.no_finding
    assert any(b.lesion_type == "Surgical implant" for b in back[edited].ann.boxes)


def test_export_into_the_dataset_is_refused(qtbot, window, demo_root, monkeypatch):
    messages = []
    window.statusBar().messageChanged.connect(messages.append)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(demo_root / "exported"))
    window.actions["export_coco"].trigger()
    assert not (demo_root / "exported").exists()
    assert any("inside the dataset folder" in m for m in messages)
