"""Bones of the procedural radiograph: vertebral bodies, posterior elements, sacrum/pelvis, skull base.

Every function adds projected attenuation to a Canvas (phantom_draw.py) from a Scene's geometry
(phantom_anatomy.py). Vertebra-local sizes are fractions of the body's depth D (u, anterior or
image-left) and height H (v, cranial); other sizes are millimetres times `mm`.
"""

from __future__ import annotations

import numpy as np

from spinegui.core.demo.phantom_anatomy import Scene, Vertebra, body_outline
from spinegui.core.demo.phantom_draw import Canvas, F, bbox_of, sdf_capsule, sdf_convex, sdf_ellipse, sdf_polyline


def _ang(v: Vertebra) -> float:
    return float(np.arctan2(v.e_ant[1], v.e_ant[0]))


def capsule(cv: Canvas, p, q, r0, r1=None, **kw):
    r1 = r0 if r1 is None else r1
    return cv.paint(sdf_capsule(p, q, r0, r1), bbox_of([p, q], max(r0, r1)), **kw)


def polyline(cv: Canvas, pts, r, **kw):
    band = 3.0 * max(kw.get("soft", 1.0), kw.get("rim_w", 1.0), kw.get("dome", 0.0) / 2, 2.0)
    return cv.paint(sdf_polyline(pts, r, band), bbox_of(pts, r), **kw)


def chaikin(pts, n=2):
    """Round a closed polygon's corners by corner cutting (keeps it convex)."""
    p = np.asarray(pts, float)
    for _ in range(n):
        q = np.roll(p, -1, axis=0)
        p = np.stack([0.75 * p + 0.25 * q, 0.25 * p + 0.75 * q], 1).reshape(-1, 2)
    return p


def convex(cv: Canvas, pts, smooth=0, **kw):
    pts = chaikin(pts, smooth) if smooth else np.asarray(pts, float)
    return cv.paint(sdf_convex(pts), bbox_of(pts), **kw)


def ellipse(cv: Canvas, c, a, b, ang=0.0, **kw):
    return cv.paint(sdf_ellipse(c[0], c[1], a, b, ang), bbox_of([c], max(a, b)), **kw)


def body_sdf(v: Vertebra, sc: Scene):
    """A body's outline: rounded corners, end plates dished towards the body's middle, and walls with a
    waist (anterior deepest on lateral views, both sides on AP). The dishes and waists are placed from
    the current corners (end plates) or from v.origin (walls), so a lesion that moves one end plate
    changes the outline only near that end plate."""
    c = v.corners
    outline = sdf_convex(body_outline(c, 0.22 * min(v.H, v.D)))
    cut = []
    for a, b in ((c[0], c[1]), (c[3], c[2])):
        m, half = (a + b) / 2, 0.4 * np.linalg.norm(b - a)
        cut.append(sdf_ellipse(m[0], m[1], half, 0.07 * v.H, float(np.arctan2(b[1] - a[1], b[0] - a[0]))))
    ant, post = (0.06, 0.025) if sc.view == "lateral" else (0.035, 0.035)
    for side, depth in ((1, ant), (-1, post)):
        m = v.local(side * 0.5 * v.D, 0)
        cut.append(sdf_ellipse(m[0], m[1], depth * v.D, 0.34 * v.H, _ang(v)))

    def f(xs, ys):
        d = outline(xs, ys)
        for g in cut:
            np.maximum(d, -g(xs, ys), out=d)
        return d

    return f


def body_chord(v: Vertebra, lateral: bool):
    """Fill modulation: the path length of the beam through the body's (kidney-shaped) cross-section
    at each point along the body's depth (lateral) or width (AP): thickest in the middle, thinning to
    the rounded anterior (or lateral) walls; flatter at the posterior wall."""
    o, e, half = v.origin, v.e_ant, 0.5 * v.D

    def mod(xs, ys, d):
        u = ((xs - F(o[0])) * F(e[0]) + (ys - F(o[1])) * F(e[1])) / F(half)
        if lateral:  # posterior (u < 0) wall is flat in cross-section: little thinning there
            u = np.where(u < 0, u * F(0.75), u)
        return F(0.3) + F(0.7) * np.sqrt(np.clip(F(1.05) - np.square(u), 0, 1))

    return mod


