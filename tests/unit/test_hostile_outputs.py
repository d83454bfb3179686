"""Hostile output folders (issue 14, defects 1 and 10).

Every command that writes a folder (augment, sample, experiment, export, report --figures,
train-gan) follows spinegui/core/outdir.py: a folder that is not empty is refused; --overwrite
replaces only the same command's own earlier output, file by file through the list it left, and
refuses (deleting nothing) when the user added a file since. Never the dataset, a run of another kind,
the home folder or the root. A device this machine lacks is refused before any folder is written.
"""

import json
import shutil
from pathlib import Path

import pytest

from case_factory import make_case_root
from hostile_util import assert_one_line_error, run_cli, tree_digest
from spinegui.core.dataset.vindr import load_index
from spinegui.core.errors import InputError

MARKER = ".spinegui-output.json"   # spinegui.core.outdir.MARKER (imported where used: it is new)
GAN_TINY = ["--size", "64", "--width", "8", "--batch", "4", "--n-critic", "2", "--epochs", "1"]
EXP_TINY = ["--models", "resnet18", "--size", "32", "--epochs", "1", "--per-class", "3", "--strategies", "none",
            "--protocol", "safe", "--threads", "1", "--workers", "1", "--bootstrap", "20"]
COMMANDS = ("augment", "sample", "experiment", "export", "report", "train-gan")


# --- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(demo_root, tmp_path_factory):
    """A copy of the demo dataset, a GAN run trained on it (after --device cuda was refused without a
    GPU: no folder, then --device cpu works without --overwrite), and a fake experiment folder."""
    from results_factory import make_experiment
    from spinegui.cli.entry import main

    tmp = tmp_path_factory.mktemp("outputs")
    ds = tmp / "dataset"
    shutil.copytree(demo_root, ds)
    counts: dict[str, int] = {}
    for r in load_index(ds).in_split("train"):
        for label in r.labels:
            counts[label] = counts.get(label, 0) + 1
    cls = max((c for c in counts if c != "No finding"), key=counts.get)
    run = tmp / "gan-run"
    argv = ["train-gan", str(ds), "--classes", cls, *GAN_TINY, "--workspace", str(tmp / "ws"), "--out", str(run)]
    with pytest.MonkeyPatch.context() as mp:
        import torch

        mp.setattr(torch.cuda, "is_available", lambda: False)
        mp.setattr(torch.cuda, "device_count", lambda: 0)
        cuda = (main(argv + ["--device", "cuda"]), run.exists())
    cpu = main(argv + ["--device", "cpu"])
    if cpu != 0:   # (only where the cuda attempt left its folder behind: the other tests still get a run)
        run = tmp / "gan-run-2"
        assert main(argv[:-1] + [str(run), "--device", "cpu"]) == 0
    exp = tmp / "experiment"
    make_experiment(exp)
    with open(exp / "config.toml", "a", encoding="utf-8") as fh:   # as a real experiment names its dataset
        fh.write(f"root = {json.dumps(str(ds))}\n")
    return {"ds": ds, "cls": cls, "run": run, "exp": exp, "tmp": tmp, "train_gan": {"cuda": cuda, "cpu": cpu}}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """HOME is a temp folder holding a file; the working folder is another temp folder."""
    h = tmp_path / "home"
    (h / "Documents").mkdir(parents=True)
    (h / "Documents" / "thesis.txt").write_text("years of work")
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.chdir(tmp_path)
    return h


def argv_of(command: str, world, out, overwrite: bool = True) -> list:
    flag = ["--overwrite"] if overwrite else []
    return {
        "augment": ["augment", world["ds"], "--classes", "No finding", "--per-class", "1", "--workers", "1",
                    "--out", out, *flag],
        "sample": ["sample", world["run"], "--n", "2", "--out", out, *flag],
        "experiment": ["experiment", world["ds"], "--case", "1", *EXP_TINY, "--device", "cpu", "--out", out, *flag],
        "export": ["export", world["ds"], "--format", "vindr", "--out", out, *flag],
        "report": ["report", world["exp"], "--figures", out, *flag],
        # train-gan has no --overwrite: a run folder is never replaced by it (except one that ended
        # before its first step)
        "train-gan": ["train-gan", world["ds"], "--classes", world["cls"], *GAN_TINY, "--device", "cpu",
                      "--workspace", world["tmp"] / "ws", "--out", out],
    }[command]


