"""What the New-experiment form does with its choices, without a widget: the job's values as
`spinegui experiment` builds them (cli/experiment.py's experiment_values), the equivalent command line,
and the checks the command line makes before anything is written (device, output folder, plan).

`check_and_plan` reads the dataset index (and, with executor slurm, asks squeue): the form calls it in an
IoWorker thread.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spinegui.core.errors import InputError
from spinegui.jobs import slurm
from spinegui.train.experiment_config import DEFAULTS, EXPERIMENT

CASES = ("1", "2", "3", "binary")
PROTOCOLS = ("both", "safe", "paper")
TAKEN = "an experiment is already there; choose another folder (or select it in the runs list and Resume)"
DEVICE_CHECK_S = 120      # a torch import on a loaded machine


@dataclass
class Choices:
    """The form's choices: what the command line takes as arguments."""
    root: str
    case: str = ""                  # "" when `classes` names them
    classes: str = ""               # comma-separated
    protocol: str = "both"
    settings: dict[str, Any] = field(default_factory=dict)   # the ParamSet's (command-line settings only)
    weights: dict[str, str] = field(default_factory=dict)    # model -> file ("" none)
    workspace: str = ""
    out: str = ""
    slurm: dict[str, Any] = field(default_factory=dict)      # slurm.SLURM's settings (executor slurm)


def experiment_values(c: Choices) -> dict[str, Any]:
    """The "experiment" job's values, built as the command line builds them; InputError for a missing
    dataset folder or weights file (nothing else is checked here)."""
    from spinegui.train.experiment_launch import local_weights

    if not c.root.strip():
        raise InputError(None, "choose a dataset folder")
    root = Path(c.root).expanduser().resolve()
    if not root.is_dir():
        raise InputError(root, "dataset folder not found")
    if not c.case and not c.classes.strip():
        raise InputError(None, "choose a case or name two or more classes")
    weights = local_weights({m: p for m, p in c.weights.items() if p.strip()})
    values = {"root": str(root), "case": c.case, "classes": ("" if c.case else c.classes).split(","),
              **{p.name: c.settings.get(p.name, DEFAULTS[p.name]) for p in EXPERIMENT if p.cli},
              "protocols": ["safe", "paper"] if c.protocol == "both" else [c.protocol], "weights": weights}
    if c.workspace:
        values["workspace"] = str(Path(c.workspace).expanduser().resolve())
    if values["executor"] == "slurm":   # as the command line: the SLURM settings only with its executor
        values.update({**slurm.SLURM.defaults(), **c.slurm})
    return values


def out_folder(c: Choices) -> Path:
    if not c.out.strip():
        raise InputError(None, "choose an output folder")
    return Path(c.out).expanduser().resolve()


def command_line(c: Choices) -> str:
    """`spinegui experiment …` with these choices (only the settings that differ from their defaults)."""
    args = ["spinegui", "experiment", c.root]
    args += ["--case", c.case] if c.case else ["--classes", c.classes]
    if c.protocol != "both":
        args += ["--protocol", c.protocol]
    args += EXPERIMENT.command_args(c.settings)
    if c.settings.get("executor") == "slurm":
        args += slurm.SLURM.command_args(c.slurm)
    for model, path in c.weights.items():
        if path.strip():
            args += ["--weights", f"{model}={path}"]
    if c.workspace:
        args += ["--workspace", c.workspace]
    args += ["--out", c.out]
    return shlex.join(args)


_devices: dict[str, str | None] = {}   # device -> why it cannot run here (None: it can); asked once


def device_problem(device: Any) -> str | None:
    """The command line's require_device, asked of a short-lived process: the app never imports torch.
    "auto" and "cpu" cost nothing."""
    if device in (None, "", "auto", "cpu"):
        return None
    key = str(device)
    if key not in _devices:
        code = ("import sys\nfrom spinegui.core.errors import InputError\n"
                "from spinegui.cli.jobs import require_device\n"
                "try:\n    require_device(sys.argv[1])\nexcept InputError as exc:\n    print(exc)\n")
        try:
            done = subprocess.run([sys.executable, "-c", code, key], capture_output=True, text=True,
                                  timeout=DEVICE_CHECK_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"--device {key}: cannot ask torch about the device ({type(exc).__name__})"
        lines = done.stdout.strip().splitlines()
        if done.returncode:
            return f"--device {key}: cannot ask torch about the device (exit code {done.returncode})"
        _devices[key] = lines[-1] if lines else None
    return _devices[key]


@dataclass
class Checked:
    values: dict[str, Any]   # the job's config (classes resolved), ready for JobQueue.submit
    out: Path
    planned: Any             # experiment_launch.Planned
    left_out: list[str]      # "left out N images: why"


def check_and_plan(c: Choices) -> Checked:
    """What `spinegui experiment` checks before it writes anything, in a worker thread: the values,
    the device, the output-folder rule (never a folder this command did not make), then the plan.
    InputError (one line) when the experiment cannot run."""
    from spinegui.jobs.runner import check_new_run
    from spinegui.train.experiment_launch import plan_experiment

    values = experiment_values(c)
    problem = device_problem(values.get("device"))
    if problem:
        raise InputError(None, problem)
    if values["executor"] == "slurm":
        problem = slurm.slurm_problem()   # runs squeue: a cluster that does not answer is said here
        if problem:
            raise InputError(None, f"--executor slurm: {problem}")
    out = out_folder(c)
    check_new_run("experiment", out, overwrite=False, dataset=values["root"], taken=TAKEN)
    planned = plan_experiment(values)
    job = {**values, "classes": planned.cfg["classes"], "kind": "experiment"}
    left = [f"left out {n} images: {why}" for why, n in planned.selection.left_out.items()]
    return Checked(job, out, planned, left)
