"""The workspace: one folder per dataset, outside the dataset, for edits, the cache and runs.

The default location is under the user data dir (platformdirs); ``SPINEGUI_HOME`` overrides the base
folder (tests and lab installs that keep data on a shared disk use it).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import platformdirs

from spinegui.core.errors import InputError

WORKSPACE_FILE = "workspace.toml"


def data_home() -> Path:
    env = os.environ.get("SPINEGUI_HOME")
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir("spinegui", appauthor=False))


def default_workspace_dir(dataset_root: str | Path) -> Path:
    """A stable folder name per dataset: readable stem + hash of the absolute path."""
    root = Path(dataset_root).expanduser().resolve()
    digest = hashlib.sha1(str(root).encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in root.name)[:40] or "dataset"
    return data_home() / "workspaces" / f"{stem}-{digest}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename: a crash keeps the old file whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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
    def for_dataset(cls, dataset_root: str | Path, path: str | Path | None = None) -> "Workspace":
        """Open (creating if needed) the workspace of a dataset."""
        root = Path(dataset_root).expanduser().resolve()
        ws_path = Path(path).expanduser().resolve() if path else default_workspace_dir(root)
        meta = ws_path / WORKSPACE_FILE
        if meta.exists():
            try:
                recorded = tomllib.loads(meta.read_text(encoding="utf-8")).get("dataset_root")
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise InputError(meta, f"unreadable workspace file: {exc}") from None
            if recorded and Path(recorded) != root:
                raise InputError(ws_path, f"workspace belongs to another dataset ({recorded})")
        else:
            try:
                ws_path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(ws_path, f"cannot create workspace: {exc.strerror or exc}") from None
            created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            text = f'format = 1\ndataset_root = "{_toml_escape(str(root))}"\ncreated = "{created}"\n'
            atomic_write_bytes(meta, text.encode("utf-8"))
        return cls(path=ws_path, dataset_root=root)


def _toml_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')
