"""An experiment spread over job processes on this machine (--parallel; one per GPU where there are
several), and --executor slurm refused in one line where there is no SLURM."""

import json

import pytest

from case_factory import make_case_root
from spinegui.cli.entry import main
from spinegui.jobs import runfolder as rf
from spinegui.train.experiment_parts import Part, all_parts, missing_parts

TINY = ["--case", "1", "--protocol", "safe", "--models", "resnet18", "--size", "32", "--per-class", "3",
        "--epochs", "1", "--gan-epochs", "1", "--gan-gate", "off", "--gan-width", "8", "--device", "cpu",
        "--workers", "1", "--bootstrap", "20"]


@pytest.fixture(scope="module")
def case_root(demo_root, tmp_path_factory):
    return make_case_root(demo_root, tmp_path_factory.mktemp("case") / "vindr-case")


def test_executor_slurm_without_slurm_says_so_in_one_line_and_writes_nothing(case_root, tmp_path, monkeypatch,
                                                                               capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))       # no sbatch, squeue or scancel
    out = tmp_path / "exp"
    assert main(["experiment", str(case_root), *TINY, "--out", str(out), "--executor", "slurm"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["spinegui: error: --executor slurm: SLURM is not installed here (sbatch not found on PATH)"]
    assert not out.exists()


def test_parts_put_the_gans_before_the_runs_that_need_them():
    class Counts:
        def __init__(self, gan):
            self.gan = gan

    class Plan:
        def __init__(self, protocol, strategy, gan):
            self.protocol, self.strategy, self.key, self.counts = protocol, strategy, f"{protocol}-{strategy}", [
                Counts(gan)]

    cfg = {"protocols": ["safe", "paper"], "models": ["resnet18", "vgg16"], "seeds": 2}
    plans = [Plan(p, s, s == "gan") for p in ("safe", "paper") for s in ("none", "gan")]
    parts = all_parts(cfg, plans)
    names = [p.name for p in parts]
    assert names[:2] == ["prepare", "gan-safe"] and len(names) == 1 + 2 + 2 * 2 * 2 * 2
    assert Part("safe-gan-vgg16-s1", "cell", "safe", ("gan-safe",)) in parts
    assert all(p.after == ("prepare",) for p in parts if p.kind == "gans")
    assert names.index("gan-paper") < names.index("paper-none-resnet18")


def test_parallel_local_runs_give_the_sequential_results_and_resume_only_what_is_missing(case_root, tmp_path):
    ws = ["--workspace", str(tmp_path / "ws")]
    seq, par = tmp_path / "seq", tmp_path / "par"
    assert main(["experiment", str(case_root), *TINY, *ws, "--strategies", "none,gan", "--out", str(seq)]) == 0
    assert main(["experiment", str(case_root), *TINY, *ws, "--strategies", "none,gan", "--out", str(par),
                 "--parallel", "2"]) == 0
    a, b = (json.loads((r / "results.json").read_text()) for r in (seq, par))
    assert [r["key"] for r in a["runs"]] == [r["key"] for r in b["runs"]] == ["safe-none-resnet18",
                                                                              "safe-gan-resnet18"]
    for x, y in zip(a["runs"], b["runs"]):
        assert x["test"]["macro_f1"] == pytest.approx(y["test"]["macro_f1"])
        assert x["history"][0]["train_loss"] == pytest.approx(y["history"][0]["train_loss"], rel=1e-4)
    parts = sorted(p.name for p in (par / "parts").iterdir())
    assert parts == ["gan-safe", "safe-gan-resnet18", "safe-none-resnet18"]
    assert all(rf.read_status(par / "parts" / p)["state"] == "done" for p in parts)
    gan_row = [r for r in b["runs"] if r["strategy"] == "gan"][0]
    assert gan_row["compute"]["prep_s"] > 0          # the GAN part's cost, merged into the runs that use it

    cfg = {"protocols": ["safe"], "models": ["resnet18"], "seeds": 1}
    plans = [type("P", (), {"protocol": "safe", "strategy": s, "key": f"safe-{s}",
                            "counts": [type("C", (), {"gan": s == "gan"})()]})() for s in ("none", "gan")]
    assert missing_parts(par, cfg, plans) == []
    (par / "runs" / "safe-gan-resnet18.json").unlink()
    assert [p.name for p in missing_parts(par, cfg, plans)] == ["safe-gan-resnet18"]
