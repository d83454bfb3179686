"""Hostile config files and counts: TOML nested too deeply, files too large, things that are not
regular files (/dev/zero, a FIFO, a folder) are refused in one line before they are read; counts that
would plan billions of outputs are refused with the allowed range."""

import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import spinegui
from hostile_util import assert_one_line_error, run_cli, tree_digest
from spinegui.augment.presets import load_config, load_preset, presets_dir
from spinegui.core.errors import InputError
from spinegui.core.limits import MAX_TEXT_BYTES, read_toml
from spinegui.jobs import runfolder as rf

REPO = Path(spinegui.__file__).resolve().parents[1]
NESTED = {
    "arrays": "rotation = " + "[" * 100_000 + "]" * 100_000 + "\n",
    "inline tables": "rotation = " + "{a = " * 20_000 + "1" + "}" * 20_000 + "\n",
}


def _augment(demo_root, tmp_path, *extra):
    return ["augment", demo_root, "--classes", "Osteophytes", "--per-class", "1", "--out", tmp_path / "aug", *extra]


@pytest.mark.parametrize("kind", list(NESTED))
def test_augment_refuses_deeply_nested_toml(kind, demo_root, tmp_path, capsys):
    cfg = tmp_path / "deep.toml"
    cfg.write_text(NESTED[kind])
    before = tree_digest(demo_root)
    rc, _, err = run_cli(_augment(demo_root, tmp_path, "--config", cfg), capsys)
    assert_one_line_error(rc, err, str(cfg), "nested too deeply")
    assert not (tmp_path / "aug").exists() and tree_digest(demo_root) == before


