"""The job runner: a job runs in its own process, writes the run folder, cancels, crashes, resumes.

Every job here is the "selftest" kind (no torch). Waits poll with a deadline, never fixed sleeps.
"""

import json
import os
import subprocess
import sys
import time
import tomllib

import pytest

from spinegui.core.errors import InputError
from spinegui.jobs import (
    JobHandle,
    JobQueue,
    list_runs,
    read_events,
    read_status,
    register_job,
    start_job,
)
from spinegui.jobs import runfolder as rf
from waiting import wait_for

QUICK = {"device": "cpu", "sleep": 0.005}


def selftest(run_dir, **config):
    return start_job("selftest", {**QUICK, **config}, run_dir)


class Follower:
    """Collects a handle's events; knows the highest step reported so far."""

    def __init__(self, handle):
        self.handle, self.events = handle, []

    def step(self):
        self.events += self.handle.poll_events()
        steps = [e["step"] for e in self.events if e["kind"] == "progress"]
        return max(steps, default=0)

    def until_step(self, n, timeout=10.0):
        assert wait_for(lambda: self.step() >= n, timeout), \
            f"never reached step {n}: {read_status(self.handle.run_dir)}"


def checkpoint_step(run_dir):
    return json.loads((run_dir / "checkpoints" / "selftest.json").read_text())["step"]


def kinds(events, kind):
    return [e for e in events if e["kind"] == kind]


# --- the paths a job can end by ----------------------------------------------------------------------
def test_done_writes_config_status_and_events(tmp_path):
    run = tmp_path / "run"
    h = selftest(run, steps=12, steps_per_epoch=4, seed=5)
    assert read_status(run)["state"] in ("queued", "running")  # on disk before start_job returns
    assert h.wait(20) == "done"
    assert not h.alive

    st = read_status(run)
    assert st["state"] == "done" and st["message"] is None and st["device"] == "cpu"
    assert isinstance(st["pid"], int) and st["pid"] != os.getpid()
    for key in ("started", "ended"):
        assert st[key].endswith("Z") and rf.parse_time(st[key]) is not None
    assert rf.parse_time(st["started"]) <= rf.parse_time(st["ended"])

    cfg = tomllib.loads((run / "config.toml").read_text())
    assert cfg["kind"] == "selftest" and cfg["seed"] == 5 and cfg["device"] == "cpu" and cfg["steps"] == 12
    assert cfg["versions"]["spinegui"] and cfg["versions"]["python"]

    events = h.poll_events()
    assert events == read_events(run)[0]  # the handle tails the same file every reader reads
    assert all(isinstance(e["t"], (int, float)) for e in events)
    assert events[0]["kind"] == "state" and events[0]["state"] == "running"
    assert events[-1] == {**events[-1], "kind": "state", "state": "done"}
    assert kinds(events, "progress")[-1]["step"] == 12  # the throttle never loses the last one
    assert [e["epoch"] for e in kinds(events, "epoch")] == [1, 2, 3]
    assert len(kinds(events, "metric")) == 3
    assert checkpoint_step(run) == 12
    assert h.poll_events() == []


def test_high_rate_events_are_throttled_but_epochs_never_dropped(tmp_path):
    run = tmp_path / "run"
    h = selftest(run, steps=3000, sleep=0, steps_per_epoch=300, checkpoint_every=10**6)
    assert h.wait(20) == "done"
    events = read_events(run)[0]
    progress = kinds(events, "progress")
    assert len(progress) < 40 and progress[-1]["step"] == 3000
    assert len(kinds(events, "loss")) < 40
    assert [e["epoch"] for e in kinds(events, "epoch")] == list(range(1, 11))
    assert len(kinds(events, "metric")) == 10


def test_cancel_stops_within_two_seconds_and_keeps_the_checkpoint(tmp_path):
    run = tmp_path / "run"
    h = selftest(run, steps=100000, sleep=0.01, checkpoint_every=1000)
    f = Follower(h)
    f.until_step(5)
    t0 = time.monotonic()
    h.cancel(grace=5.0)
    assert h.wait(5) == "cancelled"
    assert time.monotonic() - t0 < 2.0
    st = read_status(run)
    assert st["state"] == "cancelled" and st["ended"] and "cancel" in st["message"]
    assert checkpoint_step(run) >= 5  # written on the way out, not the periodic one (every 1000)
    assert not (run / "cancel").exists()
    assert h.exitcode == 0


