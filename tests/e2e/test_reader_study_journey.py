"""A blinded reader study in the app: made with new_study, read through the Reader study menu by one
reader who stops after ten images (closing the window), comes back and finishes, then the scores."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QComboBox, QFileDialog, QInputDialog, QLabel

from spinegui.core.reader_study import new_study, score_study, session
from spinegui.ui.reader.new_study import NewStudyDialog
from spinegui.ui.reader.reading import ReadingWindow
from spinegui.ui.reader.scores import ScoresWindow

N_EACH = 8
FIRST_SITTING = 10


def make_samples(demo_root: Path, out: Path, n: int) -> Path:
    """What `spinegui sample --format png` writes, through the sampler's own writer (no GAN trained):
    demo images shrunk to 64 x 64, each with its source's class."""
    from PIL import Image

    from spinegui.core import outdir
    from spinegui.core.dataset.vindr import load_index
    from spinegui.core.dicom.reader import read_image
    from spinegui.gan import sampler

    outdir.prepare(out, sampler.OUTPUT_KIND)
    recs = sorted(load_index(demo_root).images.values(), key=lambda r: r.image_id)[-n:]
    for k, rec in enumerate(recs):
        px = read_image(rec.path).pixels.astype(np.float32)
        small = np.asarray(Image.fromarray(px).resize((64, 64), Image.Resampling.BOX))
        u12 = np.clip((small - small.min()) / max(np.ptp(small), 1e-6) * 4095, 0, 4095).astype(np.uint16)
        cls = sorted(rec.labels)[0]
        prov = {"synthetic": True, "generator": "spinegui GAN", "run": "run1", "model": "m", "class": cls,
                "epoch": 3, "seed": 1, "index": k, "arch": "dcgan", "spinegui_version": "test"}
        sampler._write(out, "png", f"syn-gan-m-e00003-{k:05d}", u12, prov, [], cls)
    outdir.seal(out, sampler.OUTPUT_KIND)
    return out


def texts(w) -> list[str]:
    out = [w.windowTitle()]
    for child in w.findChildren(QLabel) + w.findChildren(QAbstractButton):
        out += [child.text(), child.toolTip()]
    for combo in w.findChildren(QComboBox):
        out += [combo.itemText(i) for i in range(combo.count())]
    return [t for t in out if t]


def check_blind(w, key: dict[str, dict]) -> None:
    """No text in the reading window names the item's origin, SYNTHETIC, the item or its source file.
    (The answer buttons' own words, Real and Synthetic, are the question, the same for every item.)"""
    everything = "\n".join(texts(w))
    assert "SYNTHETIC" not in everything
    buttons = {b.text() for b in w.answers.answer_buttons.values()}
    rest = "\n".join(t for t in texts(w) if t not in buttons)
    row = key[w.current]
    assert not re.search(rf"\b{row['origin']}\b", rest, re.IGNORECASE), rest
    assert Path(row["source"]).name not in everything and Path(row["source"]).stem not in everything
    assert w.current not in everything


def answer_for(k: int) -> tuple[str, int, object]:
    return ("synthetic" if k % 3 == 0 else "real", 1 + k % 5,
            (Qt.Key.Key_S if k % 3 == 0 else Qt.Key.Key_R))


def read(qtbot, w: ReadingWindow, order: list[str], start: int, stop: int, key: dict[str, dict]) -> None:
    for k in range(start, stop):
        assert w.current == order[k], k
        assert w.progress_label.text() == f"{k + 1} / {len(order)}"
        check_blind(w, key)
        assert np.array_equal(w.image.pixels, w.study.load_item(order[k]))
        _, confidence, origin_key = answer_for(k)
        assert not w.next_button.isEnabled()
        qtbot.keyClick(w.focusWidget() or w, origin_key)
        qtbot.keyClick(w.focusWidget() or w, Qt.Key.Key_0 + confidence)
        assert w.next_button.isEnabled()
        qtbot.keyClick(w.focusWidget() or w, Qt.Key.Key_Return)


def open_from_menu(qtbot, window, monkeypatch, folder) -> ReadingWindow:
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("rad1", True))
    window.actions["reader_open"].trigger()
    w = next(c for c in window.findChildren(ReadingWindow) if c.isVisible())
    qtbot.waitExposed(w)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    return w


