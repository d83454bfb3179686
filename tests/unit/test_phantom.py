"""The procedural radiograph (spinegui.core.demo.phantom): format, determinism, anatomy, lesions."""

import numpy as np
import pytest

from spinegui.core.demo.phantom import LESION_TYPES, PhantomSpec, render_phantom, render_scene

H, W = 512, 256  # small frames keep the suite fast; the anatomy scales with the frame
COMBOS = [(r, v) for r in ("lumbar", "cervical") for v in ("lateral", "ap")]


def render(region="lumbar", view="lateral", lesions=(), seed=0, h=H, w=W):
    return render_phantom(PhantomSpec(h, w, region, view, tuple(lesions)), np.random.default_rng(seed))


def test_lesion_types_are_vindr_labels():
    from spinegui.core.dataset.vindr import LESION_TYPES as VINDR

    assert LESION_TYPES == VINDR
    assert "Spondylolysthesis" in LESION_TYPES  # the dataset's spelling


@pytest.mark.parametrize("region,view", COMBOS)
def test_format_12_bit_monochrome2(region, view):
    img, boxes = render(region, view, seed=3)
    assert img.dtype == np.uint16 and img.shape == (H, W)
    assert int(img.max()) <= 4095
    assert boxes == []
    lo, hi = np.percentile(img, [2, 98])
    assert hi - lo > 800, "a radiograph has a wide range of grey levels"


def test_full_size_frame():
    img, boxes = render("lumbar", "lateral", ["Surgical implant"], seed=1, h=2874, w=1443)
    assert img.shape == (2874, 1443) and img.dtype == np.uint16 and int(img.max()) <= 4095
    assert len(boxes) == 1


def test_deterministic_by_seed():
    spec = PhantomSpec(H, W, "lumbar", "lateral", ("Osteophytes", "Vertebral collapse"))
    a, ba = render_phantom(spec, np.random.default_rng(42))
    b, bb = render_phantom(spec, np.random.default_rng(42))
    c, _ = render_phantom(spec, np.random.default_rng(43))
    assert np.array_equal(a, b) and ba == bb
    assert not np.array_equal(a, c)
    assert np.mean(np.abs(a.astype(int) - c.astype(int))) > 50, "another seed is another patient"


def test_invalid_specs_raise():
    rng = np.random.default_rng(0)
    for spec in (PhantomSpec(H, W, "thoracic"), PhantomSpec(H, W, view="oblique"),
                 PhantomSpec(H, W, lesions=("Fracture",)), PhantomSpec(16, 16)):
        with pytest.raises(ValueError):
            render_phantom(spec, rng)


@pytest.mark.parametrize("region,view", COMBOS)
def test_one_box_per_requested_lesion_inside_the_image(region, view):
    lesions = LESION_TYPES + ("Osteophytes", "Osteophytes", "Disc space narrowing")
    for seed in (0, 1):
        img, boxes = render(region, view, lesions, seed=seed)
        assert [t for t, _ in boxes] == list(lesions)
        for _, (x0, y0, x1, y1) in boxes:
            assert all(isinstance(v, float) for v in (x0, y0, x1, y1))
            assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
        osteo = [b for t, b in boxes if t == "Osteophytes"]
        assert len(set(osteo)) == len(osteo), "repeated osteophytes go to distinct sites"


def _dilate(box, margin, h, w):
    x0, y0, x1, y1 = box
    return (max(int(x0 - margin), 0), max(int(y0 - margin), 0), min(int(x1 + margin) + 1, w),
            min(int(y1 + margin) + 1, h))


@pytest.mark.parametrize("lesion", LESION_TYPES)
@pytest.mark.parametrize("region,view", COMBOS)
def test_lesion_is_drawn_inside_its_box_and_nowhere_far(lesion, region, view):
    seed = 5
    normal, _, sc = render_scene(PhantomSpec(H, W, region, view), np.random.default_rng(seed))
    sick, boxes = render(region, view, [lesion], seed=seed)
    diff = np.abs(sick.astype(int) - normal.astype(int))
    (_, box), = boxes
    x0, y0, x1, y1 = (int(v) for v in box)
    inside = diff[y0:y1 + 1, x0:x1 + 1]
    assert inside.mean() > 60, f"{lesion} barely changes its box (mean diff {inside.mean():.1f})"
    far = np.ones_like(diff, bool)
    # Processing (equalisation) spreads a change a little; 50 mm away nothing may change.
    fx0, fy0, fx1, fy1 = _dilate(box, 50 * sc.s, H, W)
    if lesion == "Spondylolysthesis":  # the spine above the slip moves with it
        far[:fy1] = False
    else:
        far[fy0:fy1, fx0:fx1] = False
    assert far.any()
    assert diff[far].max() == 0, f"{lesion} changed pixels far from its box"
    assert (diff[y0:y1 + 1, x0:x1 + 1] > 0).mean() > 0.3


