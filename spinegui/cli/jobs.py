"""Command-line side of jobs: `spinegui jobs`, `spinegui resume`, `spinegui cancel`,
`spinegui job-selftest`, and `run_foreground` for any command that trains.

Wiring into spinegui/cli/entry.py:
    from spinegui.cli import jobs as jobs_cli
    jobs_cli.add_parsers(sub)                  # in build_parser(); each parser sets its `handler`
The handlers raise InputError for bad input (spinegui.cli.entry prints it as one line, exit 2).
`python -m spinegui.cli.jobs ...` runs the same commands on their own.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from spinegui.cli.common import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, Parser, ProgressBar, run_handler
from spinegui.core import run_events as E
from spinegui.core.argtypes import number
from spinegui.core.errors import InputError
from spinegui.jobs import runfolder as rf
from spinegui.jobs.runner import DEFAULT_GRACE_S, cancel_run, start_job


# --- parsers ---------------------------------------------------------------------------------------
def add_parsers(subparsers) -> None:
    grace = number(float, 0, 86400)   # NaN would skip the wait and kill at once; inf would never kill
    j = subparsers.add_parser("jobs", help="list runs: kind, state, progress, times, message")
    j.add_argument("root", type=Path, nargs="?", default=None, metavar="RUN_ROOT",
                   help="a folder of runs (default: the runs of every workspace)")
    j.add_argument("--json", action="store_true", help="machine-readable output")
    j.set_defaults(handler=cmd_jobs)

    r = subparsers.add_parser("resume", help="resume a cancelled or failed run here, with a progress bar")
    r.add_argument("run", type=Path, metavar="RUN", help="the run folder")
    r.add_argument("--grace", type=grace, default=DEFAULT_GRACE_S,
                   help="on Ctrl+C, seconds the job gets to checkpoint before it is killed (default 2)")
    r.set_defaults(handler=cmd_resume)

    c = subparsers.add_parser("cancel", help="stop a running job (it writes a checkpoint), from any terminal")
    c.add_argument("run", type=Path, metavar="RUN", help="the run folder")
    c.add_argument("--grace", type=grace, default=DEFAULT_GRACE_S,
                   help="seconds the job gets to checkpoint and stop before it is killed (default 2)")
    c.add_argument("--no-wait", action="store_true", help="ask the job to stop and return at once")
    c.set_defaults(handler=cmd_cancel)

    s = subparsers.add_parser("job-selftest", help="run the self-test job: checks that job processes start, "
                                                   "report, cancel and resume")
    s.add_argument("run", type=Path, nargs="?", default=None, metavar="RUN",
                   help="new run folder (default: a new folder under the data folder's runs/)")
    s.add_argument("--steps", type=number(int, 0), default=50, help="steps of the test job (default 50)")
    s.add_argument("--sleep", type=number(float, 0, 3600), default=0.02, help="seconds per step (default 0.02)")
    s.add_argument("--fail-at", type=number(int, 0), default=0, help="raise an exception at this step (0: never)")
    s.add_argument("--abort-at", type=number(int, 0), default=0, help="crash hard (os.abort) at this step (0: never)")
    s.add_argument("--nan-at", type=number(int, 0), default=0, help="diverge (NaN loss) at this step (0: never)")
    s.add_argument("--ignore-cancel", action="store_true", help="never stop when asked (tests the kill)")
    s.add_argument("--grace", type=grace, default=DEFAULT_GRACE_S,
                   help=f"seconds a cancelled job gets to checkpoint before it is killed (default {DEFAULT_GRACE_S:g})")
    s.set_defaults(handler=cmd_job_selftest)


def cmd_jobs(args) -> int:
    if args.root is not None:
        root = Path(args.root)
        if not root.exists():
            raise InputError(root, "no such folder")
        if not root.is_dir():
            raise InputError(root, "not a folder")
        roots = [root]
    else:
        roots = default_run_roots()
    groups = [(root, rf.list_runs(root)) for root in roots]
    if args.json:
        print(json.dumps([r.as_dict() for _, runs in groups for r in runs], indent=2))
        return EXIT_OK
    if not any(runs for _, runs in groups):
        where = ", ".join(str(r) for r in roots) or str(_data_runs())
        print(f"no runs in {where}")
        return EXIT_OK
    for i, (root, runs) in enumerate(g for g in groups if g[1]):
        if len(roots) > 1:
            print(("\n" if i else "") + f"{root}")
        print(format_table(runs))
    return EXIT_OK


def cmd_resume(args) -> int:
    rf.read_status(args.run)    # InputError: no such run folder, or not a run
    if rf.read_config(args.run).get("executor") == "slurm":   # its runs are SLURM jobs: submit what is missing
        return submit_experiment(Path(args.run).resolve(), resume=True)
    return run_foreground(None, None, args.run, resume=True, grace=args.grace)


def cmd_cancel(args) -> int:
    before = rf.refresh_status(args.run)  # InputError: missing folder / not a run
    if before["state"] in rf.FINAL_STATES:
        print(f"{args.run}: not running ({before['state']})")
        return EXIT_OK
    state = cancel_run(args.run, args.grace, wait=not args.no_wait)
    if state not in rf.FINAL_STATES and not args.no_wait:
        status = rf.refresh_status(args.run)
        state, pid = status["state"], status.get("pid")
        if (state not in rf.FINAL_STATES and status.get("host") in (None, rf.hostname()) and rf.pid_alive(pid)
                and not rf.same_process(pid, status.get("pid_token"), strict=True)):
            # status.json is a plain file: its pid alone may name any program by now (issue 14)
            print(f"spinegui: error: {args.run}: did not stop within {args.grace:g} s, and process {pid} was not "
                  "signalled: nothing recorded proves it is the job's (no matching start-time token); the cancel "
                  "file stays, so the job stops by itself when it sees it", file=sys.stderr)
            return EXIT_FAILED
    if state not in rf.FINAL_STATES:  # --no-wait, or a job on another machine: it stops when it sees it
        print(f"{args.run}: cancel requested")
    else:
        message = rf.read_status(args.run).get("message")
        print(f"{args.run}: {state}" + (f" ({message})" if message else ""))
    return EXIT_OK


def cmd_job_selftest(args) -> int:
    for name in ("steps", "sleep", "fail_at", "abort_at", "nan_at"):
        if getattr(args, name) < 0:
            raise InputError(None, f"--{name.replace('_', '-')} must not be negative")
    run = args.run or _data_runs() / f"selftest-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"
    config = {"device": "cpu", "steps": args.steps, "sleep": args.sleep, "fail_at": args.fail_at,
              "abort_at": args.abort_at, "nan_at": args.nan_at, "ignore_cancel": args.ignore_cancel}
    return run_foreground("selftest", config, run, grace=args.grace)


def _data_runs() -> Path:
    from spinegui.core.dataset.workspace import data_home

    return data_home() / "runs"


def default_run_roots() -> list[Path]:
    """Every workspace's runs/ folder, and the data folder's own runs/ (self-tests)."""
    from spinegui.core.dataset.workspace import data_home

    roots = sorted(p / "runs" for p in (data_home() / "workspaces").glob("*") if (p / "runs").is_dir())
    if _data_runs().is_dir():
        roots.append(_data_runs())
    return roots


# --- the table ---------------------------------------------------------------------------------------
# The words for a GAN run's progress and state, shared with the GAN tab (its status line and run list),
# so that both say "epoch 3/10 · critic step 1,200/3,000" and "cancelling" / "cancelled" alike.
def shown_state(status: dict[str, Any], run_dir: str | Path) -> str:
    """The status's state, or "cancelling" from the moment a stop is asked for (the cancel file) until
    the job's process has exited, even after it wrote "cancelled": till then it is still writing its
    last files and cannot be resumed (runner.prepare_resume)."""
    state = status.get("state", "")
    if state in rf.ACTIVE_STATES and rf.cancel_requested(run_dir):
        return "cancelling"
    if (state == "cancelled" and status.get("host") in (None, rf.hostname()) and status.get("pid") != os.getpid()
            and rf.same_process(status.get("pid"), status.get("pid_token"))):
        return "cancelling"
    return state


def _shown_state(r: rf.RunSummary) -> str:
    try:
        return shown_state(rf.read_status(r.path), r.path)
    except InputError:   # gone or rewritten since it was listed
        return r.state


def last_progress(run_dir: str | Path) -> dict[str, Any]:
    """The run's newest "progress" event ({} when there is none)."""
    return next((e for e in reversed(rf.tail_events(run_dir, 16384)) if e.get("kind") == E.PROGRESS), {})


