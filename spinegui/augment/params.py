"""Random parameters for n images, drawn at once (numpy, vectorised), and the warps they define.

Every parameter is drawn for every image in a fixed order whatever is enabled, so moving one knob
never reshuffles the others: a student dragging "shear" sees the same rotation as before.
Geometry is size-free (angles, fractions, factors); ``warp_matrices`` turns it into pixel matrices
for a given image size, so a 512-px preview and the full image get the same transform.

Coordinates are continuous: pixel (i, j) covers [i, i+1) x [j, j+1), as in torchvision.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from spinegui.augment.knobs import TRANSFORM_KNOBS, is_enabled

REFERENCE_SIZE = 512     # pixel-valued knobs (elastic, blur) are in pixels of a 512-pixel image
ELASTIC_GRID = 64        # the elastic field is drawn on a coarse grid and upsampled: size-free


@dataclass
class Params:
    """Arrays of length n (perspective: n x 4 x 2). Off transforms hold their identity value."""
    angle: np.ndarray
    k90: np.ndarray
    hflip: np.ndarray
    vflip: np.ndarray
    scale: np.ndarray
    tx: np.ndarray
    ty: np.ndarray
    shear: np.ndarray
    perspective: np.ndarray
    crop_area: np.ndarray
    crop_ratio: np.ndarray
    crop_u: np.ndarray
    crop_v: np.ndarray
    elastic_alpha: np.ndarray
    elastic_seed: np.ndarray
    brightness: np.ndarray
    contrast: np.ndarray
    gamma: np.ndarray
    noise: np.ndarray
    noise_seed: np.ndarray
    blur: np.ndarray
    elastic_sigma: float = 32.0

    @property
    def n(self) -> int:
        return len(self.angle)

    def has_perspective(self) -> bool:
        return bool(np.any(self.perspective))

    def has_elastic(self) -> bool:
        return bool(np.any(self.elastic_alpha > 0))

    def has_intensity(self) -> bool:
        return bool(np.any(self.brightness) or np.any(self.contrast != 1) or np.any(self.gamma != 1)
                    or np.any(self.noise) or np.any(self.blur))

    def record(self, i: int) -> dict:
        """The i-th image's parameters that differ from the identity, JSON-able (the run record)."""
        identity = {"angle": 0, "k90": 0, "hflip": False, "vflip": False, "scale": 1, "tx": 0, "ty": 0,
                    "shear": 0, "crop_area": 1, "elastic_alpha": 0, "brightness": 0, "contrast": 1,
                    "gamma": 1, "noise": 0, "blur": 0}
        out: dict = {}
        for f in fields(self):
            if f.name in ("elastic_sigma", "crop_ratio", "crop_u", "crop_v", "elastic_seed", "noise_seed"):
                continue
            value = getattr(self, f.name)[i]
            if f.name == "perspective":
                if np.any(value):
                    out["perspective"] = np.round(value, 5).tolist()
                continue
            value = value.item()
            if value != identity[f.name]:
                out[f.name] = round(value, 5) if isinstance(value, float) else value
        if "k90" in out:
            out["rotation_fixed"] = out.pop("k90") * 90
        if "crop_area" in out:
            out.update(crop_ratio=round(float(self.crop_ratio[i]), 5), crop_u=round(float(self.crop_u[i]), 5),
                       crop_v=round(float(self.crop_v[i]), 5))
        if "elastic_alpha" in out:
            out.update(elastic_sigma=self.elastic_sigma, elastic_seed=int(self.elastic_seed[i]))
        if "noise" in out:
            out["noise_seed"] = int(self.noise_seed[i])
        return out


