"""Write a demo dataset with exactly VinDr-SpineXR's layout, file format and CSV schema.

Every image is a procedural radiograph (phantom.py) with its lesions drawn inside their boxes, stored
as VinDr stores it: JPEG 2000 lossless, 12 bits stored in 16, MONOCHROME2, window tags, 32-hex UIDs
with image_id = file stem = SOPInstanceUID. Every file says it is synthetic (ImageType DERIVED, a
SYNTHETIC DEMO series description) and holds no patient data. Deterministic by seed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from spinegui.core.dataset.vindr import COLUMNS, LESION_TYPES, NO_FINDING
from spinegui.core.dataset.workspace import atomic_write_bytes
from spinegui.core.errors import InputError

# Share of abnormal images showing each lesion (docs/VINDR.md, train: images per class / 4,129 abnormal),
# and boxes per image of that class (boxes / images): the demo keeps VinDr's imbalance by default.
VINDR_IMAGE_SHARE = {
    "Osteophytes": 3575 / 4129,
    "Disc space narrowing": 602 / 4129,
    "Other lesions": 333 / 4129,
    "Surgical implant": 257 / 4129,
    "Foraminal stenosis": 271 / 4129,
    "Spondylolysthesis": 257 / 4129,
    "Vertebral collapse": 157 / 4129,
}
BOXES_PER_IMAGE = {
    "Osteophytes": 12556 / 3575,
    "Disc space narrowing": 924 / 602,
    "Other lesions": 446 / 333,
    "Surgical implant": 429 / 257,
    "Foraminal stenosis": 387 / 271,
    "Spondylolysthesis": 280 / 257,
    "Vertebral collapse": 268 / 157,
}
VINDR_ABNORMAL_SHARE = 4129 / 8389
TEST_STUDY_SHARE = 0.2  # 1,000 of 5,000 studies
CLASS_MIXES = ("vindr", "balanced")
DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
SERIES_DESCRIPTION = "SYNTHETIC DEMO"


@dataclass(frozen=True)
class DemoImagePlan:
    index: int
    split: str
    study_id: str
    series_id: str
    image_id: str
    region: str
    view: str
    height: int
    width: int
    lesions: tuple[str, ...]
    rad_id: str
    second_reader: str | None
    seed: int


def uid_hex(seed: int, *parts: object) -> str:
    """A deterministic 32-character lowercase hex id, like VinDr's."""
    return hashlib.md5(":".join(map(str, (seed, *parts))).encode()).hexdigest()


def plan_dataset(n_images: int, seed: int = 0, full_size: bool = False,
                 class_mix: str = "vindr") -> list[DemoImagePlan]:
    if n_images < 1:
        raise InputError(None, f"--images must be at least 1 (got {n_images})")
    if class_mix not in CLASS_MIXES:
        raise InputError(None, f"unknown class mix {class_mix!r}; choose one of {', '.join(CLASS_MIXES)}")
    rng = np.random.default_rng([seed, 0xDE30])
    plans: list[DemoImagePlan] = []
    study = 0
    while len(plans) < n_images:
        study_id = uid_hex(seed, "study", study)
        split = "test" if rng.random() < TEST_STUDY_SHARE else "train"
        region = "lumbar" if rng.random() < 0.7 else "cervical"
        # VinDr averages ~2 images per study: usually a lateral and an AP view.
        views = ["lateral", "ap"] if rng.random() < 0.85 else ["lateral"]
        for k, view in enumerate(views[: n_images - len(plans)]):
            i = len(plans)
            h, w = _image_size(rng, full_size, region)
            plans.append(
                DemoImagePlan(
                    index=i,
                    split=split,
                    study_id=study_id,
                    series_id=uid_hex(seed, "series", study, k),
                    image_id=uid_hex(seed, "image", study, k),
                    region=region,
                    view=view,
                    height=h,
                    width=w,
                    lesions=_draw_lesions(rng, class_mix, i),
                    rad_id=f"rad{rng.integers(1, 4)}",
                    second_reader=f"rad{rng.integers(4, 6)}" if rng.random() < 0.05 else None,
                    seed=int(rng.integers(0, 2**31)),
                )
            )
        study += 1
    return plans


def _image_size(rng: np.random.Generator, full_size: bool, region: str) -> tuple[int, int]:
    if full_size:  # VinDr: height 815-4243 (median 2874), width 675-4061 (median 1243)
        h = int(rng.integers(2300, 3300))
    else:
        h = int(rng.integers(896, 1152))
    aspect = rng.uniform(0.42, 0.62) if region == "lumbar" else rng.uniform(0.6, 0.85)
    return h, int(h * aspect) // 2 * 2


def _draw_lesions(rng: np.random.Generator, class_mix: str, i: int) -> tuple[str, ...]:
    if class_mix == "balanced":
        # The 8 classes (No finding included) in turn, so that any 8 consecutive images hold them all.
        k = i % (len(LESION_TYPES) + 1)
        return () if k == len(LESION_TYPES) else (LESION_TYPES[k],)
    if rng.random() >= VINDR_ABNORMAL_SHARE:
        return ()
    found: list[str] = []
    for lesion, share in VINDR_IMAGE_SHARE.items():
        if rng.random() < share:
            n = max(1, int(rng.poisson(BOXES_PER_IMAGE[lesion] - 1) + 1)) if lesion == "Osteophytes" else 1
            found.extend([lesion] * min(n, 5))
    if not found:
        # Abnormal but no class drawn: pick one by VinDr's frequencies.
        shares = np.array(list(VINDR_IMAGE_SHARE.values()))
        found.append(list(VINDR_IMAGE_SHARE)[rng.choice(len(shares), p=shares / shares.sum())])
    return tuple(found)


