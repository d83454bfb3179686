"""An experiment spread over jobs: on a SLURM cluster, or over the GPUs of one machine.

The experiment's folder E is the usual run folder; each share of the work is a run folder of its
own under E/parts/ (kind "experiment-part", the experiment's config plus "part" and
"experiment_dir"), run by the same job function (train/experiment.py run) restricted to its share:

    prepare          the cache, the plan, the real images' stores (everything else waits for it)
    gan-<protocol>   that protocol's GANs (after prepare)
    <run key>        one protocol x strategy x model x seed run (after its protocol's GANs, or prepare)
and last E's own job, "finish" (after all of them, whatever their outcome): results.json, the report,
the origin probe; it trains nothing, and names the runs that are missing.

A resumed experiment makes again only what is missing: a part not done, a run without runs/<key>.json.
Qt-free; torch only in the job processes."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spinegui.jobs import runfolder as rf

PART_KIND = "experiment-part"
PART_TARGET = "spinegui.train.experiment:run"
FINISH_TARGET = "spinegui.train.experiment:finish"
PARTS = "parts"

_env_lock = threading.Lock()   # the environment is process-wide: one launch at a time

@dataclass(frozen=True)
class Part:
    name: str                      # its folder under E/parts/
    kind: str                      # prepare | gans | cell
    protocol: str | None = None
    after: tuple[str, ...] = ()    # parts that must be done first

    def config(self) -> dict[str, Any]:
        part = {"name": self.kind}
        if self.protocol:
            part["protocol"] = self.protocol
        if self.kind == "cell":
            part["cell"] = self.name
        return part


def all_parts(cfg: dict, plans) -> list[Part]:
    """Every part of the experiment, dependencies first."""
    from spinegui.train.experiment import cell_key

    parts = [Part("prepare", "prepare")]
    for protocol in cfg["protocols"]:
        pplans = [p for p in plans if p.protocol == protocol]
        first = ("prepare",)
        if any(c.gan for p in pplans for c in p.counts):
            parts.append(Part(f"gan-{protocol}", "gans", protocol, ("prepare",)))
            first = (f"gan-{protocol}",)
        parts += [Part(cell_key(plan.key, model, index), "cell", protocol, first)
                  for index in range(cfg["seeds"]) for plan in pplans for model in cfg["models"]]
    return parts


def part_dir(experiment: Path, part: Part) -> Path:
    return Path(experiment) / PARTS / part.name


def part_done(experiment: Path, part: Part) -> bool:
    if part.kind == "cell":
        return (Path(experiment) / "runs" / f"{part.name}.json").is_file()
    folder = part_dir(experiment, part)
    if part.kind == "prepare" and not rf.is_run_dir(folder):   # made by the experiment's own job (local)
        return all((Path(experiment) / name).is_file() for name in ("plan.json", "manifest.csv"))
    return rf.is_run_dir(folder) and rf.read_status(folder)["state"] == "done"


def missing_parts(experiment: Path, cfg: dict, plans) -> list[Part]:
    """The parts still to do; a dependency that is done is dropped from the others' `after`."""
    todo = [p for p in all_parts(cfg, plans) if not part_done(experiment, p)]
    names = {p.name for p in todo}
    return [Part(p.name, p.kind, p.protocol, tuple(a for a in p.after if a in names)) for p in todo]


def prepare_part(experiment: Path, config: dict[str, Any], part: Part) -> Path:
    """The part's run folder, queued: new, or an earlier cancelled/failed one made ready to go on."""
    from spinegui.jobs.runner import prepare_new, prepare_resume

    folder = part_dir(experiment, part)
    if rf.is_run_dir(folder):
        state = rf.refresh_status(folder)["state"]
        if state in rf.ACTIVE_STATES:
            rf.update_status(folder, state="cancelled", message="superseded by a new submission")
        elif state == "done":    # done, yet its output is gone (e.g. a run deleted to run it again)
            rf.update_status(folder, state="cancelled", message="its output is missing: run again")
        prepare_resume(folder, PART_KIND)
        return folder
    keep = {k: v for k, v in config.items() if k not in ("kind", "created", "versions")}
    return prepare_new(PART_KIND, {**keep, "experiment_dir": str(Path(experiment).resolve()),
                                   "part": part.config()}, folder)


def run_part(run_dir: str, target: str) -> str:
    """What a SLURM job (or a local worker process) runs: one prepared run folder, in this process.
    Returns its final state."""
    from spinegui.jobs.child import child_main
    from spinegui.jobs.runner import seal_run

    status = rf.read_status(run_dir)
    child_main(run_dir, target, resume=bool(status.get("started")), in_process=True)
    seal_run(run_dir)
    state = rf.read_status(run_dir)["state"]
    if state != "done":   # the SLURM job fails too, so that `afterok` holds back the jobs that need it
        raise RuntimeError(f"{Path(run_dir).name}: {state}")
    return state


def local_workers(cfg: dict, device_type: str) -> int:
    """Runs at once on this machine: --parallel, else one per GPU (1 on the CPU)."""
    if cfg.get("parallel"):
        return int(cfg["parallel"])
    if device_type == "cuda":
        import torch

        return max(1, torch.cuda.device_count())
    return 1


