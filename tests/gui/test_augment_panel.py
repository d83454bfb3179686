"""The Augmentation panel: widgets generated from the knobs, presets, config files, the command line,
seed and re-roll, the grid of draws, the full-resolution result in the background, and the worker
process that computes them all (the app never imports torch)."""

from __future__ import annotations

import html
import os
import shlex
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QCheckBox, QComboBox
from superqt import QCollapsible, QLabeledDoubleRangeSlider, QLabeledDoubleSlider

from spinegui.augment.command import parse_set
from spinegui.augment.knobs import BY_NAME, GROUPS, KNOBS, defaults, validate
from spinegui.augment.presets import BUILTIN_PRESETS, load_preset
from spinegui.core.annotations.model import original_annotations
from spinegui.core.dataset.vindr import load_index
from spinegui.core.dicom.reader import read_image
from spinegui.ui.augment.engine import Reply
from spinegui.ui.augment.panel import PREPARING, AugmentPanel
from spinegui.ui.common.param_form import ParamRow
from spinegui.ui.viewer.view import ViewerImage

EDITORS = {"float": QLabeledDoubleSlider, "range": QLabeledDoubleRangeSlider, "choice": QComboBox}
ENGINE_TIMEOUT = 60000  # ms: the worker process imports torch (~5 s on a loaded 2-core machine)
RUN_TIMEOUT = 15000     # ms: a few worker runs


@pytest.fixture(scope="module")
def demo_image(demo_root):
    index = load_index(demo_root)
    rec = max(index.images.values(), key=lambda r: len({b.lesion_type for b in r.boxes}))
    img = read_image(rec.path)
    image = ViewerImage(rec.image_id, img.pixels, img.window, img.invert, 1.0, synthetic=img.synthetic)
    return image, original_annotations(rec).boxes, demo_root


@pytest.fixture
def panel(qtbot):
    p = AugmentPanel()
    qtbot.addWidget(p)
    return p


@pytest.fixture
def shown(qtbot, panel, demo_image):
    """The panel on screen with a demo image, its engine loaded and its first draws done."""
    panel.resize(1400, 850)
    panel.set_source(*demo_image)
    panel.show()
    # while the worker starts: the original in the augmented view, with a note
    qtbot.waitUntil(lambda: PREPARING in panel.augmented_caption.text(), timeout=RUN_TIMEOUT)
    assert not panel.engine_ready
    assert panel.augmented.image is not None and not panel.augmented.image.synthetic
    qtbot.waitUntil(lambda: panel.engine_ready, timeout=ENGINE_TIMEOUT)
    qtbot.waitUntil(lambda: grid_seeds(panel) == expected_seeds(panel) and not panel.grid_busy, timeout=RUN_TIMEOUT)
    assert PREPARING not in panel.augmented_caption.text() and panel.augmented.image.synthetic
    return panel


def grid_seeds(panel):
    return [c.seed for c in panel.grid.cells]


def expected_seeds(panel):
    return [panel.seed + i for i in range(len(panel.grid.cells))]


def click_cell(qtbot, panel, i):
    at = panel.grid.mapFromScene(panel.grid.cells[i].sceneBoundingRect().center())
    qtbot.mouseClick(panel.grid.viewport(), Qt.MouseButton.LeftButton, pos=at)


def other_value(knob):
    """A value of the knob other than its default, as a user could set it."""
    if knob.kind == "float":
        return knob.high if knob.default != knob.high else knob.low
    if knob.kind == "range":
        return (float(knob.low), float(knob.high))
    if knob.kind == "choice":
        return next(c for c in knob.choices if c != knob.default)
    return (knob.choices[0],)


def set_through_widget(row: ParamRow, value):
    knob, w = row.param, row.editor
    if knob.kind in ("float", "range"):
        w.setValue(value)
    elif knob.kind == "choice":
        w.setCurrentIndex(w.findData(value))
    else:
        for c, check in row.checks.items():
            check.setChecked(c in value)


