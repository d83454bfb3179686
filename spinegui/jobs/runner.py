"""Start a job in its own process, follow it, cancel it, resume it.

Flow (the run folder is the only channel, so every reader sees the same thing):
- the parent writes config.toml and status "queued", then spawns `child_main` (spawn context: no
  fork of a process that may hold Qt or CUDA state; works in a frozen app with freeze_support());
- the child writes status "running", appends events to events.jsonl, and writes the final state;
- `poll_events()` tails events.jsonl by byte offset, so it serves runs of other processes too;
- `cancel()` creates the run folder's `cancel` file (what `spinegui cancel` in another process does
  too); the job sees it in ctx.should_stop(), checkpoints and returns. After the grace period the
  process is terminated, then killed, and the run is marked cancelled;
- a monitor thread per job reaps the process and, when it died without a final state (segfault,
  os.abort(), OOM kill), writes failed with the signal or exit code.
"""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.util  # its atexit hook first, so ours runs before it
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spinegui.core import outdir
from spinegui.core import run_events as E
from spinegui.core.errors import InputError
from spinegui.jobs import runfolder as rf
from spinegui.jobs.child import child_main
from spinegui.jobs.registry import job_target

DEFAULT_GRACE_S = 2.0
KILL_WAIT_S = 1.0  # after terminate(), before kill()


# --- preparing the run folder --------------------------------------------------------------------
def check_new_run(kind: str, run_dir: str | Path, *, overwrite: bool = False, dataset: str | Path | None = None,
                  taken: str = "already a run folder; resume it or choose a new folder") -> bool:
    """InputError unless `run_dir` may take a new run of `kind` (core/outdir.py's rule); writes
    nothing. True when an earlier run there is to be replaced: with `overwrite`, or without it when
    that run (of the same kind) failed or was cancelled before its first step. `taken`: the reason
    given for a run of the same kind that is kept."""
    run_dir = outdir.guard(run_dir, dataset=dataset)
    if rf.is_run_dir(run_dir) or (run_dir / rf.CONFIG).exists():
        run_kind = rf.read_config(run_dir).get("kind")
        if run_kind != kind:
            raise InputError(run_dir, f"is a {run_kind!r} run, not {kind!r}; choose another folder")
        status = rf.refresh_status(run_dir)
        if status["state"] in rf.ACTIVE_STATES:
            raise InputError(run_dir, f"that run is {status['state']}; cancel it first (spinegui cancel) "
                                      "or choose another folder")
        if not overwrite and not rf.ended_before_first_step(run_dir, status):
            raise InputError(run_dir, taken)
    elif not _is_empty(run_dir):
        if not overwrite:
            raise InputError(run_dir, "exists and is not an empty folder")
    else:
        return False
    outdir.check(run_dir, outdir.run_kind(kind), overwrite=True, dataset=dataset)
    return True


def _is_empty(folder: Path) -> bool:
    try:
        return not folder.exists() or not any(folder.iterdir())
    except OSError as exc:
        raise InputError(folder, f"cannot read the folder: {exc.strerror or exc}") from None


