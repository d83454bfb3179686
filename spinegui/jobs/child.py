"""The job process: module-level entry for multiprocessing's spawn (and a frozen app's), which
imports the job's target, runs it and writes the run folder's final state itself.

Nothing here imports torch; the target's module may.
"""

from __future__ import annotations

import faulthandler
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from pathlib import Path

from spinegui.core import run_events as E
from spinegui.jobs import runfolder as rf
from spinegui.jobs.context import JobContext, StatusFile, open_events
from spinegui.jobs.registry import resolve_target

# After the parent process disappears (the app was killed), the job is asked to stop as if cancelled;
# if it has not returned after this long, the job process writes its state and exits anyway.
PARENT_GONE_GRACE_S = 30.0

_log_file = None  # kept open for faulthandler's crash dump

# A job started from the app runs at this nice level (Windows: below-normal priority class), so the window's
# thread wins the CPU whenever it has work: on a 2-core machine a training job at normal priority
# doubled the worst event-loop stall (65-76 ms against 30-36 ms) and trained no faster.
BACKGROUND_NICE = 10


def lower_priority() -> None:
    """Make this process (and the threads it starts later: torch's pool) yield to interactive work."""
    try:
        if sys.platform == "win32":
            import ctypes

            kernel32 = ctypes.windll.kernel32
            kernel32.SetPriorityClass(kernel32.GetCurrentProcess(), 0x4000)  # BELOW_NORMAL_PRIORITY_CLASS
        else:
            os.nice(BACKGROUND_NICE)
    except (OSError, AttributeError):
        pass  # a priority is a courtesy: the job runs either way


def child_main(run_dir: str, target: str, resume: bool, in_process: bool = False, background: bool = False) -> None:
    """Run one job. Never raises: the outcome is in status.json and the exit code.

    ``in_process``: run in the calling process (torchrun's rank 0), keeping its terminal output.
    ``background``: started by the app; lower this process's priority before any thread exists."""
    run = Path(run_dir)
    if background:
        lower_priority()
    if not in_process:
        _quiet_interrupts()
        _redirect_output(run)
    config: dict = {}
    status = StatusFile(run, _initial_status(run, resume))
    try:
        config = rf.read_config(run)
        status.update(state="running", started=status.data.get("started") or rf.utc_now(), ended=None,
                      message=None, pid=os.getpid(), pid_token=rf.process_token(os.getpid()),
                      host=rf.hostname(), kind=config.get("kind"), device=_initial_device(config),
                      exit_code=None, error_type=None, traceback=None, stale=None,
                      resumes=int(status.data.get("resumes") or 0) + (1 if resume else 0),
                      **({"resumed": rf.utc_now()} if resume else {}))
        events = open_events(run)
    except BaseException as exc:  # the run folder itself is unusable: say so where we still can
        _fail_early(status, exc)
        raise SystemExit(1) from None

    ctx = JobContext(run, config, resume, status, events, t_offset=rf.last_event_time(run))
    finished = threading.Event()
    if not in_process:
        _watch_parent(ctx, status, finished)
    ctx.emit(E.STATE, state="running", pid=os.getpid(), resume=bool(resume))
    if resume:
        ctx.log("resumed")
    outcome, fields = "done", {"message": None}
    try:
        func = resolve_target(target)
        func(ctx)
    except BaseException as exc:
        outcome = "failed"
        fields = {"message": _exc_line(exc), "error_type": type(exc).__name__,
                  "traceback": "".join(traceback.format_exception(exc))[-20000:]}
        print(fields["traceback"], file=sys.stderr, flush=True)  # into output.log
    else:
        if ctx.stop_seen:
            outcome, fields = "cancelled", {"message": ctx.stop_reason}
    finally:
        finished.set()
        try:
            ctx.close()
        except OSError:
            pass
    with status.lock:
        if not status.final:
            try:
                ctx.emit(E.STATE, state=outcome, message=fields.get("message"))
            except OSError:
                pass
            status.update(state=outcome, ended=rf.utc_now(), exit_code=0, progress=ctx.last_progress
                          or status.data.get("progress"), **fields)
            if outcome in rf.FINAL_STATES:
                rf.clear_cancel(run)
    events.close()
    sys.stdout.flush()
    sys.stderr.flush()


def _exc_line(exc: BaseException) -> str:
    text = str(exc).strip()
    last = text.splitlines()[-1].strip() if text else ""
    return rf.one_line(f"{type(exc).__name__}: {last}" if last else type(exc).__name__)


def _initial_status(run: Path, resume: bool) -> dict:
    try:
        return rf.read_status(run)
    except Exception:
        return {"state": "queued", "started": None, "ended": None, "message": None, "pid": None, "device": None}


def _initial_device(config: dict) -> str | None:
    device = config.get("device")
    return str(device) if device not in (None, "auto") else None


def _fail_early(status: StatusFile, exc: BaseException) -> None:
    try:
        status.update(state="failed", ended=rf.utc_now(), message=_exc_line(exc), pid=os.getpid(),
                      error_type=type(exc).__name__)
    except Exception:
        traceback.print_exc()


def _quiet_interrupts() -> None:
    # Ctrl+C in a terminal reaches the whole process group; the parent turns it into a cancel (the
    # job checkpoints), so the job itself must not die of KeyboardInterrupt mid-step.
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):
        pass


def _redirect_output(run: Path) -> None:
    """stdout/stderr (Python's and C's, e.g. CUDA's) -> output.log; faulthandler's dump too."""
    global _log_file
    try:
        _log_file = open(run / rf.OUTPUT_LOG, "ab", buffering=0)
    except OSError:
        return
    for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
        try:
            if stream is not None:
                stream.flush()
            os.dup2(_log_file.fileno(), fd)
        except (OSError, ValueError):
            pass
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:  # a windowed frozen app has none
            setattr(sys, name, open(_log_file.fileno(), "w", encoding="utf-8", errors="replace",
                                    buffering=1, closefd=False))
        else:
            try:
                stream.reconfigure(line_buffering=True)
            except (AttributeError, ValueError):
                pass
    faulthandler.enable(file=_log_file, all_threads=True)


def _watch_parent(ctx: JobContext, status: StatusFile, finished: threading.Event) -> None:
    """The parent went away (killed, crashed): stop like a cancel; if the job ignores it, end."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        if finished.is_set():
            return
        ctx.request_stop("the parent process exited")
        if finished.wait(PARENT_GONE_GRACE_S):
            return
        with status.lock:
            status.update(state="cancelled", ended=rf.utc_now(),
                          message=f"the parent process exited and the job did not stop within "
                                  f"{PARENT_GONE_GRACE_S:g} s")
            os._exit(1)

    threading.Thread(target=watch, name="spinegui-job-parent-watch", daemon=True).start()
