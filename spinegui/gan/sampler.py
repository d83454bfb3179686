"""Synthetic X-rays from a GAN run, written as a dataset in the VinDr layout (or as PNGs).

Labelling: a GAN sample is an image-level example of its class with no located lesion, so its CSV
row carries the class with a box over the whole image (a "No finding" sample gets VinDr's empty
"No finding" row). Each sample is its own study, with rad_id "gan". Every file says SYNTHETIC in its
name, in ImageType/SeriesDescription (DICOM) or its text chunks (PNG), and carries its provenance:
run, model, class, epoch, seed, index.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from spinegui import __version__
from spinegui.core import outdir
from spinegui.core import run_events as E
from spinegui.core.dataset.vindr import COLUMNS, NO_FINDING
from spinegui.core.dataset.workspace import atomic_write_bytes
from spinegui.core.errors import InputError
from spinegui.core.ids import safe_id
from spinegui.core.limits import check_count, read_toml
from spinegui.gan import checkpoint as ck
from spinegui.gan.models import NOISE_DIM, build
from spinegui.gan.spec import MAX_EPOCHS

DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
OUTPUT_KIND = "sample"      # what core/outdir.py's list in the output folder names
BITS = 12
MAX_SAMPLES = 20_000   # images per class and call: more than VinDr-SpineXR has in all (held in memory at once)


@dataclass
class Model:
    name: str
    classes: list[str]
    meta: dict
    full: Path
    snapshots: list[Path]


@dataclass
class SampleReport:
    out: Path
    written: dict[str, int] = field(default_factory=dict)
    epochs: dict[str, list[int]] = field(default_factory=dict)


def run_models(run_dir: str | Path) -> list[Model]:
    run_dir = Path(run_dir)
    ckpt = run_dir / "checkpoints"
    if not run_dir.is_dir():
        raise InputError(run_dir, "no such run folder")
    models = []
    for full in sorted(ckpt.glob("*_full.safetensors")):
        _, meta = ck.read(full)   # checks the metadata and that every weight is finite
        models.append(Model(meta["model"], list(meta["classes"]), meta, full, ck.snapshots(ckpt, meta["model"])))
    if not models:
        raise InputError(run_dir, "this run has no GAN checkpoint yet")
    return models


def _generator(path: Path, meta: dict) -> torch.nn.Module:
    tensors, _ = ck.read(path)
    g, _ = build(meta["arch"], meta["size"], meta["width"], meta["n_classes"])
    # a full checkpoint holds the trained generator (G) and, when averaging, its average (E), which
    # is what samples come from; snapshots hold only the generator to sample from, as G
    ck.load_module(g, tensors, "E" if any(k.startswith("E.") for k in tensors) else "G", path)
    return g.eval()


def generate(path: Path, meta: dict, n: int, label: int, seed: int, device: torch.device | None = None
             ) -> np.ndarray:
    """n images (uint16, 12-bit) from one checkpoint; deterministic given the seed. `device`: where the
    generator runs (the experiment samples on its training device; the noise is drawn on the CPU, so
    the images depend on the seed alone up to the device's arithmetic)."""
    meta = ck.check_meta(path, meta)
    n = check_count("the number of images", n, 0, 2**31 - 1)   # sample_run caps it; experiments size it
    label = check_count("the class index", label, 0, meta["n_classes"] - 1)
    device = torch.device("cpu") if device is None else torch.device(device)
    g = _generator(path, meta).to(device)
    gen = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for start in range(0, n, 64):
            m = min(64, n - start)
            z = torch.randn(m, NOISE_DIM, generator=gen).to(device)
            y = torch.full((m,), label, dtype=torch.long, device=device)
            x = g(z, y)[:, 0].clamp(-1, 1)
            out.append(((x + 1) / 2 * (2**BITS - 1)).round().to(torch.int32).cpu().numpy().astype(np.uint16))
    return np.concatenate(out) if out else np.zeros((0, meta["size"], meta["size"]), np.uint16)


def sample_run(run_dir, n: int, out, *, class_name: str | None = None, last_epochs: int = 0, seed: int = 0,
               fmt: str = "dicom", overwrite: bool = False) -> SampleReport:
    run_dir, out = Path(run_dir), Path(out)
    n = check_count("--n", n, 1, MAX_SAMPLES)
    last_epochs = check_count("--last-epochs", last_epochs, 0, MAX_EPOCHS)
    if fmt not in ("dicom", "png"):
        raise InputError(None, f"--format must be dicom or png, got {fmt!r}")
    models = run_models(run_dir)
    targets = [(m, c) for m in models for c in m.classes if class_name in (None, c)]
    if not targets:
        have = sorted({c for m in models for c in m.classes})
        raise InputError(run_dir, f"no model of class '{class_name}' in this run (have: {', '.join(have)})")
    if last_epochs:   # snapshots to harvest: checked (metadata, finite weights) before anything is written
        for model in {id(m): m for m, _ in targets}.values():
            for snap in model.snapshots[-last_epochs:]:
                ck.read(snap)
    out = _prepare(out, overwrite, fmt, run_dir)
    report = SampleReport(out)
    rows: list[list[str]] = []
    run_id = run_dir.resolve().name
    for model, cls in targets:
        sources = _sources(model, last_epochs)
        label = model.classes.index(cls) if model.meta["n_classes"] > 1 else 0
        shares = np.array_split(np.arange(n), len(sources))
        report.epochs[cls] = []
        for (path, epoch), share in zip(sources, shares):
            if len(share) == 0:
                continue
            # per model and class, so per-class models do not share their noise
            draw_seed = (seed * 1000003 + int(epoch) * 101 + label
                         + int(hashlib.sha1(f"{model.name}/{cls}".encode()).hexdigest()[:6], 16)) % 2**62
            images = generate(path, model.meta, len(share), label, draw_seed)
            report.epochs[cls].append(int(epoch))
            for k, pixels in zip(share, images):
                prov = {"synthetic": True, "generator": "spinegui GAN", "run": run_id, "model": model.name,
                        "class": cls, "epoch": int(epoch), "seed": draw_seed, "index": int(k),
                        "arch": model.meta["arch"], "spinegui_version": __version__}
                image_id = f"syn-gan-{ck.model_slug(cls)}-e{int(epoch):05d}-{int(k):05d}"
                _write(out, fmt, image_id, pixels, prov, rows, cls)
            report.written[cls] = report.written.get(cls, 0) + len(share)
    if fmt == "dicom":
        _write_csvs(out, rows)
    atomic_write_bytes(out / "sample_report.json", json.dumps(
        {"run": str(run_dir), "written": report.written, "epochs": report.epochs, "seed": seed,
         "last_epochs": last_epochs, "labelling": __doc__.split("Labelling: ")[1].split("\n\n")[0]},
        indent=1).encode("utf-8"))
    outdir.seal(out, OUTPUT_KIND)   # the list that lets --overwrite replace this output, and nothing else
    return report


def _sources(model: Model, last_epochs: int) -> list[tuple[Path, int]]:
    if last_epochs > 0:
        snaps = model.snapshots[-last_epochs:]
        if not snaps:
            raise InputError(model.full, "no generator snapshots kept; sample from the last checkpoint")
        return [(p, int(ck.read_meta(p)["epoch"])) for p in snaps]   # checked sidecars, size-capped
    return [(model.full, int(model.meta["epoch"]))]


def _prepare(out: Path, overwrite: bool, fmt: str, run_dir: Path) -> Path:
    """The output folder by the rule of spinegui/core/outdir.py: never the run sampled (nor a folder
    holding it) or its dataset; a folder that is not empty only with overwrite, and only an earlier
    `spinegui sample` output, of which exactly the files it wrote are deleted."""
    dataset = None
    try:
        dataset = read_toml(run_dir / "config.toml").get("root")
    except (OSError, InputError):
        pass   # a run without its config (copied checkpoints): no dataset known to keep out of
    return outdir.prepare(out, OUTPUT_KIND, overwrite=overwrite,
                          dataset=dataset if isinstance(dataset, str) else None,
                          keep=[(run_dir, "the GAN run it samples")],
                          subdirs=("annotations", "train_images", "test_images") if fmt == "dicom" else ())


def _uid(*parts) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:32]


