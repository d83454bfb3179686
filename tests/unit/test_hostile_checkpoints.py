"""Hostile GAN checkpoints: odd values in the sidecar or the safetensors header, sizes that would
allocate gigabytes, non-finite weights. `sample` and `gan-quality` refuse them in one line naming the
file, before any model is built or any image is written, and leave the run as it was."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import spinegui
from hostile_util import assert_one_line_error, run_cli, tree_digest
from job_ctx import Ctx
from spinegui.gan import checkpoint as ck
from spinegui.gan.settings import BY_NAME, gan_settings
from spinegui.gan.spec import MAX_EPOCHS, WIDTHS
from spinegui.gan.train import GanTrainer

REPO = Path(spinegui.__file__).resolve().parents[1]
CLASS = "Osteophytes"
DROP = object()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A real (tiny) trained run: full checkpoint with an average, two generator snapshots, config."""
    run = tmp_path_factory.mktemp("gan") / "run"
    settings = gan_settings({"size": 64, "width": 8, "epochs": 2, "batch": 8, "n_critic": 1, "seed": 3,
                             "device": "cpu", "ema": 0.9, "keep_last": 2})
    rng = np.random.default_rng(0)
    images = rng.integers(0, 65535, (8, 64, 64), dtype=np.uint16)
    trainer = GanTrainer(settings, images, np.zeros(8, np.int64), [CLASS], "m", torch.device("cpu"), Ctx(run))
    assert trainer.train()
    return run


@pytest.fixture
def run(trained_run, tmp_path):
    """A copy of the run; its dataset does not exist, so reaching the data at all is a failure."""
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    (copy / "config.toml").write_text(f'kind = "gan"\nroot = "{tmp_path / "dataset"}"\nsize = 64\ncrops = false\n'
                                      f'workspace = "{tmp_path / "ws"}"\nclasses = ["{CLASS}"]\n')
    return copy


def full(run):
    return run / "checkpoints" / "m_full.safetensors"


def rewrite(path, *, header=True, sidecar=True, meta=DROP, tensors=None, **changes):
    """Change metadata fields (DROP deletes one) in the safetensors header and/or the sidecar."""
    with safe_open(str(path), "pt") as fh:
        old = json.loads(fh.metadata()["spinegui"])
    new = meta if meta is not DROP else {k: v for k, v in {**old, **changes}.items() if v is not DROP}
    if header:
        save_file(tensors if tensors is not None else load_file(str(path)), str(path),
                  metadata={"spinegui": json.dumps(new)})
    if sidecar:
        path.with_suffix(".json").write_text(json.dumps(new))


def refused(args, capsys, *fragments):
    rc, out, err = run_cli(args, capsys)
    assert_one_line_error(rc, err, *fragments)
    return out


def test_the_run_samples_as_it_is(run, tmp_path, capsys):
    rc, out, err = run_cli(["sample", run, "--n", "2", "--out", tmp_path / "out", "--format", "png"], capsys)
    assert rc == 0, err
    assert len(list((tmp_path / "out").glob("*.png"))) == 2


ODD = [
    ("width", 100000), ("width", "32"), ("width", 32.5), ("width", 0), ("size", "64"), ("size", [64]),
    ("size", 96), ("arch", ["wgan-gp"]), ("arch", "gan"), ("n_classes", 10**12), ("n_classes", 0),
    ("n_classes", 2), ("classes", "Osteophytes"), ("classes", [1]), ("epoch", "last"), ("epoch", -1),
    ("epoch", 10**9), ("model", "../../etc"), ("model", None), ("kind", "other"), ("format", "other"),
    ("ema", "high"), ("ema", math.inf), ("sums", [1]), ("step_in_epoch", "x"), ("width", DROP),
]


@pytest.mark.parametrize("where", ["header", "sidecar"])
@pytest.mark.parametrize("key, value", ODD, ids=[f"{k}={'(missing)' if v is DROP else repr(v)}"[:30] for k, v in ODD])
def test_sample_refuses_odd_metadata_in_one_line(run, tmp_path, capsys, key, value, where):
    rewrite(full(run), header=where == "header", sidecar=where == "sidecar", **{key: value})
    before = tree_digest(run)
    out = tmp_path / "out"
    refused(["sample", run, "--n", "2", "--out", out], capsys, str(full(run)), key)
    assert not out.exists() and tree_digest(run) == before


@pytest.mark.parametrize("meta", [[1, 2], "text", 3, None])
def test_metadata_that_is_not_an_object_is_refused(run, tmp_path, capsys, meta):
    rewrite(full(run), meta=meta)
    refused(["sample", run, "--n", "2", "--out", tmp_path / "out"], capsys, str(full(run)), "JSON object")
    assert not (tmp_path / "out").exists()