def body(cv: Canvas, sc: Scene, v: Vertebra) -> None:
    """A vertebral body: cancellous bone with a trabecular pattern whose projected thickness follows the
    body's round cross-section, a thin cortical shell (bright where the beam runs along it: the walls
    and above all the end plates), and denser end plates (endplates())."""
    s, p = cv.s, sc.p
    rim_w = (0.9 if v.kind in ("cervical", "C2") else 1.2) * s
    rim = 0.16 * p["cortex"]
    g = p["ghost"] * np.array([np.cos(p["ghost_dir"]), np.sin(p["ghost_dir"])])
    ghost = np.hypot(*g) > 0.6
    sdf = body_sdf(v, sc)
    pad = 0.1 * max(v.H, v.D)
    box = bbox_of(v.corners, pad)
    cv.paint(sdf, box, density=v.dens * p["osteo"], soft=1.2, rim=rim * (0.6 if ghost else 1.0), rim_w=rim_w,
             tex=0.13 if v.kind in ("lumbar", "thoracic") else 0.09, mod=body_chord(v, sc.view == "lateral"))
    if ghost:  # the left and right halves of the rim do not superimpose exactly
        shifted = body_sdf(v, sc)
        cv.paint(lambda xs, ys: shifted(xs - F(g[0]), ys - F(g[1])), bbox_of(v.corners + g, pad), density=0.0,
                 rim=rim * 0.4, rim_w=rim_w)
    endplates(cv, sc, v)


def _dished(a, b, inward, depth, n=7):
    """Points along an end plate from a to b, sagging `depth` px towards the body in the middle."""
    t = np.linspace(0.06, 0.94, n)[:, None]
    return a + (b - a) * t + inward * depth * (1 - np.square(2 * t - 1))


def endplates(cv: Canvas, sc: Scene, v: Vertebra) -> None:
    """End plates: a dense, slightly dished band just inside each (lateral), or each end plate's far
    rim seen obliquely as a second line (AP); sclerosis (extra["sclerosis"] = (top, bottom)) widens
    and brightens them."""
    s, p = cv.s, sc.p
    mm = s * p["size"]
    ctr = v.origin  # fixed: a lesion moving one end plate must not tilt the other's line
    scl = v.extra.get("sclerosis", (0.0, 0.0))
    pairs = ((v.corners[0], v.corners[1]), (v.corners[3], v.corners[2]))
    dish = 0.065 * v.H if v.kind != "sacrum" else 0.0
    for k, (a, b) in enumerate(pairs[:1] if v.kind == "sacrum" else pairs):
        d = _unit(ctr - (a + b) / 2)
        r = 0.6 * s + 5 * scl[k] * mm
        dens = (0.14 + scl[k]) * p["cortex"]
        if sc.view == "lateral" or scl[k] > 0:
            q = d * (r + 0.5 * s)
            polyline(cv, _dished(a + q, b + q, d, dish), r, density=dens, soft=1.4 * s)
        if sc.view == "ap" and v.kind != "sacrum":
            off = float(np.clip(abs(np.sin(v.tilt)) * 0.22 * v.D, 1.2 * s, 0.28 * v.H))
            q = d * off
            polyline(cv, _dished(a + 0.04 * (b - a) + q, b - 0.04 * (b - a) + q, d, dish), 0.6 * s,
                     density=0.15 * p["cortex"], soft=1.4 * s)


def _unit(v):
    return v / (np.linalg.norm(v) + 1e-12)


