"""The job commands: `jobs`, `cancel` (from another process), `resume`, `job-selftest`, and their exit
codes; Ctrl+C and a killed parent both leave a cancelled run with its checkpoint."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from spinegui.cli.jobs import main, run_foreground
from spinegui.jobs import read_status, start_job
from spinegui.jobs import runfolder as rf
from waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def spawn_cli(*args):
    """`spinegui job-selftest ...` in a process of its own (as another terminal would run it)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    return subprocess.Popen([sys.executable, "-m", "spinegui.cli.jobs", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def running_with_progress(run):
    try:
        st = read_status(run)
    except Exception:
        return False
    return st["state"] == "running" and any(e["kind"] == "progress" for e in rf.read_events(run)[0])


def checkpoint_step(run):
    return json.loads((run / "checkpoints" / "selftest.json").read_text())["step"]


def one_error_line(text):
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spinegui: error: "), text
    return lines[0]


def final_error_line(text):
    """A failed job: the progress line may come first; the error is one line, the last."""
    lines = text.strip().splitlines()
    assert [ln for ln in lines if ln.startswith("spinegui: error: ")] == lines[-1:], text
    return lines[-1]


def test_cancel_a_run_started_by_another_process(tmp_path, capsys):
    run = tmp_path / "run"
    proc = spawn_cli("job-selftest", run, "--steps", "100000", "--sleep", "0.01")
    try:
        assert wait_for(lambda: running_with_progress(run), 20), proc.stderr.read() if proc.poll() else ""
        assert main(["cancel", str(run)]) == 0
        assert "cancelled" in capsys.readouterr().out
        assert read_status(run)["state"] == "cancelled"
        assert checkpoint_step(run) > 0
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 130
        assert f"resume with: spinegui resume {run}" in err
    finally:
        if proc.poll() is None:
            proc.kill()
    assert main(["cancel", str(run)]) == 0  # nothing left to cancel: says so, no error
    assert "not running (cancelled)" in capsys.readouterr().out


def test_cancel_kills_a_job_that_does_not_stop(tmp_path, capsys):
    run = tmp_path / "run"
    owner = start_job("selftest", {"device": "cpu", "steps": 10**7, "sleep": 0.01, "ignore_cancel": True}, run)
    assert wait_for(lambda: running_with_progress(run), 20)
    t0 = time.monotonic()
    assert main(["cancel", str(run), "--grace", "0.3"]) == 0
    assert time.monotonic() - t0 < 3.0
    assert "killed" in capsys.readouterr().out
    assert owner.wait(5) == "cancelled"  # the process that started it agrees
    assert read_status(run)["state"] == "cancelled"


@pytest.mark.skipif(os.name == "nt", reason="SIGINT to one process is POSIX")
def test_ctrl_c_cancels_with_a_checkpoint_and_exit_130(tmp_path):
    run = tmp_path / "run"
    proc = spawn_cli("job-selftest", run, "--steps", "100000", "--sleep", "0.01")
    try:
        assert wait_for(lambda: running_with_progress(run), 20)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 130, err
        st = read_status(run)
        assert st["state"] == "cancelled" and "Traceback" not in err
        assert checkpoint_step(run) > 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_a_killed_parent_leaves_a_cancelled_resumable_run(tmp_path):
    run = tmp_path / "run"
    proc = spawn_cli("job-selftest", run, "--steps", "100000", "--sleep", "0.01")
    try:
        assert wait_for(lambda: running_with_progress(run), 20)
        proc.kill()
        proc.wait(5)
        assert wait_for(lambda: read_status(run)["state"] == "cancelled", 10), read_status(run)
        assert read_status(run)["message"] == "the parent process exited"
        assert checkpoint_step(run) > 0
        assert rf.list_runs(tmp_path)[0].resumable
    finally:
        if proc.poll() is None:
            proc.kill()


def test_resume_exit_codes(tmp_path, capsys):
    # cancelled -> resumed here to the end: 0
    run = tmp_path / "run"
    h = start_job("selftest", {"device": "cpu", "steps": 30, "sleep": 0.01}, run)
    assert wait_for(lambda: running_with_progress(run), 20)
    h.cancel()
    assert h.wait(10) == "cancelled"
    err = io.StringIO()
    assert run_foreground(None, None, run, resume=True, stream=err) == 0
    assert f"{run}: done" in err.getvalue() and "resumed" in err.getvalue()
    # done -> nothing to resume: bad input, one line, 2
    assert main(["resume", str(run)]) == 2
    assert one_error_line(capsys.readouterr().err).endswith("is done already; nothing to resume")

    # a job that fails: 1 and one line, on the first run and again on resume
    bad = tmp_path / "bad"
    assert main(["job-selftest", str(bad), "--steps", "5", "--sleep", "0", "--fail-at", "2"]) == 1
    assert final_error_line(capsys.readouterr().err) == (
        f"spinegui: error: {bad}: RuntimeError: selftest failure at step 2")
    assert main(["resume", str(bad)]) == 1
    assert final_error_line(capsys.readouterr().err).endswith("RuntimeError: selftest failure at step 2")


@pytest.mark.parametrize("command", ["resume", "cancel"])
def test_a_folder_that_is_not_a_run_is_bad_input(tmp_path, capsys, command):
    assert main([command, str(tmp_path / "missing")]) == 2
    assert one_error_line(capsys.readouterr().err) == f"spinegui: error: {tmp_path / 'missing'}: no such run folder"
    (tmp_path / "plain").mkdir()
    assert main([command, str(tmp_path / "plain")]) == 2
    assert "not a run folder" in one_error_line(capsys.readouterr().err)


def test_jobs_lists_runs_with_their_state(tmp_path, capsys):
    root = tmp_path / "runs"
    h = start_job("selftest", {"device": "cpu", "steps": 4, "sleep": 0}, root / "first")
    assert h.wait(20) == "done"
    bad = root / "second"
    assert main(["job-selftest", str(bad), "--steps", "5", "--sleep", "0", "--nan-at", "3"]) == 1
    (root / "not-a-run").mkdir()
    capsys.readouterr()

    assert main(["jobs", str(root)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["RUN", "KIND", "STATE", "PROGRESS", "STARTED", "TIME", "MESSAGE"]
    assert lines[1].split()[:4] == ["first", "selftest", "done", "4/4"]
    assert lines[2].split()[:3] == ["second", "selftest", "failed"]
    assert lines[2].endswith("JobDiverged: diverged at step 3")
    assert len(lines) == 3

    assert main(["jobs", str(root), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["state"]) for r in rows] == [("first", "done"), ("second", "failed")]

    assert main(["jobs", str(tmp_path / "nowhere")]) == 2
    assert one_error_line(capsys.readouterr().err).endswith("nowhere: no such folder")
    assert main(["jobs", str(tmp_path / "empty-root")]) == 2
    capsys.readouterr()
    (tmp_path / "empty-root").mkdir()
    assert main(["jobs", str(tmp_path / "empty-root")]) == 0
    assert capsys.readouterr().out.startswith("no runs in")


def test_jobs_says_cancelling_while_the_job_runs_and_cancelled_once_it_ended(tmp_path, capsys):
    run = tmp_path / "runs" / "stubborn"
    owner = start_job("selftest", {"device": "cpu", "steps": 10**7, "sleep": 0.01, "ignore_cancel": True}, run)
    assert wait_for(lambda: running_with_progress(run), 20)

    def state_listed():
        assert main(["jobs", str(tmp_path / "runs")]) == 0
        return capsys.readouterr().out.strip().splitlines()[1].split()[2]

    capsys.readouterr()
    assert state_listed() == "running"
    assert main(["cancel", str(run), "--no-wait"]) == 0   # asked to stop; this job goes on regardless
    assert capsys.readouterr().out.endswith("cancel requested\n")
    assert state_listed() == "cancelling" and read_status(run)["state"] == "running"
    assert main(["cancel", str(run), "--grace", "0"]) == 0
    assert owner.wait(10) == "cancelled"
    capsys.readouterr()
    assert state_listed() == "cancelled"


def test_a_cancelled_job_whose_process_still_exits_is_shown_as_cancelling(tmp_path):
    from spinegui.cli.jobs import shown_state

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert wait_for(lambda: rf.process_token(proc.pid) is not None, 10)
        status = {"state": "cancelled", "pid": proc.pid, "pid_token": rf.process_token(proc.pid),
                  "host": rf.hostname()}
        assert shown_state(status, tmp_path) == "cancelling"   # wrote its state, still writing its last files
        assert shown_state({**status, "host": "elsewhere"}, tmp_path) == "cancelled"   # no way to tell: as written
    finally:
        proc.kill()
        proc.wait(10)
    assert shown_state(status, tmp_path) == "cancelled"


def test_importing_jobs_loads_neither_qt_nor_torch():
    code = ("import sys, spinegui.jobs, spinegui.cli.jobs, spinegui.jobs.selftest\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'torch', 'torchvision', 'PySide6', 'shiboken6', 'pyqtgraph', 'superqt'})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == ""


def test_a_usage_error_is_one_line(capsys):
    """`python -m spinegui.cli.jobs` keeps spinegui's contract: one error line (no usage block), exit 2."""
    with pytest.raises(SystemExit) as exc:
        main(["cancel", "--grace", "nan", "somewhere"])
    assert exc.value.code == 2
    assert one_error_line(capsys.readouterr().err).endswith("(see: spinegui cancel --help)")


def test_a_job_followed_in_a_log_prints_no_repeats():
    from spinegui.cli.jobs import ProgressLine

    log = io.StringIO()
    line = ProgressLine("run", log)
    line.feed([{"kind": "progress", "step": 1, "total": 4}, {"kind": "loss", "g": 0.5, "t": 0.1}])
    line.draw(final=True)
    line.draw(final=True)   # unchanged: not printed again
    line.feed([{"kind": "metric", "split": "val", "name": "auroc", "value": 0.75},
               {"kind": "progress", "step": 4, "total": 4}])
    line.draw(final=True)
    lines = log.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in log.getvalue(), lines
    assert "1/4" in lines[0] and "g=0.5" in lines[0]
    assert lines[1] == "metric val auroc = 0.75"
    assert "4/4" in lines[2]
