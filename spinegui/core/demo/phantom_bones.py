"""Bones of the procedural radiograph: vertebral bodies, posterior elements, sacrum/pelvis, skull base.

Every function adds projected attenuation to a Canvas (phantom_draw.py) from a Scene's geometry
(phantom_anatomy.py). Vertebra-local sizes are fractions of the body's depth D (u, anterior or
image-left) and height H (v, cranial); other sizes are millimetres times `mm`.
"""

from __future__ import annotations

import numpy as np

from spinegui.core.demo.phantom_anatomy import Scene, Vertebra, body_outline
from spinegui.core.demo.phantom_draw import Canvas, bbox_of, sdf_capsule, sdf_convex, sdf_ellipse, sdf_polyline


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


def body(cv: Canvas, sc: Scene, v: Vertebra) -> None:
    """A vertebral body: domed cancellous fill with mottle, cortical rim, denser endplates."""
    s, p = cv.s, sc.p
    pts = body_outline(v.corners, 0.07 * min(v.H, v.D))
    rim_w = (0.8 if v.kind in ("cervical", "C2") else 1.0) * s
    rim = 0.26 * p["cortex"]
    g = p["ghost"] * np.array([np.cos(p["ghost_dir"]), np.sin(p["ghost_dir"])])
    ghost = np.hypot(*g) > 0.6
    convex(cv, pts, density=v.dens * p["osteo"], soft=1.0, dome=0.3 * min(v.H, v.D),
           rim=rim * (0.6 if ghost else 1.0), rim_w=rim_w, tex=0.14)
    if ghost:  # the left and right halves of the rim do not superimpose exactly
        convex(cv, pts + g, density=0.0, rim=rim * 0.45, rim_w=rim_w)
    endplates(cv, sc, v)


def endplates(cv: Canvas, sc: Scene, v: Vertebra) -> None:
    """End plates: a dense line just inside each (lateral), or each end plate's far rim seen obliquely
    as a second line (AP); sclerosis (extra["sclerosis"] = (top, bottom)) widens and brightens them."""
    s, p = cv.s, sc.p
    mm = s * p["size"]
    ctr = v.origin  # fixed: a lesion moving one end plate must not tilt the other's line
    scl = v.extra.get("sclerosis", (0.0, 0.0))
    pairs = ((v.corners[0], v.corners[1]), (v.corners[3], v.corners[2]))
    for k, (a, b) in enumerate(pairs[:1] if v.kind == "sacrum" else pairs):
        d = _unit(ctr - (a + b) / 2)
        r = 0.7 * s + 5 * scl[k] * mm
        dens = (0.12 + scl[k]) * p["cortex"]
        if sc.view == "lateral" or scl[k] > 0:
            q = d * (r + 0.4 * s)
            capsule(cv, a + 0.07 * (b - a) + q, b - 0.07 * (b - a) + q, r, density=dens, soft=1.2 * s)
        if sc.view == "ap" and v.kind != "sacrum":
            off = float(np.clip(abs(np.sin(v.tilt)) * 0.22 * v.D, 1.2 * s, 0.28 * v.H))
            q = d * off
            capsule(cv, a + 0.1 * (b - a) + q, b - 0.1 * (b - a) + q, 0.6 * s, density=0.19 * p["cortex"],
                    soft=1.2 * s)


def _unit(v):
    return v / (np.linalg.norm(v) + 1e-12)


