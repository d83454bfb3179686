"""Procedural spine radiographs (lumbar/cervical, lateral/AP) with lesions drawn inside their boxes.

Pure numpy. A picture is built as a physical-ish projection: every structure adds its attenuation
line integral (how much of it the beam crosses) to one map, so overlaps are denser. Soft tissue;
vertebral bodies with rounded corners, dished end plates and a waist, whose trabecular bone thins
towards their round walls and whose cortical shell and end plates are dense; solid posterior
elements; pelvis or skull base; then lesions (lesions.py). Implants and lead go to a separate metal
map that the processing's equalisation leaves out. Exposure (gain, heel effect), detector blur,
processing, quantum noise, collimation and an exponential-like (logistic) detector curve turn the
sum into a 12-bit MONOCHROME2 image (bone and metal bright).

Randomness comes from four independent streams split off the caller's generator: anatomy, lesions,
bone texture and noise. The same seed with and without a lesion therefore gives the same patient and
the same noise, and the two pictures differ only where the lesion is drawn (a slipped vertebra also
moves the spine above it).

Module layout: phantom_draw.py (shape primitives), phantom_anatomy.py (spine geometry),
phantom_bones.py (drawing the bones), lesions.py (the seven lesion types).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spinegui.core.demo import lesions as _lesions
from spinegui.core.demo.phantom_anatomy import Scene, build_scene
from spinegui.core.demo.phantom_bones import capsule, draw_bones, ellipse, polyline
from spinegui.core.demo.phantom_draw import Canvas, F, blur, smooth_field

LESION_TYPES = ("Osteophytes", "Disc space narrowing", "Surgical implant", "Foraminal stenosis",
                "Spondylolysthesis", "Vertebral collapse", "Other lesions")  # exact VinDr strings
REGIONS = ("lumbar", "cervical")
VIEWS = ("lateral", "ap")
MAX_VALUE = 4095  # 12 bits stored

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class PhantomSpec:
    height: int  # pixels (rows)
    width: int  # pixels (cols)
    region: str = "lumbar"  # "lumbar" | "cervical"
    view: str = "lateral"  # "lateral" | "ap"
    lesions: tuple[str, ...] = ()  # lesion types to draw (may repeat); empty = normal spine


def render_phantom(spec: PhantomSpec, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[str, Box]]]:
    """Returns (image, boxes). image: uint16 (height, width), 0..4095, MONOCHROME2. boxes: one
    (lesion_type, (xmin, ymin, xmax, ymax)) per requested lesion, in the requested order, absolute
    float pixel coordinates inside the image, tightly around the drawn lesion. Deterministic given
    the rng state."""
    image, boxes, _ = render_scene(spec, rng)
    return image, boxes


def render_scene(spec: PhantomSpec, rng: np.random.Generator):
    """render_phantom plus the final Scene (geometry after lesions, before any left-right mirroring:
    scene.p["mirrored"] tells), for tests and debugging."""
    h, w = int(spec.height), int(spec.width)
    if h < 64 or w < 32:
        raise ValueError(f"phantom too small: {h}x{w} (need at least 64x32)")
    if spec.region not in REGIONS or spec.view not in VIEWS:
        raise ValueError(f"unknown region/view {spec.region!r}/{spec.view!r}; choose from {REGIONS} / {VIEWS}")
    unknown = [t for t in spec.lesions if t not in LESION_TYPES]
    if unknown:
        raise ValueError(f"unknown lesion type(s) {unknown}; choose from {LESION_TYPES}")
    seeds = rng.integers(0, 2**63 - 1, size=4)
    anat, les, tex, noise = (np.random.default_rng(int(x)) for x in seeds)

    sc = build_scene(spec.region, spec.view, h, w, anat)
    acq = _acquisition(anat)
    cv = Canvas(h, w, sc.s, tex)
    _soft_tissue(cv, sc, anat)
    plan = _lesions.plan(sc, list(spec.lesions), les)  # may reshape the bones (slip, collapse...)
    draw_bones(cv, sc)
    boxes = list(_lesions.draw(cv, sc, plan))
    sc.p["mirrored"] = spec.view == "lateral" and acq["mirror"]  # patient facing left or right
    if sc.p["marker"]:
        _marker(cv, sc, sc.p["mirrored"])
    image = _expose(cv.mu, cv.metal, sc, acq, noise)
    if sc.p["mirrored"]:
        image = image[:, ::-1].copy()
        boxes = [(t, (w - x1, y0, w - x0, y1)) for t, (x0, y0, x1, y1) in boxes]
    boxes = [(t, _clip_box(b, w, h)) for t, b in boxes]
    return image, boxes, sc


def _clip_box(b, w, h) -> Box:
    x0, y0, x1, y1 = (float(v) for v in b)
    x0, x1 = min(max(x0, 0.0), w - 1.0), min(max(x1, 1.0), float(w))
    y0, y1 = min(max(y0, 0.0), h - 1.0), min(max(y1, 1.0), float(h))
    return (x0, y0, max(x1, x0 + 1.0), max(y1, y0 + 1.0))


def _acquisition(rng: np.random.Generator) -> dict:
    return {
        "gain": rng.uniform(0.85, 1.05), "heel": rng.uniform(0.06, 0.2) * rng.choice([-1, 1]),
        "tilt": rng.uniform(-0.08, 0.08), "low": rng.uniform(0.0, 0.06), "span": rng.uniform(0.9, 0.98),
        "centre": rng.uniform(0.8, 1.05), "width": rng.uniform(0.42, 0.55), "noise": rng.uniform(0.004, 0.012),
        "mirror": rng.random() < 0.7,
        "bright_shutter": rng.random() < 0.5, "shutter_level": rng.uniform(0.75, 0.97),
        "usm": rng.uniform(0.3, 0.7), "equalise": rng.uniform(0.15, 0.35),
    }


def _smoothstep(x):
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def _soft_tissue(cv: Canvas, sc: Scene, rng: np.random.Generator) -> None:
    """Body outline (an elliptical cross-section, thicker at the pelvis/shoulders), lungs, gas, airway."""
    s, p, h, w = cv.s, sc.p, cv.h, cv.w
    mm = s * p["size"]
    ys = (np.arange(h, dtype=F) + 0.5)[:, None]
    xs = np.arange(w, dtype=F) + 0.5
    names = [v.name for v in sc.verts]
    lumbar = sc.region == "lumbar"
    mid = sc.verts[names.index("L3" if lumbar else "C5")]
    y_low = float(sc.verts[-1].sup_mid()[1])  # sacrum / T3
    y_top = float(sc.verts[0].origin[1])
    shoulder = _smoothstep((ys - float(sc.verts[-3].origin[1])) / F(45 * mm)) if not lumbar else None
    head = _smoothstep((y_top - ys) / F(40 * mm) + 0.3) if not lumbar else None
    if sc.view == "lateral":
        # Posterior skin behind the spinous processes; anterior skin in front (abdomen often off-frame).
        tip = mid.local(-(1.68 if lumbar else 2.6) * mid.D, 0)
        x_post = tip[0] - p["skin_post"] * (1.0 if lumbar else 0.55) + F(np.tan(p["rot"])) * (ys - mid.origin[1])
        x_ant = mid.corners[0][0] + (150 * mm + p["skin_ant"] if lumbar else 45 * mm + 0.3 * p["skin_ant"])
        x_post = x_post - F(30 * mm if lumbar else 25 * mm) * _smoothstep((ys - y_low) / F(70 * mm))
        u = (xs - (x_post + x_ant) / 2) / ((x_ant - x_post) / 2)
        tissue = np.sqrt(np.clip(1 - u * u, 0, 1))
        if lumbar:
            tissue *= F(p["soft"]) * (1 + F(0.3) * _smoothstep((ys - y_low + 40 * mm) / F(120 * mm)))
            # Lung bases behind and above the diaphragm.
            dia = y_top + F(25 * mm) - F(0.0025 / mm) * np.square(xs - float(x_post.mean()))
            tissue -= F(0.3) * _smoothstep((dia - ys) / F(25 * mm))
        else:
            tissue = np.maximum(tissue, head * F(0.9) + shoulder * F(1.1)) * F(p["soft"]) + shoulder * F(0.3)
    else:
        half = (165 * mm + 0.5 * p["skin_ant"]) if lumbar else 55 * mm + 0.15 * p["skin_ant"]
        if not lumbar:
            half = half * (1 + 2.5 * shoulder + 0.8 * head)
        u = (xs - F(mid.origin[0])) / half
        # Automatic exposure control sets the dose for the abdomen's own thickness, so the AP view's
        # thinner soft tissue reaches the detector about as grey as the lateral's.
        tissue = np.sqrt(np.clip(1 - u * u, 0, 1)) * F(p["soft"] * (1.15 if lumbar else 0.9))
        if not lumbar:
            tissue *= 1 + F(0.5) * shoulder + F(0.3) * head
    cv.mu += tissue + F(0.06) * smooth_field(rng, h, w, 60 * mm)

    if lumbar:  # bowel gas: clusters of dark blobs in front of (lateral) or over (AP) the spine
        for _ in range(p["gas"]):
            if sc.view == "lateral":
                c = mid.local(rng.uniform(0.7, 2.6) * mid.D, rng.uniform(-3.5, 2.5) * mid.H)
            else:
                c = mid.local(rng.uniform(-2.8, 2.8) * mid.D, rng.uniform(-4.5, 2.0) * mid.H)
            for _ in range(int(rng.integers(1, 5))):
                ellipse(cv, c + rng.normal(0, 9 * mm, 2), rng.uniform(4, 16) * mm, rng.uniform(3, 10) * mm,
                        rng.uniform(0, np.pi), density=-rng.uniform(0.04, 0.12), soft=rng.uniform(1.5, 4) * s)
        if sc.view == "ap":  # psoas margins
            for sg in (-1, 1):
                a0 = sc.verts[names.index("L1")].local(sg * 0.55 * mid.D, 0)
                capsule(cv, a0, a0 - mid.n_up * 190 * mm + mid.e_ant * sg * 55 * mm, 14 * mm, 22 * mm,
                        density=0.05, soft=8 * s)
        return
    # The airway: pharynx and trachea in front of (lateral) or over (AP) the cervical spine.
    if sc.view == "lateral":
        pre = {"C2": 9, "C3": 10, "C4": 13, "C5": 18, "C6": 21, "C7": 22}  # prevertebral tissue + half the airway
        path = [v.local(0.5 * v.D + pre.get(v.name, 22) * mm, 0) for v in sc.verts[:-1]]
        path = [path[0] + mid.n_up * 40 * mm] + path
        polyline(cv, path, 7 * mm, density=-0.13, soft=3 * s)
    else:
        path = [v.origin for v in sc.verts if v.name not in ("C2", "C3")]
        polyline(cv, path + [path[-1] - mid.n_up * 40 * mm], 8 * mm, density=-0.1, soft=4 * s)


def _marker(cv: Canvas, sc: Scene, mirror: bool) -> None:
    """A lead side marker ("L" or "R") in an upper corner, away from the spine; readable after mirroring."""
    mm = cv.s * sc.p["size"]
    fx, fy = sc.p["marker_pos"]
    x0 = fx * cv.w if sc.p["marker_left"] else cv.w * (1 - fx) - 12 * mm
    y0 = fy * cv.h * 0.6 + max(sc.field[1], 0) + 3 * mm
    strokes = {"L": [[(0, 0), (0, 14)], [(0, 14), (9, 14)]],
               "R": [[(0, 14), (0, 0), (6, 0), (8, 3.5), (6, 7), (0, 7)], [(4, 7), (9, 14)]]}[sc.p["marker"]]
    for st in strokes:
        pts = [((9 - u) if mirror else u, v) for u, v in st]
        polyline(cv, [(x0 + u * mm, y0 + v * mm) for u, v in pts], 1.3 * mm, density=2.5, soft=1.0, metal=True)


def _expose(mu: np.ndarray, metal: np.ndarray | None, sc: Scene, acq: dict, rng: np.random.Generator) -> np.ndarray:
    """Attenuation -> 12-bit MONOCHROME2: blur, heel effect, processing (equalisation and edge
    enhancement, as digital radiography does), quantum noise, a film-like curve, shutters."""
    h, w = mu.shape
    ys = (np.arange(h, dtype=F) + 0.5)[:, None] / F(h) - F(0.5)
    xs = np.arange(w, dtype=F) / F(w) - F(0.5)
    fine = sc.s > 5.5  # pixels finer than ~0.18 mm: detector blur, correlated noise
    # Detector and focal-spot blur: even a coarse pixel sees edges spread over a pixel or two.
    a = blur(mu, 3, 3, passes=2 if fine else 1)
    a *= F(acq["gain"])
    a += F(acq["heel"]) * ys + F(acq["tilt"]) * xs
    # The equalisation's low-pass leaves metal out (as DR processing segments it), else every
    # implant would sit in a dark halo.
    low = _lowpass(np.minimum(a, 3.0), 12 * sc.s)
    if metal is not None:
        a += blur(metal, 3, 3, passes=2 if fine else 1) * F(acq["gain"])
    low *= F(acq["usm"] + acq["equalise"])
    a *= F(1 + acq["usm"])
    a -= low  # a + usm * (a - low) - equalise * low
    np.maximum(a, 0, out=a)
    # Quantum noise: fewer photons behind dense parts -> noisier there (log domain).
    n = rng.standard_normal((h, w), dtype=F)
    n = blur(n, 2, 2, passes=1) * F(1.6 if fine else 1.3)  # the detector's point spread correlates it
    sig = np.minimum(a, 3)
    sig *= F(0.5 * acq["noise"])
    sig += F(acq["noise"])
    n *= sig
    a += n
    # Detector/processing curve: a logistic "film" curve centred near soft tissue (air at 0), plus a
    # shoulder that clips metal.
    c, wd = acq["centre"], acq["width"]
    lo = 1 / (1 + np.exp(c / wd))
    v = np.subtract(F(c / wd), a / F(wd))
    np.exp(v, out=v)
    v += 1
    np.reciprocal(v, out=v)
    k = acq["span"] / (1 - lo)
    v *= F(k)
    v += F(acq["low"] - lo * k)
    a -= F(2.6)
    np.clip(a, 0, 1, out=a)
    a *= F(0.12)
    v += a
    _shutters(v, sc, acq)
    v *= F(MAX_VALUE)
    v += F(0.5)
    np.clip(v, 0, MAX_VALUE, out=v)
    return v.astype(np.uint16)


def _lowpass(a: np.ndarray, radius: float) -> np.ndarray:
    """Heavy blur computed on a decimated copy and brought back by bilinear interpolation."""
    k = max(1, int(radius / 6))
    small = a[k // 2:: k, k // 2:: k]
    r = max(1, int(round(2 * radius / k)))
    small = blur(small, r, r)
    h, w = a.shape

    def lerp_idx(n, m):
        pos = np.clip((np.arange(n, dtype=F) - k // 2) / F(k), 0, m - 1)
        i0 = np.minimum(pos.astype(np.int64), max(m - 2, 0))
        return i0, np.minimum(i0 + 1, m - 1), (pos - i0).astype(F)

    i0, i1, ty = lerp_idx(h, small.shape[0])
    rows = small[i0] * (1 - ty)[:, None] + small[i1] * ty[:, None]
    j0, j1, tx = lerp_idx(w, small.shape[1])
    return rows[:, j0] * (1 - tx) + rows[:, j1] * tx


def _shutters(v: np.ndarray, sc: Scene, acq: dict) -> None:
    """Collimation: outside the (slightly rotated) exposed field is either unexposed-bright or masked black."""
    h, w = v.shape
    x0, y0, x1, y1, ang = sc.field
    c = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    ca, sa = np.cos(ang), np.sin(ang)
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]]) - c
    if ((np.abs(corners @ [ca, sa]) < (x1 - x0) / 2) & (np.abs(corners @ [-sa, ca]) < (y1 - y0) / 2)).all():
        return  # the whole frame is exposed
    ys = (np.arange(h, dtype=F) + F(0.5) - F(c[1]))[:, None]
    xs = np.arange(w, dtype=F) + F(0.5) - F(c[0])
    du = np.abs(xs * F(ca) + ys * F(sa)) - F((x1 - x0) / 2)
    dv = np.abs(-xs * F(sa) + ys * F(ca)) - F((y1 - y0) / 2)
    out = np.clip(np.maximum(du, dv) / F(1.5 * sc.s) + 0.5, 0, 1)  # penumbra ~1.5 mm
    level = acq["shutter_level"] if acq["bright_shutter"] else 0.01
    v *= 1 - out
    v += out * F(level)