def refused(argv, capsys, trees, *fragments) -> str:
    before = {str(t): tree_digest(t) for t in trees}
    rc, _, err = run_cli(argv, capsys)
    assert_one_line_error(rc, err, *fragments)
    assert {str(t): tree_digest(t) for t in trees} == before
    return err


def user_folder(tmp_path) -> Path:
    user = tmp_path / "mine"
    (user / "sub").mkdir(parents=True)
    (user / "notes.txt").write_text("mine")
    (user / "sub" / "photo.png").write_bytes(b"\x89PNG mine")
    return user


# --- (a) a folder of the user's files, (b) the dataset, (c) a GAN run, (d) ~ ------------------------
@pytest.mark.parametrize("command", COMMANDS)
def test_overwrite_never_deletes_a_folder_of_user_files(command, world, tmp_path, capsys):
    user = user_folder(tmp_path)
    why = "not an empty folder" if command == "train-gan" else "--overwrite only replaces an earlier output"
    refused(argv_of(command, world, user), capsys, [user, world["ds"]], why)


@pytest.mark.parametrize("command", COMMANDS)
def test_overwrite_never_deletes_the_dataset(command, world, capsys):
    refused(argv_of(command, world, world["ds"]), capsys, [world["ds"], world["run"]])


@pytest.mark.parametrize("command", COMMANDS)
def test_nothing_is_written_inside_the_dataset(command, world, capsys):
    out = world["ds"] / "outputs" / "new"
    err = refused(argv_of(command, world, out), capsys, [world["ds"]])
    assert "dataset" in err and not out.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_overwrite_never_deletes_a_gan_run(command, world, capsys):
    refused(argv_of(command, world, world["run"]), capsys, [world["run"], world["ds"]])


def test_the_refusals_for_a_gan_run_say_why(world, capsys):
    assert "is the GAN run it samples" in refused(argv_of("sample", world, world["run"]), capsys, [world["run"]])
    assert "is a 'gan' run, not 'experiment'" in refused(argv_of("experiment", world, world["run"]), capsys,
                                                        [world["run"]])
    assert "written by `spinegui train-gan`, not `spinegui augment`" in refused(
        argv_of("augment", world, world["run"]), capsys, [world["run"]])
    # an experiment folder made by an older spinegui (no list of its files) is not deleted either
    assert "holds no .spinegui-output.json" in refused(argv_of("experiment", world, world["exp"]), capsys,
                                                       [world["exp"]])


@pytest.mark.parametrize("command", COMMANDS)
def test_overwrite_never_deletes_the_home_folder(command, world, home, capsys):
    err = refused(argv_of(command, world, "~"), capsys, [home, world["ds"]])
    assert "home folder" in err
    # nor an empty one: a home folder is not an output folder
    (home / "Documents" / "thesis.txt").unlink()
    (home / "Documents").rmdir()
    refused(argv_of(command, world, "~"), capsys, [home], "home folder")
    assert not any(home.iterdir())


def test_the_root_and_spinegui_data_folder_are_refused(tmp_path, monkeypatch):
    from spinegui.core import outdir

    # (through the rule itself: no test of a deleting command is ever pointed at "/")
    for where in ("/", str(Path.home()), str(Path.home().parent)):
        with pytest.raises(InputError, match="root of the file system|home folder"):
            outdir.check(where, "augment", overwrite=True)
    monkeypatch.setenv("SPINEGUI_HOME", str(tmp_path / "data"))
    (tmp_path / "data" / "workspaces" / "ws").mkdir(parents=True)
    (tmp_path / "data" / "workspaces" / "ws" / "workspace.toml").write_text("format = 1\n")
    for where, why in ((tmp_path / "data", "data folder"), (tmp_path, "data folder"),
                       (tmp_path / "data" / "workspaces" / "ws", "workspace")):
        with pytest.raises(InputError, match=why):
            outdir.prepare(where, "export", overwrite=True)
    assert (tmp_path / "data" / "workspaces" / "ws" / "workspace.toml").is_file()