def test_a_job_that_ignores_cancel_is_killed_after_the_grace_period(tmp_path):
    run = tmp_path / "run"
    h = selftest(run, steps=10**7, sleep=0.01, ignore_cancel=True)
    Follower(h).until_step(2)
    t0 = time.monotonic()
    h.cancel(grace=0.3)
    assert h.wait(10) == "cancelled"
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 3.0
    st = read_status(run)
    assert st["state"] == "cancelled" and "killed" in st["message"]
    assert read_events(run)[0][-1]["state"] == "cancelled"


@pytest.mark.parametrize("config, message", [
    ({"fail_at": 3}, "RuntimeError: selftest failure at step 3"),
    ({"nan_at": 2}, "JobDiverged: diverged at step 2"),
])
def test_an_exception_fails_the_run_with_its_message(tmp_path, config, message):
    run = tmp_path / "run"
    h = selftest(run, steps=50, **config)
    assert h.wait(20) == "failed"
    st = read_status(run)
    assert st["message"] == message
    assert message.split(":")[0] == st["error_type"]
    assert "Traceback" in st["traceback"] and "Traceback" in (run / "output.log").read_text()
    assert read_events(run)[0][-1] == {**read_events(run)[0][-1], "state": "failed", "message": message}


@pytest.mark.skipif(os.name == "nt", reason="signal names are POSIX")
def test_a_hard_crash_fails_the_run_and_the_parent_lives_on(tmp_path):
    run = tmp_path / "run"
    h = selftest(run, steps=50, abort_at=3)
    assert h.wait(20) == "failed"
    st = read_status(run)
    assert st["message"].startswith("killed by signal SIGABRT") and st["exit_code"] == -6
    assert "Fatal Python error: Aborted" in (run / "output.log").read_text()  # faulthandler's dump
    assert read_events(run)[0][-1]["state"] == "failed"
    # This process (the parent) is fine and can start the next job.
    assert selftest(tmp_path / "next", steps=2).wait(20) == "done"


def test_a_job_whose_module_cannot_be_imported_fails(tmp_path):
    register_job("broken-for-test", "no_such_module_xyz:run")
    h = start_job("broken-for-test", {"device": "cpu"}, tmp_path / "run")
    assert h.wait(20) == "failed"
    assert read_status(tmp_path / "run")["message"] == "ModuleNotFoundError: No module named 'no_such_module_xyz'"


def test_bad_input_is_refused_before_anything_starts(tmp_path):
    with pytest.raises(InputError, match="unknown job kind"):
        start_job("no-such-kind", {}, tmp_path / "a")
    assert not (tmp_path / "a").exists()
    with pytest.raises(ValueError):
        register_job("x", "not a target")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something.txt").write_text("x")
    with pytest.raises(InputError, match="not an empty folder"):
        start_job("selftest", {}, tmp_path / "full")
    with pytest.raises(InputError, match="no such run folder"):
        start_job(None, None, tmp_path / "missing", resume=True)
    with pytest.raises(InputError, match="not a run folder"):
        start_job(None, None, tmp_path / "full", resume=True)


# --- resume --------------------------------------------------------------------------------------------
def test_resume_goes_on_from_the_checkpoint(tmp_path):
    run = tmp_path / "run"
    h = selftest(run, steps=40, sleep=0.01, checkpoint_every=1000)
    Follower(h).until_step(6)
    h.cancel()
    assert h.wait(10) == "cancelled"
    saved = checkpoint_step(run)
    first = read_status(run)
    n_before = len(read_events(run)[0])
    with pytest.raises(InputError, match="selftest"):
        start_job("other-kind", None, run, resume=True)

    h2 = start_job(None, None, run, resume=True)
    assert h2.wait(20) == "done"
    new = h2.poll_events()  # a resumed handle sees the new events only
    assert len(read_events(run)[0]) == n_before + len(new)
    assert {"kind": "log", "message": "resumed"}.items() <= next(e for e in new if e["kind"] == "log").items()
    assert kinds(new, "progress")[0]["step"] == saved + 1  # not from 0
    assert kinds(new, "progress")[-1]["step"] == 40
    times = [e["t"] for e in read_events(run)[0]]
    assert times == sorted(times)  # the clock goes on across the resume
    st = read_status(run)
    assert st["state"] == "done" and st["started"] == first["started"] and st["resumes"] == 1
    with pytest.raises(InputError, match="done already"):
        start_job(None, None, run, resume=True)