def test_read_pause_resume_finish_and_score(qtbot, window, demo_root, tmp_path, monkeypatch):
    samples = make_samples(demo_root, tmp_path / "samples", N_EACH)
    study = new_study(demo_root, samples, tmp_path / "study", n_real=N_EACH, n_synthetic=N_EACH, seed=2, size=128)
    with open(study.folder / "key.csv", newline="") as fh:
        key = {r["item"]: r for r in csv.DictReader(fh)}
    order = session(study.folder, "rad1").order
    assert len(order) == 2 * N_EACH

    window.actions["reader_new"].trigger()   # the form starts from the open dataset
    form = next(c for c in window.findChildren(NewStudyDialog) if c.isVisible())
    assert form.real.text() == str(window.index.root) and form.arguments()["classes"] is None
    form.reject()

    w = open_from_menu(qtbot, window, monkeypatch, study.folder)
    assert w.windowTitle().startswith("Blinded reader study") and "BLINDED READER STUDY" in w.banner.text()
    read(qtbot, w, order, 0, FIRST_SITTING, key)
    w.close()   # quit half-way
    qtbot.waitUntil(lambda: not window.findChildren(ReadingWindow))
    saved = session(study.folder, "rad1").answered
    assert list(saved) == order[:FIRST_SITTING]
    assert [saved[i].answer for i in order[:FIRST_SITTING]] == [answer_for(k)[0] for k in range(FIRST_SITTING)]

    w = open_from_menu(qtbot, window, monkeypatch, study.folder)   # resumes where it stopped
    read(qtbot, w, order, FIRST_SITTING, len(order), key)
    assert w.current is None and "All 16 images are read" in w.message.text()
    assert w.progress_label.text() == "16 / 16" and not w.next_button.isEnabled()
    w.close()
    answered = session(study.folder, "rad1").answered
    assert [answered[i].confidence for i in order] == [answer_for(k)[1] for k in range(len(order))]
    assert all(a.seconds >= 0 for a in answered.values())

    other = session(study.folder, "rad2")   # a second reader (by the API) so that agreement is defined
    for k, item in enumerate(other.order):
        other.record(item, "real" if k % 2 else "synthetic", 3, 1.0)

    window.actions["reader_scores"].trigger()   # the folder dialog still answers the study's folder
    sw = next(c for c in window.findChildren(ScoresWindow))
    qtbot.waitUntil(lambda: sw.scores is not None, timeout=30000)
    check_scores(sw, score_study(study.folder))
    sw.close()


def check_scores(sw: ScoresWindow, expected: dict) -> None:
    assert "UNBLINDED" in sw.windowTitle()
    cols = {sw.readers.horizontalHeaderItem(c).text(): c for c in range(sw.readers.columnCount())}
    rows = {sw.readers.item(r, 0).text(): r for r in range(sw.readers.rowCount())}
    assert set(rows) == set(expected["readers"]) == {"rad1", "rad2"}
    for name, s in expected["readers"].items():
        def cell(col, name=name):
            return sw.readers.item(rows[name], cols[col]).text()
        assert int(cell("n")) == s["n"] == 2 * N_EACH and int(cell("Correct")) == s["correct"]
        for col, field in (("Accuracy", "accuracy"), ("Sensitivity", "sensitivity"),
                           ("Specificity", "specificity"), ("AUROC", "auroc")):
            assert float(cell(col)) == pytest.approx(s[field], abs=5e-4), (name, col)
        assert float(cell("p-value")) == pytest.approx(s["p_value"], rel=5e-3, abs=5e-5)
    kappa = expected["kappa"]
    assert kappa["method"] == "cohen" and f"= {kappa['value']:.3f}" in sw.kappa.text()
    classes = {sw.classes.item(r, 0).text(): r for r in range(sw.classes.rowCount())}
    assert set(classes) == set(expected["per_class"])
    for cls, c in expected["per_class"].items():
        assert int(sw.classes.item(classes[cls], 2).text()) == c["n"]
        if c["accuracy"] is not None:
            assert float(sw.classes.item(classes[cls], 3).text()) == pytest.approx(c["accuracy"], abs=5e-4)
    shown = [sw.mistaken.item(i) for i in range(sw.mistaken.count())]
    assert len(shown) == len(expected["most_mistaken"]) > 0
    for entry, row in zip(shown, expected["most_mistaken"]):
        assert entry.text().splitlines() == [row["item"], f"{row['origin']} · {row['class']}",
                                             f"misjudged {row['wrong']} of {row['n']}"]
        assert not entry.icon().isNull()
