"""Spine geometry for the procedural radiograph: a lordotic chain of vertebrae placed in the frame.

Geometry is built in millimetres as a sagittal chain from the sacrum (lumbar) or T1 (cervical)
upwards (disc wedges make the lordosis), then converted to pixels. Lateral views show the chain as is
(anterior = +x here; phantom.py may mirror the finished image); AP views keep the chain's heights and
endplate tilts and lay the bodies out around a slightly scoliotic midline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# name, body height ant/post (mm), depth (mm), AP width (mm), mean height of the disc below (mm),
# lordotic angle of the disc below and of the body (weights, scaled to the patient's lordosis).
LUMBAR = [  # listed bottom (above the sacrum) to top
    ("L5", 30.0, 26.0, 46.0, 52.0, 10.5, 0.2, 0.12),
    ("L4", 29.5, 28.0, 45.0, 50.0, 11.5, 0.19, 0.05),
    ("L3", 29.0, 28.5, 44.0, 48.0, 11.0, 0.15, 0.02),
    ("L2", 28.0, 28.5, 42.0, 45.0, 10.0, 0.13, 0.0),
    ("L1", 26.5, 28.0, 40.0, 42.0, 9.0, 0.09, 0.0),
    ("T12", 24.5, 26.5, 37.0, 40.0, 7.0, -0.02, -0.04),
    ("T11", 23.0, 25.0, 34.0, 38.0, 6.0, -0.03, -0.05),
    ("T10", 22.0, 24.0, 32.0, 36.0, 5.5, -0.03, -0.05),
    ("T9", 21.0, 23.0, 31.0, 34.0, 5.0, -0.03, -0.05),
]
CERVICAL = [  # bottom (T2) to top (C2); C1 and the dens are drawn with C2
    ("T2", 17.5, 18.0, 20.0, 28.0, 4.0, -0.04, -0.05),
    ("T1", 16.5, 17.0, 19.0, 28.0, 4.5, 0.02, 0.0),
    ("C7", 14.5, 15.0, 17.0, 26.0, 5.0, 0.14, 0.04),
    ("C6", 13.5, 14.0, 16.5, 25.0, 5.5, 0.16, 0.04),
    ("C5", 13.5, 14.0, 16.0, 24.0, 5.5, 0.16, 0.04),
    ("C4", 14.0, 14.0, 16.0, 23.0, 5.0, 0.15, 0.04),
    ("C3", 14.0, 14.0, 16.0, 22.0, 4.5, 0.15, 0.04),
    ("C2", 16.0, 16.0, 16.5, 21.0, 4.0, 0.04, 0.0),
]


@dataclass
class Vertebra:
    name: str
    kind: str  # "lumbar" | "thoracic" | "cervical" | "C2" | "sacrum"
    corners: np.ndarray  # (4, 2) px. lateral: ant-sup, post-sup, post-inf, ant-inf; AP: left/right
    origin: np.ndarray  # body centre (px) where the posterior elements hang (moves on a slip)
    e_ant: np.ndarray  # unit, corner 1 -> corner 0: anterior (lateral) or image-left (AP)
    n_up: np.ndarray  # unit: cranial
    H: float  # body height, px
    D: float  # body depth (lateral) / width (AP), px
    tilt: float  # sagittal endplate tilt (rad): the AP view's double endplate contours
    disc_above: float = 0.0  # px
    disc_below: float = 0.0
    dens: float = 0.55
    extra: dict = field(default_factory=dict)  # lesion tweaks: {"sclerosis": (top, bottom)}

    def __post_init__(self):
        self.corners0 = self.corners.copy()  # as built, before any lesion reshaped or moved it

    def local(self, u, v):
        """Image point at (u, v) in the body frame (u anterior, v cranial), px."""
        return self.origin + self.e_ant * u + self.n_up * v

    def sup_mid(self):
        return 0.5 * (self.corners[0] + self.corners[1])

    def inf_mid(self):
        return 0.5 * (self.corners[2] + self.corners[3])


@dataclass
class Scene:
    region: str
    view: str
    h: int
    w: int
    s: float  # px per mm
    verts: list  # top to bottom; the last one is the sacrum (lumbar) or T2 (cervical)
    field: tuple  # collimated field (x0, y0, x1, y1, angle) px
    p: dict  # per-image soft-tissue and acquisition parameters

    def inside(self, pts, margin_mm=3.0) -> bool:
        """Whether points lie inside the exposed (collimated) field, with a margin."""
        x0, y0, x1, y1, ang = self.field
        m = margin_mm * self.s
        c = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        d = np.asarray(pts, float).reshape(-1, 2) - c
        ca, sa = np.cos(ang), np.sin(ang)
        u, v = d[:, 0] * ca + d[:, 1] * sa, -d[:, 0] * sa + d[:, 1] * ca
        ok = (np.abs(u) < (x1 - x0) / 2 - m) & (np.abs(v) < (y1 - y0) / 2 - m)
        return bool(ok.all())

    def visible_bodies(self) -> list[int]:
        return [i for i, v in enumerate(self.verts) if v.kind != "sacrum" and self.inside(v.corners)]

    def visible_discs(self) -> list[int]:
        """Indices i such that the disc between verts[i] and verts[i + 1] is in the field."""
        return [i for i in range(len(self.verts) - 1)
                if self.inside(self.verts[i].corners[2:]) and self.inside(self.verts[i + 1].corners[:2])]


def _unit(v):
    return v / np.linalg.norm(v)


def _perp_up(e):
    return np.array([e[1], -e[0]])  # anterior/right-pointing unit e -> cranial normal (y is down)


def build_scene(region: str, view: str, h: int, w: int, rng: np.random.Generator) -> Scene:
    lumbar = region == "lumbar"
    fov = rng.uniform(330, 410) if lumbar else rng.uniform(175, 230)  # frame height, mm
    s = h / fov
    size = rng.uniform(0.88, 1.12)
    table = LUMBAR if lumbar else CERVICAL
    lord = np.radians(rng.uniform(40, 60) if lumbar else rng.uniform(12, 38))
    slope = np.radians(np.clip(0.55 * np.degrees(lord) + rng.normal(6, 4), 25, 45) if lumbar
                       else np.clip(0.55 * np.degrees(lord) + rng.normal(8, 4), 15, 40))
    raw, base_corners = _sagittal_chain(table, lumbar, size, lord, slope, rng)
    to_px, rot = _frame_transform(raw, lumbar, view, h, w, s, rng)
    verts = _place_bodies(raw, view, s, to_px)
    verts.append(_base_vertebra(base_corners, verts[-1], lumbar, view, size, s, slope, to_px))
    for v in verts:
        v.dens = rng.uniform(0.85, 1.15) * (0.5 if view == "lateral" else 0.42)
    fld, p = _exposure(verts, h, w, s, size, rot, rng)
    return Scene(region, view, h, w, s, verts, fld, p)


def _sagittal_chain(table: list, lumbar: bool, size: float, lord: float, slope: float,
                    rng: np.random.Generator) -> tuple[list, tuple]:
    """The chain in mm (x anterior, y down) from the base endplate upwards: (name, AP width mm, corners
    mm, endplate tilt, disc below mm) per vertebra, bottom to top, and the base endplate's corners."""
    e = np.array([np.cos(slope), np.sin(slope)])
    base_c, base_D = np.zeros(2), (48.0 if lumbar else 20.0) * size
    post = base_c - e * base_D / 2
    base_corners = (post.copy(), post + e * base_D)
    raw = []
    prev_D = base_D
    for name, ha, hp, depth, width, disc, w_disc, w_body in table:
        ha, hp, depth, width, disc = (x * size * rng.uniform(0.95, 1.05) for x in (ha, hp, depth, width, disc))
        a = lord * w_disc
        # The disc: posterior walls stay aligned; the anterior side is taller by the wedge angle.
        n = _perp_up(e)
        p_post = post + n * (disc - prev_D / 2 * np.tan(a))
        p_ant = post + e * prev_D + n * (disc + prev_D / 2 * np.tan(a))
        e = _unit(p_ant - p_post)
        n = _perp_up(e)
        b = lord * w_body
        ha, hp = (ha + hp) / 2 + depth / 2 * np.tan(b), (ha + hp) / 2 - depth / 2 * np.tan(b)
        pi, ai = p_post, p_post + e * depth
        ps, as_ = pi + n * hp, ai + n * ha
        raw.append((name, width, np.array([as_, ps, pi, ai]), np.arctan2(e[1], e[0]), disc))
        e = _unit(as_ - ps)
        post, prev_D = ps, depth
    return raw, base_corners