# --- the queue -------------------------------------------------------------------------------------------
def test_queue_runs_gpu_jobs_one_at_a_time_and_cpu_jobs_together(tmp_path):
    def both_running(*runs):
        return all(read_status(r)["state"] == "running" and kinds(read_events(r)[0], "progress") for r in runs)

    q = JobQueue(max_gpu_jobs=1, max_cpu_jobs=2)
    g1 = q.submit("selftest", {"device": "cuda", "steps": 8, "sleep": 0.01}, tmp_path / "g1")
    g2 = q.submit("selftest", {"device": "auto", "steps": 8, "sleep": 0.01}, tmp_path / "g2")
    g3 = q.submit("selftest", {"device": "cuda", "steps": 8, "sleep": 0.01}, tmp_path / "g3")
    long = {"device": "cpu", "steps": 10**6, "sleep": 0.01}
    c1 = q.submit("selftest", long, tmp_path / "c1")
    c2 = q.submit("selftest", long, tmp_path / "c2")
    running = {h.run_dir for h in q.running}
    assert running == {g1, c1, c2}  # the CPU jobs pass the waiting GPU ones
    assert q.pending == [g2, g3]
    assert read_status(g2)["state"] == "queued" and read_status(g2)["pid"] is None
    q.cancel(g3)
    assert read_status(g3)["state"] == "cancelled"
    assert wait_for(lambda: both_running(c1, c2), 20)  # side by side
    q.cancel(c1)
    q.cancel(c2)
    assert q.wait_all(30)
    assert [read_status(r)["state"] for r in (g1, g2, c1, c2)] == ["done", "done", "cancelled", "cancelled"]
    g1_ended, g2_started = rf.parse_time(read_status(g1)["ended"]), rf.parse_time(read_status(g2)["started"])
    assert g1_ended <= g2_started  # one after the other
    assert not (g3 / "events.jsonl").read_text().count('"running"')  # never started
    assert {h.run_dir for h in q.poll()} == {g1, g2, c1, c2}
    assert q.poll() == []


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="POSIX nice levels")
@pytest.mark.parametrize("background", [True, False])
def test_a_queue_for_a_window_runs_its_jobs_at_lower_priority_every_thread(tmp_path, background):
    from spinegui.jobs.child import BACKGROUND_NICE

    q = JobQueue(background=background)
    run = q.submit("selftest", {"device": "cpu", "steps": 10**6, "sleep": 0.01}, tmp_path / "r")
    assert wait_for(lambda: read_status(run)["state"] == "running" and read_status(run)["pid"], 20)
    pid, ours = read_status(run)["pid"], os.getpriority(os.PRIO_PROCESS, 0)
    # nice is per thread on Linux: the watcher thread, started after the priority was lowered, has it too
    # (on a loaded machine it may start a moment after the status says running: wait for it)
    if os.path.isdir(f"/proc/{pid}/task"):
        wait_for(lambda: len(os.listdir(f"/proc/{pid}/task")) >= 2, 20)
    threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")] if os.path.isdir(f"/proc/{pid}/task") else [pid]
    nices = {os.getpriority(os.PRIO_PROCESS, t) for t in threads}
    q.cancel(run)
    assert q.wait_all(30) and read_status(run)["state"] == "cancelled"
    assert nices == {min(19, ours + BACKGROUND_NICE) if background else ours}
    assert len(threads) >= (2 if os.path.isdir("/proc") else 1)


# --- readers ---------------------------------------------------------------------------------------------
def fake_run(root, name, state="done", **status):
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.toml").write_text('kind = "selftest"\nseed = 0\ndevice = "cpu"\n')
    rf.write_status(run, {"state": state, "started": "2026-01-02T03:04:05.000Z", "ended": None,
                          "message": None, "pid": None, "device": "cpu", "kind": "selftest", **status})
    (run / "events.jsonl").write_text("")
    return run


