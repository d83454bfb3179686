"""The GAN tab's sampling and quality jobs ("gan-sample", "gan-quality") and the augmentation set.

A mixin of GanPanel, split out of the GAN panel: it uses the panel's queue, io worker, browser and shown run.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from spinegui.ui.gan.run_io import new_folder, task_outcome
from spinegui.ui.gan.samples_view import load_quality

TASK_NAMES = {"gan-sample": "Make samples", "gan-quality": "Check quality"}


def ask(parent, title: str, text: str, go: str) -> bool:
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=parent)
    yes = box.addButton(go, QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
    box.exec()
    return box.clickedButton() is yes


def gate_problems(quality: dict | None, classes: list[str]) -> list[str]:
    """Why the samples of these classes are not known to be good: a failed or missing quality gate."""
    if not quality:
        return ["the run's quality was never checked (Check quality runs the gate)"]
    out = []
    for cls in classes:
        gate = (quality.get("classes", {}).get(cls) or {}).get("gate")
        if not gate:
            out.append(f"{cls}: no quality gate in the report (Check quality again)")
        elif gate.get("gate") != "pass":
            out.append(f"{cls}: the quality gate failed ({'; '.join(gate.get('reasons', []))})")
    return out


class GanTasksMixin:
    def make_samples(self, n: int, last_epochs: int, folder: str = "") -> None:
        run = self._run_with_checkpoint()
        if run is None:
            return
        out = Path(folder) if folder else new_folder(run, "samples_dataset", [], stamp=False)
        config = {"run": str(run), "n": int(n), "last_epochs": int(last_epochs), "seed": 0, "format": "dicom",
                  "out": str(out), "overwrite": False, "device": "cpu"}
        self._start_task("gan-sample", config, run)

    def check_quality(self, n: int) -> None:
        run = self._run_with_checkpoint()
        if run is not None:
            self._start_task("gan-quality", {"run": str(run), "n": int(n), "seed": 0, "device": "cpu"}, run)

    def add_to_augmentation_set(self) -> None:
        if self._sampled is None or self.ws is None or self.run_dir is None:
            return
        out, written = self._sampled
        problems = gate_problems(self._quality, list(written))
        if problems and not ask(self, "Unchecked GAN samples",
                                "These samples may be noise, not images of their class:\n- " + "\n- ".join(problems)
                                + "\n\nAdd them to the augmentation set anyway?", "Add anyway"):
            self.browser.set_message("not added: the samples did not pass the quality gate", error=True)
            return
        self.io.submit(partial(self.ws.add_synthetic_set, out, run=self.run_dir.name, classes=list(written),
                               n=max(written.values(), default=0)), partial(self._added, out, written))

    def _added(self, out: Path, written: dict, _entry, error: str | None) -> None:
        if error:
            self.browser.set_message(error, error=True)
            return
        if self._sampled is not None and self._sampled[0] == out:
            self.browser.show_sampled(out, written, in_set=True)
        self.browser.set_message(f"{out.name} is in the augmentation set (workspace.toml); the experiment "
                                 "runner adds these SYNTHETIC images to the training split only")

    def _run_with_checkpoint(self) -> Path | None:
        run = self.run_dir
        if run is None:
            self.browser.set_message("select a GAN run first", error=True)
            return None
        if not any((run / "checkpoints").glob("*_full.safetensors")):
            self.browser.set_message(f"{run.name} has no checkpoint yet: train it first", error=True)
            return None
        return run

    def _start_task(self, kind: str, config: dict, run: Path) -> None:
        tasks = (self.ws.runs_dir if self.ws is not None else run.parent) / "_tasks"
        task = new_folder(tasks, run.name, [kind]).resolve()
        self._tasks[task] = (kind, run)  # before it can end
        self.browser.set_message(f"{TASK_NAMES[kind]}: running in a job process…")
        self._update_buttons()
        self.io.submit(self.queue.submit, partial(self._task_submitted, task), kind, config, task)

    def _task_submitted(self, task: Path, _result, error: str | None) -> None:
        if error:
            self._tasks.pop(task, None)
            self.browser.set_message(error, error=True)
            self._update_buttons()

    def _task_ended(self, kind: str, run: Path, task: Path) -> None:
        self.io.submit(task_outcome, partial(self._on_task_outcome, kind, run), task)

    def _on_task_outcome(self, kind: str, run: Path, outcome, error: str | None) -> None:
        status, result = outcome if outcome else ({"state": "failed", "message": error}, {})
        if run != self.run_dir:
            self.say(f"{TASK_NAMES[kind]} for {run.name}: {status['state']}")
            return
        if status["state"] != "done":
            self.browser.set_message(f"{TASK_NAMES[kind]} {status['state']}: {status.get('message') or ''}", error=True)
            return
        if kind == "gan-sample":
            self._show_sampled(Path(result.get("out", "")), result.get("written", {}))
            self.browser.set_message(f"wrote {sum(result.get('written', {}).values())} SYNTHETIC images")
        else:
            self.io.submit(load_quality, partial(self._on_quality, self._gen), run)
            self.browser.set_message("quality report ready")