def lateral_elements(cv: Canvas, sc: Scene, v: Vertebra) -> None:
    s, D, H = cv.s, v.D, v.H
    da, db = v.disc_above, v.disc_below

    def P(fu, fv):
        return v.local(fu * D, fv * H)

    rw = 1.0 * s
    bone = dict(rim_w=rw, tex=0.12, soft=2.0 * s, dome=0.12 * min(D, H))
    if v.kind in ("lumbar", "thoracic"):
        # Pedicle from the upper posterior body; behind it the articular pillar: its superior process
        # rises in front of the inferior process of the vertebra above (their gap: the facet joint) and
        # its inferior process hangs behind the one below; spinous process. The neural foramen is the
        # dark window between two pedicles, behind the disc.
        convex(cv, [P(-0.44, 0.46), P(-0.76, 0.40), P(-0.78, 0.02), P(-0.44, -0.02)], density=0.32, rim=0.06, **bone)
        vt, vb = 0.5 + 0.8 * da / H, -0.5 - 0.72 * db / H
        pillar = [P(-0.72, vt), P(-0.84, vt - 0.06), P(-1.0, 0.3), P(-1.02, -0.3), P(-0.98, vb), P(-0.88, vb + 0.08),
                  P(-0.76, 0.0)]
        convex(cv, body_outline(np.array(pillar), 0.06 * D), density=0.34, rim=0.07, **bone)
        ellipse(cv, P(-0.66, 0.12), 0.22 * D, 0.13 * H, _ang(v), density=0.07, soft=3 * s)
        if v.kind == "lumbar":  # broad "hatchet" spinous process
            spin = [P(-1.0, 0.30), P(-1.55, 0.22), P(-1.68, 0.06), P(-1.66, -0.30), P(-1.52, -0.40), P(-1.02, -0.36)]
            convex(cv, body_outline(np.array(spin), 0.1 * D), density=0.15, rim=0.05, **bone)
            # Its posterior tip is a thick club of cortex, its root (where the laminae meet) dense too.
            ellipse(cv, P(-1.6, -0.08), 0.09 * D, 0.3 * H, _ang(v), density=0.1, soft=2.5 * s, tex=0.1)
            ellipse(cv, P(-1.08, -0.04), 0.1 * D, 0.34 * H, _ang(v), density=0.1, soft=2.5 * s, tex=0.1)
        else:  # thoracic: long down-sloping spinous process and faint rib heads
            capsule(cv, P(-1.0, 0.0), P(-1.75, -0.75), 0.17 * H, 0.1 * H, density=0.18, rim=0.06, **bone)
            for off in (0.0, 0.15):
                q = P(-1.6 - off, -0.4 + off)
                polyline(cv, [P(-0.55 - off, 0.15 + off), q, q + (P(-2.6, -1.6) - P(-1.6, -0.4))], 0.15 * H,
                         density=0.03, rim=0.07, rim_w=1.5 * s, soft=3 * s)
        return
    # Cervical: short pedicle, rhomboid articular pillar whose oblique top and bottom are facet joints,
    # lamina meeting at the spinolaminar line, down-sloping spinous process.
    c2 = v.kind == "C2"
    convex(cv, [P(-0.45, 0.34), P(-0.72, 0.3), P(-0.74, -0.12), P(-0.45, -0.14)], density=0.28, rim=0.07, **bone)
    up = v.n_up * (H + da - 1.6 * s)
    ab, bb = P(-0.64, -0.44), P(-1.32, -0.9)
    at, bt = ab + up, bb + up
    convex(cv, [at, (at + bt) / 2 + v.e_ant * 0.0, bt, (bt + bb) / 2 - v.e_ant * 0.08 * D, bb, ab,
                (ab + at) / 2 + v.e_ant * 0.08 * D], density=0.3, rim=0.08, **bone)
    convex(cv, [P(-1.2, 0.3), P(-1.58, 0.2), P(-1.62, -0.5), P(-1.25, -0.55)], density=0.26, rim=0.08, **bone)
    L = {"C2": 1.1, "C3": 0.7, "C4": 0.75, "C5": 0.8, "C6": 1.0, "C7": 1.45, "T1": 1.4}.get(v.name, 1.3)
    r0, r1 = (0.38 if c2 else 0.3) * H, (0.18 if v.name in ("C7", "T1", "C2") else 0.1) * H
    capsule(cv, P(-1.4, -0.12), P(-1.45 - L, -0.12 - 0.6 * L), r0, r1, density=0.2, rim=0.07, **bone)
    if c2:  # dens; C1: anterior arch, lateral mass, posterior arch
        capsule(cv, P(-0.1, 0.35), P(-0.12, 1.3), 0.28 * D, 0.2 * D, density=v.dens * 0.9, rim=0.25, **bone)
        ellipse(cv, P(0.62, 1.18), 0.14 * D, 0.3 * H, _ang(v), density=0.25, rim=0.35, **bone)
        ellipse(cv, P(-0.6, 1.15), 0.5 * D, 0.3 * H, _ang(v), density=0.12, rim=0.06, **bone)
        capsule(cv, P(-1.15, 1.25), P(-2.25, 1.12), 0.18 * H, 0.3 * H, density=0.22, rim=0.25, **bone)


