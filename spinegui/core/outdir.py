"""Output folders: the one rule for every command that writes a folder (augment, sample, export,
report --figures, and the run folders of train-gan, experiment and the other jobs). No Qt, no torch.

    out = outdir.check(out, "augment", overwrite=ow, dataset=root)    # before the slow work; writes nothing
    out = outdir.prepare(out, "augment", overwrite=ow, dataset=root)  # clears an earlier output, creates
    ...write...
    outdir.seal(out, "augment")                                        # when done (also after a failure)

The rule:
- A folder that exists and is not empty is refused.
- ``--overwrite`` replaces only a folder that the same command wrote. The command leaves MARKER
  there, naming its kind and every file it wrote; a folder without it, or with another kind's, is
  refused. Deleting goes file by file through that list, and only for files found inside the folder
  (never behind a symbolic link, never a path the list names outside it); the folder itself stays.
- A file in the folder that is not on the list (the user put it there afterwards) makes
  ``--overwrite`` refuse, naming it, before anything is deleted. Refusing rather than keeping it
  beside the new output: the new output must be exactly what the command wrote (a stray file in
  train_images/ would join the dataset), and a refusal loses nothing.
- Never written, even when empty: the file system's root, the home folder or a folder that holds
  it, spinegui's data folder (or one that holds it), a workspace, the dataset (or a folder inside it
  or holding it), and whatever else the caller names in ``keep``.
- A listed file the user changed since is replaced like the rest: it is the command's output.
- The list is written when the command ends (``seal``): every file then under the folder counts as
  the command's own, so a file added while the command runs counts too. A command killed before it
  sealed leaves no list; its folder cannot be overwritten (the message says to delete it yourself).
- Run folders (jobs/runner.py): the list is written when the folder is made and again when the job
  ends (by the process that started it); a run that failed or was cancelled before its first step
  holds nothing to keep and is replaced without ``--overwrite``.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from spinegui.core.dataset.workspace import WORKSPACE_FILE, atomic_write_bytes, data_home
from spinegui.core.errors import InputError

MARKER = ".spinegui-output.json"
FORMAT = 1
_COMMANDS = {"augment": "spinegui augment", "sample": "spinegui sample", "export": "spinegui export",
             "report-figures": "spinegui report --figures", "run:gan": "spinegui train-gan",
             "run:experiment": "spinegui experiment", "run:experiment-part": "spinegui experiment",
             "reader-study": "spinegui reader-study new"}


def run_kind(job_kind: str) -> str:
    """The marker kind of a job's run folder."""
    return f"run:{job_kind}"


def describe(kind: str) -> str:
    if kind in _COMMANDS:
        return f"`{_COMMANDS[kind]}`"
    return f"a '{kind[4:]}' job" if kind.startswith("run:") else f"`{kind}`"


def _real(path: Path) -> Path:
    return Path(os.path.realpath(Path(path).expanduser()))


def guard(out, *, dataset=None, keep: Iterable[tuple[Path, str]] = ()) -> Path:
    """Refuse a folder that no command may write, whatever it holds; returns ``out`` (expanded).
    ``keep``: (path, what) pairs that the output must be neither nor hold, e.g. the run it reads."""
    out = Path(out).expanduser()
    real = _real(out)
    if real == Path(real.anchor):
        raise InputError(out, "is the root of the file system; choose a folder of its own")
    try:
        home = _real(Path.home())
    except RuntimeError:   # no home folder known: nothing to protect there
        home = None
    if home is not None and (real == home or real in home.parents):
        raise InputError(out, f"{'is' if real == home else 'holds'} your home folder; choose a folder of its own")
    data = _real(data_home())
    if real == data or real in data.parents or real == data / "workspaces":
        raise InputError(out, f"{'is' if real == data else 'holds'} spinegui's data folder (workspaces, runs); "
                              "choose a folder of its own")
    if (real / WORKSPACE_FILE).is_file():
        raise InputError(out, "is a spinegui workspace; choose a folder of its own")
    if dataset is not None:
        root = _real(Path(dataset))
        if real == root or root in real.parents:
            where = "is the dataset folder" if real == root else "is inside the dataset folder"
            raise InputError(out, f"{where}, which spinegui never writes; choose another")
        if real in root.parents:
            raise InputError(out, "holds the dataset folder; choose a folder of its own")
    for path, what in keep:
        other = _real(Path(path))
        if real == other or real in other.parents:
            raise InputError(out, f"{'is' if real == other else 'holds'} {what}; choose a folder of its own")
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    return out


def check(out, kind: str, *, overwrite: bool = False, dataset=None,
          keep: Iterable[tuple[Path, str]] = ()) -> Path:
    """InputError unless ``out`` may take a new output of ``kind`` (with ``overwrite``: replacing
    an earlier one). Writes nothing; returns ``out`` (expanded)."""
    out, _ = _plan(out, kind, overwrite, dataset, keep)
    return out


