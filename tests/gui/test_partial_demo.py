"""First start after an interrupted demo: the app deletes the half-written demo only when it holds
nothing but the generator's own folders; anything else there is set aside, never deleted."""

from spinegui.ui.app import _clear_partial_demo


class _Window:
    def __init__(self):
        self.messages = []

    def show_message(self, text):
        self.messages.append(text)


def test_a_half_written_demo_is_removed(tmp_path):
    target = tmp_path / "demo-dataset"
    (target / "train_images").mkdir(parents=True)
    (target / "train_images" / "a.dicom").write_bytes(b"x")
    _clear_partial_demo(target, _Window())
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_a_folder_with_other_files_is_set_aside_whole(tmp_path):
    target = tmp_path / "demo-dataset"
    (target / "train_images").mkdir(parents=True)
    (target / "my-notes.txt").write_text("keep me")
    window = _Window()
    _clear_partial_demo(target, window)
    assert not target.exists()
    (aside,) = tmp_path.iterdir()
    assert aside.name.startswith("demo-dataset.set-aside-")
    assert (aside / "my-notes.txt").read_text() == "keep me"
    assert str(aside) in window.messages[0]