def _frame_transform(raw: list, lumbar: bool, view: str, h: int, w: int, s: float,
                     rng: np.random.Generator) -> tuple[Callable, float]:
    """mm -> px, and the rotation (rad). Places L3 / C5 at a random spot near the middle (lateral: a
    little right of centre, leaving room for the posterior elements), everything slightly rotated."""
    idx = [r[0] for r in raw].index("L3" if lumbar else "C5")
    target = np.array([w * rng.uniform(0.52, 0.62) if view == "lateral" else w * rng.uniform(0.46, 0.54),
                       h * ((0.47 if lumbar else 0.56) + rng.uniform(-0.07, 0.07))])
    rot = np.radians(rng.normal(0, 2.5))
    R = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
    centre_mm = raw[idx][2].mean(axis=0)

    if view == "lateral":
        def to_px(p):
            return (np.asarray(p) - centre_mm) @ R.T * s + target
    else:
        # AP: keep heights, lay bodies on a gently curved (scoliotic) midline.
        bend, phase = rng.normal(0, 6.0), rng.uniform(0, np.pi)

        def to_px(p):
            p = np.asarray(p, float)
            y = p[..., 1] - centre_mm[1]
            x = bend * np.sin(y / 120.0 + phase) - bend * np.sin(phase)
            return np.stack([x, y], -1) @ R.T * s + target
    return to_px, rot