# --- --overwrite on the command's own earlier output ------------------------------------------------
@pytest.mark.parametrize("command", ("augment", "sample", "export", "report"))
def test_overwrite_replaces_its_own_output_and_refuses_when_the_user_added_a_file(command, world, tmp_path,
                                                                                   capsys):
    out = tmp_path / "out"
    rc, _, err = run_cli(argv_of(command, world, out, overwrite=False), capsys)
    assert rc == 0, err
    marker = json.loads((out / MARKER).read_text())
    first = tree_digest(out)
    assert set(marker["files"]) == {k for k, v in first.items() if v != "dir" and k != MARKER}
    # without --overwrite: refused, nothing changes
    refused(argv_of(command, world, out, overwrite=False), capsys, [out], "not empty", "--overwrite")
    # with it: replaced (the same command again writes the same files; its report names --overwrite)
    stale = next(f for f in sorted(marker["files"]) if not f.endswith("_report.json"))
    (out / stale).write_bytes(b"an old version")   # a file it wrote, changed since: replaced, not kept
    rc, _, err = run_cli(argv_of(command, world, out), capsys)
    assert rc == 0, err
    again = tree_digest(out)
    assert again.keys() == first.keys() and again[stale] == first[stale]
    # a file the user added afterwards, anywhere in it: --overwrite refuses and names it
    sub = next((k for k, v in first.items() if v == "dir"), "")
    added = out / sub / "my-notes.txt"
    added.write_text("mine")
    refused(argv_of(command, world, out), capsys, [out], "my-notes.txt", "move it away")
    assert added.read_text() == "mine"


def test_overwrite_of_an_experiment_checks_before_planning_and_deletes_nothing_then(world, tmp_path, capsys):
    """An experiment folder of spinegui's own: --overwrite is accepted (--plan-only stops before the
    run, so nothing is deleted), and refused once the user added a file."""
    from spinegui.jobs import runfolder as rf
    from spinegui.jobs.runner import prepare_new

    case = _case_root(world["ds"], tmp_path / "case")
    out = tmp_path / "exp"
    prepare_new("experiment", {"root": str(case)}, out)
    rf.update_status(out, state="done")
    before = tree_digest(out)
    argv = ["experiment", case, "--case", "1", *EXP_TINY, "--device", "cpu", "--out", out, "--plan-only"]
    rc, text, err = run_cli(argv, capsys)
    assert rc == 2 and "already there; pass --resume" in err
    rc, text, err = run_cli(argv + ["--overwrite"], capsys)
    assert rc == 0 and "safe protocol" in text, err
    assert tree_digest(out) == before
    (out / "checkpoints" / "my-model.safetensors").write_bytes(b"mine")
    refused(argv + ["--overwrite"], capsys, [out, case], "checkpoints/my-model.safetensors")


def test_a_run_folder_is_replaced_file_by_file(tmp_path):
    """What `spinegui experiment --overwrite` does once planned: run_foreground(..., overwrite=True)."""
    from spinegui.cli.jobs import run_foreground

    run = tmp_path / "run"
    config = {"device": "cpu", "steps": 3, "sleep": 0.0}
    assert run_foreground("selftest", config, run) == 0
    assert "checkpoints/selftest.json" in json.loads((run / MARKER).read_text())["files"]
    with pytest.raises(InputError, match="already a run folder"):
        run_foreground("selftest", config, run)
    first_created = (run / "config.toml").read_text()
    assert run_foreground("selftest", config, run, overwrite=True) == 0
    assert (run / "config.toml").read_text() != first_created   # a new run (created again)
    (run / "mine.txt").write_text("mine")
    before = tree_digest(run)
    with pytest.raises(InputError, match="mine.txt"):
        run_foreground("selftest", config, run, overwrite=True)
    assert tree_digest(run) == before
    with pytest.raises(InputError, match="is a 'selftest' run, not 'experiment'"):
        run_foreground("experiment", {"device": "cpu"}, run, overwrite=True)
    assert tree_digest(run) == before


# --- the list is the only licence to delete -------------------------------------------------------
def test_a_doctored_list_or_a_link_deletes_nothing_outside(tmp_path):
    from spinegui.core import outdir

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("mine")
    out = outdir.prepare(tmp_path / "out", "export")
    (out / "a.csv").write_text("x")
    assert outdir.seal(out, "export")
    doc = json.loads((out / MARKER).read_text())
    doc["files"] += ["../victim/precious.txt", str(victim / "precious.txt")]
    doc["dirs"] += ["../victim", str(victim)]
    (out / MARKER).write_text(json.dumps(doc))
    outdir.prepare(out, "export", overwrite=True)
    assert (victim / "precious.txt").read_text() == "mine" and not (out / "a.csv").exists()
    # a listed folder replaced by a link to the user's folder: refused, the link's target untouched
    (out / "sub").mkdir()
    (out / "sub" / "b.csv").write_text("x")
    outdir.seal(out, "export")
    shutil.rmtree(out / "sub")
    (out / "sub").symlink_to(victim, target_is_directory=True)
    with pytest.raises(InputError, match="holds sub, which is not among"):
        outdir.prepare(out, "export", overwrite=True)
    assert (victim / "precious.txt").read_text() == "mine"


