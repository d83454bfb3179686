"""Start a process that keeps editing and reports its states, SIGKILL it at a chosen moment.

The process prints one line per state: ``<seq> <time.monotonic()> <digest>``. Used by the store's
crash test (tests/unit) and the app's (tests/e2e).
"""

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_and_kill(cmd: list[str], kill_after: float, out: dict, clock_starts_at_line: int = 1,
                 env_extra: dict | None = None) -> None:
    """Run `cmd`, wait for `clock_starts_at_line` report lines, sleep `kill_after`, SIGKILL it.

    Fills `out` with t_kill, states [(seq, time, digest)], returncode, or error."""
    env = {**os.environ, **(env_extra or {}),
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        while len(lines) < clock_starts_at_line:
            line = proc.stdout.readline()
            if not line:
                out["error"] = f"did not start: {proc.stderr.read()[-2000:]}"
                return
            lines.append(line)
        # Drain stdout while waiting, so the process never blocks on a full pipe.
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
        reader.start()
        time.sleep(kill_after)
        out["t_kill"] = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        reader.join(5)
        out["states"] = [(int(s), float(t), d) for s, t, d in (ln.split() for ln in lines if ln.strip())]
        out["returncode"] = proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
