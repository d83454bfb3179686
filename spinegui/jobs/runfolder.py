"""The run folder: the files every reader depends on (docs/ARCHITECTURE.md, "Run folder").

    config.toml    all settings: kind, seed, device, [versions] (spinegui, python, torch, platform)
    status.json    {"state", "started", "ended", "message", "pid", "device", ...}, replaced atomically
    events.jsonl   one JSON object a line, appended and flushed: {"t": s, "kind": ..., ...}; the
                   kinds and their fields: spinegui/core/run_events.py
    checkpoints/   the job's own business; any file in it means "the job can resume"
    output.log     the job process's stdout/stderr (and faulthandler's dump after a hard crash)
    cancel         present while a cancel is requested (any process may create it)
    .spinegui-output.json  the run's own files (core/outdir.py), listed when the job ends: all that
                   --overwrite may delete

Readers here never need the process that wrote the folder: the GUI, `spinegui jobs` and another
machine's torchrun see the same thing. Plain Python, no Qt, no torch.
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import sys
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from spinegui.core import run_events as E
from spinegui.core.dataset.workspace import atomic_write_bytes
from spinegui.core.errors import InputError
from spinegui.jobs import _toml

CONFIG = "config.toml"
STATUS = "status.json"
EVENTS = "events.jsonl"
CHECKPOINTS = "checkpoints"
OUTPUT_LOG = "output.log"
CANCEL = "cancel"

STATES = ("queued", "running", "cancelled", "failed", "done")
FINAL_STATES = frozenset({"cancelled", "failed", "done"})
ACTIVE_STATES = frozenset({"queued", "running"})

GONE_MESSAGE = "the process is gone"


# --- small helpers -------------------------------------------------------------------------------
def utc_now() -> str:
    """ISO-8601 UTC with a Z, to the millisecond: 2026-12-01T10:00:03.120Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def hostname() -> str:
    return socket.gethostname()


def one_line(text: Any) -> str:
    return " ".join(str(text).split())


def pid_alive(pid: int | None) -> bool:
    """Is a process with this id running on this machine? (A zombie counts as dead.)"""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if os.name == "nt":
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    fields = _proc_stat(pid)
    return not (fields and fields[0] == "Z")