@pytest.mark.parametrize("region,view", COMBOS)
def test_metal_is_far_brighter_than_bone(region, view):
    normal, _ = render(region, view, seed=2)
    img, [(_, box)] = render(region, view, ["Surgical implant"], seed=2)
    x0, y0, x1, y1 = (int(v) for v in box)
    metal = np.percentile(img[y0:y1 + 1, x0:x1 + 1], 99.5)
    bone = np.percentile(normal[y0:y1 + 1, x0:x1 + 1], 99.5)
    assert metal >= 3900 and metal > bone + 400


def _body_and_disc_values(img, sc):
    mirror = sc.p["mirrored"]
    w = img.shape[1]
    bodies, discs = [], []
    for up, lo in zip(sc.verts[:-1], sc.verts[1:]):
        for pt, out in ((up.origin, bodies), ((up.inf_mid() + lo.sup_mid()) / 2, discs)):
            x, y = int(w - 1 - pt[0]) if mirror else int(pt[0]), int(pt[1])
            if 2 <= x < w - 2 and 2 <= y < img.shape[0] - 2:
                out.append(np.median(img[y - 1:y + 2, x - 1:x + 2]))
    return np.array(bodies), np.array(discs)


@pytest.mark.parametrize("region,view", COMBOS)
def test_bodies_are_brighter_than_discs(region, view):
    for seed in (0, 1, 2):
        img, _, sc = render_scene(PhantomSpec(H, W, region, view), np.random.default_rng(seed))
        bodies, discs = _body_and_disc_values(img, sc)
        assert len(bodies) >= 4 and len(discs) >= 4
        assert np.median(bodies) > np.median(discs) + 100


def _heights(sc):
    return {v.name: (np.linalg.norm(v.corners[0] - v.corners[3]), np.linalg.norm(v.corners[1] - v.corners[2]))
            for v in sc.verts}


def _discs(sc):
    return {u.name: float(np.linalg.norm(u.inf_mid() - lo.sup_mid())) for u, lo in zip(sc.verts[:-1], sc.verts[1:])}


@pytest.mark.parametrize("region", ["lumbar", "cervical"])
def test_vertebral_collapse_loses_20_to_50_percent_front_height(region):
    for seed in range(4):
        _, _, a = render_scene(PhantomSpec(H, W, region, "lateral"), np.random.default_rng(seed))
        _, boxes, b = render_scene(PhantomSpec(H, W, region, "lateral", ("Vertebral collapse",)),
                                   np.random.default_rng(seed))
        ha, hb = _heights(a), _heights(b)
        changed = [n for n in ha if not np.allclose(ha[n], hb[n])]
        assert len(changed) == 1
        front_a, back_a = ha[changed[0]]
        front_b, back_b = hb[changed[0]]
        assert 0.5 * front_a - 1e-6 <= front_b <= 0.8 * front_a + 1e-6
        assert back_b <= back_a + 1e-6


@pytest.mark.parametrize("region,view", COMBOS)
def test_disc_space_narrowing_halves_the_disc(region, view):
    for seed in range(3):
        _, _, a = render_scene(PhantomSpec(H, W, region, view), np.random.default_rng(seed))
        _, _, b = render_scene(PhantomSpec(H, W, region, view, ("Disc space narrowing",)),
                               np.random.default_rng(seed))
        da, db = _discs(a), _discs(b)
        narrowed = [n for n in da if not np.isclose(da[n], db[n])]
        assert len(narrowed) == 1
        ratio = db[narrowed[0]] / da[narrowed[0]]
        assert 0.35 <= ratio <= 0.65
        names = list(da)
        k = names.index(narrowed[0])
        neighbours = [db[names[j]] for j in (k - 1, k + 1) if 0 <= j < len(names)]
        assert db[narrowed[0]] < 0.75 * np.mean(neighbours)