# --- --device cuda without a GPU (defect 10) ------------------------------------------------------
def test_train_gan_on_cuda_without_a_gpu_is_refused_then_runs_on_the_cpu_without_overwrite(world):
    rc, folder_left = world["train_gan"]["cuda"]
    assert rc == 2 and not folder_left
    assert world["train_gan"]["cpu"] == 0


def _no_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.mark.parametrize("fake", [True, False], ids=["no-gpu", "this-machine"])
def test_device_cuda_without_a_gpu_is_refused_before_any_folder(fake, world, tmp_path, monkeypatch, capsys):
    import torch

    if fake:
        _no_gpu(monkeypatch)
    elif torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    case = _case_root(world["ds"], tmp_path / "case")
    for command in ("train-gan", "experiment"):
        out = tmp_path / f"{command}-run"
        argv = [a for a in argv_of(command, world, out, overwrite=False)]
        argv[1] = case if command == "experiment" else argv[1]
        cuda = [a if a != "cpu" else "cuda" for a in argv]
        refused(cuda, capsys, [world["ds"], case], "--device cuda", "no CUDA GPU", "--device cpu")
        assert not out.exists()
    # the same experiment on the CPU is not blocked by anything left behind (train-gan: `world`)
    rc, text, err = run_cli(argv + ["--plan-only"], capsys)
    assert rc == 0 and "safe protocol" in text, err


def test_resuming_a_cuda_run_without_a_gpu_is_refused_and_changes_nothing(tmp_path, monkeypatch, capsys):
    from spinegui.jobs import runfolder as rf
    from spinegui.jobs.runner import prepare_new

    _no_gpu(monkeypatch)
    run = tmp_path / "run"
    prepare_new("selftest", {"device": "cuda"}, run)
    rf.update_status(run, state="failed", message="the machine went away")
    refused(["resume", run], capsys, [run], "runs on device cuda", "no CUDA GPU")


def test_a_run_that_failed_before_its_first_step_is_replaced_without_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    rc, _, err = run_cli(["job-selftest", run, "--steps", "3", "--sleep", "0", "--fail-at", "1"], capsys)
    assert rc == 1 and json.loads((run / "status.json").read_text())["state"] == "failed"
    rc, _, err = run_cli(["job-selftest", run, "--steps", "3", "--sleep", "0"], capsys)
    assert rc == 0, err
    assert json.loads((run / "status.json").read_text())["state"] == "done"
    # one that did some work is kept: resume it, or choose another folder
    other = tmp_path / "other"
    rc, _, err = run_cli(["job-selftest", other, "--steps", "3", "--sleep", "0", "--fail-at", "3"], capsys)
    assert rc == 1
    refused(["job-selftest", other, "--steps", "3", "--sleep", "0"], capsys, [other], "already a run folder")


# --- helpers ----------------------------------------------------------------------------------------
def _case_root(ds: Path, root: Path) -> Path:
    """A copy of the dataset with one study of each of case 1's classes in the test split (the demo
    dataset has none), so that an experiment can be planned on it."""
    return root if root.exists() else make_case_root(ds, root, link=False)


def test_a_folder_swapped_for_a_link_after_the_scan_deletes_nothing_behind_it(tmp_path):
    """Between listing an earlier output and deleting it, a listed folder becomes a link to a user's
    folder holding a file of the same name: the deletion stops there instead of following it."""
    from spinegui.core import outdir
    from spinegui.core.errors import InputError

    out, theirs = tmp_path / "out", tmp_path / "theirs"
    (out / "train_images").mkdir(parents=True)
    (out / "train_images" / "a.dicom").write_bytes(b"ours")
    theirs.mkdir()
    (theirs / "a.dicom").write_bytes(b"a user's only copy")
    files, dirs = outdir._scan(out)
    (out / "train_images" / "a.dicom").unlink()
    (out / "train_images").rmdir()
    (out / "train_images").symlink_to(theirs, target_is_directory=True)
    with pytest.raises(InputError, match="became a link"):
        outdir._clear(out, files, dirs)
    assert (theirs / "a.dicom").read_bytes() == b"a user's only copy"
