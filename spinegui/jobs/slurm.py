"""SLURM through submitit: is there a cluster to submit to, submit a run folder's jobs with their
dependencies, cancel them. Qt-free and torch-free (the submitting CLI imports no torch).

What a SLURM job runs is a spinegui run folder (prepared before it is submitted, so every reader
sees it queued); the job ids go to <experiment>/slurm.json, which `cancel_spread` reads. Completion
is followed through the run folders, not sacct (a cluster without slurmdbd has no accounting)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spinegui.core import run_events as E
from spinegui.core.dataset.workspace import atomic_write_bytes
from spinegui.core.errors import InputError
from spinegui.core.params import Param, ParamSet
from spinegui.jobs import runfolder as rf

SLURM_FILE = "slurm.json"
LOG_FOLDER = "slurm"

SLURM = ParamSet((
    Param("slurm_partition", "text", "", help="SLURM partition (default: the cluster's default partition)"),
    Param("slurm_gpus_per_task", "int", 0, 0, 64, help="GPUs per SLURM job (0: none, CPU jobs)"),
    Param("slurm_time", "int", 240, 1, 10**6, help="time limit of each SLURM job, in minutes"),
    Param("slurm_account", "text", "", help="SLURM account to charge (default: yours)"),
    Param("slurm_cpus_per_task", "int", 0, 0, 1024, zero_is_default=True, help="CPU cores per SLURM job",
          shown_default="the partition's default"),
), what="SLURM setting")


def slurm_problem(timeout: float = 15.0) -> str | None:
    """None when jobs can be submitted here, else why not (one line)."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        return "the Python package submitit is not installed (pip install submitit)"
    for tool in ("sbatch", "squeue", "scancel"):
        if shutil.which(tool) is None:
            return f"SLURM is not installed here ({tool} not found on PATH)"
    try:
        done = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"SLURM does not answer (squeue took more than {timeout:g} s)"
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()
        return "SLURM does not answer: " + (why[-1] if why else f"squeue exit code {done.returncode}")
    return None


def require_slurm() -> None:
    why = slurm_problem()
    if why:
        raise InputError(None, f"--executor slurm: {why}")


@dataclass
class Task:
    """One SLURM job: a prepared run folder, run by `target` ("module:function") on a node."""
    name: str
    run_dir: Path
    target: str
    after: list[str] = field(default_factory=list)    # names of tasks that must have succeeded
    after_any: bool = False                            # ... or merely ended (the experiment's last job)


def submit(folder: Path, tasks: Sequence[Task], settings: dict[str, Any], runner: Callable) -> dict[str, str]:
    """Submit `tasks` in order (dependencies before their dependents); tasks with the same
    dependencies become one job array. `runner(run_dir, target)` is what each job calls. Returns
    {task name: job id}; the ids are added to folder/slurm.json as soon as they exist."""
    import submitit

    executor = submitit.SlurmExecutor(folder=folder / LOG_FOLDER)
    base = {"time": settings.get("slurm_time") or 240, "job_name": "spinegui"}
    for key in ("partition", "account", "gpus_per_task", "cpus_per_task"):
        if settings.get(f"slurm_{key}"):
            base[key] = settings[f"slurm_{key}"]
    ids: dict[str, str] = {}
    for group in _groups(tasks):
        after = [ids[name] for name in group[0].after if name in ids]
        extra = {"kill-on-invalid-dep": "yes"}      # a failed dependency cancels the job, not strands it
        if after:
            extra["dependency"] = ("afterany:" if group[0].after_any else "afterok:") + ":".join(after)
        executor.update_parameters(**base, additional_parameters=extra, array_parallelism=256)
        for task in group:    # before the job exists: a job that starts at once writes its own status
            rf.update_status(task.run_dir, executor="slurm", owner_pid=None, owner_token=None,
                             message="submitted to SLURM")
        with executor.batch():
            jobs = [executor.submit(runner, str(t.run_dir), t.target) for t in group]
        for task, job in zip(group, jobs):
            ids[task.name] = str(job.job_id)
        _record(folder, [{"name": t.name, "job_id": ids[t.name]} for t in group])
        if rf.cancel_requested(folder):   # cancelled while submitting: submit no more
            break
    return ids