def draw(config: dict, n: int, rng: np.random.Generator) -> Params:
    """Parameters for n images from a validated config."""
    u = lambda lo_hi: rng.uniform(lo_hi[0], lo_hi[1], n)  # noqa: E731
    angles = np.array(config["rotation_fixed"] or (0,), dtype=np.int64)
    c_lo, c_hi = config["crop_ratio"]
    p = Params(
        angle=u(config["rotation"]),
        # one uniform per image whatever the number of angles, so ticking one never shifts later draws
        k90=(angles[np.minimum((rng.random(n) * len(angles)).astype(int), len(angles) - 1)] // 90).astype(np.int64),
        hflip=rng.random(n) < config["hflip"],
        vflip=rng.random(n) < config["vflip"],
        scale=u(config["scale"]),
        tx=rng.uniform(-1, 1, n) * config["translate"],
        ty=rng.uniform(-1, 1, n) * config["translate"],
        shear=u(config["shear"]),
        perspective=rng.random((n, 4, 2)) * config["perspective"],
        crop_area=u(config["crop"]),
        crop_ratio=np.exp(rng.uniform(np.log(c_lo), np.log(c_hi), n)),
        crop_u=rng.random(n),
        crop_v=rng.random(n),
        elastic_alpha=np.full(n, float(config["elastic_alpha"])),
        elastic_seed=rng.integers(0, 2**31, n),
        brightness=rng.uniform(-1, 1, n) * config["brightness"],
        contrast=1 + rng.uniform(-1, 1, n) * config["contrast"],
        gamma=u(config["gamma"]),
        noise=np.full(n, float(config["noise"])),
        noise_seed=rng.integers(0, 2**31, n),
        blur=u(config["blur"]),
        elastic_sigma=float(config["elastic_sigma"]),
    )
    on = _active(config, p, rng)
    _switch_off(p, on)
    return p


def _candidates(config: dict) -> list[tuple[str, int | None]]:
    out: list[tuple[str, int | None]] = []
    for name in TRANSFORM_KNOBS:
        if not is_enabled(config, name):
            continue
        if name == "rotation_fixed":
            out += [(name, a // 90) for a in config[name]]
        else:
            out.append((name, None))
    return out


def _active(config: dict, p: Params, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = p.n
    pick = rng.random(n)   # drawn always, so "all" and "one-of" share every other draw
    if config["mode"] == "all":
        return {name: np.full(n, is_enabled(config, name)) for name in TRANSFORM_KNOBS}
    cands = _candidates(config)
    on = {name: np.zeros(n, bool) for name in TRANSFORM_KNOBS}
    if not cands:
        return on
    chosen = np.minimum((pick * len(cands)).astype(int), len(cands) - 1)
    for index, (name, k) in enumerate(cands):
        mask = chosen == index
        on[name] |= mask
        if k is not None:
            p.k90[mask] = k
    # A chosen flip is applied (its probability only enables it in one-of mode).
    p.hflip[on["hflip"]] = True
    p.vflip[on["vflip"]] = True
    return on


def _switch_off(p: Params, on: dict[str, np.ndarray]) -> None:
    identity = {"rotation": ("angle", 0.0), "rotation_fixed": ("k90", 0), "hflip": ("hflip", False),
                "vflip": ("vflip", False), "scale": ("scale", 1.0), "shear": ("shear", 0.0),
                "crop": ("crop_area", 1.0), "elastic_alpha": ("elastic_alpha", 0.0),
                "brightness": ("brightness", 0.0), "contrast": ("contrast", 1.0), "gamma": ("gamma", 1.0),
                "noise": ("noise", 0.0), "blur": ("blur", 0.0)}
    for name, (attr, value) in identity.items():
        getattr(p, attr)[~on[name]] = value
    p.crop_ratio[~on["crop"]] = 1.0
    p.tx[~on["translate"]] = 0.0
    p.ty[~on["translate"]] = 0.0
    p.perspective[~on["perspective"]] = 0.0


# ---- geometry -------------------------------------------------------------------------------------

def _eye(n: int) -> np.ndarray:
    return np.repeat(np.eye(3)[None], n, axis=0)


def _translation(tx, ty) -> np.ndarray:
    m = _eye(len(tx))
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def output_sizes(p: Params, h: int, w: int) -> np.ndarray:
    """(n, 2) output (height, width): 90/270 swap them."""
    odd = (p.k90 % 2) == 1
    return np.stack([np.where(odd, w, h), np.where(odd, h, w)], axis=1)


def forward_matrices(p: Params, h: int, w: int) -> np.ndarray:
    """(n, 3, 3) maps input points to output points: crop, affine, flips, right angles, perspective."""
    n = p.n
    # crop window in the input, resized back to (w, h); the aspect is clamped so that neither side
    # exceeds the image, which keeps the area exact
    ratio = np.clip(p.crop_ratio, p.crop_area, 1 / p.crop_area)
    cw = np.minimum(w * np.sqrt(p.crop_area * ratio), w)
    ch = np.minimum(h * np.sqrt(p.crop_area / ratio), h)
    crop = _eye(n)
    crop[:, 0, 0], crop[:, 1, 1] = w / cw, h / ch
    crop = crop @ _translation(-p.crop_u * (w - cw), -p.crop_v * (h - ch))
    # rotation (counter-clockwise on screen, y down), shear, scale about the centre, then translate
    a, s = np.radians(p.angle), np.radians(p.shear)
    lin = _eye(n)
    lin[:, 0, 0], lin[:, 0, 1], lin[:, 1, 0], lin[:, 1, 1] = np.cos(a), np.sin(a), -np.sin(a), np.cos(a)
    shear = _eye(n)
    shear[:, 0, 1] = np.tan(s)
    scale = _eye(n)
    scale[:, 0, 0] = scale[:, 1, 1] = p.scale
    cx, cy = np.full(n, w / 2), np.full(n, h / 2)
    affine = _translation(cx + p.tx * w, cy + p.ty * h) @ lin @ shear @ scale @ _translation(-cx, -cy)
    flip = _eye(n)
    flip[:, 0, 0] = np.where(p.hflip, -1, 1)
    flip[:, 0, 2] = np.where(p.hflip, w, 0)
    flip[:, 1, 1] = np.where(p.vflip, -1, 1)
    flip[:, 1, 2] = np.where(p.vflip, h, 0)
    m = flip @ affine @ crop
    m = _right_angles(p.k90, h, w) @ m
    if p.has_perspective():
        m = _perspective(p.perspective, output_sizes(p, h, w)) @ m
    return m


def _right_angles(k: np.ndarray, h: int, w: int) -> np.ndarray:
    """Exact counter-clockwise quarter turns of the w x h canvas (as numpy.rot90)."""
    table = {0: [[1, 0, 0], [0, 1, 0]], 1: [[0, 1, 0], [-1, 0, w]],
             2: [[-1, 0, w], [0, -1, h]], 3: [[0, -1, h], [1, 0, 0]]}
    m = _eye(len(k))
    for turns, rows in table.items():
        m[k % 4 == turns, :2] = rows
    return m


def _perspective(amount: np.ndarray, out_hw: np.ndarray) -> np.ndarray:
    """Corners move inwards by amount x half the size (torchvision RandomPerspective's model)."""
    h, w = out_hw[:, 0].astype(float), out_hw[:, 1].astype(float)
    z = np.zeros_like(w)
    src = np.stack([np.stack([z, z], 1), np.stack([w, z], 1), np.stack([w, h], 1), np.stack([z, h], 1)], 1)
    sign = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], float)
    half = np.stack([w / 2, h / 2], 1)[:, None, :]
    dst = src + sign[None] * amount * half
    return homography(src, dst)


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(n, 3, 3) H with H @ src_i ~ dst_i for four point pairs per image."""
    n = len(src)
    a = np.zeros((n, 8, 8))
    b = np.zeros((n, 8))
    for i in range(4):
        x, y = src[:, i, 0], src[:, i, 1]
        u, v = dst[:, i, 0], dst[:, i, 1]
        a[:, 2 * i] = np.stack([x, y, np.ones(n), 0 * x, 0 * x, 0 * x, -u * x, -u * y], 1)
        a[:, 2 * i + 1] = np.stack([0 * x, 0 * x, 0 * x, x, y, np.ones(n), -v * x, -v * y], 1)
        b[:, 2 * i], b[:, 2 * i + 1] = u, v
    coeffs = np.linalg.solve(a, b[..., None])[..., 0]
    return np.concatenate([coeffs, np.ones((n, 1))], 1).reshape(n, 3, 3)


def inverse_matrices(p: Params, h: int, w: int) -> np.ndarray:
    """(n, 3, 3) maps output points back to input points (what a warp samples), last entry 1."""
    inv = np.linalg.inv(forward_matrices(p, h, w))
    return inv / inv[:, 2:3, 2:3]


def elastic_fields(p: Params, out_h: int, out_w: int) -> np.ndarray | None:
    """(n, 2, gh, gw) coarse displacement fields in output pixels (dx, dy), or None when off.

    Drawn on a fixed ELASTIC_GRID x ELASTIC_GRID grid and stretched to the output by the warp, so
    the field, like the rest of the geometry, does not depend on the image size.
    """
    if not p.has_elastic():
        return None
    import cv2

    longer = max(out_h, out_w)
    gh = gw = ELASTIC_GRID
    sigma = p.elastic_sigma * ELASTIC_GRID / REFERENCE_SIZE
    fields_ = np.zeros((p.n, 2, gh, gw), np.float32)
    for i in np.flatnonzero(p.elastic_alpha > 0):
        noise = np.random.default_rng(int(p.elastic_seed[i])).uniform(-1, 1, (2, gh, gw)).astype(np.float32)
        smooth = np.stack([cv2.GaussianBlur(c, (0, 0), sigma, borderType=cv2.BORDER_REFLECT) for c in noise])
        peak = float(np.abs(smooth).max()) or 1.0
        fields_[i] = smooth / peak * p.elastic_alpha[i] * longer / REFERENCE_SIZE
    return fields_
