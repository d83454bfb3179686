"""An experiment spread over SLURM jobs, end to end on a real SLURM (scripts/slurm_local.sh start on
this machine; SLURM_CONF in the environment): every GAN and every run its own job, GANs before the runs
that need them, all into one experiment folder; `spinegui jobs` and `spinegui cancel` through the folder;
a resume submits only what is missing. Skipped where no SLURM answers."""

import csv
import json
import subprocess
import time

import pytest

from case_factory import make_case_root
from spinegui.cli.entry import main
from spinegui.jobs import runfolder as rf
from spinegui.jobs.slurm import read_record, slurm_problem

pytestmark = pytest.mark.slurm

TINY = ["--case", "1", "--protocol", "safe", "--models", "resnet18", "--size", "32", "--per-class", "3",
        "--gan-epochs", "1", "--gan-gate", "off", "--gan-width", "8", "--device", "cpu", "--threads", "1",
        "--workers", "1", "--bootstrap", "20"]


@pytest.fixture(scope="module")
def slurm():
    why = slurm_problem()
    if why:
        pytest.skip(f"no SLURM here ({why}); start one with scripts/slurm_local.sh start")


@pytest.fixture(scope="module")
def case_root(demo_root, tmp_path_factory):
    return make_case_root(demo_root, tmp_path_factory.mktemp("case") / "vindr-case")


def squeue_ids() -> set[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=30).stdout
    return {line.split("_")[0] for line in out.split()}


def job_ids(run) -> set[str]:
    return {j["job_id"].split("_")[0] for j in read_record(run)["jobs"]}


def wait_final(run, timeout=600):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        state = rf.read_status(run)["state"]
        if state in rf.FINAL_STATES and not (job_ids(run) & squeue_ids()):
            return state
        time.sleep(1)
    raise AssertionError(f"{run}: not finished after {timeout} s: {rf.read_status(run)}")


def test_a_spread_experiment_runs_as_slurm_jobs_into_one_folder(slurm, case_root, tmp_path, capsys):
    run = tmp_path / "spread"
    rc = main(["experiment", str(case_root), *TINY, "--strategies", "none,gan", "--epochs", "1",
               "--workspace", str(tmp_path / "ws"), "--out", str(run), "--executor", "slurm"])
    assert rc == 0
    said = capsys.readouterr().out
    assert "submitted 5 SLURM jobs (2 runs)" in said            # prepare, the GANs, 2 runs, finish
    names = [j["name"] for j in read_record(run)["jobs"]]
    assert names == ["prepare", "gan-safe", "safe-none-resnet18", "safe-gan-resnet18", "finish"]
    assert job_ids(run) & squeue_ids(), "the jobs are visible in squeue"
    assert rf.read_status(run)["state"] == "queued"
    assert wait_final(run) == "done", rf.read_status(run)

    local = tmp_path / "local"
    assert main(["experiment", str(case_root), *TINY, "--strategies", "none,gan", "--epochs", "1",
                 "--workspace", str(tmp_path / "ws"), "--out", str(local)]) == 0
    spread_doc, local_doc = (json.loads((r / "results.json").read_text()) for r in (run, local))
    assert sorted(spread_doc) == sorted(local_doc)               # results identical in form to a local run
    assert [r["key"] for r in spread_doc["runs"]] == [r["key"] for r in local_doc["runs"]]
    for a, b in zip(spread_doc["runs"], local_doc["runs"]):
        assert sorted(a) == sorted(b)
        assert a["test"]["macro_f1"] == pytest.approx(b["test"]["macro_f1"])   # same data, same seed
    with open(run / "results.csv") as fa, open(local / "results.csv") as fb:
        assert next(csv.reader(fa)) == next(csv.reader(fb))
    gan_cost = [r for r in spread_doc["runs"] if r["strategy"] == "gan"][0]["compute"]["prep_s"]
    assert gan_cost > 0, "the GAN job's cost reaches the rows that use its samples"

    capsys.readouterr()
    assert main(["jobs", str(run)]) == 0
    table = capsys.readouterr().out
    for name in ("spread/prepare", "spread/gan-safe", "spread/safe-gan-resnet18"):
        assert name in table and "done" in table


def test_a_cancelled_spread_experiment_leaves_no_job_and_resumes_only_what_is_missing(slurm, case_root, tmp_path,
                                                                                         capsys):
    run = tmp_path / "spread"
    assert main(["experiment", str(case_root), *TINY, "--strategies", "none,basic", "--epochs", "3",
                 "--workspace", str(tmp_path / "ws"), "--out", str(run), "--executor", "slurm"]) == 0
    end = time.monotonic() + 300
    while not (run / "runs").is_dir() or not any((run / "runs").glob("*.json")):   # one run done, one not
        assert time.monotonic() < end, "no run finished"
        time.sleep(0.5)
    assert main(["cancel", str(run)]) == 0
    assert not (job_ids(run) & squeue_ids()), "a cancelled experiment leaves no job behind"
    assert rf.read_status(run)["state"] == "cancelled"
    for part in (run / "parts").iterdir():
        assert rf.read_status(part)["state"] in rf.FINAL_STATES
    done = {p.stem for p in (run / "runs").glob("*.json")}
    first = len(read_record(run)["jobs"])

    assert main(["experiment", "--resume", "--out", str(run), str(case_root), "--case", "1"]) == 0
    again = [j["name"] for j in read_record(run)["jobs"][first:]]
    assert "prepare" not in again and not (done & set(again)) and again[-1] == "finish"
    assert wait_final(run) == "done", rf.read_status(run)
    doc = json.loads((run / "results.json").read_text())
    assert {r["key"] for r in doc["runs"]} == {"safe-none-resnet18", "safe-basic-resnet18"}