def _place_bodies(raw: list, view: str, s: float, to_px: Callable) -> list[Vertebra]:
    """The chain's vertebrae in pixels, top to bottom, each knowing the discs above and below it."""
    verts: list[Vertebra] = []
    for name, width, c_mm, tilt, disc in raw:
        kind = "cervical" if name.startswith("C") else ("lumbar" if name.startswith("L") else "thoracic")
        kind = "C2" if name == "C2" else kind
        if view == "lateral":
            c = to_px(c_mm)
        else:
            mid = c_mm.mean(axis=0)
            hh = 0.25 * (np.linalg.norm(c_mm[0] - c_mm[3]) + np.linalg.norm(c_mm[1] - c_mm[2])) * np.cos(tilt)
            ctr = to_px(mid)
            n = _unit(ctr - to_px(mid + [0, 1.0]))  # cranial direction in px
            ex = np.array([-n[1], n[0]])  # image-right
            c = np.array([ctr + (-ex * width / 2 + n * hh) * s, ctr + (ex * width / 2 + n * hh) * s,
                          ctr + (ex * width / 2 - n * hh) * s, ctr + (-ex * width / 2 - n * hh) * s])
        e_ant = _unit(c[0] - c[1])
        n_up = _unit(0.5 * (c[0] + c[1]) - 0.5 * (c[2] + c[3]))
        H = 0.5 * (np.linalg.norm(c[0] - c[3]) + np.linalg.norm(c[1] - c[2]))
        Dp = 0.5 * (np.linalg.norm(c[0] - c[1]) + np.linalg.norm(c[3] - c[2]))
        verts.append(Vertebra(name, kind, c, c.mean(axis=0), e_ant, n_up, H, Dp, tilt, disc_below=disc * s))
    verts.reverse()  # top to bottom
    for upper, lower in zip(verts[:-1], verts[1:]):
        lower.disc_above = upper.disc_below
    verts[0].disc_above = verts[0].disc_below
    return verts


