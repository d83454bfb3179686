"""The seven VinDr-SpineXR lesion types for the procedural radiograph (phantom.py).

plan() picks a site for every requested lesion (its own random stream, so the patient and the noise
stay the same with or without lesions) and reshapes the geometry where the lesion is a change of
shape (a slip, a collapse, a narrowed disc). draw() then paints what the lesion adds (bone spurs,
sclerosis, metal...) and returns one tight box per requested lesion, in request order, computed from
the final geometry of what was drawn.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from spinegui.core.demo.phantom_anatomy import Scene, Vertebra
from spinegui.core.demo.phantom_bones import capsule, convex, ellipse, polyline
from spinegui.core.demo.phantom_draw import Canvas, bbox_of, capsule_t, sdf_capsule, union_box

METAL = 4.0  # projected attenuation of a titanium screw: far above bone (~0.5-1)

# Preferred levels (name of the upper vertebra of a disc, or of the body) per lesion family.
DISC_W = {"L5": 3, "L4": 4, "L3": 2.5, "L2": 1.5, "L1": 1, "T12": 0.6,
          "C5": 4, "C6": 3.5, "C4": 2.5, "C3": 1.5, "C7": 1.5, "C2": 0.8}
SLIP_W = {"L4": 4, "L5": 4, "L3": 1.5, "L2": 0.5, "C3": 2, "C4": 3, "C5": 2, "C6": 1}
COLLAPSE_W = {"T12": 4, "L1": 4, "L2": 3, "L3": 2, "T11": 2, "L4": 1.5, "L5": 1,
              "C5": 2, "C6": 2, "C7": 2, "C4": 1.5, "C3": 1.5, "T1": 1}

Painter = Callable[[Canvas], list]


def _unit(v):
    return v / (np.linalg.norm(v) + 1e-12)


def _hull(pts) -> np.ndarray:
    """Convex hull (monotone chain) of a few points."""
    p = sorted({(float(x), float(y)) for x, y in np.asarray(pts, float)})
    if len(p) < 3:
        return np.array(p)

    def half(seq):
        out = []
        for q in seq:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) * (q[1] - out[-2][1])
                                     - (out[-1][1] - out[-2][1]) * (q[0] - out[-2][0])) <= 0:
                out.pop()
            out.append(q)
        return out

    lo, hi = half(p), half(p[::-1])
    return np.array(lo[:-1] + hi[:-1])


class _Sites:
    """Chooses lesion sites by level preference, spreading repeats over distinct sites."""

    def __init__(self, sc: Scene, rng: np.random.Generator):
        self.sc, self.rng, self.used = sc, rng, set()
        self.bodies = sc.visible_bodies() or [len(sc.verts) // 2]
        self.discs = sc.visible_discs() or [max(0, len(sc.verts) // 2 - 1)]

    def pick(self, family: str, options: list, weights: dict, default: float = 0.3):
        names = [self.sc.verts[i].name for i in options]
        w = np.array([weights.get(n, default) for n in names], float)
        free = np.array([(family, i) not in self.used for i in options])
        if free.any():
            w = w * free
        i = options[int(self.rng.choice(len(options), p=w / w.sum()))]
        self.used.add((family, i))
        return i


def plan(sc: Scene, kinds: list, rng: np.random.Generator) -> list:
    """A painter per requested lesion (same order). Shape changes are applied to sc right away."""
    sites = _Sites(sc, rng)
    # Slips first: they move the spine above them, and later lesions work on the moved geometry.
    order = sorted(range(len(kinds)), key=lambda k: kinds[k] != "Spondylolysthesis")
    painters: dict[int, tuple[str, Painter]] = {}
    for k in order:
        kind = kinds[k]
        painters[k] = (kind, _MAKERS[kind](sc, sites, rng))
    return [painters[k] for k in range(len(kinds))]


def draw(cv: Canvas, sc: Scene, planned: list):
    for kind, painter in planned:
        yield kind, union_box(painter(cv))


# ------------------------------------------------------------------------------------------ lesions


def _spur(v: Vertebra, corner: int, out: np.ndarray, length: float, base: float, mm: float) -> np.ndarray:
    """A bony spur at one corner of a body: growing outwards (`out`) and towards the disc."""
    c = v.corners[corner]
    to_disc = -v.n_up if corner in (2, 3) else v.n_up
    along = _unit(v.corners[{0: 3, 1: 2, 2: 1, 3: 0}[corner]] - c)  # up or down the wall, into the body
    inward = _unit(v.corners.mean(axis=0) - c)
    tip = c + out * 0.8 * length + to_disc * 0.6 * length
    # The base reaches into the body past its rounded corner, so the spur grows out of the bone.
    return _hull([c + along * base + out * 0.3 * mm, c + inward * 4.5 * mm, c - out * 2 * mm + to_disc * 0.3 * mm,
                  tip, c + out * 0.6 * length + along * 0.2 * length, c + out * 0.5 * length + to_disc * 0.5 * length])


def _paint_spur(cv: Canvas, pts: np.ndarray, density: float):
    """New bone: a cancellous core in a cortical skin, soft-edged like the bone it grows from."""
    return convex(cv, pts, smooth=1, density=density, rim=0.14, rim_w=0.9 * cv.s, tex=0.2, soft=2.0)


def _osteophyte(sc: Scene, sites: _Sites, rng) -> Painter:
    mm = sc.s * sc.p["size"]
    i = sites.pick("osteo", sites.discs, DISC_W)
    side = int(rng.integers(0, 2))
    posterior = sc.view == "lateral" and rng.random() < 0.15
    which = rng.choice(["both", "upper", "lower"], p=[0.5, 0.25, 0.25])
    bridge = rng.random() < 0.25
    length = rng.uniform(3.5, 8.0) * mm
    base = rng.uniform(3.0, 6.0) * mm

    def paint(cv):
        u, lo = sc.verts[i], sc.verts[i + 1]
        if sc.view == "lateral":
            cu, cl, out = (2, 1, -u.e_ant) if posterior else (3, 0, u.e_ant)
        else:
            cu, cl = (3, 0) if side == 0 else (2, 1)
            out = _unit(u.corners[cu] - u.corners[5 - cu])
        gap = np.linalg.norm(u.corners[cu] - lo.corners[cl])
        ln = max(length, 0.5 * gap / 0.85) if bridge else min(length, 0.45 * gap / 0.85 + 2 * mm)
        boxes = []
        for v, c in ((u, cu), (lo, cl)):
            if which == "both" or (which == "upper") == (v is u):
                boxes.append(_paint_spur(cv, _spur(v, c, out, ln, base, mm), 0.27 * v.dens / 0.5))
        return boxes

    return paint


def _narrowing(sc: Scene, sites: _Sites, rng) -> Painter:
    i = sites.pick("disc", sites.discs, DISC_W)
    u, lo = sc.verts[i], sc.verts[i + 1]
    keep = rng.uniform(0.38, 0.62)
    share = 1.0 if lo.kind == "sacrum" else 0.5  # the sacrum keeps its shape; L5 takes it all
    gap = np.linalg.norm(u.inf_mid() - lo.sup_mid()) * (1 - keep)
    for a, b in ((3, 0), (2, 1)):  # move both end plates into the disc, sliding along the body walls
        u.corners[a] = u.corners[a] + _unit(u.corners[a] - u.corners[3 - a]) * gap * share
        lo.corners[b] = lo.corners[b] + _unit(lo.corners[b] - lo.corners[3 - b]) * gap * (1 - share)
    scl = rng.uniform(0.18, 0.32)
    u.extra["sclerosis"] = (u.extra.get("sclerosis", (0, 0))[0], scl)
    lo.extra["sclerosis"] = (scl, lo.extra.get("sclerosis", (0, 0))[1])
    vacuum = rng.random() < 0.2

    def paint(cv):
        mm = cv.s * sc.p["size"]
        band = 2 * (0.7 * cv.s + 5 * scl * mm) + 0.4 * cv.s + 1.0  # the sclerotic end plates (see endplates())
        pts = [u.corners[2], u.corners[3], lo.corners[0], lo.corners[1]]
        if vacuum:
            m = [(u.corners[3] + lo.corners[0]) / 2, (u.corners[2] + lo.corners[1]) / 2]
            capsule(cv, m[0] * 0.8 + m[1] * 0.2, m[0] * 0.3 + m[1] * 0.7, 0.8 * cv.s, density=-0.12, soft=cv.s)
        return [bbox_of(pts + [p + _unit(u.corners.mean(0) - p) * band for p in pts[:2]]
                        + [p + _unit(lo.corners.mean(0) - p) * band for p in pts[2:]])]

    return paint


def _implant(sc: Scene, sites: _Sites, rng) -> Painter:
    mm = sc.s * sc.p["size"]
    i = sites.pick("fusion", sites.discs, DISC_W)
    n_lev = 2 if (rng.random() < 0.3 and i + 2 < len(sc.verts)) else 1
    levels = list(range(i, i + n_lev + 1))
    cage = rng.choice(["none", "titanium", "peek"], p=[0.45, 0.3, 0.25])
    jitter = rng.normal(0, 1, (len(levels), 4))

    def paint(cv):
        if sc.region == "cervical":
            return _anterior_plate(cv, sc, levels, mm) + _cage(cv, sc, levels, cage, mm)
        boxes = _pedicle_screws(cv, sc, levels, jitter, mm)
        boxes += _cage(cv, sc, levels, cage, mm)
        return boxes

    return paint


def _screw(cv: Canvas, head, tip, r: float, mm: float) -> list:
    """A pedicle screw: a slightly tapered shaft whose outline is serrated by its 2.5 mm thread (metal
    saturates, so the thread shows at the edge), under a tulip head."""
    t = capsule_t(head, tip)
    pitch = max(2.5 * mm / np.linalg.norm(tip - head), 1e-3)
    core = sdf_capsule(head, tip, r, 0.75 * r)
    depth = np.float32(0.22 * r)

    def shaft(xs, ys):
        return core(xs, ys) + depth * np.abs(np.sin(t(xs, ys) * np.float32(np.pi / pitch)))

    b = cv.paint(shaft, bbox_of([head, tip], r), density=METAL, soft=1.0, metal=True)
    return [b, ellipse(cv, head, 5.5 * mm, 4.5 * mm, 0.0, density=METAL, soft=1.0, metal=True)]


def _anterior_plate(cv: Canvas, sc: Scene, levels: list, mm: float) -> list:
    """Cervical fusion: an anterior plate with two screws per body."""
    boxes = []
    vs = [sc.verts[li] for li in levels]
    if sc.view == "lateral":
        pts = [v.local(0.5 * v.D + 1.5 * mm, f * v.H) for v in vs for f in (0.3, -0.3)]
        boxes.append(polyline(cv, [pts[0] + _unit(pts[0] - pts[-1]) * 3 * mm] + pts
                              + [pts[-1] + _unit(pts[-1] - pts[0]) * 3 * mm], 1.2 * mm, density=METAL, soft=1.0,
                              metal=True))
        for v in vs:
            for f in (0.25, -0.25):
                head = v.local(0.5 * v.D + 1.5 * mm, f * v.H)
                tip = head + _unit(v.local(-0.25 * v.D, f * 0.4 * v.H) - head) * 14 * mm
                boxes += [cv.paint(sdf_capsule(head, tip, 2.0 * mm), bbox_of([head, tip], 2 * mm), density=METAL,
                                   metal=True)]
    else:
        top, bot = vs[0].local(0, 0.35 * vs[0].H), vs[-1].local(0, -0.35 * vs[-1].H)
        w = 0.32 * vs[0].D
        e = vs[0].e_ant
        boxes.append(convex(cv, [top + e * w, top - e * w, bot - e * w, bot + e * w], density=1.0, soft=1.0,
                            metal=True))
        mid = (top + bot) / 2
        convex(cv, [mid + (q - mid) * 0.5 for q in (top + e * w, top - e * w, bot - e * w, bot + e * w)],
               density=-0.6, soft=1.0, metal=True)
        for v in vs:
            for sg in (-1, 1):
                boxes.append(ellipse(cv, v.local(sg * 0.2 * v.D, 0.1 * v.H), 2.6 * mm, 2.6 * mm, density=METAL,
                                     metal=True))
    return boxes


def _cage(cv: Canvas, sc: Scene, levels: list, cage: str, mm: float) -> list:
    """An interbody cage in the fused disc: titanium (dense, hollow) or PEEK (faint, two metal markers)."""
    boxes = []
    if cage != "none":
        u, lo = sc.verts[levels[0]], sc.verts[levels[1]]
        a, b = (u.corners[3] + lo.corners[0]) / 2, (u.corners[2] + lo.corners[1]) / 2
        ctr, ax, hh = (a + b) / 2, _unit(a - b), 0.42 * np.linalg.norm(u.corners[3] - lo.corners[0])
        hh = max(hh, 2 * mm)
        nn = _unit(u.origin - lo.origin)
        half = 0.3 * np.linalg.norm(a - b)
        quad = [ctr + ax * half + nn * hh, ctr - ax * half + nn * hh, ctr - ax * half - nn * hh,
                ctr + ax * half - nn * hh]
        if cage == "titanium":
            boxes.append(convex(cv, quad, density=1.6, soft=1.0, metal=True))
            convex(cv, [ctr + (q - ctr) * 0.55 for q in quad], density=-1.0, soft=1.0, metal=True)
        else:
            boxes.append(convex(cv, quad, density=0.05, soft=1.5))
            for f in (-0.8, 0.8):
                boxes.append(ellipse(cv, ctr + ax * half * f, 1.0 * mm, 1.0 * mm, density=METAL, soft=1.0, metal=True))
    return boxes


def _pedicle_screws(cv: Canvas, sc: Scene, levels: list, jitter: np.ndarray, mm: float) -> list:
    """Lumbar fusion: two pedicle screws per level, joined by a rod on each side."""
    boxes, heads = [], {-1: [], 1: []}
    for k, li in enumerate(levels):
        v = sc.verts[li]
        D, H = v.D, v.H
        for sg in (-1, 1):
            j = jitter[k] * mm
            if sc.view == "lateral":
                head = v.local(-0.98 * D + j[0] + sg * 1.5 * mm, 0.2 * H + j[1] + sg * mm)
                aim = v.local(0.45 * D, 0.08 * H + (0.1 * H if v.kind == "sacrum" else 0))
                ln = min(45 * mm * (1 - 0.06 * (sg + 1)), 0.92 * np.linalg.norm(aim - head))
            else:
                head = v.local(sg * 0.44 * D + j[0], 0.2 * H + j[1])
                aim = v.local(sg * 0.06 * D, 0.12 * H)
                ln = np.linalg.norm(aim - head)
            tip = head + _unit(aim - head) * ln
            boxes += _screw(cv, head, tip, 3.25 * mm, mm)
            heads[sg].append(head)
    for hs in heads.values():
        if len(hs) >= 2:
            ends = [hs[0] + _unit(hs[0] - hs[-1]) * 6 * mm, hs[-1] + _unit(hs[-1] - hs[0]) * 6 * mm]
            pts = [ends[0]] + hs + [ends[1]]
            boxes.append(polyline(cv, pts, 2.75 * mm, density=METAL, soft=1.0, metal=True))
    return boxes


def _stenosis(sc: Scene, sites: _Sites, rng) -> Painter:
    mm = sc.s * sc.p["size"]
    i = sites.pick("foramen", sites.discs, DISC_W)
    grow = rng.uniform(0.7, 1.0)
    side = 1 if rng.random() < 0.5 else -1

    def paint(cv):
        u, lo = sc.verts[i], sc.verts[i + 1]
        if sc.view == "ap":  # no foramen on AP: facet and uncovertebral overgrowth at the lateral recess
            cu = 3 if side < 0 else 2
            out = _unit(u.corners[cu] - u.corners[5 - cu])
            c = (u.corners[cu] + lo.corners[3 - cu]) / 2 - out * 0.27 * u.D
            r = max(0.5 * np.linalg.norm(u.corners[cu] - lo.corners[3 - cu]) + 2 * mm, 4 * mm)
            ang = float(np.arctan2(out[1], out[0]))
            return [ellipse(cv, c, 0.05 * u.D * (1 + grow), 0.8 * r, ang + 0.3, density=0.35, rim=0.15, rim_w=cv.s,
                            tex=0.2),
                    _paint_spur(cv, _spur(u, cu, out, 4 * mm * grow, 3 * mm, mm), 0.32)]
        cervical = u.kind in ("cervical", "C2")
        back = -u.e_ant
        # Posterior disc-osteophyte bar from both end plates, and a hypertrophic superior articular
        # process pushing forwards from behind: the foramen window shrinks to a slit.
        b = [_paint_spur(cv, _spur(u, 2, back, 5.5 * mm * grow, 4 * mm, mm), 0.32),
             _paint_spur(cv, _spur(lo, 1, back, 4.5 * mm * grow, 4 * mm, mm), 0.32)]
        fu = -0.6 if cervical else -0.7
        sap = lo.local(fu * lo.D, 0.5 * lo.H + 0.45 * lo.disc_above)
        b.append(ellipse(cv, sap + lo.e_ant * 0.04 * lo.D, 0.06 * lo.D * (1 + grow), 0.3 * lo.H,
                         float(np.arctan2(lo.e_ant[1], lo.e_ant[0])) + 0.35, density=0.32, rim=0.14, rim_w=cv.s,
                         tex=0.2))
        win = [u.local(-0.48 * u.D, -0.05 * u.H), u.local((fu - 0.1) * u.D, -0.05 * u.H),
               lo.local(-0.48 * lo.D, 0.4 * lo.H), lo.local((fu - 0.1) * lo.D, 0.4 * lo.H)]
        return b + [bbox_of(win)]

    return paint


def _slip(sc: Scene, sites: _Sites, rng) -> Painter:
    opts = [i for i in sites.bodies if i + 1 < len(sc.verts)] or [max(0, len(sc.verts) - 3)]
    i = sites.pick("slip", opts, SLIP_W, default=0.1)
    u, lo = sc.verts[i], sc.verts[i + 1]
    grade = rng.uniform(0.12, 0.45)  # Meyerding I-II
    if sc.view == "lateral":
        shift = lo.e_ant * grade * lo.D
    else:  # AP cannot show a forward slip: a lateral listhesis instead
        shift = lo.e_ant * (1 if rng.random() < 0.5 else -1) * grade * 0.6 * lo.D
    for v in sc.verts[: i + 1]:
        v.corners = v.corners + shift
        v.origin = v.origin + shift

    def paint(cv):
        pts = list(u.corners) + [lo.corners[0], lo.corners[1], lo.corners[0] + (lo.corners[3] - lo.corners[0]) * 0.35,
                                 lo.corners[1] + (lo.corners[2] - lo.corners[1]) * 0.35]
        return [bbox_of(pts)]

    return paint


def _collapse(sc: Scene, sites: _Sites, rng) -> Painter:
    i = sites.pick("body", sites.bodies, COLLAPSE_W)
    v = sc.verts[i]
    loss = rng.uniform(0.22, 0.5)
    wedge = rng.random() < 0.65 and sc.view == "lateral"
    la, lp = (loss, loss * rng.uniform(0.0, 0.3)) if wedge else (loss, loss * rng.uniform(0.75, 1.0))
    if sc.view == "ap" and rng.random() < 0.5:
        la, lp = lp, la
    v.corners[0] = v.corners[0] + (v.corners[3] - v.corners[0]) * la
    v.corners[1] = v.corners[1] + (v.corners[2] - v.corners[1]) * lp
    v.extra["sclerosis"] = (0.22, v.extra.get("sclerosis", (0, 0))[1])
    v.dens *= 1.15

    def paint(cv):
        return [bbox_of(v.corners)]

    return paint


def _other(sc: Scene, sites: _Sites, rng) -> Painter:
    mm = sc.s * sc.p["size"]
    i = sites.pick("body", sites.bodies, {}, default=1.0)
    kind = rng.choice(["sclerotic", "lytic", "schmorl"] if sc.view == "lateral" else ["sclerotic", "lytic"])
    fu, fv = rng.uniform(-0.2, 0.2), rng.uniform(-0.15, 0.15)
    size = rng.uniform(4.0, 8.0)
    lobes = rng.normal(0, 1, (3, 2))
    top = rng.random() < 0.5

    def paint(cv):
        v = sc.verts[i]
        ang = float(np.arctan2(v.e_ant[1], v.e_ant[0]))
        r = min(size * mm, 0.3 * v.H)
        if kind == "schmorl":  # a rounded notch in an end plate with a sclerotic margin
            a, b = (v.corners[0], v.corners[1]) if top else (v.corners[3], v.corners[2])
            c = a + (b - a) * (0.4 + fu) + _unit(v.origin - (a + b) / 2) * 0.45 * r
            return [ellipse(cv, c, 0.9 * r, 0.75 * r, ang, density=-0.45 * v.dens, rim=0.35, rim_w=0.9 * cv.s,
                            soft=1.0)]
        c = v.local(fu * v.D, fv * v.H)
        if kind == "lytic":
            return [ellipse(cv, c, r, 0.85 * r, ang, density=-0.7 * v.dens, rim=0.15, rim_w=0.9 * cv.s, soft=1.5)]
        return [ellipse(cv, c + lobes[k] * 0.35 * r, r * (0.75 - 0.15 * k), r * (0.6 - 0.1 * k), ang + k,
                        density=0.3, soft=1.5 * cv.s, tex=0.2) for k in range(3)]

    return paint


_MAKERS = {
    "Osteophytes": _osteophyte,
    "Disc space narrowing": _narrowing,
    "Surgical implant": _implant,
    "Foraminal stenosis": _stenosis,
    "Spondylolysthesis": _slip,
    "Vertebral collapse": _collapse,
    "Other lesions": _other,
}