def run_parallel(ctx, cfg: dict, plans, experiment: Path, workers: int, gpus: int) -> bool:
    """The experiment job's local executor with several workers: every GAN part and run part still to
    do in its own job process, `workers` at once (GPU k for worker k when there are GPUs), each
    after its dependencies. False when cancelled (the parts running are cancelled too and resume later)."""
    import time

    from spinegui.jobs.runner import cancel_run

    config = rf.read_config(ctx.run_dir)
    todo = [Part(p.name, p.kind, p.protocol, tuple(a for a in p.after if a != "prepare"))
            for p in missing_parts(experiment, cfg, plans) if p.kind != "prepare"]
    cores = _cores()
    if not gpus and not cfg.get("threads"):      # the cores shared out, not oversubscribed
        config = {**config, "threads": max(1, cores // workers)}
    running: dict[str, tuple[Any, int]] = {}      # part name -> (handle, worker)
    done, failed = set(), set()
    while todo or running:
        if ctx.should_stop():
            for handle, _ in running.values():
                cancel_run(handle.run_dir, wait=False)
            for handle, _ in running.values():
                handle.wait(120)
            return False
        for name, (handle, _worker) in list(running.items()):
            if handle.alive:
                continue
            del running[name]
            state = rf.read_status(handle.run_dir)["state"]
            (done if state == "done" else failed).add(name)
            ctx.log(f"{name}: {state}")
        for part in [p for p in todo if set(p.after) & failed]:   # its GANs failed: it cannot run
            todo.remove(part)
            failed.add(part.name)
        free = sorted(set(range(workers)) - {w for _, w in running.values()})
        for part in [p for p in todo if set(p.after) <= done][:len(free)]:
            todo.remove(part)
            worker = free.pop(0)
            running[part.name] = (_launch(experiment, config, part, worker % gpus if gpus else None), worker)
        time.sleep(0.2)
    return True


def _cores() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _launch(experiment: Path, config: dict, part: Part, gpu: int | None):
    """A part's job process; on GPU `gpu` alone (CUDA_VISIBLE_DEVICES, read by the child at start)."""
    import os

    from spinegui.jobs.runner import launch

    folder = prepare_part(experiment, config, part)
    resume = bool(rf.read_status(folder).get("started"))
    with _env_lock:
        old = os.environ.get("CUDA_VISIBLE_DEVICES")
        if gpu is not None:
            visible = (old or "").split(",") if old else None
            os.environ["CUDA_VISIBLE_DEVICES"] = visible[gpu] if visible and gpu < len(visible) else str(gpu)
        try:
            return launch(PART_KIND, folder, resume=resume, background=True)
        finally:
            if gpu is not None:
                if old is None:
                    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                else:
                    os.environ["CUDA_VISIBLE_DEVICES"] = old


def submit_slurm(experiment: Path) -> dict[str, str]:
    """Submit what the experiment in `experiment` still needs as SLURM jobs (all of it for a new one),
    then its "finish" job after them. {part name: job id}."""
    from spinegui.jobs import slurm
    from spinegui.train.experiment_launch import plan_experiment

    experiment = Path(experiment)
    config = rf.read_config(experiment)
    planned = plan_experiment(config)
    parts = missing_parts(experiment, planned.cfg, planned.plans)
    tasks = [slurm.Task(p.name, prepare_part(experiment, config, p), PART_TARGET, list(p.after)) for p in parts]
    tasks.append(slurm.Task("finish", experiment, FINISH_TARGET, [p.name for p in parts], after_any=True))
    return slurm.submit(experiment, tasks, config, runner=run_part)


def submit(experiment: Path, config: dict[str, Any] | None = None, *, resume: bool = False,
           overwrite: bool = False) -> dict[str, str]:
    """A new experiment folder from `config` (or, on resume, the existing one made ready), then its
    jobs submitted to SLURM; refused in one line, before anything is written, without a SLURM."""
    from spinegui.core.errors import InputError
    from spinegui.jobs import slurm
    from spinegui.jobs.runner import prepare
    from spinegui.jobs.slurm import require_slurm

    require_slurm()
    prepare("experiment", None if resume else config, experiment, resume=resume, overwrite=overwrite)
    try:
        return submit_slurm(experiment)
    except BaseException as exc:
        # the jobs submitted before the failure are cancelled: nothing half-submitted runs on its own
        slurm.cancel_spread(experiment, part_folders(experiment), grace=0)
        rf.update_status(experiment, state="failed", ended=rf.utc_now(), message="SLURM submission failed")
        if isinstance(exc, (InputError, KeyboardInterrupt)):
            raise
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        raise InputError(experiment, f"SLURM submission failed: {lines[-1]}") from None


def settle_parts(experiment: Path) -> None:
    """At the end of a spread experiment, every part's job has ended: one still queued never ran (SLURM
    cancelled it when a job it needed failed), one still running was killed; say so in its folder."""
    for folder in part_folders(experiment):
        status = rf.read_status(folder)
        if status["state"] == "queued":
            rf.write_status(folder, {**status, "state": "cancelled", "ended": rf.utc_now(),
                                     "message": "never ran: a job it needed did not finish"})
        elif status["state"] == "running":   # killed (time limit, memory, node) before it could say so
            rf.write_status(folder, {**status, "state": "failed", "ended": rf.utc_now(),
                                     "message": "its job ended without a final state (time limit, memory or node)"})


def part_folders(experiment: Path) -> list[Path]:
    return sorted(p for p in (Path(experiment) / PARTS).glob("*") if rf.is_run_dir(p))