# --- widgets from the knob declarations ------------------------------------------------------------
def test_every_knob_has_its_widget_tooltip_and_section(panel):
    rows = panel.form.rows
    assert list(rows) == [k.name for k in KNOBS]
    assert [g for g in GROUPS if g in panel.form.sections] == list(panel.form.sections)
    for knob in KNOBS:
        row = rows[knob.name]
        if knob.kind == "subset":
            assert [c.text() for c in row.editor.findChildren(QCheckBox)] == [f"{c}{knob.unit}" for c in knob.choices]
        else:
            assert isinstance(row.editor, EDITORS[knob.kind])
        if knob.kind in ("float", "range"):
            assert (row.editor.minimum(), row.editor.maximum()) == (knob.low, knob.high)
        assert html.escape(knob.help) in row.toolTip()
        assert knob.label in row.label.text()
        section = panel.form.sections[knob.group]
        assert isinstance(section, QCollapsible) and section.isAncestorOf(row)
    assert panel.config() == defaults()


@pytest.mark.parametrize("knob", KNOBS, ids=lambda k: k.name)
def test_a_widget_changes_the_config_and_its_reset_restores_the_default(panel, knob):
    row = panel.form.rows[knob.name]
    changed = []
    panel.form.changed.connect(changed.append)
    assert not row.reset_button.isEnabled()
    value = other_value(knob)
    set_through_widget(row, value)
    assert changed and changed[-1] == knob.name
    assert panel.config()[knob.name] == validate({knob.name: value})[knob.name]
    assert validate(panel.config()) == panel.config()
    assert row.label.font().bold() and row.reset_button.isEnabled()
    row.reset_button.click()
    assert panel.config() == defaults()
    assert not row.reset_button.isEnabled()


def test_slider_values_are_rounded_to_the_step(panel):
    row = panel.form.rows["noise"]  # step 0.005
    row.editor.setValue(0.0123456)
    assert panel.config()["noise"] == pytest.approx(0.012)
    assert f"{panel.config()['noise']:g}" == "0.012"


def test_reset_all(panel):
    for knob in KNOBS:
        set_through_widget(panel.form.rows[knob.name], other_value(knob))
    assert panel.config() != defaults()
    panel.buttons["Reset all"].click()
    assert panel.config() == defaults()


# --- presets and config files -----------------------------------------------------------------------
def test_choosing_a_preset_sets_the_widgets(panel):
    box = panel.preset_box
    i = box.findData("basic")
    assert i > 0 and "±45°" in box.itemData(i, 3)  # ToolTipRole: the preset's help
    box.setCurrentIndex(i)
    box.activated.emit(i)
    assert panel.config() == load_preset("basic")
    rows = panel.form.rows
    assert rows["rotation"].editor.value() == (-45.0, 45.0)
    assert rows["mode"].editor.currentData() == "one-of"
    assert rows["rotation_fixed"].checks[270].isChecked() and not rows["rotation_fixed"].checks[90].isChecked()
    set_through_widget(rows["hflip"], 0.5)  # a change of one knob: no longer the preset
    assert box.currentData() is None and box.currentText() == "Custom"


def test_save_as_preset_lists_it(panel):
    set_through_widget(panel.form.rows["shear"], (-10.0, 10.0))
    assert panel.save_preset_as("my-shear")
    assert panel.preset_box.currentData() == "my-shear"
    panel.reset_all()
    assert panel.load_preset("my-shear") and panel.config()["shear"] == (-10.0, 10.0)
    assert not panel.save_preset_as("basic")  # a built-in name: refused in one line
    assert "built-in" in panel.status.text()


def test_config_file_round_trip(panel, tmp_path):
    for name in ("rotation", "rotation_fixed", "elastic_alpha", "mode", "crop"):
        set_through_widget(panel.form.rows[name], other_value(BY_NAME[name]))
    config = panel.config()
    path = tmp_path / "settings.toml"
    assert panel.save_config_file(path) and path.is_file()
    panel.reset_all()
    assert panel.config() == defaults()
    assert panel.load_config_file(path)
    assert panel.config() == config
    assert panel.form.rows["rotation_fixed"].checks[90].isChecked()


