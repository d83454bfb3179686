"""Hostile command lines (issue 14, defects 4, 7, 11, 12): `cancel` signals only the process a run
recorded; numeric options keep an explicit 0 or refuse it with the range; NaN/inf/negatives are refused
in one line; a closed pipe ends quietly; `cache` says how many images it could not do, exit 1."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hostile_util import assert_one_line_error, run_cli, tree_digest
from spinegui.cli.entry import build_parser
from spinegui.jobs import runfolder as rf

REPO = Path(__file__).resolve().parents[2]


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}


# --- cancel: identity, not a bare pid (defect 4) ----------------------------------------------------
@pytest.fixture
def bystander():
    """A live process that has nothing to do with spinegui (the user's editor, say)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def fake_running_run(root: Path, pid: int, **extra) -> Path:
    run = root / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.toml").write_text('kind = "selftest"\nseed = 0\ndevice = "cpu"\n')
    (run / "events.jsonl").write_text("")
    rf.write_status(run, {"state": "running", "started": "2026-01-02T03:04:05.000Z", "ended": None,
                          "message": None, "pid": pid, "device": "cpu", "kind": "selftest",
                          "host": rf.hostname(), **extra})
    return run


def test_cancel_does_not_kill_a_process_the_run_recorded_without_a_token(tmp_path, bystander, capsys):
    run = fake_running_run(tmp_path, bystander.pid)   # a pid, no start-time token: could be anyone now
    status_before = (run / "status.json").read_bytes()
    rc, out, err = run_cli(["cancel", run, "--grace", "0.2"], capsys)
    assert bystander.poll() is None, "cancel killed a process it could not prove was the job's"
    assert rc == 1 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("spinegui: error: ") and str(bystander.pid) in lines[0]
    assert "not signalled" in lines[0]
    assert (run / "status.json").read_bytes() == status_before   # no false "cancelled ... killed"
    assert (run / "cancel").exists()   # kept on purpose: a real job stops by itself when it sees it


def test_cancel_does_not_kill_a_process_whose_token_differs(tmp_path, bystander, capsys):
    run = fake_running_run(tmp_path, bystander.pid, pid_token="1")   # the pid was reused since
    rc, out, err = run_cli(["cancel", run, "--grace", "0.2"], capsys)
    assert bystander.poll() is None
    assert rc == 0 and "not running (failed)" in out and "Traceback" not in err


def test_cancel_kills_the_recorded_process_when_pid_and_token_match(tmp_path, bystander, capsys):
    token = rf.process_token(bystander.pid)
    assert token is not None
    run = fake_running_run(tmp_path, bystander.pid, pid_token=token)
    rc, out, err = run_cli(["cancel", run, "--grace", "0.2"], capsys)
    assert rc == 0 and "cancelled" in out, err
    assert bystander.wait(5) is not None


def test_strict_identity_needs_a_matching_token(bystander):
    pid = bystander.pid
    assert rf.same_process(pid, None)   # "is the run still going?": a bare live pid may be
    assert not rf.same_process(pid, None, strict=True)   # "may it be signalled?": no
    assert not rf.same_process(pid, "1", strict=True)
    assert rf.same_process(pid, rf.process_token(pid), strict=True)
    assert not rf.same_process(True, None) and not rf.pid_alive(True)   # JSON true is not pid 1


def test_the_ps_start_time_fallback_tells_processes_apart(bystander):
    """The token used where /proc is missing (macOS); ps exists on Linux too, so it is checked here."""
    if shutil.which("ps") is None:
        pytest.skip("no ps")
    mine, theirs = rf._start_time_ps(os.getpid()), rf._start_time_ps(bystander.pid)
    assert mine and theirs and mine == rf._start_time_ps(os.getpid())
    assert rf._start_time_ps(2**22 + 12345) is None


# --- zeros kept or refused (defect 7) ---------------------------------------------------------------
def _gan_numeric_settings():
    from spinegui.gan.settings import SETTINGS

    return [s for s in SETTINGS if not s.choices and not isinstance(s.default, bool)]


@pytest.mark.parametrize("setting", _gan_numeric_settings(), ids=lambda s: s.name)
def test_train_gan_keeps_an_explicit_zero_or_refuses_it(setting, demo_root, tmp_path, capsys):
    from spinegui.cli.gan import gan_config

    flag = "--" + setting.name.replace("_", "-")
    argv = ["train-gan", demo_root, "--classes", "Osteophytes", "--out", tmp_path / "run", flag, "0"]
    if setting.low <= 0 <= setting.high:
        args = build_parser().parse_args([str(a) for a in argv])
        assert gan_config(args)[setting.name] == 0
    else:   # (a dataset that is not there: were the 0 taken for "not given", nothing would train)
        rc, _, err = run_cli(["train-gan", tmp_path / "nope", *argv[2:]], capsys)
        assert_one_line_error(rc, err, flag, f"{setting.low:g}")
        assert not (tmp_path / "run").exists()


def test_train_gan_zero_means_zero_not_the_architectures_default(demo_root, tmp_path):
    from spinegui.cli.gan import gan_config

    args = build_parser().parse_args(["train-gan", str(demo_root), "--classes", "Osteophytes", "--out",
                                      str(tmp_path / "r"), "--arch", "dcgan", "--beta1", "0", "--ema", "0"])
    config = gan_config(args)
    assert (config["beta1"], config["ema"]) == (0.0, 0.0)   # dcgan's own beta1 is 0.5


def test_gan_settings_refuse_a_fraction_of_a_whole_number():
    from spinegui.core.errors import InputError
    from spinegui.gan.settings import gan_settings

    with pytest.raises(InputError, match="epochs: expected a whole number"):
        gan_settings({"epochs": 2.5})


EXPERIMENT_NUMERIC = ["size", "epochs", "patience", "batch", "lr", "max_real", "val_fraction", "gan_epochs",
                      "gan_steps", "gan_minutes", "gan_size", "gan_width", "bootstrap", "seed", "workers", "threads"]
EXPERIMENT_ZERO_MEANS = {"patience": "never stop early", "max_real": "all images", "bootstrap": "no CIs",
                         "seed": "seed 0"}


@pytest.mark.parametrize("name", EXPERIMENT_NUMERIC)
def test_experiment_keeps_an_explicit_zero_or_refuses_it(name, demo_root, tmp_path, capsys):
    from spinegui.cli.experiment import experiment_values
    from spinegui.train.experiment_config import experiment_config

    flag = "--" + name.replace("_", "-")
    out = tmp_path / "exp"
    argv = ["experiment", demo_root, "--case", "1", "--out", out, "--plan-only", flag, "0"]
    if name in EXPERIMENT_ZERO_MEANS:   # documented meanings of 0, kept as given
        args = build_parser().parse_args([str(a) for a in argv])
        assert experiment_config(experiment_values(args))[name] == 0
    else:
        rc, _, err = run_cli(argv, capsys)
        assert_one_line_error(rc, err, name.replace("_", "-"))
        assert not out.exists()


def test_experiment_options_left_out_still_get_their_defaults(demo_root, tmp_path):
    from spinegui.cli.experiment import experiment_values
    from spinegui.train.experiment_config import DEFAULTS, experiment_config

    args = build_parser().parse_args(["experiment", str(demo_root), "--case", "1", "--out", str(tmp_path / "e")])
    cfg = experiment_config(experiment_values(args))
    assert {k: cfg[k] for k in ("size", "lr", "workers", "threads")} == {
        k: DEFAULTS[k] for k in ("size", "lr", "workers", "threads")}


# --- every numeric option: negatives, NaN, infinities refused in one line (defects 7, 12) ---------------
def _base_argv(command: str, tmp: Path, demo_root: Path) -> list:
    nope = tmp / "nope"
    return {
        "demo-data": [tmp / "new-demo"],
        "render": [tmp / "missing.dicom", "-o", tmp / "o.png"],
        "cache": [nope],
        "augment": [demo_root, "--preset", "basic", "--classes", "Osteophytes", "--per-class", "1",
                    "--out", tmp / "aug"],
        "train-gan": [nope, "--classes", "Osteophytes", "--out", tmp / "gan"],
        "sample": [nope, "--n", "1", "--out", tmp / "samples"],
        "gan-quality": [nope],
        "experiment": [demo_root, "--case", "1", "--out", tmp / "exp", "--plan-only"],
        "gradcam": [nope, "--image", "x", "--out", tmp / "o.png"],
        "resume": [nope],
        "cancel": [nope],
        "job-selftest": [tmp / "selftest-run"],
    }.get(command)


def _numeric_options():
    """(command, option, is_float) for every option of every command that takes a number."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    found = []
    for command, p in sub.choices.items():
        for action in p._actions:
            kind = getattr(action.type, "__name__", None)
            if action.option_strings and kind in ("int", "float") and action.nargs is None:
                found.append((command, action.option_strings[-1], kind == "float"))
    return found


NUMERIC = _numeric_options()


def test_the_scan_finds_the_numeric_options():
    names = {(c, o) for c, o, _ in NUMERIC}
    assert {("train-gan", "--epochs"), ("sample", "--last-epochs"), ("experiment", "--lr"), ("cancel", "--grace"),
            ("render", "--frame"), ("cache", "--workers"), ("job-selftest", "--sleep")} <= names
    assert {c for c, _ in names} - {"demo-data", "render", "cache", "augment", "train-gan", "sample", "gan-quality",
                                    "experiment", "gradcam", "resume", "cancel", "job-selftest"} == set()


@pytest.mark.parametrize("command, option, is_float", NUMERIC, ids=[f"{c} {o}" for c, o, _ in NUMERIC])
def test_every_numeric_option_refuses_negatives_and_nan(command, option, is_float, demo_root, tmp_path, capsys):
    before = tree_digest(demo_root)
    for value in ["-1", "nan", "inf"] if is_float else ["-1"]:
        rc, _, err = run_cli([command, *_base_argv(command, tmp_path, demo_root), option, value], capsys)
        assert_one_line_error(rc, err, option.lstrip("-"))
    assert sorted(p.name for p in tmp_path.iterdir()) == []   # nothing started, nothing written
    assert tree_digest(demo_root) == before


@pytest.mark.parametrize("command", ["cache", "demo-data"])
def test_a_worker_count_no_machine_has_is_refused(command, demo_root, tmp_path, capsys):
    rc, _, err = run_cli([command, *_base_argv(command, tmp_path, demo_root), "--workers", "100000"], capsys)
    assert_one_line_error(rc, err, "--workers", "256")
    assert list(tmp_path.iterdir()) == []


def test_sample_refuses_negative_last_epochs(tmp_path, capsys):
    rc, _, err = run_cli(["sample", tmp_path / "run", "--n", "2", "--last-epochs", "-2", "--out", tmp_path / "o"],
                         capsys)
    assert_one_line_error(rc, err, "--last-epochs", "at least 0")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("window", [["nan", "400"], ["40", "nan"], ["inf", "400"], ["40", "inf"]])
def test_render_refuses_a_window_that_is_not_finite(window, demo_root, tmp_path, capsys):
    dicom = next(demo_root.rglob("*.dicom"))
    out = tmp_path / "o.png"
    rc, _, err = run_cli(["render", dicom, "-o", out, "--window", *window], capsys)
    assert_one_line_error(rc, err, "--window", "finite")
    assert not out.exists()


# --- a reader that goes away (defect 11) ------------------------------------------------------------
@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_a_closed_pipe_ends_quietly(extra, demo_root):
    """`spinegui info DS | head -1`: the reader has gone before the first write."""
    proc = subprocess.Popen([sys.executable, "-m", "spinegui", "info", str(demo_root), *extra], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()   # what head does after its line (here before any: the same error, every time)
    err = proc.stderr.read().decode()
    rc = proc.wait(60)
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipeError" not in err, err
    assert rc == 141   # 128 + SIGPIPE, as a shell reports it for any tool whose reader went away


def test_head_reads_the_first_line(demo_root):
    result = subprocess.run(f"{sys.executable} -m spinegui info {demo_root} | head -1", shell=True, env=_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.startswith("dataset ") and len(result.stdout.splitlines()) == 1
    assert "Traceback" not in result.stderr


# --- cache: part of the work not done is an error (defect 12) ---------------------------------------
def test_cache_exits_1_and_names_the_images_it_could_not_decode(demo_root, tmp_path, capsys):
    root = tmp_path / "ds"
    shutil.copytree(demo_root, root)
    images = sorted((root / "train_images").glob("*.dicom"))
    images[0].write_bytes(b"not a dicom at all" * 10)
    images[1].unlink()
    total = len(list(root.glob("*_images/*.dicom"))) + 1
    argv = ["cache", root, "--size", "32", "--workers", "1", "--workspace", tmp_path / "ws"]
    for attempt in (1, 2):   # the second run finds the failure in the manifest: still not cached
        rc, out, err = run_cli(argv, capsys)
        assert rc == 1, (attempt, out, err)
        assert f"spinegui: error: 2 of {total} images not cached (1 cannot be decoded, 1 missing)" in err
        assert f"failed {images[0]}" in out and f"missing {images[1]}" in out
        assert "Traceback" not in err
    assert json.loads((tmp_path / "ws" / "cache" / "manifest.json").read_text())["entries"]


def test_cache_of_a_sound_dataset_exits_0(demo_root, tmp_path, capsys):
    rc, out, err = run_cli(["cache", demo_root, "--size", "32", "--workers", "1", "--workspace", tmp_path / "ws"],
                           capsys)
    assert rc == 0 and "0 failed, 0 missing" in out, err