def ap_elements(cv: Canvas, sc: Scene, v: Vertebra) -> None:
    s, D, H = cv.s, v.D, v.H

    def P(fu, fv):
        return v.local(fu * D, fv * H)

    ang, rw = _ang(v), 1.3 * s
    if v.kind in ("lumbar", "thoracic"):
        for sg in (-1, 1):
            ellipse(cv, P(0.31 * sg, 0.2), 0.1 * D, 0.21 * H, ang, density=0.14, rim=0.3, rim_w=rw, soft=1.5 * s)
            convex(cv, [P(0.13 * sg, -0.2), P(0.27 * sg, -0.25), P(0.26 * sg, -0.85), P(0.16 * sg, -0.8)],
                   density=0.16, rim=0.05, rim_w=rw, soft=1.8 * s, tex=0.2)  # laminae, inferior articular processes
            if v.kind == "lumbar":
                Lt = {"L1": 14, "L2": 20, "L3": 27, "L4": 23, "L5": 21}[v.name] * sc.p["size"] * s
                r0 = (0.17 if v.name == "L5" else 0.11) * H
                capsule(cv, P(0.4 * sg, 0.1), v.local(sg * (0.5 * D + Lt), 0.2 * H), r0, 0.07 * H,
                        density=0.22, rim=0.08, rim_w=rw, tex=0.2, soft=1.8 * s)
            else:  # ribs sweeping laterally and down
                ts = np.linspace(0, 1, 6)
                pts = [v.local(sg * (0.42 + 0.5 * t) * D * (1 + 1.6 * t), (0.15 - 1.1 * t * t) * H) for t in ts]
                polyline(cv, pts, 0.17 * H, density=0.06, rim=0.16, rim_w=rw, soft=1.5 * s)
        ellipse(cv, P(0, -0.3), 0.07 * D, 0.32 * H, ang, density=0.18, rim=0.12, rim_w=rw, soft=1.5 * s)
        return
    for sg in (-1, 1):  # cervical: uncinate processes, pedicles, lateral-mass column, bifid spinous
        capsule(cv, P(0.46 * sg, 0.38), P(0.5 * sg, 0.6), 0.06 * D, 0.03 * D, density=0.25, rim=0.15, rim_w=rw)
        ellipse(cv, P(0.36 * sg, 0.12), 0.07 * D, 0.2 * H, ang, density=0.06, rim=0.25, rim_w=rw)
        ellipse(cv, P(0.68 * sg, -0.05), 0.2 * D, 0.8 * H, ang, density=0.15, rim=0.04, rim_w=rw, tex=0.08,
                soft=2.5 * s, dome=0.1 * D)
        ellipse(cv, P(0.06 * sg, -0.38), 0.045 * D, 0.12 * H, ang, density=0.08, rim=0.14, rim_w=rw)
    if v.kind == "C2":  # the dens and C1's lateral masses, half hidden behind teeth and mandible
        capsule(cv, P(0, 0.45), P(0, 1.2), 0.2 * D, 0.15 * D, density=v.dens * 0.8, rim=0.2, rim_w=rw, tex=0.3)
        for sg in (-1, 1):
            convex(cv, [P(0.25 * sg, 1.0), P(0.95 * sg, 1.05), P(0.95 * sg, 1.5), P(0.3 * sg, 1.55)],
                   density=0.25, rim=0.2, rim_w=rw, tex=0.2, soft=1.5 * s)


