import pytest

from spinegui.core.annotations.store import AnnotationStore
from spinegui.core.dataset.vindr import load_index
from spinegui.core.dataset.workspace import Workspace
from spinegui.core.errors import InputError


@pytest.fixture(scope="module")
def index(demo_root):
    return load_index(demo_root)


@pytest.fixture
def open_store(index, tmp_path):
    """open_store(ws_name="ws", **kwargs) -> a store on the demo dataset; closed after the test."""
    stores = []

    def make(ws_name="ws", **kwargs):
        kwargs.setdefault("reader", "rad9")
        kwargs.setdefault("autosave", False)
        s = AnnotationStore(index, Workspace.for_dataset(index.root, tmp_path / ws_name), **kwargs)
        stores.append(s)
        return s

    yield make
    for s in stores:
        try:
            s.close()
        except InputError:
            pass