@pytest.mark.parametrize("text, words", [
    ("[augment]\nrotation = [10, 500]\n", ["rotation", "500", "-180..180"]),
    ("[augment]\nrotaton = [1, 2]\n", ["rotaton", "did you mean 'rotation'"]),
    ("[augment\nrotation = \n", ["not valid TOML"]),
])
def test_a_bad_config_file_gives_one_line_and_keeps_the_settings(panel, tmp_path, text, words):
    set_through_widget(panel.form.rows["shear"], (-5.0, 5.0))
    before = panel.config()
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert panel.load_config_file(path) is False
    line = panel.status.text()
    assert "\n" not in line and "Traceback" not in line and str(path) in line
    assert all(w in line for w in words), line
    assert panel.config() == before
    assert panel.load_config_file(tmp_path / "missing.toml") is False
    assert "file not found" in panel.status.text()


# --- command line -----------------------------------------------------------------------------------
def parsed(command: str) -> tuple[dict, dict]:
    """(settings from --set / --preset, the other options) of a `spinegui augment` line."""
    args = shlex.split(command)
    assert args[:2] == ["spinegui", "augment"]
    settings, options, i = {}, {}, 3
    while i < len(args):
        flag, value = args[i], args[i + 1]
        if flag == "--set":
            key, v = parse_set(value)
            settings[key] = v
        elif flag == "--preset":
            settings.update(BUILTIN_PRESETS[value])
        else:
            options[flag] = value
        i += 2
    return validate(settings), options


def test_copy_as_command_parses_back_to_the_same_config(qtbot, panel, demo_image):
    image, boxes, root = demo_image
    panel.set_source(image, boxes, root)  # hidden: nothing is computed, the command still knows them
    for name in ("rotation", "hflip", "noise", "rotation_fixed", "mode", "crop_ratio"):
        set_through_widget(panel.form.rows[name], other_value(BY_NAME[name]))
    set_through_widget(panel.form.rows["translate"], 0.13)
    panel.set_seed(4242)
    panel.buttons["Copy as command"].click()
    text = QApplication.clipboard().text()
    assert text.startswith("spinegui augment ") and text in panel.status.toolTip()
    config, options = parsed(text)
    assert config == panel.config()
    assert shlex.split(text)[2] == str(root)
    assert options["--seed"] == "4242" and options["--per-class"] == "20" and options["--out"] == "augmented"
    classes = options["--classes"].split(",")
    assert set(classes) == {b.lesion_type for b in boxes}

    assert panel.load_preset("basic")
    config, _ = parsed(panel.copy_command())
    assert "--preset basic" in panel.command_text() and config == panel.config()


# --- seed, re-roll, grid, full resolution ----------------------------------------------------------------
def test_reroll_changes_the_seed_and_the_grid(qtbot, shown):
    panel = shown
    set_through_widget(panel.form.rows["rotation"], (-40.0, 40.0))
    qtbot.waitUntil(lambda: not panel.grid_busy, timeout=RUN_TIMEOUT)
    seed = panel.seed
    before = [c.pixels.copy() for c in panel.grid.cells]
    assert [c.label.toPlainText() for c in panel.grid.cells][:2] == [f"seed {seed}", f"seed {seed + 1}"]
    assert any(not np.array_equal(before[0], b) for b in before[1:])  # different draws per cell
    panel.reroll_button.click()
    assert panel.seed != seed
    qtbot.waitUntil(lambda: grid_seeds(panel) == expected_seeds(panel) and not panel.grid_busy, timeout=RUN_TIMEOUT)
    after = [c.pixels for c in panel.grid.cells]
    assert sum(not np.array_equal(a, b) for a, b in zip(before, after)) >= 8
    # a knob keeps the seed
    set_through_widget(panel.form.rows["hflip"], 1.0)
    assert panel.seed == grid_seeds(panel)[0]


def test_seed_lock(qtbot, shown):
    panel = shown
    seed = panel.seed
    panel.lock_box.setChecked(True)
    assert not panel.reroll_button.isEnabled() and panel.seed_box.isReadOnly()
    panel.reroll()
    click_cell(qtbot, panel, 5)
    assert panel.seed == seed
    set_through_widget(panel.form.rows["shear"], (-20.0, 20.0))
    assert panel.seed == seed
    panel.lock_box.setChecked(False)
    assert panel.reroll_button.isEnabled() and not panel.seed_box.isReadOnly()
    click_cell(qtbot, panel, 5)  # the sixth draw becomes the big view
    assert panel.seed == seed + 5
    qtbot.waitUntil(lambda: grid_seeds(panel)[0] == seed + 5, timeout=RUN_TIMEOUT)


