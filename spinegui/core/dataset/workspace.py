"""The workspace: one folder per dataset, outside the dataset, for edits, the cache and runs.

The default location is under the user data dir (platformdirs); ``SPINEGUI_HOME`` overrides the base
folder (tests and lab installs that keep data on a shared disk use it).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import platformdirs
import tomli_w

from spinegui.core.dataset.workspace_lock import LOCK_FILE, WorkspaceLock, lock_workspace
from spinegui.core.errors import InputError
from spinegui.core.limits import read_toml

WORKSPACE_FILE = "workspace.toml"
_UMASK_LOCK = threading.Lock()


def data_home() -> Path:
    env = os.environ.get("SPINEGUI_HOME")
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir("spinegui", appauthor=False))


def default_workspace_dir(dataset_root: str | Path) -> Path:
    """A stable folder name per dataset: readable stem + hash of the absolute path."""
    root = Path(dataset_root).expanduser().resolve()
    digest = hashlib.sha1(str(root).encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in root.name)[:40] or "dataset"
    return data_home() / "workspaces" / f"{stem}-{digest}"


def current_umask() -> int:
    """The process's umask, read without changing it where the OS says it (Linux /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # elsewhere the only way to read it is to set it and put it back
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def honour_umask(path: Path) -> None:
    """Give a file another library created (safetensors writes 0600) the mode open() would have."""
    os.chmod(path, 0o666 & ~current_umask())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename: a crash keeps the old file whole.

    mkstemp makes the temp file 0600; the result gets the mode a plain open() would have given it
    (the replaced file's mode, else 0666 less the umask), so colleagues on a shared disk can read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~current_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Workspace:
    path: Path
    dataset_root: Path

    @property
    def cache_dir(self) -> Path:
        return self.path / "cache"

    @property
    def runs_dir(self) -> Path:
        return self.path / "runs"

    @classmethod
    def for_dataset(cls, dataset_root: str | Path, path: str | Path | None = None) -> Workspace:
        """Open (creating if needed) the workspace of a dataset."""
        root = Path(dataset_root).expanduser().resolve()
        ws_path = Path(path).expanduser().resolve() if path else default_workspace_dir(root)
        check_workspace_folder(ws_path, root)
        meta = ws_path / WORKSPACE_FILE
        if meta.exists():
            try:
                recorded = read_toml(meta, what="workspace file").get("dataset_root")
            except OSError as exc:
                raise InputError(meta, f"unreadable workspace file: {exc.strerror or exc}") from None
            if recorded is not None and not isinstance(recorded, str):
                raise InputError(meta, "unreadable workspace file: dataset_root is not a string")
            if recorded and Path(recorded) != root:
                raise InputError(ws_path, f"workspace belongs to another dataset ({recorded})")
        else:
            try:
                ws_path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(ws_path, f"cannot create workspace: {exc.strerror or exc}") from None
            created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            text = tomli_w.dumps({"format": 1, "dataset_root": str(root), "created": created})
            atomic_write_bytes(meta, text.encode("utf-8"))
        return cls(path=ws_path, dataset_root=root)

    def lock(self, what: str) -> WorkspaceLock:
        """The workspace's write lock (one writer at a time); WorkspaceBusy names the holder."""
        return lock_workspace(self.path, what)

    # --- synthetic image sets (GAN samples chosen for augmentation) ------------------------------
    def synthetic_sets(self) -> list[dict]:
        """The sampled datasets added to this workspace's augmentation set, oldest first: dicts with
        path, run, classes, n (images per class) and added. A path added again counts once (the last)."""
        try:
            data = read_toml(self.path / WORKSPACE_FILE, what="workspace file")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise InputError(self.path / WORKSPACE_FILE, f"unreadable workspace file: {exc}") from None
        sets = [s for s in data.get("synthetic_sets", []) if isinstance(s, dict) and s.get("path")]
        last = {s["path"]: i for i, s in enumerate(sets)}
        return [s for i, s in enumerate(sets) if last[s["path"]] == i]

    def add_synthetic_set(self, path: str | Path, *, run: str, classes: list[str], n: int) -> dict:
        """Record a sampled dataset folder (VinDr layout) for the experiment runner. workspace.toml
        only grows: one ``[[synthetic_sets]]`` table is appended, nothing before it is rewritten."""
        folder = Path(path).expanduser().resolve()
        if not folder.is_dir():
            raise InputError(folder, "no such sampled dataset folder")
        entry = {"path": str(folder), "run": str(run), "classes": [str(c) for c in classes], "n": int(n),
                 "added": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        same = [s for s in self.synthetic_sets() if s["path"] == entry["path"]]
        if same and {k: v for k, v in same[-1].items() if k != "added"} == \
                {k: v for k, v in entry.items() if k != "added"}:
            return same[-1]  # already recorded as it is
        meta = self.path / WORKSPACE_FILE
        try:
            text = meta.read_text(encoding="utf-8") if meta.exists() else ""
            if text and not text.endswith("\n"):
                text += "\n"
            # the one new table only, appended as text: what is already in the file stays byte for byte.
            # The header is ours: tomli-w writes a short array of tables inline (`synthetic_sets = [...]`),
            # which appended would land inside the file's last table. The entry holds no tables of its own.
            block = "\n[[synthetic_sets]]\n" + tomli_w.dumps(entry)
            atomic_write_bytes(meta, (text + block).encode("utf-8"))
        except OSError as exc:
            raise InputError(meta, f"cannot write the workspace file: {exc.strerror or exc}") from None
        return entry


# What a workspace holds (a folder of only these, e.g. one that lost its workspace.toml, is one), and
# the files a desktop drops into any folder it shows.
_WORKSPACE_PARTS = {WORKSPACE_FILE, LOCK_FILE, "annotations", "cache", "runs", ".DS_Store", "Thumbs.db",
                    "desktop.ini"}


def check_workspace_folder(ws_path: Path, root: Path) -> None:
    """Refuse a workspace folder that would mix with the dataset or with the user's other files:
    the dataset folder itself, one inside it or one holding it, and an existing folder that holds
    other things than a spinegui workspace does (and no workspace.toml). Both paths are resolved."""
    if ws_path == root or root in ws_path.parents:
        raise InputError(ws_path, f"the workspace must be outside the dataset folder {root}; "
                                  "spinegui never writes into a dataset")
    if ws_path in root.parents:
        raise InputError(ws_path, f"the workspace must not hold the dataset folder {root}; "
                                  "choose a folder of its own")
    if ws_path.is_dir() and not (ws_path / WORKSPACE_FILE).exists():
        try:
            used = any(p.name not in _WORKSPACE_PARTS for p in ws_path.iterdir())
        except OSError as exc:
            raise InputError(ws_path, f"cannot read the workspace folder: {exc.strerror or exc}") from None
        if used:
            raise InputError(ws_path, f"not a spinegui workspace (no {WORKSPACE_FILE}) and not empty; "
                                      "choose a new or empty folder")

