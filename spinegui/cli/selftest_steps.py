"""The steps of `spinegui self-test`: each exercises one part of an install the way the app uses it,
and returns one line saying what it saw (or raises, with the reason).

The window is opened by starting this same spinegui (source or bundle) with --screenshot in a child
process: a Qt platform plugin that cannot load aborts its process, and the self-test must outlive
that to name the step. Training runs as real jobs (spinegui.jobs.runner.start_job): spawned
processes, which is what a frozen app gets wrong first.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from spinegui.core import run_events as E

DEMO_IMAGES = 24
DEMO_SEED = 1   # train 14 normal + 7 abnormal, test 2 + 1: both classes in every fold of the experiment
JOB_TIMEOUT_S = 600.0
WINDOW_TIMEOUT_S = 120.0


@dataclass
class Context:
    work: Path                                   # the self-test's temp folder
    root: Path = field(init=False)               # the demo dataset
    workspace: Path = field(init=False)
    index: object = None                         # VinDrIndex, once the demo dataset is written
    image: object = None                         # DicomImage of an abnormal train image

    def __post_init__(self):
        self.root = self.work / "demo-dataset"
        self.workspace = self.work / "workspace"


def app_command() -> list[str]:
    """How to start this same spinegui: the bundle's executable when frozen, else this Python."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "spinegui"]


# --- steps -----------------------------------------------------------------------------------------
def demo_data(ctx: Context) -> str:
    from spinegui.core.dataset.vindr import load_index
    from spinegui.core.demo.dataset import generate_demo_dataset

    # two workers: the pool's processes are spawned, as the cache builder's are
    generate_demo_dataset(ctx.root, DEMO_IMAGES, DEMO_SEED, workers=2)
    ctx.index = load_index(ctx.root)
    n = {s: sum(1 for r in ctx.index.images.values() if r.split == s) for s in ("train", "test")}
    if ctx.index.problems or n["train"] + n["test"] != DEMO_IMAGES:
        raise RuntimeError(f"the demo dataset does not load cleanly: {n}, problems {ctx.index.problems[:3]}")
    return f"{DEMO_IMAGES} images ({n['train']} train, {n['test']} test), JPEG 2000 lossless DICOM"


def decode(ctx: Context) -> str:
    """One JPEG 2000 file through spinegui's reader and through each other decoder it may fall back
    on: pydicom + pylibjpeg-openjpeg (found by entry points) and SimpleITK/GDCM. All must agree."""
    import numpy as np
    import pydicom
    from pydicom.pixels import pixel_array
    from pydicom.uid import JPEG2000Lossless, JPEGLossless
    from pylibjpeg.utils import get_pixel_data_decoders

    from spinegui.core.dicom.reader import read_image

    rec = next(r for r in ctx.index.images.values() if r.split == "train" and r.boxes)
    ds = pydicom.dcmread(rec.path, stop_before_pixels=True)
    if ds.file_meta.TransferSyntaxUID != JPEG2000Lossless:
        raise RuntimeError(f"expected JPEG 2000 lossless, the file has {ds.file_meta.TransferSyntaxUID.name}")
    t0 = time.perf_counter()
    img = read_image(rec.path)
    secs = time.perf_counter() - t0
    ctx.image = img
    plugins = get_pixel_data_decoders(version=2)
    missing = [u.name for u in (JPEG2000Lossless, JPEGLossless) if not plugins.get(u)]
    if missing:
        raise RuntimeError(f"pylibjpeg has no decoder plugin for {', '.join(missing)} "
                           "(its plugins are found through their package metadata)")
    ref = pixel_array(str(rec.path), decoding_plugin="pylibjpeg")
    import SimpleITK as sitk

    gdcm = sitk.GetArrayFromImage(sitk.ReadImage(str(rec.path), imageIO="GDCMImageIO"))
    gdcm = gdcm.reshape(ref.shape)
    if not np.array_equal(img.pixels, ref) or not np.array_equal(ref.astype(np.int64), gdcm.astype(np.int64)):
        raise RuntimeError(f"decoders disagree: {img.decoder} vs pylibjpeg vs SimpleITK")
    h, w = img.shape
    return (f"{w}x{h} {img.bits_stored}-bit in {secs:.2f} s by {img.decoder}; "
            "pylibjpeg-openjpeg and SimpleITK/GDCM give the same pixels")


def window(ctx: Context) -> str:
    shot = ctx.work / "window.png"
    env = dict(os.environ)
    if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    cmd = app_command() + ["--screenshot", str(shot), "--dataset", str(ctx.root),
                           "--workspace", str(ctx.workspace)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=WINDOW_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"no image drawn within {WINDOW_TIMEOUT_S:.0f} s") from None
    said = (out.stdout + out.stderr).strip()
    if out.returncode != 0:
        last = said.splitlines()[-1] if said else f"exit code {out.returncode}"
        raise RuntimeError(f"the app failed (exit {out.returncode}): {last}")
    from PIL import Image

    with Image.open(shot) as im:
        lo, hi = im.convert("L").getextrema()
        size = im.size
    if hi - lo < 32:
        raise RuntimeError(f"the window picture is blank ({size[0]}x{size[1]}, grey {lo}..{hi})")
    first = re.search(r"first image after ([\d.]+) s", said)
    where = "offscreen" if env.get("QT_QPA_PLATFORM") == "offscreen" else "on the display"
    return (f"main window {where}, first image after {first.group(1) if first else '?'} s, "
            f"picture {size[0]}x{size[1]}")


