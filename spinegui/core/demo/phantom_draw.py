"""Drawing primitives for the procedural radiograph (phantom.py): pure numpy, vectorised.

Shapes are signed-distance fields (pixels, negative inside) evaluated only over their bounding
sub-window, turned into a projected attenuation ("how much stuff the beam crosses") and summed into a
Canvas. Pixel (i, j) covers [j, j+1) x [i, i+1); coordinates are continuous (x, y) with y down.
"""

from __future__ import annotations

import numpy as np

F = np.float32


class Canvas:
    """A projected-attenuation map plus the bookkeeping shapes need (scale, bone texture)."""

    def __init__(self, height: int, width: int, px_per_mm: float, tex_rng: np.random.Generator):
        self.h, self.w, self.s = height, width, float(px_per_mm)
        self.mu = np.zeros((height, width), F)
        self.metal: np.ndarray | None = None  # implants and lead, kept apart for processing (phantom._expose)
        self._tex_rng = tex_rng
        self._tex: np.ndarray | None = None

    def window(self, x0: float, y0: float, x1: float, y1: float):
        """Clipped window covering the box [x0, x1] x [y0, y1]: (slices, xs row, ys column) or None."""
        xa, xb = max(int(np.floor(x0)), 0), min(int(np.ceil(x1)) + 1, self.w)
        ya, yb = max(int(np.floor(y0)), 0), min(int(np.ceil(y1)) + 1, self.h)
        if xa >= xb or ya >= yb:
            return None
        xs = np.arange(xa, xb, dtype=F) + F(0.5)
        ys = (np.arange(ya, yb, dtype=F) + F(0.5))[:, None]
        return (slice(ya, yb), slice(xa, xb)), xs, ys

    def texture(self, sl) -> np.ndarray:
        """Mottled cancellous-bone texture (mean 0, std ~1) over a window; a periodic ~75 mm tile."""
        if self._tex is None:
            n, s, r = max(32, int(75 * self.s)), self.s, self._tex_rng
            def noise(kx, ky):  # white noise blurred over kx x ky mm (periodic)
                return blur(r.standard_normal((n, n), dtype=F), max(1, round(kx * s)), max(1, round(ky * s)), True,
                            fast=True)

            # Trabeculae: band-passed noise pushed through a soft threshold gives a network of struts
            # and holes ~1-2 mm across, stretched vertically (load-bearing plates run cranio-caudally),
            # over a coarser mottle.
            band = noise(0.7, 1.5) - 0.8 * noise(2.0, 3.5)
            struts = np.tanh(1.1 * band / (band.std() + 1e-6))
            coarse = noise(4.0, 5.0)
            t = struts / (struts.std() + 1e-6) + 0.45 * coarse / (coarse.std() + 1e-6)
            self._tex = (t / t.std()).astype(F)
        n = self._tex.shape[0]
        ys = np.arange(sl[0].start, sl[0].stop) % n
        xs = np.arange(sl[1].start, sl[1].stop) % n
        return self._tex[np.ix_(ys, xs)]

    def paint(self, sdf, bbox, density=1.0, soft=1.0, rim=0.0, rim_w=1.0, dome=0.0, tex=0.0, mod=None, metal=False):
        """Add one shape. sdf(xs, ys) -> signed distance (px); bbox = (x0, y0, x1, y1) of the shape.

        density: attenuation of the filled interior; dome: depth (px) over which the fill rises from
        the edge (a rounded, cylinder-like body), 0 = flat; rim: extra attenuation of a cortical band
        of width rim_w just inside the edge; tex: strength of the cancellous mottle; mod(xs, ys, d):
        optional multiplicative modulation of the fill; metal: goes to the metal layer. Returns the painted box."""
        pad = soft + 2
        win = self.window(bbox[0] - pad, bbox[1] - pad, bbox[2] + pad, bbox[3] + pad)
        if win is None:
            return bbox
        sl, xs, ys = win
        d = sdf(xs, ys)
        if dome > 0:
            fill = np.sqrt(np.clip((F(0.5 * soft) - d) / F(dome + soft), 0, 1))
        else:
            fill = np.clip(F(0.5) - d / F(soft), 0, 1)
        if mod is not None:
            fill = fill * mod(xs, ys, d)
        val = fill * F(density)
        if tex:
            val *= 1 + F(tex) * self.texture(sl)
        if rim:
            val += F(rim) * np.exp(-np.square((d + F(rim_w)) / F(rim_w)))
        if metal and self.metal is None:
            self.metal = np.zeros_like(self.mu)
        (self.metal if metal else self.mu)[sl] += val
        return bbox


# ---------------------------------------------------------------- signed distance fields


def sdf_convex(verts):
    """Signed distance to a convex polygon (vertices (n, 2) in either order) as the largest signed
    distance to its edge lines: exact inside, slightly sharp-cornered outside, and cheap: each edge
    costs one broadcast add and one maximum over the window."""
    v = np.asarray(verts, dtype=float)
    area = np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1])
    e = np.roll(v, -1, axis=0) - v
    n = np.stack([e[:, 1], -e[:, 0]], 1) * (1 if area > 0 else -1)
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
    c = np.sum(n * v, axis=1)
    n, c = n.astype(F), c.astype(F)

    def f(xs, ys):
        d = (xs * n[0, 0] - c[0]) + ys * n[0, 1]
        for i in range(1, len(n)):
            np.maximum(d, (xs * n[i, 0] - c[i]) + ys * n[i, 1], out=d)
        return d

    return f