MAX_ARRAY = 1000     # SLURM's default MaxArraySize is 1001


def _groups(tasks: Sequence[Task]) -> list[list[Task]]:
    """Consecutive tasks with the same dependencies, one array each (at most MAX_ARRAY tasks)."""
    groups: list[list[Task]] = []
    for task in tasks:
        if (groups and groups[-1][0].after == task.after and groups[-1][0].after_any == task.after_any
                and len(groups[-1]) < MAX_ARRAY):
            groups[-1].append(task)
        else:
            groups.append([task])
    return groups


def _record(folder: Path, jobs: list[dict]) -> None:
    doc = read_record(folder)
    doc.setdefault("jobs", []).extend({**j, "submitted": rf.utc_now()} for j in jobs)
    atomic_write_bytes(folder / SLURM_FILE, json.dumps(doc, indent=1).encode("utf-8"))


def read_record(folder: Path) -> dict:
    try:
        doc = json.loads((Path(folder) / SLURM_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def is_spread(folder: str | Path) -> bool:
    return (Path(folder) / SLURM_FILE).is_file()


def live_jobs(ids: Sequence[str]) -> list[str]:
    """The ids among `ids` that squeue still lists (array tasks by their array's id)."""
    if not ids or shutil.which("squeue") is None:
        return []
    try:
        done = subprocess.run(["squeue", "-h", "-o", "%i %F", "-j", ",".join(ids)], capture_output=True,
                              text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise InputError(None, "SLURM does not answer (squeue took more than 30 s)") from None
    listed = set()
    for line in done.stdout.split():
        listed.update(line.split("_")[0].split())
    return [i for i in ids if i.split("_")[0] in listed]


def cancel_spread(folder: str | Path, run_dirs: Sequence[Path], grace: float = 10.0) -> str:
    """Cancel an experiment spread over SLURM jobs: cancel files first (a running part writes its
    checkpoint and ends "cancelled"), then scancel every job it submitted, then mark what did not
    end by itself. Leaves no job behind; --resume submits again what is missing."""
    folder = Path(folder)
    for run_dir in [folder, *run_dirs]:
        if rf.is_run_dir(run_dir) and rf.read_status(run_dir)["state"] in rf.ACTIVE_STATES:
            rf.request_cancel(run_dir)
    end = time.monotonic() + max(0.0, grace)
    while time.monotonic() < end and any(rf.read_status(d)["state"] == "running" for d in run_dirs
                                         if rf.is_run_dir(d)):
        time.sleep(0.2)
    jobs = read_record(folder).get("jobs", [])
    # the collecting job first, so that it is not started by the others' ending
    ids = [j["job_id"] for j in jobs if j["name"] == "finish"] + [j["job_id"] for j in jobs if j["name"] != "finish"]
    if ids and shutil.which("scancel"):
        try:
            subprocess.run(["scancel", *ids], capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise InputError(folder, "scancel did not answer within 60 s; run `spinegui cancel` again") from None
        end = time.monotonic() + 60      # a killed job stays COMPLETING for the cluster's KillWait
        while live_jobs(ids) and time.monotonic() < end:
            time.sleep(0.5)
    for run_dir in [*run_dirs, folder]:
        if not rf.is_run_dir(run_dir):
            continue
        status = rf.read_status(run_dir)
        if status["state"] in rf.ACTIVE_STATES:
            message = "cancelled (its SLURM job was cancelled)"
            rf.write_status(run_dir, {**status, "state": "cancelled", "ended": rf.utc_now(), "message": message})
            rf.append_event(run_dir, {"kind": E.STATE, "state": "cancelled", "message": message})
        rf.clear_cancel(run_dir)
    return rf.read_status(folder)["state"]