def augment(ctx: Context) -> str:
    import numpy as np

    from spinegui.augment.pipeline import Augmenter
    from spinegui.augment.presets import load_preset

    rec = next(r for r in ctx.index.images.values() if r.split == "train" and r.boxes)
    boxes = np.array([b.xyxy for b in rec.boxes], np.float32)
    aug = Augmenter(load_preset("basic"))
    out = aug(ctx.image.pixels, boxes, seed=7)
    if out.image.dtype != ctx.image.pixels.dtype or out.image.ndim != 2:
        raise RuntimeError(f"augmented image is {out.image.dtype} {out.image.shape}, "
                           f"expected {ctx.image.pixels.dtype} 2-D")
    import torch

    batch = aug.batch(torch.rand(4, 64, 64), seed=7)
    if tuple(batch.shape) != (4, 64, 64) or not torch.isfinite(batch).all():
        raise RuntimeError(f"the batch path returned {tuple(batch.shape)} or non-finite values")
    drawn = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in list(out.params.items())[:3])
    return (f"preset basic: {out.image.shape[1]}x{out.image.shape[0]} {out.image.dtype}, "
            f"{int(out.kept.sum())} of {len(boxes)} boxes kept ({drawn}); batch of 4 on the CPU")


def _run_job(ctx: Context, kind: str, config: dict, name: str) -> tuple[Path, list[dict], float]:
    from spinegui.jobs import runfolder as rf
    from spinegui.jobs.runner import start_job

    run_dir = ctx.work / "runs" / name
    t0 = time.perf_counter()
    handle = start_job(kind, config, run_dir)
    state = handle.wait(JOB_TIMEOUT_S)
    events = handle.poll_events()
    if state is None:
        handle.cancel(0.0)
        handle.wait(10.0)
        raise RuntimeError(f"the {kind} job did not finish within {JOB_TIMEOUT_S:.0f} s; see {run_dir / rf.OUTPUT_LOG}")
    if state != "done":
        message = rf.read_status(run_dir).get("message") or state
        raise RuntimeError(f"the {kind} job {state}: {message}; see {run_dir / rf.OUTPUT_LOG}")
    return run_dir, events, time.perf_counter() - t0


def gan(ctx: Context, device: str) -> str:
    """A few WGAN-GP steps: one epoch at 64 px over the demo's normal train images."""
    config = {"root": str(ctx.root), "workspace": str(ctx.workspace), "classes": ["No finding"], "size": 64,
              "epochs": 1, "batch": 8, "width": 8, "sample_every": 1, "keep_last": 1, "device": device, "seed": 0}
    run_dir, events, secs = _run_job(ctx, "gan", config, f"gan-{device}")
    steps = sum(1 for e in events if e.get("kind") == E.LOSS)
    if not list((run_dir / "checkpoints").glob("*.safetensors")) or not list((run_dir / "samples").glob("*.png")):
        raise RuntimeError(f"the gan job wrote no checkpoint or sample grid in {run_dir}")
    return (f"WGAN-GP 64 px, 1 epoch ({steps} logged steps) in a job process on {_device_of(run_dir)}: "
            "checkpoint, sample grid")


def classifier(ctx: Context, device: str) -> str:
    """A few classifier steps: the experiment job, smallest case (normal vs abnormal, resnet18, 64 px,
    1 epoch, no augmentation), which also fills the cache with spawned workers and evaluates."""
    config = {"root": str(ctx.root), "workspace": str(ctx.workspace), "classes": ["No finding", "Abnormal"],
              "models": ["resnet18"], "strategies": ["none"], "protocols": ["safe"], "size": 64, "epochs": 1,
              "batch": 8, "bootstrap": 0, "device": device, "workers": 2, "threads": 1, "seed": 0}
    run_dir, events, secs = _run_job(ctx, "experiment", config, f"classifier-{device}")
    import json

    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    run = results["runs"][0]
    epoch = next(e for e in events if e.get("kind") == E.EPOCH)
    return (f"resnet18 64 px, 1 epoch ({epoch['images']} images, {epoch['img_s']} img/s) in a job process on "
            f"{_device_of(run_dir)}; test accuracy {run['test']['accuracy']:.2f} (untrained: any value passes)")


def _device_of(run_dir: Path) -> str:
    from spinegui.jobs import runfolder as rf

    return rf.read_status(run_dir).get("device") or "?"


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