def lateral_elements(cv: Canvas, sc: Scene, v: Vertebra) -> None:
    s, D, H = cv.s, v.D, v.H
    da, db = v.disc_above, v.disc_below

    def P(fu, fv):
        return v.local(fu * D, fv * H)

    rw = 1.0 * s
    bone = dict(rim_w=rw, tex=0.2, soft=1.3 * s)
    if v.kind in ("lumbar", "thoracic"):
        # Pedicle from the upper posterior body; behind it the articular pillar: its superior process
        # rises in front of the inferior process of the vertebra above (their gap: the facet joint) and
        # its inferior process hangs behind the one below; spinous process. The neural foramen is the
        # dark window between two pedicles, behind the disc.
        convex(cv, [P(-0.44, 0.46), P(-0.76, 0.40), P(-0.78, 0.02), P(-0.44, -0.02)], density=0.26, rim=0.1, **bone)
        vt, vb = 0.5 + 0.8 * da / H, -0.5 - 0.72 * db / H
        pillar = [P(-0.72, vt), P(-0.84, vt - 0.06), P(-1.0, 0.3), P(-1.02, -0.3), P(-0.98, vb), P(-0.88, vb + 0.08),
                  P(-0.76, 0.0)]
        convex(cv, body_outline(np.array(pillar), 0.04 * D), density=0.26, rim=0.12, **bone)
        ellipse(cv, P(-0.66, 0.12), 0.22 * D, 0.13 * H, _ang(v), density=0.07, soft=3 * s)
        if v.kind == "lumbar":  # broad "hatchet" spinous process
            spin = [P(-1.0, 0.30), P(-1.55, 0.22), P(-1.68, 0.06), P(-1.66, -0.30), P(-1.52, -0.40), P(-1.02, -0.36)]
            convex(cv, body_outline(np.array(spin), 0.08 * D), density=0.1, rim=0.1, **bone)
        else:  # thoracic: long down-sloping spinous process and faint rib heads
            capsule(cv, P(-1.0, 0.0), P(-1.75, -0.75), 0.17 * H, 0.1 * H, density=0.12, rim=0.13, **bone)
            for off in (0.0, 0.15):
                q = P(-1.6 - off, -0.4 + off)
                polyline(cv, [P(-0.55 - off, 0.15 + off), q, q + (P(-2.6, -1.6) - P(-1.6, -0.4))], 0.15 * H,
                         density=0.03, rim=0.07, rim_w=1.5 * s, soft=3 * s)
        return
    # Cervical: short pedicle, rhomboid articular pillar whose oblique top and bottom are facet joints,
    # lamina meeting at the spinolaminar line, down-sloping spinous process.
    c2 = v.kind == "C2"
    convex(cv, [P(-0.45, 0.34), P(-0.72, 0.3), P(-0.74, -0.12), P(-0.45, -0.14)], density=0.22, rim=0.12, **bone)
    up = v.n_up * (H + da - 1.6 * s)
    ab, bb = P(-0.64, -0.44), P(-1.32, -0.9)
    at, bt = ab + up, bb + up
    convex(cv, [at, (at + bt) / 2 + v.e_ant * 0.0, bt, (bt + bb) / 2 - v.e_ant * 0.08 * D, bb, ab,
                (ab + at) / 2 + v.e_ant * 0.08 * D], density=0.22, rim=0.15, **bone)
    convex(cv, [P(-1.2, 0.3), P(-1.58, 0.2), P(-1.62, -0.5), P(-1.25, -0.55)], density=0.2, rim=0.18, **bone)
    L = {"C2": 1.1, "C3": 0.7, "C4": 0.75, "C5": 0.8, "C6": 1.0, "C7": 1.45, "T1": 1.4}.get(v.name, 1.3)
    r0, r1 = (0.38 if c2 else 0.3) * H, (0.18 if v.name in ("C7", "T1", "C2") else 0.1) * H
    capsule(cv, P(-1.4, -0.12), P(-1.45 - L, -0.12 - 0.6 * L), r0, r1, density=0.12, rim=0.16, **bone)
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
            ellipse(cv, P(0.31 * sg, 0.2), 0.1 * D, 0.21 * H, ang, density=0.08, rim=0.42, rim_w=rw)
            convex(cv, [P(0.13 * sg, -0.2), P(0.27 * sg, -0.25), P(0.26 * sg, -0.85), P(0.16 * sg, -0.8)],
                   density=0.08, rim=0.06, rim_w=rw, soft=1.5 * s)  # laminae, inferior articular processes
            if v.kind == "lumbar":
                Lt = {"L1": 14, "L2": 20, "L3": 27, "L4": 23, "L5": 21}[v.name] * sc.p["size"] * s
                r0 = (0.17 if v.name == "L5" else 0.11) * H
                capsule(cv, P(0.4 * sg, 0.1), v.local(sg * (0.5 * D + Lt), 0.2 * H), r0, 0.07 * H,
                        density=0.2, rim=0.16, rim_w=rw, tex=0.2, soft=1.3 * s)
            else:  # ribs sweeping laterally and down
                ts = np.linspace(0, 1, 6)
                pts = [v.local(sg * (0.42 + 0.5 * t) * D * (1 + 1.6 * t), (0.15 - 1.1 * t * t) * H) for t in ts]
                polyline(cv, pts, 0.17 * H, density=0.06, rim=0.16, rim_w=rw, soft=1.5 * s)
        ellipse(cv, P(0, -0.3), 0.07 * D, 0.32 * H, ang, density=0.12, rim=0.22, rim_w=rw)
        return
    for sg in (-1, 1):  # cervical: uncinate processes, pedicles, lateral-mass column, bifid spinous
        capsule(cv, P(0.46 * sg, 0.38), P(0.5 * sg, 0.6), 0.06 * D, 0.03 * D, density=0.25, rim=0.15, rim_w=rw)
        ellipse(cv, P(0.36 * sg, 0.12), 0.07 * D, 0.2 * H, ang, density=0.06, rim=0.25, rim_w=rw)
        ellipse(cv, P(0.68 * sg, -0.05), 0.2 * D, 0.62 * H, ang, density=0.16, rim=0.16, rim_w=rw, tex=0.2,
                soft=1.5 * s)
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
        # One tapering piece along the S1 axis, its tip bent a little forwards.
        ax = -n
        a0, p0 = sac.corners0[0], sac.corners0[1]
        tip = top + ax * 95 * mm + e * 14 * mm
        outline = [a0, p0, p0 + (ax * 30 - e * 3) * mm, tip - e * 7 * mm, tip + e * 3 * mm,
                   a0 + (ax * 50 + e * 1) * mm]
        convex(cv, body_outline(np.array(outline), 3 * mm), density=0.28, rim=0.2, rim_w=1.3 * s, tex=0.12,
               dome=4 * s, soft=1.2 * s)
        for t in (0.3, 0.55, 0.75):  # fused segment lines
            q = top + ax * 95 * mm * t + e * 14 * mm * t * t
            half = (a0 - p0) / 2 * (1 - 0.6 * t)
            capsule(cv, q + half * 0.85, q - half * 0.85, 0.9 * s, density=0.1, soft=1.5 * s)
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
    convex(cv, [top + e * u + n * v_ for u, v_ in shield], smooth=1, density=0.17, rim=0.2, rim_w=1.5 * s, tex=0.25,
           dome=10 * s)
    for k in range(4):
        for sg in (-1, 1):
            c = top + e * sg * (17 - 2.5 * k) * mm - n * (14 * mm + 0.2 * Lp * k)
            ellipse(cv, c, (5.0 - 0.7 * k) * mm, (4.0 - 0.5 * k) * mm, _ang(sac), density=-0.1, rim=0.1, rim_w=s)
    for sg in (-1, 1):  # iliac wings: a fan with a bright crest, thin in the middle
        wing = [(30, 2), (45, 32), (80, 48 + 8 * p["crest"]), (125, 45), (160, 20), (165, -40), (130, -100),
                (60, -100), (32, -60)]
        convex(cv, [top + (e * sg * u + n * v_) * mm for u, v_ in wing], smooth=1, density=0.08, rim=0.34,
               rim_w=2.6 * s, tex=0.1, dome=25 * s, soft=1.5 * s)
        capsule(cv, top + e * sg * 40 * mm + n * 2 * mm, top + e * sg * 26 * mm - n * 55 * mm, 1.2 * s,
                density=-0.08, soft=2 * s)  # sacroiliac joint line


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