def pelvis(cv: Canvas, sc: Scene, sac: Vertebra) -> None:
    """Sacrum and iliac wings (lumbar)."""
    s, p = cv.s, sc.p
    mm = s * p["size"]
    e, n = sac.e_ant, sac.n_up
    top = 0.5 * (sac.corners0[0] + sac.corners0[1])  # as built: a lesion may move the S1 end plate
    if sc.view == "lateral":
        _lateral_sacrum(cv, sac, top, mm)
        endplates(cv, sc, sac)
        # Iliac wings over L5-S1: a curved bright crest with bone fading below it; the two wings do not
        # superimpose exactly (two offset copies).
        ctr = top + n * (5 + 10 * p["crest"]) * mm - e * 12 * mm
        off = (e * 5 + n * 3) * mm * (0.4 + abs(p["crest"]))
        th = np.linspace(0.22 * np.pi, 0.92 * np.pi, 10)
        for k, o in enumerate((off, -off)):
            arc = [ctr + o + e * 80 * mm * np.cos(t) + n * 42 * mm * np.sin(t) for t in th]
            polyline(cv, arc, 1.6 * s, density=0.16 - 0.04 * k, soft=1.5 * s)
            ellipse(cv, ctr + o - n * 60 * mm, 86 * mm, 104 * mm, 0.0, density=0.1, soft=12 * s, tex=0.06)
        return
    # AP: shield-shaped sacrum with foramina, iliac wings, sacroiliac joints.
    Lp = 80 * mm * np.cos(sac.tilt) + 25 * mm
    w0 = 54 * mm
    shield = [(-w0, 2 * mm), (w0, 2 * mm), (44 * mm, -0.35 * Lp), (24 * mm, -0.75 * Lp), (8 * mm, -Lp),
              (-8 * mm, -Lp), (-24 * mm, -0.75 * Lp), (-44 * mm, -0.35 * Lp)]
    convex(cv, [top + e * u + n * v_ for u, v_ in shield], smooth=1, density=0.2, rim=0.1, rim_w=1.5 * s, tex=0.15,
           dome=14 * s, soft=2 * s)
    for k in range(4):
        for sg in (-1, 1):
            c = top + e * sg * (17 - 2.5 * k) * mm - n * (14 * mm + 0.2 * Lp * k)
            ellipse(cv, c, (5.0 - 0.7 * k) * mm, (4.0 - 0.5 * k) * mm, _ang(sac), density=-0.1, rim=0.1, rim_w=s)
    for sg in (-1, 1):  # iliac wings: a fan with a bright crest, thin in the middle
        wing = [(30, 2), (45, 32), (80, 48 + 8 * p["crest"]), (125, 45), (160, 20), (165, -40), (130, -100),
                (60, -100), (32, -60)]
        convex(cv, [top + (e * sg * u + n * v_) * mm for u, v_ in wing], smooth=1, density=0.15, rim=0.24,
               rim_w=2.6 * s, tex=0.06, dome=25 * s, soft=2 * s)
        # The thick posterior ilium beside the sacroiliac joint (the wing itself is thin in its middle).
        ellipse(cv, top + (e * sg * 62 - n * 55) * mm, 30 * mm, 50 * mm, _ang(sac) + 0.3 * sg, density=0.12,
                soft=10 * s, tex=0.05)
        capsule(cv, top + e * sg * 40 * mm + n * 2 * mm, top + e * sg * 26 * mm - n * 55 * mm, 1.2 * s,
                density=-0.08, soft=2 * s)  # sacroiliac joint line


def _lateral_sacrum(cv: Canvas, sac: Vertebra, top, mm: float) -> None:
    """Five fused segments shrinking along a forward-curving (kyphotic) axis from the S1 end plate; where
    two segments meet their overlapping ends add up to the dense remnant of the fused disc; behind them
    the dorsal wall of the sacral canal."""
    s, e = cv.s, sac.e_ant
    a0, p0 = sac.corners0[0], sac.corners0[1]
    depth = float(np.linalg.norm(a0 - p0))

    def axis(t):  # point on the anterior-posterior middle of the sacrum, t = 0 (S1) .. 1 (tip)
        return top - sac.n_up * 95 * mm * t + e * 14 * mm * t * t

    def across(t):
        tangent = _unit(axis(t + 0.01) - axis(t))
        return np.array([-tangent[1], tangent[0]]) * np.sign(np.dot([-tangent[1], tangent[0]], e))

    ts = np.linspace(0.0, 1.0, 6)
    ends = [(a0, p0)] + [(axis(t) + across(t) * depth * (0.5 - 0.3 * t), axis(t) - across(t) * depth * (0.5 - 0.3 * t))
                         for t in ts[1:]]
    for k in range(5):
        (ua, up), (la, lp) = ends[k], ends[k + 1]
        quad = np.array([ua, up, lp + (lp - up) * 0.1, la + (la - ua) * 0.1])
        convex(cv, body_outline(quad, (0.18 if k == 0 else 0.05) * depth), density=0.17, rim=0.08, rim_w=1.1 * s,
               tex=0.15, dome=3 * s, soft=2 * s)
    back = [axis(t) - across(t) * (depth * (0.5 - 0.3 * t) + (9 - 6 * t) * mm) for t in np.linspace(0.05, 0.85, 6)]
    polyline(cv, back, 3 * mm, density=0.14, rim=0.05, rim_w=s, tex=0.15, soft=2 * s)
    # The alae, seen end-on through the upper sacrum and its canal.
    c = axis(0.3) - across(0.3) * 0.35 * depth
    ellipse(cv, c, 0.55 * depth, 32 * mm, float(np.arctan2(e[1], e[0])), density=0.07, soft=14 * s, tex=0.05)


