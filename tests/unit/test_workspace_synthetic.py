"""Synthetic image sets recorded in workspace.toml for the experiment runner (additive format)."""

import tomllib

import pytest

from spinegui.core.dataset.workspace import WORKSPACE_FILE, Workspace
from spinegui.core.errors import InputError


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "dataset"
    root.mkdir()
    return Workspace.for_dataset(root, tmp_path / "ws")


def test_a_new_workspace_has_no_synthetic_sets(ws):
    assert ws.synthetic_sets() == []


def test_added_sets_are_listed_and_the_file_only_grows(ws, tmp_path):
    meta = ws.path / WORKSPACE_FILE
    before = meta.read_text(encoding="utf-8")
    a, b = tmp_path / "runs" / "r1" / "samples_dataset", tmp_path / 'odd "name" ü'
    a.mkdir(parents=True)
    b.mkdir()
    ws.add_synthetic_set(a, run="r1", classes=["Osteophytes"], n=20)
    ws.add_synthetic_set(b, run="r2", classes=["Osteophytes", "Vertebral collapse"], n=5)
    text = meta.read_text(encoding="utf-8")
    assert text.startswith(before)  # nothing that was there is rewritten
    data = tomllib.loads(text)
    assert data["dataset_root"] == str(ws.dataset_root) and data["format"] == 1
    sets = ws.synthetic_sets()
    assert [s["path"] for s in sets] == [str(a.resolve()), str(b.resolve())]
    assert sets[1]["classes"] == ["Osteophytes", "Vertebral collapse"] and sets[1]["n"] == 5
    assert sets[0]["run"] == "r1" and sets[0]["added"].endswith("Z")
    # the workspace still opens, and a second handle reads the same sets
    again = Workspace.for_dataset(ws.dataset_root, ws.path)
    assert again.synthetic_sets() == sets


def test_adding_the_same_set_twice_keeps_one_entry(ws, tmp_path):
    folder = tmp_path / "samples"
    folder.mkdir()
    ws.add_synthetic_set(folder, run="r1", classes=["Osteophytes"], n=20)
    size = (ws.path / WORKSPACE_FILE).stat().st_size
    ws.add_synthetic_set(folder, run="r1", classes=["Osteophytes"], n=20)
    assert (ws.path / WORKSPACE_FILE).stat().st_size == size
    ws.add_synthetic_set(folder, run="r1", classes=["Osteophytes"], n=40)  # re-sampled: the last counts
    assert [s["n"] for s in ws.synthetic_sets()] == [40]


def test_a_missing_folder_is_refused_in_one_line(ws, tmp_path):
    with pytest.raises(InputError, match="no such sampled dataset folder"):
        ws.add_synthetic_set(tmp_path / "nope", run="r", classes=["Osteophytes"], n=1)
    assert ws.synthetic_sets() == []


def test_a_short_set_after_another_is_a_table_of_its_own(tmp_path):
    """tomli-w writes a short array of tables inline; appended that way it would land inside the
    previous [[synthetic_sets]] table. Short paths, one class: each entry must still be its own set."""
    root = tmp_path / 'd "q" \\ x'   # quotes and a backslash in the recorded dataset_root
    root.mkdir()
    ws = Workspace.for_dataset(root, tmp_path / "w")
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    ws.add_synthetic_set(first, run="r", classes=["X"], n=1)
    before = (ws.path / WORKSPACE_FILE).read_text(encoding="utf-8")
    ws.add_synthetic_set(second, run="r", classes=["X"], n=2)
    text = (ws.path / WORKSPACE_FILE).read_text(encoding="utf-8")
    assert text.startswith(before) and text.count("[[synthetic_sets]]") == 2
    assert [(s["path"], s["n"]) for s in tomllib.loads(text)["synthetic_sets"]] == [(str(first), 1), (str(second), 2)]
    assert tomllib.loads(text)["dataset_root"] == str(root.resolve())
    assert Workspace.for_dataset(root, ws.path).synthetic_sets() == ws.synthetic_sets()