def test_spondylolisthesis_slips_a_body_forwards_over_the_one_below():
    for seed in range(4):
        _, _, a = render_scene(PhantomSpec(H, W, "lumbar", "lateral"), np.random.default_rng(seed))
        _, _, b = render_scene(PhantomSpec(H, W, "lumbar", "lateral", ("Spondylolysthesis",)),
                               np.random.default_rng(seed))
        moved = [i for i, (va, vb) in enumerate(zip(a.verts, b.verts)) if not np.allclose(va.corners, vb.corners)]
        assert moved and moved == list(range(moved[-1] + 1)), "the slipped body and everything above it move"
        lo = b.verts[moved[-1] + 1]
        shift = b.verts[moved[-1]].origin - a.verts[moved[-1]].origin
        grade = float(np.dot(shift, lo.e_ant)) / lo.D  # forwards, as a share of the lower body's depth
        assert 0.1 <= grade <= 0.5


@pytest.mark.parametrize("region,view", COMBOS)
def test_bodies_have_rounded_corners_and_dished_end_plates(region, view):
    """A body is bone-shaped, not a rectangle: nothing at its nominal corners, a dip in the middle of each
    end plate, and the most bone in its middle."""
    from spinegui.core.demo.phantom_anatomy import build_scene
    from spinegui.core.demo.phantom_bones import body
    from spinegui.core.demo.phantom_draw import Canvas

    sc = build_scene(region, view, 1024, 640, np.random.default_rng(4))
    for v in [v for v in sc.verts if v.kind != "sacrum"][2:5]:
        cv = Canvas(sc.h, sc.w, sc.s, np.random.default_rng(0))
        body(cv, sc, v)

        def mu_at(p, mu=cv.mu):
            return float(mu[int(p[1]), int(p[0])])

        centre = mu_at(v.origin)
        inset = 0.04 * min(v.H, v.D)
        for c in v.corners:  # a rectangle would be full just inside its corners
            assert mu_at(c + (v.origin - c) / np.linalg.norm(v.origin - c) * inset) < 0.25 * centre
        for a, b in ((v.corners[0], v.corners[1]), (v.corners[3], v.corners[2])):
            mid = (a + b) / 2
            inward = (v.origin - mid) / np.linalg.norm(v.origin - mid)
            assert mu_at(mid + inward * 0.02 * v.H) < 0.5 * mu_at(mid + inward * 0.15 * v.H)


def test_overlapping_structures_add_up():
    """Attenuation sums: where two bones overlap the picture is denser than either alone."""
    from spinegui.core.demo.phantom_bones import ellipse
    from spinegui.core.demo.phantom_draw import Canvas

    cv = Canvas(100, 100, 3.0, np.random.default_rng(0))
    ellipse(cv, (40, 50), 20, 12, density=0.3)
    ellipse(cv, (60, 50), 20, 12, density=0.3)
    assert cv.mu[50, 50] == pytest.approx(0.6, abs=0.01) and cv.mu[50, 30] == pytest.approx(0.3, abs=0.01)


@pytest.mark.parametrize("region", ["lumbar", "cervical"])
def test_metal_leaves_no_dark_halo(region):
    """Equalisation leaves implants out: the bone and tissue next to a screw keep their brightness."""
    normal, _, sc = render_scene(PhantomSpec(H, W, region, "lateral"), np.random.default_rng(2))
    img, [(_, box)] = render(region, "lateral", ["Surgical implant"], seed=2)
    x0, y0, x1, y1 = _dilate(box, 0, H, W)
    ring = np.zeros_like(img, bool)
    ring[slice(*_dilate(box, 8 * sc.s, H, W)[1::2]), slice(*_dilate(box, 8 * sc.s, H, W)[0::2])] = True
    ring[y0:y1, x0:x1] = False
    diff = img.astype(int)[ring] - normal.astype(int)[ring]
    assert np.median(diff) > -40, f"the implant darkens its surroundings by {-np.median(diff):.0f}"
