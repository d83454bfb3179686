"""Every event the real jobs write matches its declaration in spinegui/core/run_events.py.

The jobs run for real, in their own process, as small as they go on a CPU: the selftest job (also
cancelled and resumed, and failed), a GAN training run and its sampling and quality jobs, and an
experiment whose GAN events are relayed (gan_epoch). Every line of their events.jsonl is checked.
"""

import json

import pytest

from case_factory import make_case_root
from spinegui.cli.entry import main
from spinegui.cli.jobs import run_foreground
from spinegui.core import run_events as E
from spinegui.core.dataset.vindr import load_index
from spinegui.jobs import JobContext, read_events, start_job
from spinegui.jobs import runfolder as rf
from spinegui.jobs.context import StatusFile
from spinegui.jobs.runfolder import append_event
from waiting import wait_for


def problems(run_dir):
    """(line number, problem) for every line of events.jsonl that is not a valid event."""
    out = []
    lines = (run_dir / rf.EVENTS).read_text(encoding="utf-8").splitlines()
    assert lines, f"{run_dir} wrote no events"
    for n, line in enumerate(lines, 1):
        out += [(n, p) for p in E.check_event(json.loads(line))]
    return out


def kinds_in(run_dir):
    events, _ = read_events(run_dir)
    return {e["kind"] for e in events}


# --- the check itself ---------------------------------------------------------------------------------
def test_a_malformed_event_is_reported():
    good = {"t": 0.5, "kind": E.LOSS, "step": 3, "critic": 0.25, "generator": None, "wasserstein": -1}
    assert E.check_event(good) == []
    assert E.check_event({**good, "kind": "lose"}) == ["unknown kind 'lose'"]
    assert E.check_event({"t": 1.0}) == ["unknown kind None"]
    assert E.check_event([1, 2]) == ["not an object: [1, 2]"]
    missing = {k: v for k, v in good.items() if k != "step"}
    assert E.check_event(missing) == ["loss: missing field 'step'"]
    assert E.check_event({**good, "step": "3"}) == ["loss: field 'step' is '3', not int"]
    assert E.check_event({**good, "step": True}) == ["loss: field 'step' is True, not int"]
    assert E.check_event({**good, "generator": "x"}) == ["loss: field 'generator' is 'x', not float | None"]
    assert E.check_event({**good, "stepp": 3}) == ["loss: unknown field 'stepp'"]
    assert E.check_event({"t": 1, "kind": E.RESULT, "written": {"a": 2}, "epochs": {"a": [1, "2"]}}) == [
        "result: field 'epochs' is {'a': [1, '2']}, not dict[str, list[int]]"]
    assert E.check_event({"kind": E.DEVICE, "device": "cpu"}) == ["device: missing field 't'"]


def test_every_kind_is_declared_once_and_needs_t_and_kind():
    assert len(set(E.KINDS)) == len(E.KINDS) == 11
    for kind, schema in E.KINDS.items():
        assert {"t", "kind"} <= schema.__required_keys__, kind


def test_an_unknown_kind_is_refused_by_the_writers(tmp_path):
    rf.write_status(tmp_path, {"state": "running"})
    with open(tmp_path / rf.EVENTS, "wb") as fh:
        ctx = JobContext(tmp_path, {}, False, StatusFile(tmp_path, {"state": "running"}), fh)
        ctx.emit(E.LOG, message="fine")
        with pytest.raises(ValueError, match="unknown event kind 'lose'"):
            ctx.emit("lose", step=1)
    with pytest.raises(ValueError, match="unknown event kind 'status'"):
        append_event(tmp_path, {"kind": "status", "state": "failed"})
    assert [e["kind"] for e in read_events(tmp_path)[0]] == [E.LOG]


# --- the real jobs ------------------------------------------------------------------------------------
QUICK = {"device": "cpu", "sleep": 0.0, "steps": 12, "steps_per_epoch": 5, "checkpoint_every": 4}


def test_selftest_job_events_match_the_schema(tmp_path):
    done = tmp_path / "done"
    assert start_job("selftest", QUICK, done).wait(60) == "done"
    assert problems(done) == []
    assert {E.STATE, E.DEVICE, E.PROGRESS, E.LOSS, E.EPOCH, E.METRIC, E.CHECKPOINT} <= kinds_in(done)

    failed = tmp_path / "failed"     # fails, then resumes: a "resumed" log and a second running state
    assert start_job("selftest", {**QUICK, "fail_at": 6}, failed).wait(60) == "failed"
    assert start_job(None, None, failed, resume=True).wait(60) == "failed"
    assert problems(failed) == []

    cancelled = tmp_path / "cancelled"     # the parent writes the final state of a killed job
    handle = start_job("selftest", {**QUICK, "steps": 10_000, "sleep": 0.01, "ignore_cancel": True}, cancelled)
    assert wait_for(lambda: any(e["kind"] == E.LOSS for e in read_events(cancelled)[0]), 30)
    handle.cancel(grace=0.2)
    assert handle.wait(30) == "cancelled"
    assert problems(cancelled) == []


@pytest.fixture(scope="module")
def gan_run(demo_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gan")
    index = load_index(demo_root)
    counts = {}
    for r in index.in_split("train"):
        for label in r.labels:
            counts[label] = counts.get(label, 0) + 1
    cls = max((c for c in counts if c != "No finding"), key=counts.get)
    run = tmp / "run"
    assert main(["train-gan", str(demo_root), "--classes", cls, "--epochs", "2", "--workspace", str(tmp / "ws"),
                 "--out", str(run), "--size", "64", "--width", "8", "--batch", "4", "--n-critic", "2",
                 "--device", "cpu"]) == 0
    return run, tmp


def test_gan_training_events_match_the_schema(gan_run):
    run, _ = gan_run
    assert problems(run) == []
    assert {E.PROGRESS, E.LOSS, E.EPOCH, E.SAMPLE} <= kinds_in(run)


def test_gan_sampling_job_events_match_the_schema(gan_run):
    run, tmp = gan_run
    task = tmp / "sample-task"
    config = {"run": str(run), "n": 2, "last_epochs": 1, "seed": 0, "format": "png", "out": str(tmp / "sampled"),
              "device": "cpu"}
    assert run_foreground("gan-sample", config, task) == 0
    assert problems(task) == []
    assert E.RESULT in kinds_in(task)


@pytest.fixture(scope="module")
def experiment(demo_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exp")
    root = make_case_root(demo_root, tmp / "vindr-case")
    run = tmp / "run"
    assert main(["experiment", str(root), "--case", "1", "--strategies", "none,gan", "--protocol", "safe",
                 "--workspace", str(tmp / "ws"), "--out", str(run), "--models", "resnet18", "--size", "32",
                 "--epochs", "1", "--per-class", "3", "--gan-epochs", "1", "--gan-gate", "off",
                 "--gan-width", "8", "--device", "cpu",
                 "--threads", "1", "--workers", "1", "--bootstrap", "5"]) == 0
    return run


def test_experiment_events_match_the_schema(experiment):
    assert problems(experiment) == []
    assert {E.PROGRESS, E.EPOCH, E.GAN_EPOCH, E.METRIC, E.LOG, E.SAMPLE} <= kinds_in(experiment)


def test_gan_quality_job_events_match_the_schema(gan_run):
    run, tmp = gan_run
    task = tmp / "quality-task"
    assert run_foreground("gan-quality", {"run": str(run), "n": 4, "seed": 0, "device": "cpu"}, task) == 0
    assert problems(task) == []
    assert E.RESULT in kinds_in(task)
