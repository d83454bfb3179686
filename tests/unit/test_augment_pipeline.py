"""The augmentation pipeline: boxes follow the image, seeds repeat, the 12-bit range survives."""

import numpy as np
import pytest
import torch

from spinegui.augment import params as P
from spinegui.augment.pipeline import Augmenter

H, W = 240, 320
BOXES = np.array([[60, 40, 130, 100], [190, 120, 260, 200], [90, 150, 150, 215]], float)
GEOMETRIC = {
    "rotation": {"rotation": (-40.0, 40.0)},
    "rotation 90": {"rotation_fixed": (90,)},
    "rotation 180": {"rotation_fixed": (180,)},
    "rotation 270": {"rotation_fixed": (270,)},
    "hflip": {"hflip": 1.0},
    "vflip": {"vflip": 1.0},
    "scale": {"scale": (0.7, 1.4)},
    "translate": {"translate": 0.15},
    "shear": {"shear": (-25.0, 25.0)},
    "perspective": {"perspective": 0.5},
    "elastic": {"elastic_alpha": 12.0},
    "crop": {"crop": (0.4, 0.8)},
    "resized crop, other aspect": {"crop": (0.5, 0.5), "crop_ratio": (0.6, 1.6)},
    "everything": {"rotation": (-30.0, 30.0), "rotation_fixed": (90, 270), "hflip": 0.5, "scale": (0.8, 1.2),
                   "translate": 0.05, "shear": (-10.0, 10.0), "perspective": 0.2, "elastic_alpha": 8.0,
                   "crop": (0.7, 0.9)},
    "preset basic": "basic",
    "preset hybrid-geometric": "hybrid-geometric",
}


def _config(spec):
    if isinstance(spec, str):
        from spinegui.augment.presets import load_preset
        return load_preset(spec)
    return spec


def _bright_bounds(image: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(image >= 2048)   # half of the rectangle's value: its interpolated edge
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


@pytest.mark.parametrize("name", list(GEOMETRIC))
def test_each_box_follows_its_bright_rectangle(name):
    aug = Augmenter({**_config(GEOMETRIC[name]), "min_visibility": 0.0, "min_box_size": 0.0})
    checked = 0
    for seed in range(6):
        for box in BOXES:
            image = np.zeros((H, W), np.uint16)
            x0, y0, x1, y1 = box.astype(int)
            image[y0:y1, x0:x1] = 4095
            result = aug(image, box[None], seed=seed, value_range=(0, 4095))
            bright = _bright_bounds(result.image)
            if bright is None:          # moved out of the image entirely: the box must be gone too
                assert result.visibility[0] < 0.05
                continue
            assert result.kept[0]
            np.testing.assert_allclose(result.boxes[0], bright, atol=2.0, err_msg=f"{name} seed {seed}")
            checked += 1
    assert checked >= 12


def test_same_seed_same_result_and_other_seed_differs():
    config = _config(GEOMETRIC["everything"]) | {"noise": 0.02, "gamma": (0.8, 1.2), "blur": (0.0, 1.0)}
    image = np.random.default_rng(3).integers(0, 4096, (H, W), dtype=np.uint16)
    a = Augmenter(config)(image, BOXES, seed=7, value_range=(0, 4095))
    b = Augmenter(config)(image, BOXES, seed=7, value_range=(0, 4095))
    c = Augmenter(config)(image, BOXES, seed=8, value_range=(0, 4095))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert a.params == b.params
    assert not np.array_equal(a.image, c.image) and a.params != c.params


def _twelve_bit_ramp() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    return np.round((x / (W - 1)) * 0.6 * 4095 + (y / (H - 1)) * 0.4 * 4095).astype(np.uint16)


@pytest.mark.parametrize("config", [
    {"rotation": (20.0, 20.0)}, {"elastic_alpha": 10.0}, {"perspective": 0.3},
    {"contrast": 0.5, "brightness": 0.2, "gamma": (0.5, 2.0), "noise": 0.05, "blur": (1.0, 2.0)},
])
def test_twelve_bit_range_is_kept(config):
    image = _twelve_bit_ramp()
    out = Augmenter(config)(image, None, seed=1, value_range=(0, 4095)).image
    assert out.dtype == np.uint16
    assert out.max() <= 4095
    assert len(np.unique(out)) > 1000      # far more than 256 levels: no 8-bit step anywhere
    as_float = Augmenter(config)(image.astype(np.float32) / 4095, None, seed=1, value_range=(0.0, 1.0)).image
    assert as_float.dtype == np.float32 and 0 <= as_float.min() and as_float.max() <= 1
    assert len(np.unique(as_float)) > 5000


def test_right_angles_are_exact():
    image = np.random.default_rng(0).integers(0, 4096, (H, W), dtype=np.uint16)
    for k, angle in ((1, 90), (2, 180), (3, 270)):
        out = Augmenter({"rotation_fixed": (angle,)})(image, None, seed=0).image
        np.testing.assert_array_equal(out, np.rot90(image, k))


def test_identity_config_changes_nothing():
    image = np.random.default_rng(0).integers(0, 4096, (H, W), dtype=np.uint16)
    result = Augmenter({})(image, BOXES, seed=5)
    np.testing.assert_array_equal(result.image, image)
    np.testing.assert_allclose(result.boxes, BOXES)
    assert result.params == {}


def test_a_box_pushed_out_is_dropped_and_counted():
    aug = Augmenter({"translate": 0.5, "min_visibility": 0.5})
    image = np.zeros((H, W), np.uint16)
    box = np.array([[2, 2, 30, 30], [140, 100, 180, 140]], float)
    drops = [aug(image, box, seed=s) for s in range(40)]
    dropped_first = [r for r in drops if not r.kept[0]]
    assert dropped_first, "a corner box never left the image under a 50% shift"
    for r in drops:
        assert r.dropped == int((~r.kept).sum()) == len(box) - len(r.boxes)
        assert np.all(r.visibility[~r.kept] < 0.5) and np.all(r.visibility[r.kept] >= 0.5)
        assert np.all(r.boxes[:, [0, 2]] >= 0) and np.all(r.boxes[:, [0, 2]] <= W)


def test_preview_and_full_resolution_share_the_geometry():
    config = _config(GEOMETRIC["everything"])
    small = Augmenter(config)(np.zeros((H, W), np.uint16), BOXES, seed=11, value_range=(0, 4095))
    big = Augmenter(config)(np.zeros((H * 4, W * 4), np.uint16), BOXES * 4, seed=11, value_range=(0, 4095))
    assert big.image.shape == (small.image.shape[0] * 4, small.image.shape[1] * 4)
    np.testing.assert_allclose(big.boxes / 4, small.boxes, atol=1.0)


def test_one_of_mode_applies_exactly_one_transform_per_image():
    from spinegui.augment.presets import load_preset

    p = Augmenter(load_preset("hybrid-geometric")).draw(3000, seed=0)
    rot90, rot270, shear = (p.k90 == 1), (p.k90 == 3), (p.shear != 0)
    assert np.all(rot90.astype(int) + rot270 + shear == 1)
    for share in (rot90.mean(), rot270.mean(), shear.mean()):
        assert abs(share - 1 / 3) < 0.04


def test_moving_one_knob_keeps_the_other_draws():
    a = Augmenter({"rotation": (-30.0, 30.0), "shear": (-10.0, 10.0)}).draw(5, seed=3)
    b = Augmenter({"rotation": (-30.0, 30.0), "shear": (-20.0, 20.0)}).draw(5, seed=3)
    np.testing.assert_array_equal(a.angle, b.angle)
    assert not np.array_equal(a.shear, b.shear)


def test_batch_matches_single_images_on_cpu_and_torch_kernel():
    from spinegui.augment.warp_torch import warp_batch

    config = {"rotation": (-30.0, 30.0), "shear": (-10.0, 10.0), "scale": (0.9, 1.1), "perspective": 0.2,
              "elastic_alpha": 6.0}
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.random((4, 1, 64, 64), dtype=np.float32))
    aug = Augmenter(config)
    batch = aug.batch(images, seed=9)
    p = aug.draw(4, seed=9)
    for i in range(4):
        single = aug.apply(images[i, 0].numpy(), None, p, i, value_range=(0.0, 1.0)).image
        np.testing.assert_allclose(batch[i, 0].numpy(), single, atol=1e-6)
    # the GPU kernel (grid_sample), run here on the CPU, agrees with OpenCV's warp to interpolation
    # precision (OpenCV rounds coordinates to 1/32 pixel)
    inverse = P.inverse_matrices(p, 64, 64)
    torch_out = warp_batch(images, inverse, (64, 64), 0.0, P.elastic_fields(p, 64, 64))
    inner = (slice(None), 0, slice(8, -8), slice(8, -8))
    assert (torch_out[inner] - batch[inner]).abs().mean() < 0.01