def render_demo_image(out_dir: str, plan: DemoImagePlan) -> list[list[str]]:
    """Render, encode and write one DICOM; returns its CSV rows. Runs in a worker process."""
    from spinegui.core.demo.phantom import PhantomSpec, render_phantom

    rng = np.random.default_rng(plan.seed)
    spec = PhantomSpec(plan.height, plan.width, plan.region, plan.view, plan.lesions)
    pixels, boxes = render_phantom(spec, rng)
    path = Path(out_dir) / f"{plan.split}_images" / f"{plan.image_id}.dicom"
    atomic_write_bytes(path, encode_dicom(pixels, plan))
    base = [plan.study_id, plan.series_id, plan.image_id]
    if not boxes:
        return [base + [plan.rad_id, NO_FINDING, "", "", "", ""]]
    rows = [base + [plan.rad_id, t, *(f"{v:.2f}" for v in xyxy)] for t, xyxy in boxes]
    if plan.second_reader:  # a second radiologist boxing the same lesions slightly differently
        jitter = np.random.default_rng(plan.seed + 1)
        for t, (x0, y0, x1, y1) in boxes:
            dx, dy = jitter.normal(0, 0.03, 2) * [x1 - x0, y1 - y0]
            x0n, x1n = np.clip([x0 + dx, x1 + dx], 0, plan.width)
            y0n, y1n = np.clip([y0 + dy, y1 + dy], 0, plan.height)
            rows.append(base + [plan.second_reader, t, *(f"{v:.2f}" for v in (x0n, y0n, x1n, y1n))])
    return rows


def encode_dicom(pixels: np.ndarray, plan: DemoImagePlan) -> bytes:
    from pydicom.config import disable_value_validation
    from pydicom.dataset import Dataset

    from spinegui.core.dicom.writer import encode_j2k_lossless

    # VinDr's UIDs are 32-hex strings, not dotted numbers; we reproduce that on purpose.
    with disable_value_validation():
        ds = Dataset()
        ds.SOPClassUID = DX_FOR_PRESENTATION
        ds.SOPInstanceUID = plan.image_id
        # VinDr's own files carry no Modality (docs/VINDR.md); the DX IOD requires it, and viewers show it.
        ds.Modality = "DX"
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.SeriesNumber, ds.InstanceNumber = "1", "1"  # every image is its own series
        ds.StudyInstanceUID = plan.study_id
        ds.SeriesInstanceUID = plan.series_id
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.SeriesDescription = SERIES_DESCRIPTION
        ds.DerivationDescription = f"spinegui procedural phantom, seed {plan.seed}; not a patient image"
        ds.BurnedInAnnotation = "NO"
        ds.Manufacturer = "spinegui demo generator"
        ds.ManufacturerModelName = "procedural phantom"
        ds.PatientName = ""  # no patient data: type-2 attributes present but empty
        ds.PatientID = ""
        ds.BodyPartExamined = "LSPINE" if plan.region == "lumbar" else "CSPINE"
        ds.ViewPosition = "LL" if plan.view == "lateral" else "AP"
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        fov_mm = 380.0 if plan.region == "lumbar" else 230.0
        spacing = round(fov_mm / plan.height, 4)
        ds.PixelSpacing = [spacing, spacing]
        ds.ImagerPixelSpacing = [spacing, spacing]  # no magnification modelled: detector = patient plane
        lo, hi = np.percentile(pixels[:: 4, :: 4], [1, 99.5])
        ds.WindowCenter = f"{(lo + hi) / 2:.1f}"
        ds.WindowWidth = f"{max(hi - lo, 1):.1f}"
        ds.RescaleIntercept, ds.RescaleSlope = "0", "1"
    return encode_j2k_lossless(ds, pixels)


def generate_demo_dataset(
    out: str | Path,
    n_images: int = 300,
    seed: int = 0,
    full_size: bool = False,
    class_mix: str = "vindr",
    workers: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[DemoImagePlan]:
    """Write the whole dataset to `out` (created; must be empty or absent)."""
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(out, "already exists and is not an empty folder; choose a new one")
    plans = plan_dataset(n_images, seed, full_size, class_mix)
    for sub in ("annotations", "train_images", "test_images"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rows_by_image: dict[int, list[list[str]]] = {}
    workers = max(1, min(workers or os.cpu_count() or 1, len(plans)))
    if workers == 1:
        for p in plans:
            rows_by_image[p.index] = render_demo_image(str(out), p)
            if progress:
                progress(len(rows_by_image), len(plans), p.image_id)
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            results = pool.map(render_demo_image, [str(out)] * len(plans), plans, chunksize=4)
            for p, rows in zip(plans, results):
                rows_by_image[p.index] = rows
                if progress:
                    progress(len(rows_by_image), len(plans), p.image_id)
    for split in ("train", "test"):
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS)
        for p in plans:
            if p.split == split:
                writer.writerows(rows_by_image[p.index])
        atomic_write_bytes(out / "annotations" / f"{split}.csv", buf.getvalue().encode("utf-8"))
    return plans
