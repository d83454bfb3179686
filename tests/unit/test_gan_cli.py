"""The GAN commands end to end on the demo dataset: train-gan (job process), sample, torchrun."""

import json
import os
import subprocess
import sys

import pydicom
import pytest

from spinegui.cli.entry import main
from spinegui.core.dataset.vindr import load_index
from spinegui.core.dicom.reader import is_synthetic

TINY = ["--size", "64", "--width", "8", "--batch", "4", "--n-critic", "2", "--device", "cpu"]


def _class_with_most_images(root):
    index = load_index(root)
    counts = {}
    for r in index.in_split("train"):
        for label in r.labels:
            counts[label] = counts.get(label, 0) + 1
    return max((c for c in counts if c != "No finding"), key=counts.get)


@pytest.fixture(scope="module")
def trained(demo_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gan")
    cls = _class_with_most_images(demo_root)
    run = tmp / "run"
    rc = main(["train-gan", str(demo_root), "--classes", cls, "--epochs", "2", "--workspace", str(tmp / "ws"),
               "--out", str(run), *TINY])
    assert rc == 0
    return run, cls, tmp


def test_train_gan_writes_a_complete_run_folder(trained):
    run, cls, _ = trained
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "done" and status["device"] == "cpu"
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in events if e["kind"] == "epoch"] == [1, 2]
    assert any(e["kind"] == "sample" for e in events) and (run / "compute.json").is_file()
    assert list((run / "checkpoints").glob("*_full.safetensors"))


def test_sampled_files_are_marked_and_reopen_as_a_dataset(trained, capsys):
    run, cls, tmp = trained
    out = tmp / "samples"
    assert main(["sample", str(run), "--n", "5", "--last-epochs", "2", "--out", str(out)]) == 0
    index = load_index(out)
    assert len(index.images) == 5 and not index.problems
    for record in index.images.values():
        assert record.image_id.startswith("syn-gan-") and record.labels == {cls}
        ds = pydicom.dcmread(record.path)
        assert is_synthetic(ds) and "SYNTHETIC" in list(ds.ImageType)
        prov = json.loads(ds.ImageComments)
        assert prov["class"] == cls and prov["run"] == run.name and prov["epoch"] in (1, 2) and "seed" in prov
        assert not str(ds.PatientName) and ds.PatientIdentityRemoved == "YES"
    assert main(["sample", str(run), "--n", "5", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_corrupt_checkpoint_is_one_line_exit_2(trained, tmp_path, capsys):
    run, _, _ = trained
    broken = tmp_path / "broken"
    (broken / "checkpoints").mkdir(parents=True)
    for f in (run / "checkpoints").glob("*_full.*"):
        data = f.read_bytes()
        (broken / "checkpoints" / f.name).write_bytes(data[:200] if f.suffix == ".safetensors" else data)
    assert main(["sample", str(broken), "--n", "2", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "corrupt checkpoint" in err


def test_two_cpu_ranks_under_torchrun_keep_identical_weights(trained, demo_root, tmp_path):
    _, cls, tmp = trained
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "spinegui",
         "train-gan", str(demo_root), "--classes", cls, "--epochs", "2", "--workspace", str(tmp / "ws"),
         "--out", str(run), *TINY], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((run / "status.json").read_text())["state"] == "done"
    epochs = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()
              if '"kind":"epoch"' in line]
    assert len(epochs) == 2
    assert all(e["rank_weight_spread"] == 0.0 for e in epochs)