def test_read_events_waits_for_a_partial_last_line(tmp_path):
    run = fake_run(tmp_path, "r")
    lines = [json.dumps({"t": 0.1, "kind": "progress", "step": 1, "total": 4}),
             json.dumps({"t": 0.2, "kind": "loss", "step": 1, "loss": 0.5})]
    partial = json.dumps({"t": 0.3, "kind": "progress", "step": 2, "total": 4})
    with open(run / "events.jsonl", "w") as fh:
        fh.write(lines[0] + "\n" + "this is not json\n" + lines[1] + "\n" + partial[:17])
    events, offset = read_events(run)
    assert [e["t"] for e in events] == [0.1, 0.2]
    assert read_events(run, offset) == ([], offset)
    with open(run / "events.jsonl", "a") as fh:
        fh.write(partial[17:] + "\n")
    events, offset2 = read_events(run, offset)
    assert events == [json.loads(partial)] and offset2 == (run / "events.jsonl").stat().st_size
    assert read_events(tmp_path / "nothing-here", 0) == ([], 0)

    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "stray.txt").write_text("x")
    fake_run(tmp_path, "b", "failed", message="RuntimeError: boom")
    runs = list_runs(tmp_path)
    assert [r.name for r in runs] == ["b", "r"]
    assert runs[1].step == 2 and runs[1].total == 4 and runs[1].progress == 1.0  # done counts as whole
    assert runs[0].state == "failed" and runs[0].message == "RuntimeError: boom" and runs[0].kind == "selftest"
    assert list_runs(tmp_path / "absent") == []
    assert [r.name for r in list_runs(runs[0].path)] == ["b"]


def dead_pid():
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(p.stdout)


def test_a_running_run_whose_process_is_gone_lists_as_failed(tmp_path):
    pid = dead_pid()
    fake_run(tmp_path, "gone", "running", pid=pid, host=rf.hostname())
    fake_run(tmp_path, "queued-by-the-dead", "queued", owner_pid=pid, host=rf.hostname())
    fake_run(tmp_path, "elsewhere", "running", pid=pid, host=rf.hostname() + "-cluster-node")
    fake_run(tmp_path, "alive", "running", pid=os.getpid(), pid_token=rf.process_token(os.getpid()),
             host=rf.hostname())
    by_name = {r.name: r for r in list_runs(tmp_path)}
    assert (by_name["gone"].state, by_name["gone"].message) == ("failed", "the process is gone")
    assert read_status(tmp_path / "gone")["state"] == "failed"  # written back for every reader
    assert read_status(tmp_path / "gone")["ended"]
    assert by_name["queued-by-the-dead"].state == "cancelled"
    assert by_name["elsewhere"].state == "running"  # another machine's pid means nothing here
    assert by_name["alive"].state == "running"
    # A reused pid (same number, another process) is not mistaken for the job.
    fake_run(tmp_path, "reused", "running", pid=os.getpid(), pid_token="1", host=rf.hostname())
    assert rf.refresh_status(tmp_path / "reused")["state"] in (("failed",) if rf.process_token(os.getpid())
                                                               else ("running",))


def test_attach_follows_and_cancels_a_run_of_another_handle(tmp_path):
    run = tmp_path / "run"
    owner = selftest(run, steps=100000, sleep=0.01)
    Follower(owner).until_step(2)
    seen = JobHandle.attach(run)
    assert seen.alive and seen.pid == read_status(run)["pid"]
    assert any(e["kind"] == "progress" for e in seen.poll_events())
    seen.cancel()
    assert seen.wait(5) == "cancelled"
    assert owner.wait(5) == "cancelled"


def test_config_toml_round_trips_what_a_job_reads(tmp_path):
    from spinegui.jobs.runner import prepare_new

    config = {"seed": 3, "device": "cuda:1", "lr": 1e-4, "name": 'say "hi"\\ \u00e9\n', "classes": ["a", "b"],
              "sizes": [256, 512], "use_amp": True, "note": None,
              "augment": {"rotation": 10.0, "elastic": {"on": False}}}
    run = prepare_new("selftest", config, tmp_path / "run")
    back = rf.read_config(run)
    expected = {k: v for k, v in config.items() if v is not None}  # TOML has no null: left out
    assert {k: back[k] for k in expected} == expected
    assert back["kind"] == "selftest" and back["versions"]["spinegui"] and back["created"].endswith("Z")
    assert read_status(run)["state"] == "queued" and read_status(run)["device"] == "cuda:1"
