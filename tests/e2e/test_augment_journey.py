"""Journey: open the demo dataset, go to the Augment tab from the View menu, turn the rotation knob;
the augmented view turns, pixels and boxes alike, exactly as the Augmenter does for that seed
(which the panel's worker process runs)."""

import numpy as np
import pytest

from spinegui.core.dataset.vindr import load_index
from spinegui.ui.common.image_loader import viewer_image_from_cache


def shown_boxes(viewer) -> dict[str, tuple]:
    return {uid: viewer.boxes.item(uid).xyxy for uid in viewer.boxes.visible_uids()}


def test_rotation_knob_turns_the_augmented_image_and_its_boxes(qtbot, window, demo_root, tmp_path):
    index = load_index(demo_root)
    rec = next(r for r in index.images.values() if len(r.boxes) >= 2)
    with qtbot.waitSignal(window.image_shown, timeout=10000):
        window.browser.select_image(rec.image_id)

    action = window.actions["augment"]
    assert action.shortcut().toString() == "Ctrl+G" and action in window.menuBar().actions()[2].menu().actions()
    action.trigger()
    panel = window.augment_panel
    assert window.tabs.currentWidget() is panel and window.viewer is window.tabs.widget(0)
    assert not window.browser_dock.isVisible()  # the docks step aside for the panel's width
    # the worker starts (torch import): meanwhile the original, with a note
    qtbot.waitUntil(lambda: "preparing augmentation" in panel.augmented_caption.text(), timeout=10000)
    qtbot.waitUntil(lambda: panel.engine_ready, timeout=60000)
    qtbot.waitUntil(lambda: panel.full_result is not None and panel.shown_result is panel.full_result,
                    timeout=15000)
    original = shown_boxes(panel.original)
    assert len(original) == len(rec.boxes)
    identity = shown_boxes(panel.augmented)  # all knobs at rest: the identity
    assert set(identity) == set(original)
    np.testing.assert_allclose([identity[u] for u in original], list(original.values()), atol=1e-3)
    before = panel.augmented.rendered_image()

    # The user drags the rotation range to (30, 30) and lets go.
    with qtbot.waitSignal(panel.full_shown, timeout=15000):
        with qtbot.waitSignal(panel.preview_shown, timeout=5000):
            panel.form.rows["rotation"].editor.setValue((30.0, 30.0))
        assert panel.preview_result.params["angle"] == pytest.approx(30.0)
        assert max(panel.preview_result.image.shape) == 512  # the live preview works on 512 px
    after = panel.augmented.rendered_image()
    assert after.shape == before.shape and np.mean(after != before) > 0.3
    assert panel.augmented.image.synthetic and "AUGMENTED" in panel.augmented.badge.text()

    # The boxes turned with the image, exactly as the Augmenter turns them for this seed.
    from spinegui.augment.pipeline import Augmenter

    display = viewer_image_from_cache(window.cache, rec.image_id)
    boxes = window.store.boxes(rec.image_id)
    xyxy = np.array([b.xyxy for b in boxes]) * display.scale
    # the value range `spinegui augment` uses for these 12-bit files: (0, 2**BitsStored - 1)
    assert panel.value_range == (0.0, 4095.0)
    expected = Augmenter(panel.config())(display.pixels, xyxy, seed=panel.seed, value_range=panel.value_range)
    np.testing.assert_array_equal(panel.full_result.image, expected.image)
    kept = [b.uid for b, k in zip(boxes, expected.kept) if k]
    assert kept, "the rotation dropped every box"
    turned = shown_boxes(panel.augmented)
    assert set(turned) == set(kept)
    for uid, box in zip(kept, expected.boxes):
        assert turned[uid] == pytest.approx(tuple(box / display.scale), abs=1e-3)
        assert np.abs(np.subtract(turned[uid], original[uid])).max() > 5  # it moved
    window.grab().save(str(tmp_path / "e2e_augment.png"))

    # PgDown on the Augment tab: the panel follows the window's current image.
    nxt = window.browser.next_image()
    qtbot.waitUntil(lambda: panel.original.image is not None and panel.original.image.image_id == nxt,
                    timeout=10000)
    assert len(shown_boxes(panel.original)) == len(index.images[nxt].boxes)

    # Back to the viewer: the docks return.
    window.tabs.setCurrentWidget(window.viewer)
    assert window.browser_dock.isVisible() and window.annotation_dock.isVisible()