def test_a_sidecar_that_is_huge_or_endless_is_refused(run, tmp_path, capsys):
    side = full(run).with_suffix(".json")
    side.write_text('{"format": "spinegui-gan-1", "pad": "' + "x" * (2 << 20) + '"}')
    refused(["sample", run, "--n", "2", "--out", tmp_path / "out"], capsys, "too large")
    side.unlink()
    side.symlink_to("/dev/zero")
    refused(["sample", run, "--n", "2", "--out", tmp_path / "out"], capsys, "not a regular file")
    side.unlink()
    side.write_text("[" * 100000 + "]" * 100000)
    refused(["sample", run, "--n", "2", "--out", tmp_path / "out"], capsys, "nested too deeply")
    assert not (tmp_path / "out").exists()


def test_a_huge_width_is_refused_without_allocating_it(run, tmp_path):
    """Width 100000 builds a ~7 GB generator; the child's data segment is capped at 3 GB, so before the
    fix it dies on the allocation (a traceback) instead of taking the machine."""
    rewrite(full(run), width=100000)
    limit = 3 << 30
    code = ("import resource, sys\n"
            f"resource.setrlimit(resource.RLIMIT_DATA, ({limit}, {limit}))\n"
            "from spinegui.cli.entry import main\n"
            "rc = main(sys.argv[1:])\n"
            # VmHWM, not getrusage: a forked child's maxrss starts at its parent's (a big pytest worker)
            "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0].split()[1]\n"
            "print('MAXRSS', hwm, file=sys.stderr)\n"
            "sys.exit(rc)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code, "sample", str(run), "--n", "2", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, env=env, timeout=300)
    lines = proc.stderr.strip().splitlines()
    rss = next(int(ln.split()[1]) * 1024 for ln in lines if ln.startswith("MAXRSS"))
    assert_one_line_error(proc.returncode, "\n".join(ln for ln in lines if not ln.startswith("MAXRSS")),
                          "'width'", "8 to 256")
    assert rss < 1536 << 20, f"peak RSS {rss >> 20} MiB"   # torch alone is ~700 MiB
    assert not (tmp_path / "o").exists()


def _poison(path, value=float("nan"), only=None):
    tensors = load_file(str(path))
    for name, t in tensors.items():
        if t.is_floating_point() and (only is None or name.startswith(only)):
            tensors[name] = torch.full_like(t, value)
    rewrite(path, tensors=tensors)


@pytest.mark.parametrize("value, only", [(float("nan"), None), (float("inf"), "E."), (float("-inf"), "G.body")])
def test_sample_refuses_non_finite_weights_before_writing(run, tmp_path, capsys, value, only):
    _poison(full(run), value, only)
    before = tree_digest(run)
    out = tmp_path / "out"
    refused(["sample", run, "--n", "2", "--out", out], capsys, str(full(run)), "non-finite")
    assert not out.exists() and tree_digest(run) == before


def test_a_poisoned_snapshot_is_refused_before_any_image_is_written(run, tmp_path, capsys):
    snaps = ck.snapshots(run / "checkpoints", "m")
    assert len(snaps) == 2
    _poison(snaps[-1])   # the newer one: sampling in order would have written the older one's images first
    out = tmp_path / "out"
    refused(["sample", run, "--n", "4", "--last-epochs", "2", "--out", out], capsys, str(snaps[-1]), "non-finite")
    assert not out.exists()


def test_gan_quality_refuses_an_all_nan_checkpoint_before_any_work(run, capsys):
    _poison(full(run))
    before = tree_digest(run)
    refused(["gan-quality", run, "--n", "2"], capsys, str(full(run)), "non-finite")
    assert tree_digest(run) == before   # no quality/ folder, no quality.json
    assert not (run.parent / "ws").exists()   # the feature network was never trained


@pytest.mark.parametrize("key, value", [("width", 100000), ("size", "64"), ("classes", [1])])
def test_gan_quality_refuses_odd_metadata(run, capsys, key, value):
    rewrite(full(run), **{key: value})
    before = tree_digest(run)
    refused(["gan-quality", run, "--n", "2"], capsys, str(full(run)), key)
    assert tree_digest(run) == before


@pytest.mark.parametrize("text, fragment", [
    ("kind = 'gan'\n", "dataset root"),
    ("root = 'x'\nsize = '64'\n", "size"),
    ("root = 'x'\nsize = [64]\n", "size"),
    ("root = 'x'\ncrops = 'yes'\n", "crops"),
    ("root = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
])
def test_gan_quality_refuses_an_odd_run_config(run, capsys, text, fragment):
    (run / "config.toml").write_text(text)
    refused(["gan-quality", run, "--n", "2"], capsys, fragment)
    assert not (run / "quality").exists()


def test_the_checkpoint_ranges_are_the_training_ranges():
    assert WIDTHS == (BY_NAME["width"].low, BY_NAME["width"].high)
    assert MAX_EPOCHS == BY_NAME["epochs"].high
