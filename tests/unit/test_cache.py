"""The decoded-image cache: parallel, incremental, keyed on the source, cancellable, failure-tolerant."""

import os
import shutil

import numpy as np
import pytest

from spinegui.core.dataset.cache import DISPLAY_MAX_SIDE, ImageCache, letterbox, resize_long_side
from spinegui.core.dataset.vindr import load_index
from spinegui.core.dicom.reader import read_image
from spinegui.core.errors import InputError


@pytest.fixture
def dataset(demo_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    return root


def items_of(root):
    return [(r.image_id, r.path) for r in load_index(root).images.values()]


def test_build_then_reopen_from_memory_map(dataset, tmp_path):
    items = items_of(dataset)[:6]
    cache = ImageCache(tmp_path / "cache")
    seen = []
    report = cache.build(items, train_size=64, workers=2, progress=lambda d, t, _: seen.append((d, t)))
    assert (report.decoded, report.reused, report.failed, report.cancelled) == (6, 0, 0, False)
    assert seen[-1] == (6, 6)
    image_id, path = items[0]
    original = read_image(path)
    display = ImageCache(tmp_path / "cache").open_display(image_id)  # a fresh reader: manifest on disk
    assert isinstance(display, np.memmap) and display.dtype == original.pixels.dtype
    rows, cols = original.pixels.shape
    if max(rows, cols) <= DISPLAY_MAX_SIDE:
        assert np.array_equal(display, original.pixels)  # full bit depth, unchanged
    entry = cache.entries[image_id]
    assert entry["shape"] == [rows, cols] and entry["window"][0] == original.window.center
    train = cache.open_train(image_id, 64)
    assert train.shape == (64, 64) and train.dtype == np.uint16 and train.max() > 30000
    geo = entry["train"]["64"]
    assert geo["scale"] == pytest.approx(64 / max(rows, cols))


def test_second_build_is_incremental_and_changed_file_is_decoded_again(dataset, tmp_path):
    items = items_of(dataset)[:4]
    cache = ImageCache(tmp_path / "cache")
    cache.build(items, train_size=32, workers=1)
    again = ImageCache(tmp_path / "cache").build(items, train_size=32, workers=1)
    assert (again.decoded, again.reused) == (0, 4)
    touched = items[1][1]
    st = os.stat(touched)
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third = ImageCache(tmp_path / "cache").build(items, train_size=32, workers=1)
    assert (third.decoded, third.reused) == (1, 3)
    # A new training size decodes again but keeps the old size's geometry.
    fourth = ImageCache(tmp_path / "cache").build(items, train_size=48, workers=1)
    assert fourth.decoded == 4
    assert set(ImageCache(tmp_path / "cache").entries[items[0][0]]["train"]) == {"32", "48"}


def test_bad_file_is_recorded_and_does_not_stop_the_build(dataset, tmp_path):
    items = items_of(dataset)[:5]
    bad_id, bad_path = items[2]
    bad_path.write_bytes(os.urandom(4096))
    cache = ImageCache(tmp_path / "cache")
    report = cache.build(items, train_size=32, workers=2)
    assert (report.decoded, report.failed) == (4, 1)
    reason = cache.failures()[bad_id]
    assert reason and "\n" not in reason
    with pytest.raises(InputError):
        cache.open_display(bad_id)
    # Unchanged bad files are not retried; a repaired one is.
    assert ImageCache(tmp_path / "cache").build(items, train_size=32, workers=1).decoded == 0


def test_cancel_keeps_what_was_done(dataset, tmp_path):
    items = items_of(dataset)[:8]
    cache = ImageCache(tmp_path / "cache")
    done = []
    report = cache.build(items, train_size=32, workers=1, progress=lambda d, t, _: done.append(d),
                         should_stop=lambda: len(done) > 3)
    assert report.cancelled and 0 < report.decoded < 8
    resumed = ImageCache(tmp_path / "cache").build(items, train_size=32, workers=2)
    assert resumed.reused == report.decoded and resumed.decoded == 8 - report.decoded


def test_parallel_and_serial_builds_agree(dataset, tmp_path):
    items = items_of(dataset)[:4]
    a, b = ImageCache(tmp_path / "a"), ImageCache(tmp_path / "b")
    a.build(items, train_size=32, workers=1)
    b.build(items, train_size=32, workers=2)
    for image_id, _ in items:
        assert np.array_equal(a.open_display(image_id), b.open_display(image_id))
        assert np.array_equal(a.open_train(image_id, 32), b.open_train(image_id, 32))


def test_resize_keeps_dtype_and_long_side():
    px = (np.arange(3000 * 1500, dtype=np.uint32) % 4096).astype(np.uint16).reshape(3000, 1500)
    out, scale = resize_long_side(px, 2048)
    assert out.shape == (2048, 1024) and out.dtype == np.uint16 and scale == pytest.approx(2048 / 3000)
    small, s = resize_long_side(px[:100, :50], 2048)
    assert s == 1.0 and np.array_equal(small, px[:100, :50])


def test_letterbox_geometry_maps_pixels():
    img = np.zeros((200, 100), np.float32)
    img[50:60, 20:30] = 1.0
    out, geo = letterbox(img, 100)
    assert out.shape == (100, 100) and geo["scale"] == 0.5 and geo["offset"] == [25, 0]
    ys, xs = np.nonzero(out > 30000)
    # The bright square maps to x' = x*0.5 + 25, y' = y*0.5.
    assert xs.min() == 35 and xs.max() == 39 and ys.min() == 25 and ys.max() == 29
