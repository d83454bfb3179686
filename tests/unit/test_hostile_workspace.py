"""Hostile workspaces: a workspace inside (or holding) the dataset, a stranger's folder, two writers at
once, and edits files built to break the reader (deep nesting, NaN boxes). Each is refused with one
line, and nothing that was there is changed or lost."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hostile_util import assert_one_line_error, run_cli, tree_digest
from spinegui.core.annotations.overlay import edits_path
from spinegui.core.annotations.store import AnnotationStore
from spinegui.core.dataset.vindr import load_index
from spinegui.core.dataset.workspace import Workspace
from spinegui.core.errors import InputError


@pytest.fixture(scope="module")
def index(demo_root):
    return load_index(demo_root)


def boxed_image(index) -> str:
    return next(i for i, r in index.images.items() if r.boxes)


# --- the workspace folder rule ------------------------------------------------------------------
@pytest.mark.parametrize("where", ["train_images", "annotations/new", ".", ".."])
def test_cache_refuses_a_workspace_inside_or_holding_the_dataset(demo_root, tmp_path, capsys, where):
    root = tmp_path / "data" / "vindr"
    root.parent.mkdir()
    shutil.copytree(demo_root, root)
    ws = (root / where) if where != ".." else root.parent
    before = tree_digest(tmp_path)
    rc, out, err = run_cli(["cache", root, "--workspace", ws, "--workers", 1], capsys)
    assert_one_line_error(rc, err, "dataset folder")
    assert tree_digest(tmp_path) == before  # nothing written into (or beside) the dataset


def test_a_strangers_folder_is_not_a_workspace(demo_root, tmp_path, capsys):
    folder = tmp_path / "my-thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("\\section{Intro}")
    before = tree_digest(folder)
    rc, _, err = run_cli(["cache", demo_root, "--workspace", folder], capsys)
    assert_one_line_error(rc, err, "not a spinegui workspace")
    assert tree_digest(folder) == before


def test_new_empty_and_existing_workspaces_are_accepted(demo_root, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".DS_Store").write_bytes(b"")  # a desktop's clutter does not make a folder someone's
    assert Workspace.for_dataset(demo_root, empty).path == empty.resolve()
    again = Workspace.for_dataset(demo_root, empty)  # now a workspace: opens again
    assert (again.path / "workspace.toml").exists()
    assert Workspace.for_dataset(demo_root, tmp_path / "new" / "ws").path.is_dir()


def test_a_deeply_nested_workspace_file_is_one_line(demo_root, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "workspace.toml").write_text("x = " + "[" * 100000 + "]" * 100000 + "\n")
    with pytest.raises(InputError, match="workspace file nested too deeply"):
        Workspace.for_dataset(demo_root, ws)


# --- one writer per workspace -------------------------------------------------------------------
HOLDER = textwrap.dedent("""
    import sys, time
    from spinegui.core.dataset.workspace_lock import lock_workspace
    lock = lock_workspace(sys.argv[1], "a spinegui app window")
    print("locked", flush=True)
    time.sleep(120)
