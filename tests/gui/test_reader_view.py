"""The blinded reading window and the New-study form, driven through keys and clicks, offscreen."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
import shiboken6
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QMainWindow

from mouse import RIGHT, drag
from spinegui.core.reader_study import new_study, open_study, session
from spinegui.ui.reader.menu import open_reading
from spinegui.ui.reader.new_study import NewStudyDialog
from spinegui.ui.reader.reading import ReadingWindow


def make_samples(demo_root: Path, out: Path, n: int) -> Path:
    """What `spinegui sample --format png` writes, through the sampler's own writer (no GAN trained):
    the demo's images shrunk to 64 x 64, each with the class of its source."""
    from PIL import Image

    from spinegui.core import outdir
    from spinegui.core.dataset.vindr import load_index
    from spinegui.core.dicom.reader import read_image
    from spinegui.gan import sampler

    outdir.prepare(out, sampler.OUTPUT_KIND)
    index = load_index(demo_root)
    recs = sorted(index.images.values(), key=lambda r: r.image_id)[:n]
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


@pytest.fixture(scope="module")
def samples(demo_root, tmp_path_factory):
    return make_samples(demo_root, tmp_path_factory.mktemp("rs") / "samples", 6)


@pytest.fixture
def study(demo_root, samples, tmp_path):
    return new_study(demo_root, samples, tmp_path / "study", n_real=3, n_synthetic=3, seed=1, size=128)


class FakeMain(QMainWindow):
    """What the menu functions need of the main window: settings and a one-line error."""

    def __init__(self, tmp_path):
        super().__init__()
        self.settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
        self.errors: list[str] = []
        self.index = None

    def show_error(self, text: str) -> None:
        self.errors.append(text)

    def show_message(self, text: str) -> None:
        pass


@pytest.fixture
def main(qtbot, tmp_path):
    w = FakeMain(tmp_path)
    qtbot.addWidget(w)
    return w


@pytest.fixture
def reading(qtbot, main, study):
    w = open_reading(main, study.folder, "rad1")
    qtbot.waitExposed(w)
    w.activateWindow()
    qtbot.waitUntil(lambda: w.isActiveWindow())
    yield w
    if shiboken6.isValid(w):   # (closed windows are deleted)
        w.close()


def key(qtbot, w, k) -> None:
    qtbot.keyClick(w.focusWidget() or w, k)


def answers(study) -> list[dict]:
    path = study.folder / "answers" / "rad1.csv"
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_next_needs_answer_and_confidence_and_keys_give_them(qtbot, reading, study):
    first = reading.current
    assert first == session(study.folder, "rad1").order[0]
    assert not reading.next_button.isEnabled()
    key(qtbot, reading, Qt.Key.Key_S)
    assert reading.answers.answer == "synthetic" and not reading.next_button.isEnabled()
    key(qtbot, reading, Qt.Key.Key_Return)   # not answered yet: nothing saved
    assert reading.current == first and not (study.folder / "answers" / "rad1.csv").exists()
    key(qtbot, reading, Qt.Key.Key_4)
    assert reading.answers.confidence == 4 and reading.next_button.isEnabled()
    key(qtbot, reading, Qt.Key.Key_R)        # changing one's mind
    assert reading.answers.answer == "real"
    reading.answers.lesion.setCurrentIndex(reading.answers.lesion.count() - 1)   # "none"
    reading.answers.quality.setCurrentIndex(2)
    key(qtbot, reading, Qt.Key.Key_Return)
    rows = answers(study)
    assert [(r["item"], r["answer"], r["confidence"], r["lesion_class"], r["quality"]) for r in rows] == [
        (first, "real", "4", "No finding", "2")]
    assert float(rows[0]["seconds"]) >= 0
    assert reading.current == session(study.folder, "rad1").order[1]
    assert reading.progress_label.text() == f"2 / {len(study.items)}"
    assert reading.answers.answer is None and reading.answers.confidence is None   # a clean slate
    assert not reading.next_button.isEnabled()
    reading.answers.confidence_buttons[1].click()
    reading.answers.answer_buttons["synthetic"].click()
    reading.next_button.click()
    assert [r["answer"] for r in answers(study)] == ["real", "synthetic"]


def test_full_screen_toggles_with_f11_and_the_button_and_escape_leaves(qtbot, reading):
    assert not reading.isFullScreen()
    key(qtbot, reading, Qt.Key.Key_F11)
    qtbot.waitUntil(reading.isFullScreen)
    key(qtbot, reading, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not reading.isFullScreen())
    reading.full_screen_button.click()
    qtbot.waitUntil(reading.isFullScreen)
    reading.full_screen_button.click()
    qtbot.waitUntil(lambda: not reading.isFullScreen())