def process_token(pid: int | None) -> str | None:
    """Something that tells this process apart from a later one with the same id: its start time
    (Linux: clock ticks since boot; Windows: creation time; elsewhere, e.g. macOS: ps's lstart).
    None where it cannot be read."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    fields = _proc_stat(pid)
    if fields is not None or sys.platform.startswith("linux"):   # no /proc entry on Linux: no process
        return fields[19] if fields and len(fields) > 19 else None
    if os.name == "nt":
        return _start_time_windows(pid)
    return _start_time_ps(pid)


def same_process(pid: int | None, token: str | None, *, strict: bool = False) -> bool:
    """The process recorded as (pid, token) still runs: alive, and not a reused id.

    Lenient (the default, for "is the run still going?"): a run recorded without a token, or on a
    platform that gives none, counts as still going while its pid lives. strict (before a signal is
    sent): the token must be recorded and match, because a bare pid may name any process by now."""
    if not pid_alive(pid):
        return False
    if token is None and not strict:
        return True
    now = process_token(pid)
    if strict:
        return isinstance(token, str) and now is not None and now == token
    return now is None or now == token


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2:].split()  # fields from "state" on; comm may contain spaces


def _start_time_ps(pid: int) -> str | None:
    """The start time as ps prints it (to the second: enough, a pid is not reused that fast)."""
    import subprocess

    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC0"}   # the same text whoever asks
    try:
        out = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True,
                             env=env, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return " ".join(out.split()) or None


def _start_time_windows(pid: int) -> str | None:  # pragma: no cover - Windows only
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return None
    try:
        times = [wintypes.FILETIME() for _ in range(4)]  # creation, exit, kernel, user
        if not kernel32.GetProcessTimes(wintypes.HANDLE(handle), *(ctypes.byref(t) for t in times)):
            return None
        return str((times[0].dwHighDateTime << 32) | times[0].dwLowDateTime)
    finally:
        kernel32.CloseHandle(wintypes.HANDLE(handle))


def _pid_alive_windows(pid: int) -> bool:  # pragma: no cover - Windows only
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5  # access denied: it exists
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return False
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


# --- config.toml ---------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    """Versions known without importing anything heavy (torch's comes from its metadata)."""
    from spinegui import __version__

    out = {"spinegui": __version__, "python": platform.python_version(),
           "platform": f"{sys.platform}-{platform.machine()}"}
    for dist in ("torch", "torchvision"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    try:
        text = _toml.dumps(config)
    except TypeError as exc:
        raise InputError(run_dir / CONFIG, f"config cannot be written: {exc}") from None
    atomic_write_bytes(Path(run_dir) / CONFIG, text.encode("utf-8"))


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The run's config.toml; a regular file of at most 1 MiB (core.limits), else InputError."""
    from spinegui.core.limits import read_toml

    path = Path(run_dir) / CONFIG
    try:
        return read_toml(path, what="run config")
    except FileNotFoundError:
        raise InputError(Path(run_dir), "not a run folder (no config.toml)") from None


# --- status.json ---------------------------------------------------------------------------------
def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / STATUS).is_file()


def read_status(run_dir: str | Path) -> dict[str, Any]:
    """The status as written (no checks). InputError when the folder is not a run."""
    run_dir = Path(run_dir)
    path = run_dir / STATUS
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        if not run_dir.is_dir():
            raise InputError(run_dir, "no such run folder") from None
        raise InputError(run_dir, "not a run folder (no status.json)") from None
    except (OSError, ValueError) as exc:
        raise InputError(path, f"unreadable run status: {exc}") from None
    if not isinstance(data, dict) or data.get("state") not in STATES:
        raise InputError(path, f"not a run status (state {data.get('state') if isinstance(data, dict) else data!r})")
    for key in ("started", "ended", "message", "pid", "device"):
        data.setdefault(key, None)
    return data


def write_status(run_dir: str | Path, status: dict[str, Any]) -> None:
    status = {**status, "updated": utc_now()}
    atomic_write_bytes(Path(run_dir) / STATUS, (json.dumps(_jsonable(status), indent=1) + "\n").encode("utf-8"))


def update_status(run_dir: str | Path, **fields: Any) -> dict[str, Any]:
    """Read, change some fields, write back. Only for writers that know nobody else writes now."""
    status = read_status(run_dir)
    status.update(fields)
    write_status(run_dir, status)
    return status


def stale_reason(status: dict[str, Any]) -> str | None:
    """Why an active (queued/running) status no longer has a process behind it, or None if it may.

    Only judged for runs of this machine: a run on a cluster node writes another host name."""
    if status.get("state") not in ACTIVE_STATES:
        return None
    host = status.get("host")
    if host and host != hostname():
        return None
    if status["state"] == "running":
        pid = status.get("pid")
        if pid is None:
            return None
        return None if same_process(pid, status.get("pid_token")) else GONE_MESSAGE
    owner = status.get("owner_pid")
    if owner is None:
        return None
    if same_process(owner, status.get("owner_token")):
        return None
    return "the process that queued it is gone"


# Runs owned by a live JobHandle of this process: their monitor thread writes the precise final
# state (signal, exit code), so the stale check must not get there first with a vaguer one.
owned_runs: set[str] = set()


def refresh_status(run_dir: str | Path) -> dict[str, Any]:
    """read_status, and a queued/running run whose process is gone becomes failed (running) or
    cancelled (queued, never started) on disk, so every reader agrees."""
    status = read_status(run_dir)
    if str(Path(run_dir).resolve()) in owned_runs:
        return status
    reason = stale_reason(status)
    if reason is None:
        return status
    was = status["state"]
    status.update(state="failed" if was == "running" else "cancelled", message=reason,
                  ended=status.get("ended") or utc_now(), stale=True)
    try:
        write_status(run_dir, status)
        append_event(run_dir, {"kind": E.STATE, "state": status["state"], "message": reason})
    except OSError:
        pass  # a read-only run folder still reads right
    return status


# --- events.jsonl --------------------------------------------------------------------------------
def _jsonable(obj: Any) -> Any:
    """Strict JSON: NaN/inf become null, numpy/torch scalars become numbers, paths strings."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if hasattr(obj, "item"):
        try:
            return _jsonable(obj.item())
        except (TypeError, ValueError):
            pass
    return str(obj)


def event_line(event: dict[str, Any]) -> bytes:
    return (json.dumps(_jsonable(event), separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


def last_event_time(run_dir: str | Path) -> float:
    """The largest "t" among the last events (0.0 when there are none): resumed runs go on from it."""
    t = 0.0
    for ev in tail_events(run_dir):
        if isinstance(ev.get("t"), (int, float)):
            t = max(t, float(ev["t"]))
    return t


def tail_events(run_dir: str | Path, nbytes: int = 65536) -> list[dict[str, Any]]:
    """The complete events among the last `nbytes` of events.jsonl (cheap on huge files)."""
    path = Path(run_dir) / EVENTS
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            start = max(0, size - nbytes)
            fh.seek(start)
            data = fh.read()
    except OSError:
        return []
    if start > 0:
        data = data[data.find(b"\n") + 1:] if b"\n" in data else b""
    events, _ = E.parse_lines(data)
    return events


def append_event(run_dir: str | Path, event: dict[str, Any]) -> None:
    """Append one event from outside the job process (the parent after a crash, the stale check).
    Starts a new line if the dead writer left a partial one."""
    if event.get("kind") not in E.KINDS:
        raise ValueError(f"unknown event kind {event.get('kind')!r} (spinegui/core/run_events.py lists them)")
    path = Path(run_dir) / EVENTS
    event = {"t": round(last_event_time(run_dir), 3), **event}
    with open(path, "ab") as fh:
        if fh.tell() > 0 and not _ends_with_newline(path):
            fh.write(b"\n")
        fh.write(event_line(event))


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def read_events(run_dir: str | Path, since_offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Events appended since byte `since_offset`, and the offset to pass next time.

    A partial last line (the writer is mid-write) is left for the next call; a line that is not
    JSON (a writer killed mid-line, then resumed) is skipped. A file shorter than the offset (it
    was replaced) is read again from the start."""
    path = Path(run_dir) / EVENTS
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size < since_offset:
                since_offset = 0
            fh.seek(since_offset)
            data = fh.read()
    except FileNotFoundError:
        return [], since_offset
    except OSError as exc:
        raise InputError(path, f"cannot read events: {exc.strerror or exc}") from None
    events, used = E.parse_lines(data)
    return events, since_offset + used


# --- cancel requests -----------------------------------------------------------------------------
def request_cancel(run_dir: str | Path) -> None:
    """Ask the job to stop (it checkpoints and returns); works from any process."""
    (Path(run_dir) / CANCEL).write_text(utc_now() + "\n", encoding="utf-8")


def cancel_requested(run_dir: str | Path) -> bool:
    return (Path(run_dir) / CANCEL).exists()


def clear_cancel(run_dir: str | Path) -> None:
    (Path(run_dir) / CANCEL).unlink(missing_ok=True)


def can_resume(run_dir: str | Path) -> bool:
    """The job left something to resume from (any file under checkpoints/)."""
    ck = Path(run_dir) / CHECKPOINTS
    try:
        return any(p.is_file() for p in ck.rglob("*"))
    except OSError:
        return False


# Events that mean the job did some of its work (a step, an epoch, a result), unlike logs, state
# changes and the progress of filling the cache (which lives in the workspace, not the run).
_WORK_EVENTS = frozenset({E.LOSS, E.EPOCH, E.METRIC, E.SAMPLE, E.CHECKPOINT, E.RESULT})


def ended_before_first_step(run_dir: str | Path, status: dict[str, Any] | None = None) -> bool:
    """The run failed or was cancelled before its first step: nothing in it to resume or to keep."""
    status = status or read_status(run_dir)
    if status.get("state") not in ("failed", "cancelled") or can_resume(run_dir):
        return False
    try:
        events, _ = read_events(run_dir)
    except InputError:
        return False
    return not any(e.get("kind") in _WORK_EVENTS
                   or (e.get("kind") == E.PROGRESS and e.get("stage") != "cache") for e in events)


# --- listing -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSummary:
    name: str
    path: Path
    kind: str | None
    state: str
    started: str | None
    ended: str | None
    message: str | None
    progress: float | None  # 0..1 when the job reported a total, else None
    step: int | None
    total: int | None
    device: str | None
    resumable: bool

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def summarize(run_dir: str | Path) -> RunSummary:
    run_dir = Path(run_dir)
    status = refresh_status(run_dir)
    kind = status.get("kind")
    if kind is None:
        try:
            kind = read_config(run_dir).get("kind")
        except InputError:
            kind = None
    # The last progress event is the freshest (status.json's copy is throttled, and a crashed job
    # never wrote its last one); status.json's stands in when the tail holds none.
    prog = next((e for e in reversed(tail_events(run_dir, 16384)) if e.get("kind") == E.PROGRESS), None)
    if prog is None:
        prog = status.get("progress") if isinstance(status.get("progress"), dict) else {}
    step, total = prog.get("step"), prog.get("total")
    fraction = None
    if isinstance(step, (int, float)) and isinstance(total, (int, float)) and total > 0:
        fraction = max(0.0, min(1.0, step / total))
    if status["state"] == "done":
        fraction = 1.0
    return RunSummary(
        name=run_dir.name, path=run_dir, kind=kind, state=status["state"], started=status.get("started"),
        ended=status.get("ended"), message=status.get("message"), progress=fraction,
        step=step if isinstance(step, int) else None, total=total if isinstance(total, int) else None,
        device=status.get("device"), resumable=can_resume(run_dir),
    )


def list_runs(runs_root: str | Path) -> list[RunSummary]:
    """Every run folder directly under `runs_root` (sorted by name); stale runs are marked as such.
    A missing root lists nothing; a run folder given as the root lists itself."""
    root = Path(runs_root)
    if is_run_dir(root):   # and an experiment's parts (its GANs and runs as jobs of their own), under it
        parts = sorted((p for p in (root / "parts").glob("*") if is_run_dir(p)), key=lambda p: p.name)
        out = [summarize(root)]
        for part in parts:
            try:
                out.append(replace(summarize(part), name=f"{root.name}/{part.name}"))
            except InputError:
                continue   # a half-written part folder: not one we can show
        return out
    else:
        try:
            candidates = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name)
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            raise InputError(root, "not a folder") from None
        except OSError as exc:
            raise InputError(root, f"cannot list runs: {exc.strerror or exc}") from None
    out = []
    for path in candidates:
        if not is_run_dir(path):
            continue
        try:
            out.append(summarize(path))
        except InputError:
            continue  # a half-written or foreign folder: not a run we can show
    return out