""")


def test_cache_refuses_while_an_app_holds_the_workspace_and_goes_on_after_it_died(demo_root, tmp_path, capsys):
    ws = Workspace.for_dataset(demo_root, tmp_path / "ws").path
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(ws)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = tree_digest(ws)
        rc, _, err = run_cli(["cache", demo_root, "--workspace", ws, "--workers", 1], capsys)
        assert_one_line_error(rc, err, "in use by a spinegui app window", f"pid {holder.pid}")
        assert tree_digest(ws) == before
    finally:
        holder.send_signal(signal.SIGKILL)  # a crash: no one releases the lock, the OS does
        holder.wait()
    store = AnnotationStore(load_index(demo_root), Workspace.for_dataset(demo_root, ws), reader="r1",
                            autosave=False)  # the dead holder's lock is gone with it
    store.close()


def test_a_second_store_is_refused_or_read_only_and_loses_nothing(index, tmp_path):
    from spinegui.core.dataset.workspace_lock import WorkspaceBusy

    ws = Workspace.for_dataset(index.root, tmp_path / "ws")
    image_id = boxed_image(index)
    writer = AnnotationStore(index, ws, reader="rad1", autosave=False, holder="a spinegui app window")
    with pytest.raises(WorkspaceBusy, match="in use by a spinegui app window"):
        AnnotationStore(index, ws, reader="rad2", autosave=False)
    viewer = AnnotationStore(index, ws, reader="rad2", autosave=False, read_only="another window has it")
    with pytest.raises(InputError, match="read-only: another window has it"):
        viewer.add_box(image_id, "Osteophytes", (1, 2, 30, 40))
    with pytest.raises(InputError, match="read-only"):
        viewer.relocate(tmp_path / "elsewhere")
    first = writer.add_box(image_id, "Osteophytes", (1, 2, 30, 40))
    writer.save()
    heard = []
    viewer.listeners.append(heard.append)
    assert viewer.refresh() is False  # the writer is still there: the viewer follows its saves
    assert viewer.boxes(image_id) == writer.boxes(image_id) and heard == [image_id]
    assert "a spinegui app window (pid" in viewer.read_only
    writer.close()
    assert viewer.refresh() is True and viewer.read_only is None  # the writer left: take over
    second = viewer.add_box(image_id, "Spondylolysthesis", (5, 6, 50, 60))
    viewer.close()
    saved = json.loads(edits_path(ws.path).read_text())["images"][image_id]["boxes"]
    assert {first, second} <= {b["uid"] for b in saved}  # neither reader's box is lost


def test_relocating_takes_the_new_workspaces_lock(index, tmp_path):
    from spinegui.core.dataset.workspace_lock import WorkspaceBusy

    store = AnnotationStore(index, Workspace.for_dataset(index.root, tmp_path / "ws"), reader="r1", autosave=False)
    other = Workspace.for_dataset(index.root, tmp_path / "other")
    with other.lock("a spinegui app window"):
        with pytest.raises(WorkspaceBusy):
            store.relocate(other.path)
    store.relocate(other.path)
    with pytest.raises(WorkspaceBusy):
        other.lock("spinegui cache")
    store.close()
    other.lock("spinegui cache").release()


def test_a_garbage_lock_file_still_names_its_holder_in_one_line(tmp_path):
    from spinegui.core.dataset.workspace_lock import LOCK_FILE, WorkspaceBusy, lock_workspace

    held = lock_workspace(tmp_path, "spinegui cache")
    (tmp_path / LOCK_FILE).write_text(" " + "[" * 100000 + "\n\n")  # someone scribbled on it
    with pytest.raises(WorkspaceBusy) as info:
        lock_workspace(tmp_path, "x")
    assert "\n" not in str(info.value) and "in use by another spinegui" in str(info.value)
    held.release()


# --- the edits file -----------------------------------------------------------------------------
def _edits_doc(images: str) -> str:
    return '{"format": "spinegui-annotation-edits", "version": 1, "saved": "x", "images": ' + images + "}"


def _nan_box(image_id: str, value: str = "NaN") -> str:
    return _edits_doc(json.dumps({image_id: {"boxes": [{"uid": "n1", "lesion_type": "Osteophytes",
                                                        "xyxy": [1, 2, 30, 40], "rad_id": "rad1"}]}})
                      .replace("[1, 2, 30, 40]", f"[1, {value}, 30, 40]"))


@pytest.mark.parametrize("kind", ["deep", "nan", "inf"])
def test_hostile_edits_file_is_refused_by_export_in_one_line(index, tmp_path, capsys, kind):
    ws = Workspace.for_dataset(index.root, tmp_path / "ws")
    path = edits_path(ws.path)
    path.parent.mkdir()
    image_id = boxed_image(index)
    text = {"deep": _edits_doc('{"x": ' + "[" * 100000 + "]" * 100000 + "}"),
            "nan": _nan_box(image_id), "inf": _nan_box(image_id, "-Infinity")}[kind]
    path.write_text(text)
    before = tree_digest(ws.path)
    out = tmp_path / "out"
    rc, _, err = run_cli(["export", index.root, "--format", "vindr", "--out", out, "--workspace", ws.path], capsys)
    assert_one_line_error(rc, err, str(path), "corrupt annotation edits file")
    assert tree_digest(ws.path) == before  # export only reads
    written = [p.read_text(errors="replace").lower() for p in out.rglob("*") if p.is_file()]
    assert not any("nan" in t or "inf" in t for t in written)


@pytest.mark.parametrize("kind", ["deep", "nan"])
def test_hostile_edits_file_is_moved_aside_whole_when_the_store_opens(index, tmp_path, kind):
    ws = Workspace.for_dataset(index.root, tmp_path / "ws")
    path = edits_path(ws.path)
    path.parent.mkdir()
    text = _edits_doc('{"x": ' + "[" * 100000 + "]" * 100000 + "}") if kind == "deep" else _nan_box(boxed_image(index))
    path.write_text(text)
    with pytest.raises(InputError, match="corrupt annotation edits file") as info:
        AnnotationStore(index, ws, reader="r1", autosave=False)
    assert "\n" not in str(info.value) and "moved it aside" in str(info.value)
    aside = list(path.parent.glob("edits.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == text  # nothing lost
    AnnotationStore(index, ws, reader="r1", autosave=False).close()  # the lock was given back


def test_a_read_only_store_leaves_a_corrupt_file_where_it_is(index, tmp_path):
    ws = Workspace.for_dataset(index.root, tmp_path / "ws")
    path = edits_path(ws.path)
    path.parent.mkdir()
    path.write_text(_nan_box(boxed_image(index)))
    before = tree_digest(ws.path)
    with pytest.raises(InputError, match="left as it is"):
        AnnotationStore(index, ws, autosave=False, read_only="another window has it")
    assert tree_digest(ws.path) == before


def test_no_nan_reaches_the_edits_file(index, tmp_path):
    store = AnnotationStore(index, Workspace.for_dataset(index.root, tmp_path / "ws"), reader="r1", autosave=False)
    image_id = boxed_image(index)
    for bad in [(float("nan"), 2, 30, 40), (1, 2, float("inf"), 40)]:
        with pytest.raises(InputError, match="finite"):
            store.add_box(image_id, "Osteophytes", bad)
    store.add_box(image_id, "Osteophytes", (1, 2, 30, 40))
    store.close()
    text = edits_path(tmp_path / "ws").read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the edits file"))


def test_the_lock_file_does_not_block_reading(index, tmp_path, capsys):
    """Reading (export, info) never needs the lock: it works while a writer holds the workspace."""
    ws = Workspace.for_dataset(index.root, tmp_path / "ws")
    with ws.lock("a spinegui app window"):
        rc, _, err = run_cli(["export", index.root, "--format", "vindr", "--out", tmp_path / "out",
                              "--workspace", ws.path], capsys)
        assert rc == 0, err
        rc, _, err = run_cli(["info", index.root, "--workspace", ws.path, "--json"], capsys)
        assert rc == 0, err
    assert os.listdir(tmp_path / "out")
    assert Path(ws.path / "workspace.lock").read_text() == ""  # released: no stale note
