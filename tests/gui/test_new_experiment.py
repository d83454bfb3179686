"""The Results tab's New-experiment form: built from the EXPERIMENT declarations, refusing in one line
what the command line refuses (before anything is written), showing the plan of what it holds, and
copying a command line that the CLI parser reads back to the same values; with executor slurm, its
SLURM settings, a cluster that does not answer said in one line, and Start submitting as the CLI does."""

from __future__ import annotations

import shlex
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from case_factory import make_case_root
from spinegui.train.experiment_config import EXPERIMENT
from spinegui.train.experiment_launch import plan_experiment
from spinegui.ui.results.experiment_plan import experiment_values
from spinegui.ui.results.new_experiment import NewExperimentDialog

TINY = {"models": ["resnet18"], "strategies": ["none", "basic"], "size": 32, "epochs": 2, "device": "cpu",
        "seed": 3, "flip": True, "val_fraction": 0.25, "per_class": "6"}


@pytest.fixture(scope="module")
def case_root(demo_root, tmp_path_factory):
    return make_case_root(demo_root, tmp_path_factory.mktemp("case") / "vindr-case")


def open_form(qtbot, root: Path, out: Path, **choices) -> NewExperimentDialog:
    dialog = NewExperimentDialog(root=str(root), out=str(out))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_choices(**choices)
    return dialog


def wait_checked(qtbot, dialog) -> str:
    """Wait for the check of what the form holds; the message line then."""
    qtbot.waitUntil(lambda: dialog.answered == dialog._gen, timeout=60000)
    return dialog.message.text()


def test_the_form_is_generated_from_the_experiment_declarations(qtbot, tmp_path):
    dialog = open_form(qtbot, tmp_path, tmp_path / "out")
    command_line_settings = {p.name for p in EXPERIMENT if p.cli}
    assert set(dialog.params.editors) == command_line_settings   # protocols: the Protocol chooser
    values = dialog.params.values()
    assert values["epochs"] == EXPERIMENT["epochs"].default and values["models"] == ["resnet18"]
    assert dialog.params.editors["epochs"].maximum() == EXPERIMENT["epochs"].high


