"""The layer rules of DESIGN.md, checked on the source (static) and on a fresh interpreter (runtime)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "spinegui"
QT = {"PySide6", "shiboken6", "pyqtgraph", "superqt", "qtpy"}
TORCH = {"torch", "torchvision", "torchmetrics"}
# A layer may import only the layers listed for it (and itself): imports point down.
ALLOWED = {
    "core": {"core"},
    "augment": {"core", "augment"},
    "train": {"core", "augment", "train"},
    "jobs": {"core", "augment", "train", "jobs"},
    "ui": {"core", "augment", "train", "jobs", "ui"},
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def layer_of(path: Path) -> str | None:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] if len(rel) > 1 else None


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_sources_found():
    assert len(SOURCES) > 5


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layer_imports(path):
    layer = layer_of(path)
    bad = []
    for line, name in imports_of(path):
        top = name.split(".")[0]
        if top in QT and layer != "ui":
            bad.append(f"line {line}: Qt ({name}) outside spinegui/ui")
        if top in TORCH and layer == "core":
            bad.append(f"line {line}: torch ({name}) in spinegui/core")
        if top == "spinegui" and layer in ALLOWED and len(name.split(".")) > 1:
            target = name.split(".")[1]
            if target in ALLOWED and target not in ALLOWED[layer]:
                bad.append(f"line {line}: {layer} imports {name} (imports must point down)")
    assert not bad, "\n".join(bad)


def test_checker_catches_violations(tmp_path):
    # The static check must be able to fail: feed it a file that breaks both rules.
    f = tmp_path / "bad.py"
    f.write_text("import torch\nfrom PySide6 import QtCore\n")
    assert [n for _, n in imports_of(f)] == ["torch", "PySide6"]


def test_core_and_cli_load_neither_qt_nor_torch():
    code = (
        "import sys, spinegui.cli, spinegui.core.vindr, spinegui.core.cache, spinegui.core.dicom_io, "
        "spinegui.core.demo.dataset, spinegui.core.demo.phantom\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in %r)\n"
        "print(','.join(heavy))" % (QT | TORCH)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"loaded at import time: {out.stdout.strip()}"
