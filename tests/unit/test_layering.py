"""What the import contracts cannot see: the CLI and core must not LOAD Qt or torch at import time.

The static rules (no Qt outside spinegui/ui, no torch in spinegui/core, imports point down) are the
import-linter contracts in pyproject.toml (`lint-imports`, run by .ci/run). They count every import
statement, a lazy one inside a function as much as one at the top, so they cannot tell that
`spinegui.cli.entry` reaches Qt and torch only lazily; this test does, on a fresh interpreter, so that
`spinegui info` and friends start without paying for either.
"""

import subprocess
import sys

QT = {"PySide6", "shiboken6", "pyqtgraph", "superqt", "qtpy"}
TORCH = {"torch", "torchvision", "torchmetrics"}


def test_core_and_cli_load_neither_qt_nor_torch():
    code = (
        "import sys, spinegui.cli.entry, spinegui.core.dataset.vindr, spinegui.core.dataset.cache, "
        "spinegui.core.dicom.reader, "
        "spinegui.core.demo.dataset, spinegui.core.demo.phantom\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(QT | TORCH)!r})\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"loaded at import time: {out.stdout.strip()}"