def test_an_impossible_experiment_is_refused_in_one_line_and_nothing_is_written(qtbot, demo_root, tmp_path):
    out = tmp_path / "exp"
    dialog = open_form(qtbot, demo_root, out, case="1", protocol="safe", settings=TINY)
    text = wait_checked(qtbot, dialog)   # the demo dataset has no test split
    assert "class 'No finding' has no image in the test fold" in text and "\n" not in text
    assert not dialog.start_button.isEnabled() and dialog.table.toPlainText() == ""

    dialog.set_choices(weights={"resnet18": str(tmp_path / "missing.safetensors")})
    assert "weights file not found" in wait_checked(qtbot, dialog)
    dialog.set_choices(weights={"resnet18": ""}, settings={"size": 16})
    assert "resnet18 needs images of at least 32 px" in wait_checked(qtbot, dialog)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    dialog.set_choices(settings={"size": 32}, out=str(tmp_path / "other"))
    assert "exists and is not an empty folder" in wait_checked(qtbot, dialog)
    dialog.set_choices(classes="No finding,Osteophyte", out=str(out))
    assert "unknown class 'Osteophyte' (did you mean 'Osteophytes'?)" in wait_checked(qtbot, dialog)
    assert not out.exists() and (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_a_gpu_asked_for_where_torch_sees_none_is_refused(qtbot, demo_root, tmp_path):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    dialog = open_form(qtbot, demo_root, tmp_path / "exp", case="1", settings={**TINY, "device": "cuda"})
    assert "--device cuda: torch sees no CUDA GPU on this machine" in wait_checked(qtbot, dialog)
    assert not dialog.start_button.isEnabled() and not (tmp_path / "exp").exists()


def test_the_plan_table_is_the_plan_of_what_the_form_holds(qtbot, case_root, tmp_path):
    out = tmp_path / "exp"
    dialog = open_form(qtbot, case_root, out, case="1", protocol="both", settings=TINY)
    text = wait_checked(qtbot, dialog)
    assert text.startswith("ready: 2 protocol(s) × 2 strategies × 1 model(s) into exp"), text
    values = experiment_values(dialog.choices())
    expected = plan_experiment(values).table()
    assert dialog.table.toPlainText().startswith(expected) and "safe protocol" in expected
    assert dialog.start_button.isEnabled() and dialog.checked.out == out.resolve()
    assert dialog.checked.values["classes"] == ["No finding", "Disc space narrowing", "Vertebral collapse"]
    dialog.set_choices(settings={"epochs": 3})   # an edit: Start waits for the new plan
    assert not dialog.start_button.isEnabled()
    wait_checked(qtbot, dialog)
    assert dialog.start_button.isEnabled() and dialog.checked.values["epochs"] == 3
    assert not out.exists()   # planning writes nothing


@pytest.mark.parametrize("case, classes, protocol", [("1", None, "both"), (None, "No finding,Osteophytes", "paper")])
def test_copy_as_command_is_a_command_the_cli_reads_back_to_the_same_values(qtbot, case_root, tmp_path, case,
                                                                             classes, protocol):
    from spinegui.cli.entry import build_parser
    from spinegui.cli.experiment import experiment_values as cli_values

    weights = tmp_path / "my weights.safetensors"   # a space: the command must quote it
    weights.write_bytes(b"x")
    dialog = open_form(qtbot, case_root, tmp_path / "exp", case=case, classes=classes, protocol=protocol,
                       settings={**TINY, "gan_arch": "dcgan", "lr": 0.0005, "bootstrap": 0},
                       weights={"resnet18": str(weights)})
    dialog.workspace = str(tmp_path / "ws")
    text = dialog.copy_command()
    assert QGuiApplication.clipboard().text() == text and text.startswith("spinegui experiment ")
    argv = shlex.split(text)
    args = build_parser().parse_args(argv[1:])
    assert Path(args.out) == tmp_path / "exp" and args.protocol == protocol
    assert cli_values(args) == experiment_values(dialog.choices())
    assert "--flip" in argv and "--weights" in argv and "--models" not in argv   # resnet18: the default


SLURM_GIVEN = {"slurm_partition": "gpu", "slurm_gpus_per_task": 1, "slurm_time": 30, "slurm_account": "lab-x",
               "slurm_cpus_per_task": 4}


def test_the_slurm_settings_are_a_group_enabled_only_with_executor_slurm(qtbot, tmp_path):
    from spinegui.jobs.slurm import SLURM

    dialog = open_form(qtbot, tmp_path, tmp_path / "out")
    assert set(dialog.slurm.editors) == {p.name for p in SLURM}
    assert dialog.params.editors["executor"].isVisible() and dialog.params.editors["parallel"].isVisible()
    assert dialog.slurm_box.isVisible() and not dialog.slurm_box.isEnabled()   # executor local: the default
    dialog.set_choices(settings={"executor": "slurm"})
    assert dialog.slurm_box.isEnabled()
    dialog.set_choices(settings={"executor": "local"})
    assert not dialog.slurm_box.isEnabled()


def test_copy_as_command_says_executor_slurm_and_its_options_and_the_cli_reads_them_back(qtbot, case_root, tmp_path):
    from spinegui.cli.entry import build_parser
    from spinegui.cli.experiment import experiment_values as cli_values

    dialog = open_form(qtbot, case_root, tmp_path / "exp", case="1", settings={**TINY, "executor": "slurm"},
                       slurm=SLURM_GIVEN)
    argv = shlex.split(dialog.copy_command())
    assert argv[argv.index("--executor") + 1] == "slurm"
    assert argv[argv.index("--slurm-partition") + 1] == "gpu" and argv[argv.index("--slurm-time") + 1] == "30"
    args = build_parser().parse_args(argv[1:])
    assert (args.slurm_account, args.slurm_gpus_per_task, args.slurm_cpus_per_task) == ("lab-x", 1, 4)
    assert cli_values(args) == experiment_values(dialog.choices())
    assert experiment_values(dialog.choices())["slurm_partition"] == "gpu"
    dialog.set_choices(settings={"executor": "local"})   # the SLURM settings go only with their executor
    argv = shlex.split(dialog.copy_command())
    assert "--executor" not in argv and not [a for a in argv if a.startswith("--slurm")]
    assert cli_values(build_parser().parse_args(argv[1:])) == experiment_values(dialog.choices())


def test_a_slurm_that_does_not_answer_is_said_and_start_stays_off(qtbot, case_root, tmp_path, monkeypatch):
    import spinegui.jobs.slurm as slurm

    asked = []

    def no_slurm(timeout=15.0):
        asked.append(threading.current_thread() is threading.main_thread())
        return "SLURM does not answer: slurm_load_jobs error: Unable to contact slurm controller"

    monkeypatch.setattr(slurm, "slurm_problem", no_slurm)
    out = tmp_path / "exp"
    dialog = open_form(qtbot, case_root, out, case="1", settings={**TINY, "executor": "slurm"}, slurm=SLURM_GIVEN)
    text = wait_checked(qtbot, dialog)
    assert text == "--executor slurm: SLURM does not answer: slurm_load_jobs error: Unable to contact slurm controller"
    assert not dialog.start_button.isEnabled() and asked and not any(asked)   # asked off the UI thread
    dialog.set_choices(settings={"executor": "local"})   # a local experiment does not ask SLURM
    n = len(asked)
    assert wait_checked(qtbot, dialog).startswith("ready:") and dialog.start_button.isEnabled()
    assert len(asked) == n and not out.exists()


def test_start_with_executor_slurm_submits_the_experiment_as_the_cli_does(qtbot, case_root, tmp_path, monkeypatch):
    from spinegui.jobs.runner import prepare_new
    from spinegui.ui.results.panel import ResultsPanel

    submitted = []

    def submit(out, config=None, *, resume=False, overwrite=False):   # experiment_parts.submit, no cluster
        submitted.append((Path(out), config, resume, overwrite, threading.current_thread() is threading.main_thread()))
        prepare_new("experiment", config, out)
        return {"prepare": "11", "safe-none-resnet18": "12", "finish": "13"}

    monkeypatch.setattr("spinegui.jobs.slurm.slurm_problem", lambda timeout=15.0: None)
    monkeypatch.setattr("spinegui.train.experiment_parts.submit", submit)
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_runs_root(tmp_path / "runs")
    panel.show()
    dialog = panel.new_experiment()
    out = tmp_path / "runs" / "exp-slurm"
    dialog.set_choices(root=str(case_root), case="1", settings={**TINY, "executor": "slurm"}, slurm=SLURM_GIVEN,
                       out=str(out))
    assert wait_checked(qtbot, dialog).startswith("ready:"), dialog.message.text()
    values = dialog.checked.values
    dialog.start_button.click()
    qtbot.waitUntil(lambda: panel.exp is not None and panel.exp.folder == out.resolve(), timeout=20000)
    assert submitted == [(out.resolve(), values, False, False, False)]
    assert values["kind"] == "experiment" and values["executor"] == "slurm" and values["slurm_time"] == 30
    assert panel.queue.idle and "3 SLURM jobs" in panel.message.text()   # no local job process
    assert (panel.grid.rowCount(), panel.grid.columnCount()) == (2, 2) and panel.live_box.isVisible()
    panel.shutdown()
