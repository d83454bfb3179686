"""Job kinds: a name for each job type and the "module:function" that runs it.

Only the string is kept here; the job process imports the module (a training module imports torch,
and that must happen in the child, never in the app or the CLI that start it).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

from spinegui.core.errors import InputError

_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

_REGISTRY: dict[str, str] = {
    "selftest": "spinegui.jobs.selftest:run",
    "gan": "spinegui.gan.job:run",
    "gan-sample": "spinegui.gan.sampler:run_job",
    "gan-quality": "spinegui.gan.quality:run_job",
    "experiment": "spinegui.train.experiment:run",
    "experiment-part": "spinegui.train.experiment:run",   # a share of a spread experiment (train/experiment_parts.py)
}


def register_job(kind: str, target: str) -> None:
    """Register (or replace) a job kind. `target` names `def run(ctx: JobContext) -> None`.

    Registrations made at run time exist in this process only: the parent resolves the kind to its
    target string and hands the string to the job process, so the child needs no registry."""
    if not kind or not isinstance(kind, str):
        raise ValueError("a job kind is a non-empty string")
    if not _TARGET.match(target):
        raise ValueError(f"job target must look like 'package.module:function', not {target!r}")
    _REGISTRY[kind] = target


def job_target(kind: str) -> str:
    try:
        return _REGISTRY[kind]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise InputError(None, f"unknown job kind {kind!r} (known: {known})") from None


def job_kinds() -> list[str]:
    return sorted(_REGISTRY)


def resolve_target(target: str) -> Callable:
    """Import "module:function" (in the job process)."""
    module_name, _, func_name = target.partition(":")
    module = importlib.import_module(module_name)
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ImportError(f"{target}: no function {func_name!r} in {module_name}")
    return func