def prepare_new(kind: str, config: dict[str, Any] | None, run_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Write config.toml and status "queued" into a new (or empty) run folder; with `overwrite`,
    in place of an earlier run of the same kind (see check_new_run)."""
    job_target(kind)  # unknown kinds are refused before anything is written
    run_dir = Path(run_dir)
    config = dict(config or {})
    if config.get("kind", kind) != kind:
        raise InputError(None, f"config kind {config['kind']!r} does not match job kind {kind!r}")
    # A job's "root" is its dataset: no run folder goes into it.
    dataset = config.get("root") if isinstance(config.get("root"), str) else None
    replace = check_new_run(kind, run_dir, overwrite=overwrite, dataset=dataset)
    full = {"kind": kind, "seed": config.pop("seed", 0), "device": config.pop("device", "auto")}
    config.pop("kind", None)
    full.update(config)
    full["created"] = rf.utc_now()
    full["versions"] = {**rf.versions(), **(config.get("versions") or {})}
    mark = outdir.run_kind(kind)
    outdir.prepare(run_dir, mark, overwrite=replace, dataset=dataset)
    try:
        (run_dir / rf.CHECKPOINTS).mkdir(parents=True, exist_ok=True)
        rf.write_config(run_dir, full)
        (run_dir / rf.EVENTS).touch()
        rf.write_status(run_dir, _queued_status(kind, {"device": _device_or_none(full["device"])}))
    except OSError as exc:
        raise InputError(run_dir, f"cannot write the run folder: {exc.strerror or exc}") from None
    outdir.seal(run_dir, mark)  # the job's files join the list when it ends (JobHandle)
    return run_dir


def seal_run(run_dir: str | Path) -> None:
    """List every file of an ended run as its own, so that --overwrite may replace it later."""
    try:
        kind = rf.read_config(run_dir).get("kind")
    except InputError:
        return
    if kind:
        outdir.seal(run_dir, outdir.run_kind(kind))


def prepare_resume(run_dir: str | Path, kind: str | None = None) -> tuple[str, Path]:
    """Check that an existing run can go on, mark it queued again. Returns (kind, run_dir)."""
    run_dir = Path(run_dir)
    status = rf.refresh_status(run_dir)  # InputError for a missing folder or one that is not a run
    config = rf.read_config(run_dir)
    run_kind = config.get("kind")
    if not run_kind:
        raise InputError(run_dir / rf.CONFIG, "config.toml names no job kind")
    if kind is not None and kind != run_kind:
        raise InputError(run_dir, f"is a {run_kind!r} run, not {kind!r}")
    job_target(run_kind)
    state = status["state"]
    if state == "running":
        raise InputError(run_dir, f"is already running (pid {status.get('pid')})")
    if (state in rf.FINAL_STATES and status.get("host") in (None, rf.hostname()) and status.get("pid") != os.getpid()
            and rf.same_process(status.get("pid"), status.get("pid_token"))):
        # it wrote its final state but has not exited yet (writing its last files): two would share the folder
        raise InputError(run_dir, f"is still stopping (pid {status.get('pid')}); try again in a moment")
    if state == "queued":
        raise InputError(run_dir, "is queued already")
    if state == "done":
        raise InputError(run_dir, "is done already; nothing to resume")
    try:
        rf.clear_cancel(run_dir)
        keep = {k: v for k, v in status.items() if k not in ("state", "ended", "message", "pid", "pid_token",
                                                             "exit_code", "stale", "traceback", "error_type")}
        rf.write_status(run_dir, _queued_status(run_kind, keep))
    except OSError as exc:
        raise InputError(run_dir, f"cannot write the run folder: {exc.strerror or exc}") from None
    return run_kind, run_dir


def _queued_status(kind: str, keep: dict[str, Any]) -> dict[str, Any]:
    base = {"started": None, "device": None}
    base.update(keep)
    base.update(state="queued", ended=None, message=None, pid=None, kind=kind, host=rf.hostname(),
                owner_pid=os.getpid(), owner_token=rf.process_token(os.getpid()))
    return base


def _device_or_none(device: Any) -> str | None:
    return None if device in (None, "auto") else str(device)


# --- the handle ----------------------------------------------------------------------------------
_live: weakref.WeakSet[JobHandle] = weakref.WeakSet()
_live_lock = threading.Lock()


class JobHandle:
    """A job started by this process (`process` given) or attached to a run of another process."""

    def __init__(self, run_dir: str | Path, *, process: multiprocessing.Process | None = None,
                 kind: str | None = None, offset: int = 0,
                 on_exit: Callable[[JobHandle], None] | None = None):
        self.run_dir = Path(run_dir)
        self.kind = kind
        self._process = process
        self._pid = process.pid if process is not None else None
        self._exitcode: int | None = None
        self._offset = offset
        self._on_exit = on_exit
        self._done = threading.Event()
        self._cancel_deadline: float | None = None
        self._grace = DEFAULT_GRACE_S
        self._killed = False
        self._lock = threading.Lock()
        if process is not None:
            key = str(self.run_dir.resolve())
            rf.owned_runs.add(key)
            with _live_lock:
                _live.add(self)
            threading.Thread(target=self._monitor, name=f"spinegui-job-{self.run_dir.name}", daemon=True).start()

    @classmethod
    def attach(cls, run_dir: str | Path, offset: int = 0) -> JobHandle:
        """Follow (and cancel) a run that another process started, e.g. after reopening the app."""
        status = rf.refresh_status(run_dir)
        h = cls(run_dir, kind=status.get("kind"), offset=offset)
        if status["state"] in rf.FINAL_STATES:
            h._done.set()
        return h

    # --- reading -----------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        if self._process is not None:
            return self._pid
        return rf.read_status(self.run_dir).get("pid")

    @property
    def exitcode(self) -> int | None:
        return self._exitcode  # set by the monitor thread (the one thread that reaps the process)

    @property
    def alive(self) -> bool:
        if self._process is not None:
            return not self._done.is_set()
        if self._done.is_set():
            return False
        if rf.refresh_status(self.run_dir)["state"] in rf.FINAL_STATES:
            self._done.set()
        return not self._done.is_set()

    def poll_events(self) -> list[dict[str, Any]]:
        """Events written since the last call (never blocks)."""
        with self._lock:
            events, self._offset = rf.read_events(self.run_dir, self._offset)
        return events

    def status(self) -> dict[str, Any]:
        return rf.refresh_status(self.run_dir) if self._process is None else rf.read_status(self.run_dir)

    def wait(self, timeout: float | None = None) -> str | None:
        """Block until the job has ended and its final state is on disk; that state, or None on timeout."""
        if self._process is not None:
            if not self._done.wait(timeout):
                return None
            return rf.read_status(self.run_dir)["state"]
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            if not self.alive:
                return rf.read_status(self.run_dir)["state"]
            if end is not None and time.monotonic() >= end:
                return None
            time.sleep(0.05)

    # --- control -----------------------------------------------------------------------------
    def cancel(self, grace: float = DEFAULT_GRACE_S) -> None:
        """Ask the job to checkpoint and stop; kill it if it still runs after `grace` seconds.
        Returns at once; wait() for the outcome."""
        if self._done.is_set():
            return
        try:
            rf.request_cancel(self.run_dir)
        except OSError:
            grace = 0.0  # no way to ask politely
        if self._process is None:
            threading.Thread(target=cancel_run, args=(self.run_dir, grace), daemon=True).start()
            return
        with self._lock:
            deadline = time.monotonic() + max(0.0, grace)
            if self._cancel_deadline is None or deadline < self._cancel_deadline:
                self._cancel_deadline, self._grace = deadline, grace

    def _monitor(self) -> None:
        p = self._process
        kill_at = None
        while p.exitcode is None:
            p.join(0.05 if self._cancel_deadline is not None else 0.25)
            if p.exitcode is not None:
                break
            now = time.monotonic()
            if self._cancel_deadline is not None and now >= self._cancel_deadline and kill_at is None:
                self._killed = True
                p.terminate()
                kill_at = now + KILL_WAIT_S
            elif kill_at is not None and now >= kill_at:
                p.kill()
                kill_at = float("inf")
        self._exitcode = p.exitcode
        try:
            self._finalize(p.exitcode)
            seal_run(self.run_dir)
        finally:
            rf.owned_runs.discard(str(self.run_dir.resolve()))
            self._done.set()
            with _live_lock:
                _live.discard(self)
            try:
                p.close()
            except ValueError:
                pass
            if self._on_exit is not None:
                self._on_exit(self)

    def _finalize(self, exitcode: int | None) -> None:
        """The child writes its own final state; when it died first, write one for it."""
        try:
            status = rf.read_status(self.run_dir)
        except InputError:
            status = {"state": "queued", "started": None, "ended": None, "message": None, "pid": None,
                      "device": None}
        if status["state"] in rf.FINAL_STATES and not status.get("stale"):
            return
        mine = self._process.pid if self._process is not None else None
        if status.get("pid") not in (None, mine):
            return   # the run was resumed by another process meanwhile: its status is no longer ours to end
        cancelled = self._killed or self._cancel_deadline is not None or rf.cancel_requested(self.run_dir)
        how = describe_exit(exitcode)
        if cancelled:
            state = "cancelled"
            message = (f"did not stop within {self._grace:g} s of the cancel request; killed" if self._killed
                       else f"cancelled; the process ended without reporting ({how})")
        else:
            state, message = "failed", how
        status.update(state=state, ended=rf.utc_now(), message=message, exit_code=exitcode, stale=None)
        try:
            rf.write_status(self.run_dir, status)
            rf.append_event(self.run_dir, {"kind": E.STATE, "state": state, "message": message})
            if state == "cancelled":
                rf.clear_cancel(self.run_dir)
        except OSError:
            pass

    def __repr__(self) -> str:
        return f"<JobHandle {self.run_dir.name} kind={self.kind} alive={self.alive}>"


def describe_exit(exitcode: int | None) -> str:
    """One line for a process that ended without writing its final state."""
    if exitcode is None:
        return "the process is gone"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"killed by signal {name} (exit code {exitcode}); see {rf.OUTPUT_LOG}"
    return f"the process exited with code {exitcode} without reporting a result; see {rf.OUTPUT_LOG}"


# --- starting ------------------------------------------------------------------------------------
def start_job(kind: str | None, config: dict[str, Any] | None, run_dir: str | Path, *, resume: bool = False,
              on_exit: Callable[[JobHandle], None] | None = None, overwrite: bool = False) -> JobHandle:
    """Start a job in a new process and return at once.

    New run: `run_dir` must be new or empty (or, with `overwrite`, an earlier run of the same kind;
    see check_new_run); config.toml is written from `kind` + `config`.
    resume=True: `run_dir` is an existing cancelled/failed run; its config.toml is read again (the
    `config` argument is ignored, `kind` may be None) and events.jsonl goes on."""
    kind, run_dir = prepare(kind, config, run_dir, resume=resume, overwrite=overwrite)
    return launch(kind, run_dir, resume=resume, on_exit=on_exit)


def prepare(kind: str | None, config: dict[str, Any] | None, run_dir: str | Path, *,
            resume: bool, overwrite: bool = False) -> tuple[str, Path]:
    """A new run folder (status queued), or an existing run made ready to go on: (kind, run_dir)."""
    if resume:
        return prepare_resume(run_dir, kind)
    if kind is None:
        raise InputError(None, "a new job needs a kind")
    return kind, prepare_new(kind, config, run_dir, overwrite=overwrite)


def launch(kind: str, run_dir: Path, *, resume: bool, on_exit: Callable[[JobHandle], None] | None = None,
           background: bool = False) -> JobHandle:
    """Spawn the process for a prepared (queued) run folder; `background`: at lower priority (the app's jobs)."""
    target = job_target(kind)
    run_dir = Path(run_dir).resolve()
    offset = (run_dir / rf.EVENTS).stat().st_size if resume and (run_dir / rf.EVENTS).exists() else 0
    ctx = multiprocessing.get_context("spawn")
    # Not a daemon: a daemonic process may not start children (DataLoader workers).
    process = ctx.Process(target=child_main, args=(str(run_dir), target, bool(resume), False, background),
                          name=f"spinegui-job-{run_dir.name}", daemon=False)
    try:
        process.start()
    except Exception as exc:
        message = rf.one_line(f"could not start the job process: {type(exc).__name__}: {exc}")
        rf.update_status(run_dir, state="failed", ended=rf.utc_now(), message=message)
        raise InputError(run_dir, message) from None
    return JobHandle(run_dir, process=process, kind=kind, offset=offset, on_exit=on_exit)


SPREAD_GRACE_S = 30.0   # a spread experiment's running parts: time to reach a checkpoint


# --- cancelling a run of any process -------------------------------------------------------------
def cancel_run(run_dir: str | Path, grace: float = DEFAULT_GRACE_S, *, wait: bool = True) -> str:
    """Cancel a run, whoever started it: the cancel file, then (after `grace`) a kill by pid, but only
    of the process the run recorded (pid and start-time token both match): status.json is a plain file,
    and a bare pid may name any program by now. Returns the state after that (a run already ended keeps
    its state; one whose process could not be told apart stays running, its cancel file in place)."""
    run_dir = Path(run_dir)
    status = rf.refresh_status(run_dir)
    if status["state"] in rf.FINAL_STATES:
        return status["state"]
    from spinegui.jobs import slurm

    if slurm.is_spread(run_dir):     # its work runs as SLURM jobs: cancel them all, through the folder
        # its parts get time to see the cancel file and checkpoint before their jobs are killed
        return slurm.cancel_spread(run_dir, sorted(p for p in (run_dir / "parts").glob("*") if rf.is_run_dir(p)),
                                   max(grace, SPREAD_GRACE_S))
    try:
        rf.request_cancel(run_dir)
    except OSError as exc:
        raise InputError(run_dir, f"cannot request a cancel: {exc.strerror or exc}") from None
    if status["state"] == "queued":
        # Not started: the queue that holds it skips it (it checks the cancel file before starting).
        rf.write_status(run_dir, {**status, "state": "cancelled", "ended": rf.utc_now(),
                                  "message": "cancelled before it started"})
        rf.append_event(run_dir, {"kind": E.STATE, "state": "cancelled", "message": "cancelled before it started"})
        return "cancelled"
    if not wait:
        return status["state"]
    end = time.monotonic() + max(0.0, grace)
    while time.monotonic() < end:
        status = rf.refresh_status(run_dir)
        if status["state"] in rf.FINAL_STATES:
            return status["state"]
        time.sleep(0.05)
    pid, token = status.get("pid"), status.get("pid_token")
    if pid is None or status.get("host") not in (None, rf.hostname()):
        return status["state"]  # another machine's job (shared disk): the cancel file is all we can do
    if not rf.same_process(pid, token, strict=True):
        return status["state"]   # not provably the job's process: signal nothing, claim nothing
    _kill_pid(pid, token)
    # The owner (if any) reaps the process and may write the state; give it a moment, then write it.
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        status = rf.read_status(run_dir)
        if status["state"] in rf.FINAL_STATES:
            return status["state"]
        time.sleep(0.05)
    message = f"did not stop within {grace:g} s of the cancel request; killed"
    rf.write_status(run_dir, {**status, "state": "cancelled", "ended": rf.utc_now(), "message": message})
    rf.append_event(run_dir, {"kind": E.STATE, "state": "cancelled", "message": message})
    rf.clear_cancel(run_dir)
    return "cancelled"


def _kill_pid(pid: int, token: str | None) -> None:
    if not rf.same_process(pid, token, strict=True):   # checked here too: this is the one that signals
        return
    try:
        os.kill(pid, signal.SIGTERM)  # TerminateProcess on Windows
    except OSError:
        return
    end = time.monotonic() + KILL_WAIT_S
    while time.monotonic() < end:
        if not rf.same_process(pid, token, strict=True):
            return
        time.sleep(0.05)
    if os.name != "nt" and rf.same_process(pid, token, strict=True):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        end = time.monotonic() + KILL_WAIT_S
        while time.monotonic() < end and rf.same_process(pid, token, strict=True):
            time.sleep(0.05)


# --- leaving ---------------------------------------------------------------------------------------
def _shutdown_live_jobs() -> None:
    """At exit, running jobs get a cancel (they checkpoint) instead of holding the interpreter in
    multiprocessing's join of non-daemonic children."""
    with _live_lock:
        handles = list(_live)
    for h in handles:
        h.cancel(DEFAULT_GRACE_S)
    for h in handles:
        h.wait(DEFAULT_GRACE_S + KILL_WAIT_S + 2.0)


atexit.register(_shutdown_live_jobs)