def prepare(out, kind: str, *, overwrite: bool = False, dataset=None, keep: Iterable[tuple[Path, str]] = (),
            subdirs: Iterable[str] = ()) -> Path:
    """``check``, then delete the earlier output's own files (overwrite) and create the folder and
    ``subdirs``. The caller writes, then calls ``seal``."""
    out, plan = _plan(out, kind, overwrite, dataset, keep)
    if plan is not None:
        _clear(out, *plan)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for sub in subdirs:
            (out / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(out, f"cannot create: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(out, "not writable")
    return out


def seal(out, kind: str) -> bool:
    """Record every file now under ``out`` as written by ``kind``. False when the list could not be
    written (the folder then cannot be overwritten later; nothing else depends on it)."""
    out = Path(out)
    try:
        files, dirs = _scan(out)
        _write_marker(out, kind, files, dirs)
    except OSError:
        return False
    return True


def adopt(out, kind: str, path) -> None:
    """Add ``path`` (a file inside ``out``) to an existing list of ``kind``, e.g. a report written
    into a run folder later; nothing when ``out`` has no such list."""
    out = Path(out)
    try:
        marker = _read_marker(out)
        rel = Path(os.path.relpath(_real(Path(path)), _real(out))).as_posix()
    except (InputError, ValueError):
        return
    if marker is None or marker["kind"] != kind or rel.startswith("../") or rel in marker["files"]:
        return
    try:
        _write_marker(out, kind, marker["files"] + [rel], marker["dirs"])
    except OSError:
        pass


# --- the parts ------------------------------------------------------------------------------------
def _plan(out, kind, overwrite, dataset, keep):
    """(out, None) when nothing needs deleting, (out, (files, dirs)) for an overwrite; InputError else."""
    out = guard(out, dataset=dataset, keep=keep)
    try:
        empty = not out.exists() or not any(out.iterdir())
    except OSError as exc:
        raise InputError(out, f"cannot read the folder: {exc.strerror or exc}") from None
    if empty:
        return out, None
    if not overwrite:
        raise InputError(out, "exists and is not empty; choose a new or empty folder, or pass --overwrite")
    marker = _read_marker(out)
    if marker is None:
        raise InputError(out, f"is not an empty folder and holds no {MARKER}: --overwrite only replaces an earlier "
                              f"output of {describe(kind)} (one made by an older spinegui has none: delete it "
                              "yourself); choose another folder")
    if marker["kind"] != kind:
        raise InputError(out, f"was written by {describe(marker['kind'])}, not {describe(kind)}: --overwrite only "
                              "replaces an earlier output of the same command; choose another folder")
    try:
        files, dirs = _scan(out)
    except OSError as exc:
        raise InputError(out, f"cannot read the folder: {exc.strerror or exc}") from None
    listed = set(marker["files"])
    foreign = [f for f in files if f not in listed]
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise InputError(out, f"holds {foreign[0]}{more}, which is not among the files {describe(kind)} recorded "
                              "writing there; --overwrite deletes only those: move it away or choose another folder")
    # Only folders found inside (never a path the list names) that the earlier output made.
    return out, (files, sorted(set(dirs) & set(marker["dirs"])))


def _scan(out: Path) -> tuple[list[str], list[str]]:
    """Files (symbolic links count as files and are never followed) and folders under ``out``,
    relative, sorted; the marker itself left out."""
    files, dirs = [], []
    for dirpath, dirnames, filenames in os.walk(out, onerror=_raise):
        here = Path(dirpath)
        for name in list(dirnames):
            if _is_link(here / name):
                dirnames.remove(name)
                filenames.append(name)
            else:
                dirs.append((here / name).relative_to(out).as_posix())
        for name in filenames:
            rel = (here / name).relative_to(out).as_posix()
            if rel != MARKER:
                files.append(rel)
    return sorted(files), sorted(dirs)


def _is_link(path: Path) -> bool:
    """A symbolic link, or any other reparse point (a Windows junction, which os.walk would enter and
    Path.is_symlink does not see before Python 3.12): listed as an entry, never entered."""
    if path.is_symlink():
        return True
    reparse = getattr(stat, "FILE_ATTRIBUTE_REPARSE_POINT", 0)   # 0 off Windows
    return bool(reparse and getattr(os.lstat(path), "st_file_attributes", 0) & reparse)


def _through_link(out: Path, rel: str) -> bool:
    parent = out
    for part in rel.split("/")[:-1]:
        parent = parent / part
        if _is_link(parent):
            return True
    return False


def _raise(exc: OSError) -> None:
    raise exc


def _clear(out: Path, files: list[str], dirs: list[str]) -> None:
    """Delete the listed files found in the folder, then the folders they leave empty (deepest first)."""
    try:
        for rel in files:
            if _through_link(out, rel):   # a folder swapped for a link since the scan: not ours to follow
                raise InputError(out / rel, "a folder on its way became a link since it was listed; nothing "
                                            "more is deleted")
            (out / rel).unlink(missing_ok=True)
        (out / MARKER).unlink(missing_ok=True)
    except OSError as exc:
        raise InputError(out, f"cannot delete the earlier output: {exc.strerror or exc}") from None
    for rel in sorted(dirs, key=lambda d: d.count("/"), reverse=True):
        try:
            (out / rel).rmdir()
        except OSError:
            pass   # not empty (a folder the user made there) or gone: leave it


def _read_marker(out: Path) -> dict | None:
    path = out / MARKER
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InputError(path, f"unreadable list of an earlier output: {exc}") from None
    ok = (isinstance(data, dict) and isinstance(data.get("kind"), str)
          and all(isinstance(data.get(k), list) and all(isinstance(x, str) for x in data[k])
                  for k in ("files", "dirs")))
    if not ok:
        raise InputError(path, "not a list of an earlier output (kind, files, dirs)")
    return data


def _write_marker(out: Path, kind: str, files: list[str], dirs: list[str]) -> None:
    # No time stamp and no absolute path: two runs of the same command give the same bytes.
    doc = {"format": FORMAT, "kind": kind,
           "note": f"the files {describe(kind)} wrote here; --overwrite deletes these and nothing else",
           "dirs": sorted(set(dirs)), "files": sorted(set(files))}
    atomic_write_bytes(out / MARKER, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