def test_the_image_is_the_item_and_window_level_drags(qtbot, reading, study):
    item = study.load_item(reading.current)
    assert np.array_equal(reading.image.pixels, item)
    assert np.array_equal(reading.image.shown_pixels(), item)   # full window: shown as rendered
    before = reading.image.window
    drag(qtbot, reading.image, (20, 20), (80, 90), button=RIGHT)
    after = reading.image.window
    assert after.width > before.width and after.center > before.center
    assert not np.array_equal(reading.image.shown_pixels(), item)
    key(qtbot, reading, Qt.Key.Key_0)
    assert reading.image.window == before


def visible_texts(w) -> list[str]:
    out = [w.windowTitle()]
    for child in w.findChildren(QLabel) + w.findChildren(QAbstractButton):
        out += [child.text(), child.toolTip()]
    for combo in w.findChildren(QComboBox):
        out += [combo.itemText(i) for i in range(combo.count())]
    return [t for t in out if t]


def blind_texts(w) -> list[str]:
    """All the text, less the two answer buttons (whose words are the question, the same for all)."""
    answer_texts = {b.text() for b in w.answers.answer_buttons.values()}
    return [t for t in visible_texts(w) if t not in answer_texts]


def test_nothing_on_screen_tells_the_origin(qtbot, reading, study):
    key_rows = {r["item"]: r for r in csv.DictReader(open(study.folder / "key.csv", newline=""))}
    seen = {}
    while reading.current is not None:
        row = key_rows[reading.current]
        texts = blind_texts(reading)
        joined = "\n".join(texts)
        assert "SYNTHETIC" not in "\n".join(visible_texts(reading))
        assert not re.search(r"\b(real|synthetic)\b", joined, re.IGNORECASE), joined
        assert Path(row["source"]).name not in joined and Path(row["source"]).stem not in joined
        assert reading.current not in joined   # not even the neutral id
        seen.setdefault(row["origin"], set()).add(joined.replace(reading.progress_label.text(), ""))
        reading.answers.set_answer("real")
        reading.answers.set_confidence(3)
        reading.save_and_next()
    assert len(seen["real"]) == 1 and seen["real"] == seen["synthetic"]   # the same words for both
    assert "All 6 images are read" in reading.message.text() and not reading.next_button.isEnabled()


def test_pause_and_resume_in_the_readers_order(qtbot, main, reading, study):
    order = session(study.folder, "rad1").order
    for _ in range(2):
        reading.answers.set_answer("synthetic")
        reading.answers.set_confidence(2)
        reading.save_and_next()
    reading.pause_button.click()
    qtbot.waitUntil(lambda: not reading.isVisible())
    again = open_reading(main, study.folder, "rad1")
    assert again is not reading and again.current == order[2]
    assert again.progress_label.text() == f"3 / {len(order)}"
    other = open_reading(main, study.folder, "rad2")   # another reader: own order, from the start
    assert other.current == session(study.folder, "rad2").order[0]
    again.close()
    other.close()


def test_a_bad_reader_name_is_one_line_and_no_window(qtbot, main, study):
    assert open_reading(main, study.folder, "../x") is None
    assert len(main.errors) == 1 and "reader name" in main.errors[0] and "\n" not in main.errors[0]
    assert open_reading(main, study.folder / "nope", "rad1") is None
    assert "not a reader study" in main.errors[1]
    assert not main.findChildren(ReadingWindow)


def test_new_study_form_runs_new_study_in_the_background(qtbot, demo_root, samples, tmp_path):
    d = NewStudyDialog(str(demo_root), "")
    qtbot.addWidget(d)
    d.start()
    assert d.error.text() == "choose the synthetic images' folder" and not d.running
    d.synthetic.setText(str(samples))
    d.out.setText(str(tmp_path / "made"))
    d.n_real.setValue(2)
    d.n_synthetic.setValue(3)
    d.seed.setValue(5)
    d.size.setValue(64)
    with qtbot.waitSignal(d.created, timeout=60000) as got:
        d.start()
        assert d.running and not d.create_button.isEnabled()
    made = open_study(tmp_path / "made")
    assert got.args[0].items == made.items and len(made.items) == 5 and made.seed == 5 and made.size == 64
    assert "5 images written" in d.error.text()
    d.start()   # again into the same folder: refused, one line
    qtbot.waitUntil(lambda: not d.running, timeout=60000)
    assert "made" in d.error.text() and "\n" not in d.error.text()