def sdf_ellipse(cx, cy, a, b, ang=0.0):
    """Approximate signed distance to a rotated ellipse (first-order, good near the edge)."""
    c, s = F(np.cos(ang)), F(np.sin(ang))

    def f(xs, ys):
        dx, dy = xs - F(cx), ys - F(cy)
        u, v = dx * c + dy * s, -dx * s + dy * c
        r = np.sqrt(np.square(u / F(a)) + np.square(v / F(b)))
        g = np.sqrt(np.square(u / F(a * a)) + np.square(v / F(b * b))) + F(1e-6)
        return (r - 1) * r / g

    return f


def sdf_capsule(p, q, r0, r1=None):
    """Signed distance to a (tapered) capsule from p (radius r0) to q (radius r1)."""
    r1 = r0 if r1 is None else r1
    px, py = F(p[0]), F(p[1])
    ex, ey = F(q[0] - p[0]), F(q[1] - p[1])
    ee = F(ex * ex + ey * ey + 1e-9)

    def f(xs, ys):
        wx, wy = xs - px, ys - py
        t = np.clip((wx * ex + wy * ey) / ee, 0, 1)
        return np.sqrt(np.square(wx - ex * t) + np.square(wy - ey * t)) - (F(r0) + F(r1 - r0) * t)

    return f


def sdf_polyline(points, r, band):
    """Signed distance to a thick open polyline of radius r, as a union (joints do not double up).
    Each segment is evaluated only within `band` px of itself; elsewhere the result is `band`."""
    pts = [np.asarray(q, float) for q in points]

    def f(xs, ys):
        d = np.full((ys.shape[0], xs.shape[0]), band, F)
        x0, y0 = float(xs[0]), float(ys[0, 0])
        for a, b in zip(pts[:-1], pts[1:]):
            lo, hi = np.minimum(a, b) - r - band, np.maximum(a, b) + r + band
            i0, i1 = max(int(lo[1] - y0), 0), max(int(np.ceil(hi[1] - y0)) + 1, 0)
            j0, j1 = max(int(lo[0] - x0), 0), max(int(np.ceil(hi[0] - x0)) + 1, 0)
            if i1 > i0 and j1 > j0 and i0 < d.shape[0] and j0 < d.shape[1]:
                sub = d[i0:i1, j0:j1]
                np.minimum(sub, sdf_capsule(a, b, r)(xs[j0:j1], ys[i0:i1]), out=sub)
        return d

    return f


def capsule_t(p, q):
    """Position along a capsule's axis (0 at p, 1 at q, unclipped): for modulations such as threads."""
    ex, ey = q[0] - p[0], q[1] - p[1]
    ee = ex * ex + ey * ey + 1e-9
    return lambda xs, ys: ((xs - F(p[0])) * F(ex) + (ys - F(p[1])) * F(ey)) / F(ee)


def bbox_of(points, r=0.0):
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    return (p[:, 0].min() - r, p[:, 1].min() - r, p[:, 0].max() + r, p[:, 1].max() + r)


def union_box(boxes):
    b = np.array(boxes, dtype=float)
    return (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())


# ---------------------------------------------------------------- whole-image helpers


def blur(a: np.ndarray, kx: int, ky: int, wrap: bool = False, passes: int = 2, fast: bool = False) -> np.ndarray:
    """Separable box blur (repeated: ~Gaussian) of widths kx, ky. Short boxes are sums of shifted
    copies; long ones use float64 running sums. Either way a change to the input only changes the
    output within the kernel's reach (no rounding drift along the rows); fast=True (float32 running
    sums) gives that up, for arrays that do not depend on the lesions."""
    out = a.astype(F, copy=False)
    for axis, k in ((1, kx), (0, ky)):
        if k <= 1:
            continue
        for _ in range(passes):
            lo, hi = k // 2, k - k // 2
            pad = [(0, 0), (0, 0)]
            n = out.shape[axis]
            if k <= 5:
                pad[axis] = (lo, hi - 1)
                p = np.pad(out, pad, mode="wrap" if wrap else "edge")
                acc = np.zeros_like(out)
                for j in range(k):
                    acc += p[:, j: j + n] if axis == 1 else p[j: j + n]
                out = acc / F(k)
                continue
            pad[axis] = (lo + 1, hi)
            p = np.pad(out, pad, mode="wrap" if wrap else "edge")
            c = np.cumsum(p, axis=axis, dtype=F if fast else np.float64)
            if axis == 1:
                out = ((c[:, k: k + n] - c[:, :n]) / k).astype(F)
            else:
                out = ((c[k: k + n] - c[:n]) / k).astype(F)
    return out


def smooth_field(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth random field (mean 0, std ~1) with features ~cell px, bilinear-upsampled via matmuls."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    g = rng.standard_normal((gh, gw)).astype(F)

    def interp(n, m):
        pos = np.linspace(0, m - 1, n, dtype=F)
        i0 = np.minimum(pos.astype(int), m - 2)
        t = pos - i0
        mat = np.zeros((n, m), F)
        mat[np.arange(n), i0] = 1 - t
        mat[np.arange(n), i0 + 1] = t
        return mat

    out = interp(h, gh) @ g @ interp(w, gw).T
    return out / (out.std() + 1e-6)