def neck_bones(cv: Canvas, sc: Scene) -> None:
    """Skull base, mastoid and mandible above; clavicles and first ribs below (cervical)."""
    s = cv.s
    mm = s * sc.p["size"]
    c2 = next(v for v in sc.verts if v.name == "C2")
    base = sc.verts[-2]
    e, n = c2.e_ant, c2.n_up
    D, H = c2.D, c2.H
    cortex = dict(rim_w=2.2 * s, tex=0.2, soft=1.5 * s)
    if sc.view == "lateral":
        # Skull: vault and occiput above and behind C1 (dense outer table), mastoid; the face in front.
        op = c2.local(-1.6 * D, 2.35 * H)  # just above the posterior arch of C1
        ellipse(cv, op + n * 70 * mm - e * 5 * mm, 100 * mm, 72 * mm, _ang(c2) - 0.35, density=0.26, rim=0.45,
                rim_w=3.5 * s, tex=0.1, soft=2 * s, dome=12 * s)
        ellipse(cv, c2.local(1.0 * D, 2.6 * H) + n * 40 * mm + e * 40 * mm, 75 * mm, 55 * mm, 0.2, density=0.18,
                soft=10 * s, tex=0.1)  # maxilla and face
        ellipse(cv, c2.local(-1.0 * D, 3.0 * H), 12 * mm, 9 * mm, 0.6, density=0.12, rim=0.06, soft=3 * s, tex=0.2)
        # Mandible: ramus from the condyle down to the angle, body running forwards (cortex bright).
        cond, ang = c2.local(1.6 * D, 3.0 * H), c2.local(2.5 * D, -1.0 * H)
        convex(cv, [cond - e * 4 * mm, cond + e * 8 * mm, ang + e * 20 * mm + n * 4 * mm, ang + e * 6 * mm - n * 4 * mm,
                    ang - e * 3 * mm + n * 6 * mm], smooth=2, density=0.04, rim=0.16, **cortex)
        convex(cv, [ang - e * 3 * mm + n * 6 * mm, ang + e * 6 * mm - n * 4 * mm, ang + e * 90 * mm - n * 2 * mm,
                    ang + e * 90 * mm + n * 26 * mm, ang + e * 20 * mm + n * 24 * mm], smooth=2, density=0.1, rim=0.3,
               **cortex)
        hy = next(v for v in sc.verts if v.name == "C3").local(2.6 * D, -0.5 * H)
        capsule(cv, hy, hy + e * 11 * mm + n * 2 * mm, 2.0 * mm, density=0.2, rim=0.15, rim_w=s)
        return
    # AP: occiput across the top; mandible (U-shaped body, rami) and a row of teeth over C1-C3.
    top = c2.local(0, 1.5 * H)
    ellipse(cv, top + n * 52 * mm, 115 * mm, 55 * mm, _ang(c2), density=0.3, rim=0.25, rim_w=4 * s, soft=5 * s)

    def arc(u, v0):
        return top + (e * u + n * (v0 + 0.0075 * u * u)) * mm

    jaw = [arc(u, -24) for u in np.linspace(-47, 47, 11)]
    jaw = [jaw[0] + n * 30 * mm - e * 3 * mm] + jaw + [jaw[-1] + n * 30 * mm + e * 3 * mm]
    polyline(cv, jaw, 5.5 * mm, density=0.16, rim=0.35, **cortex)
    for u in np.linspace(-28, 28, 14):
        ellipse(cv, arc(u, -6), 2.4 * mm, 5 * mm, _ang(c2) + 0.02 * u, density=0.35, rim=0.12, rim_w=s, soft=1.5 * s)
    low = base.local(0, -0.1 * base.H)
    for sg in (-1, 1):
        med = low + e * sg * 24 * mm
        polyline(cv, [med, med + (e * sg * 45 + n * 6) * mm, med + (e * sg * 95 + n * 24) * mm,
                      med + (e * sg * 140 + n * 30) * mm], 6.5 * mm, density=0.2, rim=0.35, **cortex)
        r0 = base.local(sg * 0.55 * base.D, 0.9 * base.H)
        polyline(cv, [r0, r0 + (e * sg * 30 + n * 8) * mm, r0 + (e * sg * 62 - n * 12) * mm], 4.5 * mm,
                 density=0.08, rim=0.25, **cortex)


def draw_bones(cv: Canvas, sc: Scene) -> None:
    for v in sc.verts:
        if v.kind != "sacrum":
            body(cv, sc, v)
        if v.kind == "sacrum":
            pelvis(cv, sc, v)
        elif sc.view == "lateral":
            lateral_elements(cv, sc, v)
        else:
            ap_elements(cv, sc, v)
    if sc.region == "cervical":
        neck_bones(cv, sc)
