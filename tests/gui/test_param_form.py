"""The one form builder: an editor per kind, values() and set_values() through the widgets."""

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox
from superqt import QLabeledDoubleRangeSlider, QLabeledDoubleSlider

from spinegui.core.errors import InputError
from spinegui.core.params import Param, ParamError, ParamSet
from spinegui.ui.common.param_form import ParamForm

PARAMS = ParamSet((
    Param("epochs", "int", 30, 1, 10000, group="A"),
    Param("share", "float", 0.5, 0.0, 1.0, step=0.05, group="A"),
    Param("flip", "bool", False, group="A"),
    Param("arch", "choice", "wgan", choices=("wgan", "dcgan"), group="B"),
    Param("rotation", "range", (0.0, 0.0), -180, 180, step=1, group="B"),
    Param("angles", "subset", (), choices=(90, 180, 270), group="B"),
    Param("name", "text", "balance", group="B"),
    Param("models", "list", ["resnet18"], choices=("vgg16", "resnet18"), group="B"),
    Param("lr", "float", None, 1e-6, 0.1, optional=True, group="B"),
))
EDITED = {"epochs": 7, "share": 0.25, "flip": True, "arch": "dcgan", "rotation": (-10.0, 20.0), "angles": (90, 270),
          "name": "4000", "models": ["vgg16", "resnet18"], "lr": 0.001}


@pytest.mark.parametrize("resets", [True, False], ids=["rows", "plain"])
def test_every_kind_gets_its_editor_and_round_trips(qtbot, resets):
    form = ParamForm(PARAMS, resets=resets)
    qtbot.addWidget(form)
    kinds = {"epochs": QSpinBox, "share": QLabeledDoubleSlider, "flip": QCheckBox, "arch": QComboBox,
             "rotation": QLabeledDoubleRangeSlider, "name": QLineEdit, "models": QLineEdit, "lr": QLineEdit}
    for name, cls in kinds.items():
        assert isinstance(form.editors[name], cls), name
    assert list(form.sections) == ["A", "B"]
    assert form.values() == PARAMS.defaults()
    form.set_values(EDITED)
    assert form.values() == EDITED
    assert PARAMS.validate(form.values()) == EDITED


def test_spin_floats_and_the_signal_names_the_param_edited(qtbot):
    form = ParamForm(PARAMS, spin_floats=True, resets=False)
    qtbot.addWidget(form)
    assert isinstance(form.editors["share"], QDoubleSpinBox)
    with qtbot.waitSignal(form.changed) as signal:
        form.editors["epochs"].setValue(12)
    assert signal.args == ["epochs"] and form.values()["epochs"] == 12


def test_a_row_edit_marks_the_row_and_a_bad_config_is_refused(qtbot):
    form = ParamForm(PARAMS)
    qtbot.addWidget(form)
    row = form.rows["flip"]
    assert not row.reset_button.isEnabled()
    row.editor.setChecked(True)
    assert form.config()["flip"] is True and row.label.font().bold() and row.reset_button.isEnabled()
    with pytest.raises(ParamError, match="epochs: 0 is outside"):
        form.set_config({"epochs": 0})
    form.reset_all()
    assert form.config() == PARAMS.defaults()


def test_text_that_is_no_number_is_one_line_naming_the_field(qtbot):
    form = ParamForm(PARAMS, resets=False)
    qtbot.addWidget(form)
    form.editors["lr"].setText("fast")
    with pytest.raises(InputError, match="^lr: expected a number, got 'fast'$"):
        form.values()
    form.editors["lr"].setText("")
    assert form.values()["lr"] is None
