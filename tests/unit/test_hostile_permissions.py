"""Files spinegui writes honour the user's umask (issue 14, defect 9): a colleague on a shared disk can
open a report when the umask says so; nothing is 0600 because of how it was written."""

import os
import stat
from pathlib import Path

import pytest

from spinegui.cli.entry import main
from spinegui.core.dataset.workspace import atomic_write_bytes, current_umask


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    out = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                out[str(p.relative_to(root))] = stat.S_IMODE(p.stat().st_mode)
    return out


def _assert_all(root: Path, mode: int) -> None:
    modes = _modes(root)
    assert modes, f"nothing written under {root}"
    wrong = {name: oct(m) for name, m in modes.items() if m != mode}
    assert not wrong, f"not {oct(mode)} under {root}: {wrong}"


def test_atomic_writes_follow_the_umask_and_keep_a_replaced_files_mode(tmp_path, umask_027):
    assert current_umask() == 0o027
    new = tmp_path / "new.json"
    atomic_write_bytes(new, b"{}")
    assert stat.S_IMODE(new.stat().st_mode) == 0o640
    os.chmod(new, 0o604)                      # the user's own choice survives a rewrite
    atomic_write_bytes(new, b"{ }")
    assert stat.S_IMODE(new.stat().st_mode) == 0o604
    assert not list(tmp_path.glob(".*.tmp"))


def test_every_command_output_honours_the_umask(demo_root, tmp_path, umask_027, capsys):
    ws = tmp_path / "ws"
    # cache (manifest and arrays), export, augment (DICOMs and CSVs), a GAN run and its samples
    assert main(["cache", str(demo_root), "--workspace", str(ws), "--size", "32", "--workers", "1"]) in (0, 1)
    assert main(["export", str(demo_root), "--format", "vindr", "--workspace", str(ws),
                 "--out", str(tmp_path / "export")]) == 0
    assert main(["augment", str(demo_root), "--preset", "basic", "--classes", "No finding", "--per-class", "2",
                 "--out", str(tmp_path / "aug"), "--workers", "1"]) == 0
    assert main(["train-gan", str(demo_root), "--classes", "No finding", "--epochs", "1", "--size", "64",
                 "--width", "8", "--batch", "4", "--device", "cpu", "--workspace", str(ws),
                 "--out", str(tmp_path / "gan")]) == 0
    assert main(["sample", str(tmp_path / "gan"), "--n", "2", "--out", str(tmp_path / "samples")]) == 0
    for name in ("export", "aug", "gan", "samples"):
        _assert_all(tmp_path / name, 0o640)
    _assert_all(ws / "cache", 0o640)
    assert stat.S_IMODE((ws / "workspace.toml").stat().st_mode) == 0o640


def test_experiment_results_and_report_honour_the_umask(tmp_path, umask_027, capsys):
    from results_factory import make_experiment

    run = tmp_path / "exp"
    make_experiment(run)
    assert main(["report", str(run), "--figures", str(tmp_path / "figures")]) == 0
    assert stat.S_IMODE((run / "report.html").stat().st_mode) == 0o640
    _assert_all(tmp_path / "figures", 0o640)