def test_preview_then_full_resolution_and_stale_results_are_dropped(qtbot, shown):
    panel = shown
    image = panel._source.image
    with qtbot.waitSignal(panel.full_shown, timeout=RUN_TIMEOUT) as full:
        with qtbot.waitSignal(panel.preview_shown, timeout=RUN_TIMEOUT) as preview:
            set_through_widget(panel.form.rows["rotation"], (25.0, 25.0))
        assert preview.args == [panel.generation] and max(panel.preview_result.image.shape) == 512
        assert panel.shown_result is panel.preview_result
    assert full.args == [panel.generation]
    assert panel.shown_result is panel.full_result and panel.full_result.image.shape == image.pixels.shape
    assert panel.full_result.params.get("angle") == pytest.approx(25.0)
    assert panel.preview_result.params == panel.full_result.params
    assert panel.augmented.image.synthetic and "AUGMENTED" in panel.augmented.badge.text()
    # the very Augmenter call `spinegui augment` makes, for this seed (no DICOM file given: the range
    # of the bits the image uses, here its 12 stored bits)
    from spinegui.augment.pipeline import Augmenter

    bits = int(image.pixels.max()).bit_length()
    assert panel.value_range == (0.0, float(2**bits - 1)) and bits == 12
    boxes = np.array([b.xyxy for b in panel._source.boxes])
    expected = Augmenter(panel.config())(image.pixels, boxes, seed=panel.seed, value_range=(0, 2**bits - 1))
    np.testing.assert_array_equal(panel.full_result.image, expected.image)
    np.testing.assert_array_equal(panel.full_result.boxes, expected.boxes)
    # late results of an older generation never replace the current one
    shown_before = panel.shown_result
    for kind in ("full", "preview"):
        stale = Reply(replace(full_request(panel), kind=kind, generation=panel.generation - 1),
                      [panel.preview_result], scale=512 / max(image.pixels.shape))
        panel._on_reply(stale)
        assert panel.shown_result is shown_before


def full_request(panel):
    return panel._request("full", (), panel.seed, panel.config())


def test_views_are_linked(qtbot, shown):
    panel = shown
    panel.original.zoom_to(100, 200, 300, 400)
    qtbot.wait(10)
    a, b = panel.original.view_box.viewRange(), panel.augmented.view_box.viewRange()
    np.testing.assert_allclose(a, b, atol=1.0)
    window = replace(panel.original.window, center=panel.original.window.center + 100)
    panel.original.set_window(window)  # a right-drag on one view windows both
    assert panel.augmented.window == window


def test_intensities_match_the_export_when_the_dicom_file_is_known(qtbot, panel, demo_image, demo_root):
    """With the image's DICOM file, the worker works in (0, 2**BitsStored - 1) as `spinegui augment`
    does, so brightness, contrast and noise look as they will in the exported files."""
    image, boxes, root = demo_image
    rec = load_index(demo_root).images[image.image_id]
    img = read_image(rec.path)
    bits = min(16, max(img.bits_stored or 16, int(img.pixels.max()).bit_length(), 1))  # the export's rule
    panel.resize(1400, 850)
    panel.set_source(image, boxes, root, dicom_path=rec.path)
    panel.show()
    qtbot.waitUntil(lambda: panel.engine_ready, timeout=ENGINE_TIMEOUT)
    for name, value in (("brightness", 0.1), ("contrast", 0.2), ("noise", 0.02), ("rotation", (-20.0, 20.0))):
        set_through_widget(panel.form.rows[name], value)
    qtbot.waitUntil(lambda: panel.full_result is not None and panel._full_gen == panel.generation,
                    timeout=RUN_TIMEOUT)
    assert panel.value_range == (0.0, float(2**bits - 1)) and bits == 12
    from spinegui.augment.pipeline import Augmenter

    xyxy = np.array([b.xyxy for b in boxes])
    expected = Augmenter(panel.config())(img.pixels, xyxy, seed=panel.seed, value_range=(0, 2**bits - 1))
    np.testing.assert_array_equal(panel.full_result.image, expected.image)
    np.testing.assert_array_equal(panel.full_result.boxes, expected.boxes)
    np.testing.assert_array_equal(panel.full_result.kept, expected.kept)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX kill")