def _write(out: Path, fmt: str, image_id: str, pixels: np.ndarray, prov: dict, rows: list, cls: str) -> None:
    if fmt == "png":
        from PIL import Image
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Description", "SYNTHETIC image made by a GAN; not a patient image")
        info.add_text("spinegui-provenance", json.dumps(prov))
        Image.fromarray(pixels.astype(np.uint16) << (16 - BITS)).save(out / f"{safe_id(image_id)}.png", pnginfo=info)
        return
    study, series = _uid("study", prov["run"], image_id), _uid("series", prov["run"], prov["model"])
    (out / "train_images" / f"{safe_id(image_id)}.dicom").write_bytes(_dicom(pixels, image_id, study, series, prov))
    h, w = pixels.shape
    if cls == NO_FINDING:
        rows.append([study, series, image_id, "gan", NO_FINDING, "", "", "", ""])
    else:
        rows.append([study, series, image_id, "gan", cls, "0.00", "0.00", f"{w:.2f}", f"{h:.2f}"])


def _dicom(pixels: np.ndarray, image_id: str, study: str, series: str, prov: dict) -> bytes:
    from pydicom.config import disable_value_validation
    from pydicom.dataset import Dataset

    from spinegui.core.dicom.deid import deidentify, mark_deidentified
    from spinegui.core.dicom.writer import encode_j2k_lossless

    with disable_value_validation():
        ds = Dataset()
        ds.SOPClassUID = DX_FOR_PRESENTATION
        ds.Modality = "DX"
        ds.BurnedInAnnotation = "NO"
        ds.Manufacturer = "spinegui"
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, BITS, BITS - 1, 0
        ds.WindowCenter, ds.WindowWidth = "2048", "4096"
        ds.RescaleIntercept, ds.RescaleSlope = "0", "1"
        # No source patient: the profile finds nothing today, and keeps anything added above honest.
        deidentify(ds, retain_uids=False)
        ds.PatientName, ds.PatientID = "", ""
        ds.SOPInstanceUID = image_id
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.ImageType = ["DERIVED", "SECONDARY", "SYNTHETIC"]
        ds.SeriesDescription = f"SYNTHETIC GAN {prov['class']}"
        ds.DerivationDescription = (f"SYNTHETIC: made by a {prov['arch']} generator (run {prov['run']}, "
                                    f"epoch {prov['epoch']}); not a patient image")
        ds.ImageComments = json.dumps(prov)
        mark_deidentified(ds, retain_uids=False, method="SYNTHETIC: GAN sample, no source image")
    return encode_j2k_lossless(ds, pixels)


def _write_csvs(out: Path, rows: list[list[str]]) -> None:
    for name, body in (("train.csv", rows), ("test.csv", [])):
        with open(out / "annotations" / name, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            writer.writerows(body)


def run_job(ctx) -> None:
    """The "gan-sample" job (the panel's sampling, run out of the GUI process)."""
    c = ctx.config
    ctx.set_device("cpu")
    report = sample_run(c["run"], int(c["n"]), c["out"], class_name=c.get("class_name") or None,
                        last_epochs=int(c.get("last_epochs", 0)), seed=int(c.get("seed", 0)),
                        fmt=c.get("format", "dicom"), overwrite=bool(c.get("overwrite", False)))
    ctx.emit(E.RESULT, out=str(report.out), written=report.written, epochs=report.epochs)