def _base_vertebra(base_corners: tuple, lowest: Vertebra, lumbar: bool, view: str, size: float, s: float,
                   slope: float, to_px: Callable) -> Vertebra:
    """The base: the sacrum (lumbar) or T3 stub (cervical), hung off the base endplate under `lowest`."""
    bp, ba = base_corners
    if view == "lateral":
        bc = to_px([ba, bp])
        e_b = _unit(bc[0] - bc[1])
    else:
        mid = to_px((bp + ba) / 2)
        n = lowest.n_up
        e_b = np.array([-n[1], n[0]])
        half = (52.0 if lumbar else 30.0) * size * s / 2
        bc = np.array([mid - e_b * half, mid + e_b * half])  # left first, like the bodies
        e_b = -e_b
    n_b = _perp_up(e_b) if view == "lateral" else lowest.n_up
    Hb = (30.0 if lumbar else 17.0) * size * s
    Db = np.linalg.norm(bc[0] - bc[1])
    corners = np.array([bc[0], bc[1], bc[1] - n_b * Hb, bc[0] - n_b * Hb])
    return Vertebra("S1" if lumbar else "T3", "sacrum" if lumbar else "thoracic", corners,
                    corners.mean(axis=0), e_b, n_b, Hb, Db, float(slope), disc_above=lowest.disc_below,
                    disc_below=(4.0 * s))


def _exposure(verts: list[Vertebra], h: int, w: int, s: float, size: float, rot: float,
              rng: np.random.Generator) -> tuple[tuple, dict]:
    """The exposed field (usually most of the frame, sometimes a visibly collimated, rotated rectangle)
    and the per-image soft-tissue and acquisition parameters."""
    m = [rng.uniform(0.0, 0.06) if rng.random() < 0.45 else -0.02 for _ in range(4)]
    fld = (m[0] * w, m[1] * h, w * (1 - m[2]), h * (1 - m[3]), np.radians(rng.normal(0, 1.2)))
    p = {
        "size": size, "rot": rot, "ghost": rng.uniform(0.0, 1.6) * s, "ghost_dir": rng.uniform(0, 2 * np.pi),
        "soft": rng.uniform(0.85, 1.25), "skin_post": rng.uniform(20, 55) * s, "skin_ant": rng.uniform(-40, 70) * s,
        "gas": int(rng.integers(2, 9)), "cortex": rng.uniform(0.75, 1.3), "osteo": rng.uniform(0.8, 1.15),
        "crest": rng.uniform(-0.4, 0.4), "marker": str(rng.choice(["", "L", "R"], p=[0.4, 0.3, 0.3])),
        "marker_pos": rng.uniform(0.05, 0.2, 2), "marker_left": bool(verts[0].origin[0] > w / 2),
    }
    return fld, p


def body_outline(c: np.ndarray, chamfer: float) -> np.ndarray:
    """Outline through a convex polygon's corners (a body's 4) with each corner rounded over `chamfer` px
    (a quadratic curve between the points `chamfer` px along both edges). Depends on each corner and
    its edges' directions only, so sliding one end plate along the walls leaves the far corners exactly
    as they were."""
    out = []
    for i in range(len(c)):
        p, q, r = c[i - 1], c[i], c[(i + 1) % len(c)]
        u_in = (q - p) / (np.linalg.norm(q - p) + 1e-9)
        u_out = (r - q) / (np.linalg.norm(r - q) + 1e-9)
        ch = min(chamfer, 0.45 * np.linalg.norm(q - p), 0.45 * np.linalg.norm(r - q))
        a, b = q - u_in * ch, q + u_out * ch
        out += [a, 0.25 * a + 0.5 * q + 0.25 * b, b]
    return np.array(out)
