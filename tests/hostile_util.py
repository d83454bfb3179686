"""Helpers for hostile-input tests: did a command change anything it should not have?"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def tree_digest(root: str | Path) -> dict[str, str]:
    """relative path -> sha1 of the content (or 'dir'/'link -> target') for everything under root."""
    root = Path(root)
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = f"link -> {os.readlink(p)}"
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha1(p.read_bytes()).hexdigest()
    return out


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run `spinegui ARGV` in-process; return (exit code, stdout, stderr)."""
    from spinegui.cli.entry import main

    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors exit through SystemExit
        rc = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def assert_one_line_error(rc: int, err: str, *fragments: str) -> None:
    """Exit 2 with one `spinegui: error: ...` line (argparse may print its usage line first)."""
    assert rc == 2, f"exit {rc}, stderr: {err!r}"
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("usage:")]
    assert len(lines) == 1 and lines[0].startswith("spinegui: error: "), err
    assert "Traceback" not in err
    for frag in fragments:
        assert frag in lines[0], f"{frag!r} not in {lines[0]!r}"