def test_batch_intensity_on_torch_path_keeps_range():
    from spinegui.augment.warp_torch import adjust_intensity_batch

    aug = Augmenter({"brightness": 0.2, "contrast": 0.4, "gamma": (0.5, 2.0), "noise": 0.05, "blur": (0.5, 2.0)})
    p = aug.draw(3, seed=1)
    x = torch.rand(3, 1, 32, 32)
    y = adjust_intensity_batch(x, p, (0.0, 1.0), 1)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    assert not torch.allclose(y, x)


def test_elastic_keeps_visibility_and_subpixel_positions():
    image = np.zeros((H, W), np.uint16)
    outside = np.array([[-40.0, 20.0, 20.0, 60.0], [10.9, 20.6, 50.7, 60.99]])
    tiny_field = Augmenter({"elastic_alpha": 0.01, "min_visibility": 0.0, "min_box_size": 0.0})
    r = tiny_field(image, outside, seed=1)
    assert r.visibility[0] == pytest.approx(1 / 3, abs=0.01)      # as without any field
    np.testing.assert_allclose(r.boxes[1], outside[1], atol=0.05)  # no rounding to whole pixels
    pushed = Augmenter({"translate": 0.5, "elastic_alpha": 0.5, "min_visibility": 0.3})
    plain = Augmenter({"translate": 0.5, "min_visibility": 0.3})
    box = np.array([[2.0, 2.0, 30.0, 30.0]])
    for seed in range(20):
        a, b = pushed(image, box, seed=seed), plain(image, box, seed=seed)
        assert abs(a.visibility[0] - b.visibility[0]) < 0.1 and a.kept[0] == b.kept[0]


def test_ticking_another_right_angle_keeps_the_other_draws():
    a = Augmenter({"rotation_fixed": (90,), "scale": (0.8, 1.2)}).draw(6, seed=2)
    b = Augmenter({"rotation_fixed": (90, 180), "scale": (0.8, 1.2)}).draw(6, seed=2)
    np.testing.assert_array_equal(a.scale, b.scale)


def test_crop_covers_the_stated_share_of_the_area():
    for area in (0.3, 0.6, 0.95):
        p = Augmenter({"crop": (area, area), "crop_ratio": (0.5, 2.0)}).draw(50, seed=0)
        m = P.forward_matrices(p, H, W)
        scale = m[:, 0, 0] * m[:, 1, 1]            # the resize back to full size, x times y
        np.testing.assert_allclose(1 / scale, area, rtol=1e-6)