def test_a_killed_worker_is_restarted_once_with_a_message(qtbot, shown):
    panel = shown
    engine = panel.engine
    first = engine.pid
    os.kill(first, signal.SIGKILL)
    qtbot.waitUntil(lambda: "restarting" in panel.status.text(), timeout=RUN_TIMEOUT)
    assert "\n" not in panel.status.text()
    qtbot.waitUntil(lambda: engine.is_ready and engine.pid not in (None, first), timeout=ENGINE_TIMEOUT)
    with qtbot.waitSignal(panel.full_shown, timeout=RUN_TIMEOUT):
        set_through_widget(panel.form.rows["rotation"], (15.0, 15.0))
    assert panel.full_result.params["angle"] == pytest.approx(15.0)
    # it answered since its restart, so a new death restarts it again; dead again before answering
    # anything: given up, in one line, until the tab is shown again
    second = engine.pid
    os.kill(second, signal.SIGKILL)
    qtbot.waitUntil(lambda: engine.state == "starting" and engine.pid not in (None, second), timeout=RUN_TIMEOUT)
    os.kill(engine.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: engine.state == "failed", timeout=RUN_TIMEOUT)
    assert "stopped again" in panel.status.text() and "\n" not in panel.status.text()
    panel.hide()
    panel.show()  # shown again: a fresh worker
    qtbot.waitUntil(lambda: engine.is_ready, timeout=ENGINE_TIMEOUT)


def test_the_worker_goes_with_the_panel(qtbot, demo_image):
    panel = AugmentPanel()
    panel.set_source(*demo_image)
    panel.show()
    qtbot.waitUntil(lambda: panel.engine_ready, timeout=ENGINE_TIMEOUT)
    pid = panel.engine.pid
    assert _alive(pid)
    panel.deleteLater()
    qtbot.waitUntil(lambda: not _alive(pid), timeout=10000)


def _alive(pid: int) -> bool:
    if not os.path.isdir("/proc"):
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_the_app_never_imports_torch(demo_root, tmp_path):
    """The panel shows an augmented preview and full resolution, computed by its worker process; the
    app process (a fresh one: this test session may have torch loaded) never imports torch."""
    code = textwrap.dedent(f"""
        import os, sys, time
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtCore import QEventLoop
        from PySide6.QtWidgets import QApplication
        from spinegui.core.annotations.model import original_annotations
        from spinegui.core.dicom.reader import read_image
        from spinegui.core.dataset.vindr import load_index
        from spinegui.ui.augment.panel import AugmentPanel
        from spinegui.ui.viewer.view import ViewerImage

        def main():
            app = QApplication([])
            rec = max(load_index({str(demo_root)!r}).images.values(), key=lambda r: len(r.boxes))
            img = read_image(rec.path)
            panel = AugmentPanel()
            panel.set_source(ViewerImage(rec.image_id, img.pixels, img.window, img.invert),
                             original_annotations(rec).boxes, {str(demo_root)!r}, dicom_path=rec.path)
            panel.show()
            panel.form.rows["rotation"].editor.setValue((20.0, 20.0))
            end = time.monotonic() + 120
            while panel.full_result is None and time.monotonic() < end:
                app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
                time.sleep(0.01)
            assert panel.preview_result is not None and panel.full_result is not None, panel.status.text()
            assert panel.full_result.params["angle"] == 20.0
            print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision")))

        if __name__ == "__main__":
            main()
        """)
    script = tmp_path / "no_torch_app.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_panel_module_does_not_load_torch():
    code = ("import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
            "from PySide6.QtWidgets import QApplication; app = QApplication([])\n"
            "from spinegui.ui.augment.panel import AugmentPanel; p = AugmentPanel()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
