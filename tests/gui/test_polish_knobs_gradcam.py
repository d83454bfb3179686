"""Plain words (issue 18): augmentation knobs named without jargon, under their old command-line names;
the Grad-CAM overlay's title (class and model) and its colour bar (low to high attention)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtGui import QColor

from spinegui.augment.knobs import KNOBS
from spinegui.core.dicom.display import Window
from spinegui.ui.results.gradcam_view import SCALE, legend, title
from spinegui.ui.viewer.view import ImageViewer, ViewerImage

# The names before issue 18: `--set NAME=VALUE`, TOML configs and run records keep working.
OLD_NAMES = ("mode", "rotation", "rotation_fixed", "hflip", "vflip", "scale", "translate", "shear", "perspective",
             "elastic_alpha", "elastic_sigma", "crop", "crop_ratio", "brightness", "contrast", "gamma", "noise",
             "blur", "min_visibility", "min_box_size")
JARGON = ("@", "_", "w/h", "visible", "sigma")


def test_knob_names_stay_and_labels_read_plainly():
    assert tuple(k.name for k in KNOBS) == OLD_NAMES
    for k in KNOBS:
        shown = f"{k.label} {k.unit}"
        assert not [j for j in JARGON if j in shown], (k.name, shown)
        assert k.help.endswith(".") and len(k.help) > 40, k.name
        if "px" in k.unit:  # a unit in pixels says which pixels
            assert "pixels" in k.help, k.name


@pytest.fixture
def reply():
    return SimpleNamespace(classes=["No finding", "Osteophytes", "Disc space narrowing"],
                           probabilities=np.array([0.1, 0.83, 0.07], np.float32), target=1, predicted=2,
                           target_probability=0.83, model="resnet18")


def test_gradcam_title_legend_and_colour_bar(qtbot, reply, tmp_path):
    assert title(reply) == "Grad-CAM: Osteophytes · resnet18"
    text = legend(reply, "safe-none-resnet18")
    assert text.startswith("p(Osteophytes) = 0.83 · run safe-none-resnet18")
    assert "the model predicts Disc space narrowing (p=0.07)" in text
    v = ImageViewer()
    qtbot.addWidget(v)
    v.resize(900, 700)
    with qtbot.waitExposed(v):
        v.show()
    v.set_image(ViewerImage("x", np.full((200, 120), 1000, np.uint16), Window(1000, 2000), False, title="x"))
    heat = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    v.set_heatmap(heat, text, title(reply), SCALE)
    assert v.heat_title.isVisible() and v.heat_title.text() == title(reply) and v.heat_title.font().bold()
    assert v.legend.isVisible() and v.scale_bar.isVisible()
    t, lg, bar = v.heat_title.geometry(), v.legend.geometry(), v.scale_bar.geometry()
    assert t.bottom() < lg.top() and lg.bottom() < bar.top()  # title, legend, colour bar, top down
    assert bar.right() <= v.width() and bar.left() >= 0
    # the bar runs from the low colour (blue) to the high one (red), its ends written in words
    img = v.scale_bar.pixmap().toImage()
    row = [QColor(img.pixel(x, img.height() // 2)) for x in range(img.width())]
    coloured = [c for c in row if max(c.red(), c.green(), c.blue()) - min(c.red(), c.green(), c.blue()) > 120]
    assert coloured[0].blue() > coloured[0].red() and coloured[-1].red() > coloured[-1].blue()
    words = v.scale_bar.pixmap().width()
    v.set_heatmap(heat, text, title(reply))  # the default words are shorter: the bar is narrower
    assert v.scale_bar.pixmap().width() < words
    v.set_heatmap(heat, text, title(reply), SCALE)
    v.grab().save(str(tmp_path / "gradcam.png"))
    v.set_heatmap(None)
    assert not v.heat_title.isVisible() and not v.scale_bar.isVisible()