def test_augment_refuses_a_config_that_is_too_large(demo_root, tmp_path, capsys):
    cfg = tmp_path / "big.toml"
    cfg.write_text("[augment]\n" + ("# padding\n" * (MAX_TEXT_BYTES // 10 + 1)))
    rc, _, err = run_cli(_augment(demo_root, tmp_path, "--config", cfg), capsys)
    assert_one_line_error(rc, err, str(cfg), "too large")
    assert not (tmp_path / "aug").exists()


def test_augment_refuses_a_folder_as_config(demo_root, tmp_path, capsys):
    rc, _, err = run_cli(_augment(demo_root, tmp_path, "--config", tmp_path), capsys)
    assert_one_line_error(rc, err, str(tmp_path), "is a folder")


def _child(argv, tmp_path, timeout=60):
    """`spinegui ARGV` in a child with 1 GB of data segment and a timeout: before the fix /dev/zero is
    read until memory runs out and a FIFO blocks forever; neither may take the test run with it."""
    def limit():
        resource.setrlimit(resource.RLIMIT_DATA, (1 << 30, 1 << 30))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        proc = subprocess.run([sys.executable, "-m", "spinegui", *map(str, argv)], capture_output=True, text=True,
                              env=env, preexec_fn=limit, timeout=timeout, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"spinegui {' '.join(map(str, argv))} still running after {timeout} s")
    return proc.returncode, proc.stderr


def test_augment_config_dev_zero_is_refused_at_once(demo_root, tmp_path):
    rc, err = _child(_augment(demo_root, tmp_path, "--config", "/dev/zero"), tmp_path)
    assert_one_line_error(rc, err, "/dev/zero", "not a regular file")
    assert not (tmp_path / "aug").exists()


def test_augment_config_fifo_is_refused_without_blocking(demo_root, tmp_path):
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    rc, err = _child(_augment(demo_root, tmp_path, "--config", fifo), tmp_path, timeout=30)
    assert_one_line_error(rc, err, str(fifo), "not a regular file")


def test_a_user_preset_that_is_not_a_regular_file_is_refused(tmp_path):
    presets_dir().mkdir(parents=True, exist_ok=True)
    (presets_dir() / "zero.toml").symlink_to("/dev/zero")
    with pytest.raises(InputError, match="not a regular file"):
        load_preset("zero")
    (presets_dir() / "deep.toml").write_text(NESTED["arrays"])
    with pytest.raises(InputError, match="nested too deeply"):
        load_preset("deep")


def test_a_good_config_still_loads(tmp_path):
    cfg = tmp_path / "ok.toml"
    cfg.write_text('[augment]\nmode = "one-of"\nshear = [-10.0, 10.0]\n')
    assert load_config(cfg)["shear"] == (-10.0, 10.0)


@pytest.mark.parametrize("body", ["nested", "large", "dev-zero", "folder", "fifo"])
def test_run_config_is_read_only_when_it_is_a_small_regular_file(body, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    config = run / "config.toml"
    if body == "nested":
        config.write_text("kind = " + "[" * 100_000 + "]" * 100_000 + "\n")
    elif body == "large":
        config.write_text('kind = "gan"\n' + "# pad\n" * (MAX_TEXT_BYTES // 6 + 1))
    elif body == "dev-zero":
        config.symlink_to("/dev/zero")
    elif body == "folder":
        config.mkdir()
    else:
        os.mkfifo(config)
    err = _in_thread(rf.read_config, run, fifo=config if body == "fifo" else None)
    assert isinstance(err, InputError), err
    assert str(config) in str(err)
    assert any(w in err.reason for w in ("nested too deeply", "too large", "not a regular file", "folder"))


def _in_thread(fn, *args, fifo=None, timeout=20):
    """The exception ``fn(*args)`` raises (None if none), failing if it blocks: opening a FIFO waits
    for a writer, so one is supplied afterwards to let a blocked reader go."""
    result = []

    def call():
        try:
            fn(*args)
            result.append(None)
        except Exception as exc:   # handed to the test
            result.append(exc)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive() and fifo is not None:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        worker.join(5)
        pytest.fail(f"{fn.__name__} blocked on the FIFO for {timeout} s")
    assert not worker.is_alive(), f"{fn.__name__} still running after {timeout} s"
    return result[0]


def test_read_toml_keeps_missing_files_for_the_caller_to_word(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_toml(tmp_path / "nope.toml")
    with pytest.raises(InputError, match="not a run folder"):
        rf.read_config(tmp_path)


# --- counts -----------------------------------------------------------------------------------------
def test_augment_per_class_is_capped_with_the_range(demo_root, tmp_path, capsys):
    before = tree_digest(demo_root)
    argv = _augment(demo_root, tmp_path)
    at = argv.index("--per-class") + 1
    for value, fragment in [("100000000000000000000", "from 1 to 100,000"), ("100001", "from 1 to 100,000"),
                            ("1e20", "invalid")]:
        argv[at] = value
        rc, _, err = run_cli(argv, capsys)
        assert_one_line_error(rc, err, "per-class", fragment)
    rc, _, err = run_cli([*_augment(demo_root, tmp_path), "--workers", "100000"], capsys)
    assert_one_line_error(rc, err, "--workers", "from 1 to 256")
    assert not (tmp_path / "aug").exists() and tree_digest(demo_root) == before


@pytest.mark.parametrize("argv, fragment", [
    (["sample", "{run}", "--n", "99999999999", "--out", "{tmp}/o"], "--n must be a whole number from 1 to 20,000"),
    (["sample", "{run}", "--n", "20001", "--out", "{tmp}/o"], "from 1 to 20,000"),
    (["gan-quality", "{run}", "--n", "99999999999"], "--n must be a whole number from 2 to 5,000"),
    (["gan-quality", "{run}", "--n", "5001"], "from 2 to 5,000"),
])
def test_sample_and_gan_quality_counts_are_capped_before_any_work(argv, fragment, tmp_path, capsys):
    argv = [a.replace("{run}", str(tmp_path / "run")).replace("{tmp}", str(tmp_path)) for a in argv]
    rc, _, err = run_cli(argv, capsys)
    assert_one_line_error(rc, err, fragment)   # the range first: the run is not even looked at
    assert sorted(tmp_path.iterdir()) == []


def test_the_job_entry_points_check_the_counts_too(tmp_path):
    from spinegui.gan.quality import evaluate
    from spinegui.gan.sampler import sample_run

    with pytest.raises(InputError, match="from 1 to 20,000"):
        sample_run(tmp_path / "run", 10**11, tmp_path / "o")
    with pytest.raises(InputError, match="from 2 to 5,000"):
        evaluate(tmp_path / "run", n=10**11)
    with pytest.raises(InputError, match="whole number"):
        sample_run(tmp_path / "run", 2.5, tmp_path / "o")


def test_reading_a_folders_own_config_never_hangs_or_crashes(tmp_path):
    """Run folders are read for their dataset (report, sample): a config.toml that is /dev/zero, or
    nested too deeply, is treated as no config instead of reading forever or raising."""
    from results_factory import make_experiment

    run = tmp_path / "exp"
    make_experiment(run)
    for name, make in (("zero", lambda p: p.symlink_to("/dev/zero")),
                       ("deep", lambda p: p.write_text(NESTED["arrays"]))):
        cfg = run / "config.toml"
        cfg.unlink(missing_ok=True)
        make(cfg)
        proc = subprocess.run([sys.executable, "-m", "spinegui", "report", str(run), "--figures",
                               str(tmp_path / f"fig-{name}")], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr


def test_a_deeply_nested_cache_manifest_only_costs_a_rebuild(tmp_path):
    from spinegui.core.dataset.cache import ImageCache

    (tmp_path / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    assert ImageCache(tmp_path).entries == {}
