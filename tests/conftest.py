import os

import pytest

# GUI tests run offscreen; set before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Workspaces and settings go to a temp folder, never the user's real data dir."""
    monkeypatch.setenv("SPINEGUI_HOME", str(tmp_path_factory.mktemp("spinegui_home")))


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """A small demo dataset, every class present (balanced mix), shared by the session. Read-only!"""
    from spinegui.core.demo.dataset import generate_demo_dataset

    root = tmp_path_factory.mktemp("demo") / "vindr-demo"
    generate_demo_dataset(root, n_images=24, seed=7, class_mix="balanced", workers=1)
    return root