def gan_progress_words(progress: dict[str, Any]) -> str:
    """ "epoch 3/10 · critic step 1,200/3,000" (steps are critic steps, as the events and the loss plot
    count them); no "/100000" when the epoch count is only a cap behind a step or time budget."""
    from spinegui.gan.spec import MAX_EPOCHS

    parts = []
    epoch, epochs = progress.get("epoch"), progress.get("epochs")
    if isinstance(epoch, int):
        parts.append(f"epoch {epoch}" + (f"/{epochs}" if isinstance(epochs, int) and epochs < MAX_EPOCHS else ""))
    step, total = progress.get("step"), progress.get("total")
    if isinstance(step, int):
        parts.append(f"critic step {step:,}" + (f"/{total:,}" if isinstance(total, int) and total > 0 else ""))
    return " · ".join(parts)


def run_progress(r: rf.RunSummary) -> str:
    """The PROGRESS column: a GAN run's epoch and critic step, another run's step/total or share."""
    words = gan_progress_words(last_progress(r.path)) if r.kind == "gan" else ""
    if words:
        return words
    if r.step is not None and r.total:
        return f"{r.step}/{r.total}"
    return f"{100 * r.progress:.0f}%" if r.progress is not None else "-"


def format_table(runs: list[rf.RunSummary], now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    rows = [("RUN", "KIND", "STATE", "PROGRESS", "STARTED", "TIME", "MESSAGE")]
    for r in runs:
        started, ended = rf.parse_time(r.started), rf.parse_time(r.ended)
        duration = _duration(((ended or now) - started).total_seconds()) if started else "-"
        when = started.astimezone().strftime("%Y-%m-%d %H:%M") if started else "-"
        message = r.message or ("resumable" if r.state in ("cancelled", "failed") and r.resumable else "")
        rows.append((r.name, r.kind or "?", _shown_state(r), run_progress(r), when, duration, message))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row[:6], widths)) + "  " + row[6] for row in rows).rstrip()


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


# --- foreground runs ---------------------------------------------------------------------------------
class ProgressLine:
    """A job's events on a ProgressBar: progress and losses update the bar (step/total, epoch, the
    first three losses); metrics, samples and log messages print as lines of their own."""

    def __init__(self, label: str, stream: TextIO | None = None):
        self.bar = ProgressBar(label, stream)
        self.progress: dict[str, Any] = {}
        self.loss: dict[str, Any] = {}

    def feed(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            kind = ev.get("kind")
            if kind == E.PROGRESS:
                self.progress = ev
            elif kind == E.LOSS:
                self.loss = ev
            elif kind == E.METRIC:
                self.say(f"metric {ev.get('split', '')} {ev.get('name', '')} = {_num(ev.get('value'))}"
                         + (f" (epoch {ev['epoch']})" if "epoch" in ev else ""))
            elif kind == E.SAMPLE:
                self.say(f"sample {ev.get('path', '')}")
            elif kind == E.LOG and ev.get("message"):
                self.say(str(ev["message"]))
        self.draw()

    def say(self, text: str) -> None:
        self.bar.say(text)

    def draw(self, final: bool = False) -> None:
        if not self.progress:
            return
        step, total = self.progress.get("step"), self.progress.get("total")
        parts = [f"epoch {self.progress['epoch']}"] if "epoch" in self.progress else []
        parts += [f"{k}={_num(v)}" for k, v in self.loss.items() if k not in ("t", "kind", "step", "epoch")][:3]
        self.bar.update(step if isinstance(step, (int, float)) else None, total, " ".join(parts), final=final)


def _num(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def run_foreground(kind: str | None, config: dict[str, Any] | None, run_dir: str | Path, resume: bool = False,
                   *, grace: float = DEFAULT_GRACE_S, stream: TextIO | None = None, overwrite: bool = False) -> int:
    """Run a job in its own process and follow it here with a progress line on stderr.

    Exit codes: 0 done; 1 failed (one line on stderr); 130 cancelled (Ctrl+C here, or `spinegui cancel`
    elsewhere; the job wrote a checkpoint). Bad input (no such run, not a run, done already, a device
    this machine lacks) raises InputError before anything is written, which the CLI prints as one
    line with exit code 2. `overwrite`: replace an earlier run of the same kind in `run_dir`."""
    stream = stream or sys.stderr
    if resume:
        try:
            device = rf.read_config(run_dir).get("device")
        except InputError:
            device = None  # start_job says what is wrong with the folder
        require_device(device, run_dir)
    else:
        require_device((config or {}).get("device"))
    handle = start_job(kind, config, run_dir, resume=resume, overwrite=overwrite)
    run_dir = handle.run_dir
    bar = ProgressLine(f"{run_dir.name}", stream)
    interrupts = []
    restore = _catch_sigint(interrupts)
    asked = 0
    try:
        while handle.alive:
            if len(interrupts) > asked:
                asked = len(interrupts)
                if asked == 1:
                    bar.say(f"spinegui: cancelling {run_dir.name} "
                            "(the job writes a checkpoint; Ctrl+C again to kill it)")
                    handle.cancel(grace)
                else:
                    handle.cancel(0.0)
            bar.feed(handle.poll_events())
            handle.wait(0.1)
        bar.feed(handle.poll_events())
        bar.draw(final=True)
    except KeyboardInterrupt:  # no handler could be installed (not the main thread): still cancel
        handle.cancel(grace)
        handle.wait(grace + 5.0)
    finally:
        restore()
    status = rf.read_status(run_dir)
    state, message = status["state"], status.get("message")
    if state == "done":
        print(f"{run_dir}: done", file=stream, flush=True)
        return EXIT_OK
    if state == "cancelled":
        print(f"spinegui: cancelled: {run_dir}: {message or 'cancelled'}; resume with: spinegui resume {run_dir}",
              file=stream, flush=True)
        return EXIT_CANCELLED
    print(f"spinegui: error: {run_dir}: {message or state}", file=stream, flush=True)
    return EXIT_FAILED


def require_device(device: Any, run_dir: str | Path | None = None) -> None:
    """InputError when a job is set to run on a device this machine does not have (torch is
    imported only then: "auto" and "cpu" cost nothing)."""
    if device in (None, "", "auto", "cpu"):
        return
    import torch

    try:
        dev = torch.device(str(device))
    except (RuntimeError, ValueError):
        raise InputError(run_dir, f"unknown device {device!r}; use cpu, cuda or auto") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0 or (dev.index or 0) >= n:
            what = "no CUDA GPU" if n == 0 else f"{n} CUDA GPU{'s' if n > 1 else ''}"
            _no_device(device, run_dir, f"torch sees {what} on this machine")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        _no_device(device, run_dir, "torch sees no Apple GPU on this machine")


def _no_device(device: Any, run_dir: str | Path | None, why: str) -> None:
    if run_dir is None:
        raise InputError(None, f"--device {device}: {why}; use --device cpu (or auto)")
    raise InputError(run_dir, f"runs on device {device}, but {why}; resume it on a machine that has one")


def _catch_sigint(interrupts: list):
    """Ctrl+C -> a note in `interrupts` (the loop turns it into a cancel) instead of an exception."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    try:
        previous = signal.signal(signal.SIGINT, lambda *_: interrupts.append(time.monotonic()))
    except (ValueError, OSError):
        return lambda: None
    return lambda: signal.signal(signal.SIGINT, previous)


# --- standalone --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """The job commands on their own (`python -m spinegui.cli.jobs`), with spinegui.cli.entry's conventions."""
    multiprocessing.freeze_support()
    parser = Parser(prog="spinegui")
    parser.add_argument("--debug", action="store_true")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser, required=True)
    add_parsers(sub)
    return run_handler(parser.parse_args(argv))


def submit_experiment(out: Path, config: dict[str, Any] | None = None, *, resume: bool = False,
                      overwrite: bool = False) -> int:
    """Submit the experiment's jobs to SLURM (a new one from `config`; on resume only what is missing)
    and return at once: `spinegui jobs`, the Results tab and `spinegui cancel` follow them in `out`."""
    from spinegui.train.experiment_parts import submit

    ids = submit(out, config, resume=resume, overwrite=overwrite)
    runs = [n for n in ids if n not in ("prepare", "finish") and not n.startswith("gan-")]
    print(f"submitted {len(ids)} SLURM jobs ({len(runs)} runs): {', '.join(sorted(set(ids.values()), key=int))}")
    print(f"follow: spinegui jobs {out}   cancel: spinegui cancel {out}   results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

