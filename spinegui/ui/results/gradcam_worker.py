"""The Grad-CAM worker process: runs ``GradCam(checkpoint)(image01, target)``, the very call of
`spinegui gradcam`, so that the app itself never imports torch.

Qt-free on purpose: the spawned process imports this module (not the Qt client in ``gradcam_engine``),
then torch and ``spinegui.train.gradcam``. ``worker_main`` is the module-level entry for
multiprocessing's spawn context (also in a PyInstaller-frozen app, whose entry calls freeze_support());
the loop and the protocol are ``spinegui.workers.loop``'s.

A request: {"id", "checkpoint", "source", "window", "invert", "target"}; its payload: {"heatmap",
"predicted", "probabilities", "target", "classes", "model", "size", "ms"} or {"error": line}.

``source`` is {"path": a .npy file the worker memory-maps (the display cache)} or {"pixels": the array};
its modality values go through ``window`` (a core ``Window``) and ``invert`` to the [0, 1] image the
experiment's cache makes for training. ``target`` names the class to explain (a class name of the
checkpoint, or None: the model's own prediction). The last checkpoint stays loaded for the next image.
"""

from __future__ import annotations

import functools
import os
import time

import numpy as np

from spinegui.workers.loop import serve


def worker_main(conn) -> None:
    """Entry of the worker process: import Grad-CAM once, then answer requests until told to stop."""
    serve(conn, _load, failed="Grad-CAM is not available")


def _load():
    import torch

    from spinegui.train.gradcam import GradCam

    # One image at a time: a couple of threads are plenty, and the app's UI thread keeps a core.
    torch.set_num_threads(max(1, min(4, (os.cpu_count() or 2) // 2)))
    return functools.partial(run_request, models=Models(GradCam))


class Models:
    """The last checkpoint loaded (a new file, or the same file rewritten, is loaded again)."""

    def __init__(self, gradcam_class):
        self._class = gradcam_class
        self._key: tuple | None = None
        self._cam = None

    def get(self, path: str):
        st = os.stat(path)  # FileNotFoundError: said by run_request
        key = (path, st.st_ino, st.st_size, st.st_mtime_ns)
        if key != self._key:
            self._cam, self._key = None, None
            self._cam, self._key = self._class(path), key
        return self._cam


def source_image01(source: dict, window, invert: bool) -> np.ndarray:
    """The [0, 1] image Grad-CAM sees: the shown image's modality values through its default window."""
    from spinegui.core.dicom.display import apply_window

    pixels = np.load(source["path"], mmap_mode="r", allow_pickle=False) if "path" in source else source["pixels"]
    if getattr(pixels, "ndim", 0) != 2:
        raise ValueError(f"the image has shape {getattr(pixels, 'shape', None)}, not H x W")
    return apply_window(pixels, window, invert=bool(invert))


def run_request(request: dict, models: Models) -> dict:
    """One request. Never raises: every failure is one line for the status bar."""
    from spinegui.core.errors import InputError

    t0 = time.perf_counter()
    checkpoint = str(request["checkpoint"])
    try:
        cam = models.get(checkpoint)
        target = request.get("target")
        index = cam.classes.index(target) if target in cam.classes else None
        result = cam(source_image01(request["source"], request["window"], request["invert"]), index)
    except FileNotFoundError:
        return {"error": f"{checkpoint}: checkpoint file not found"}
    except InputError as exc:
        return {"error": str(exc)}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"}
    return {"heatmap": result.heatmap, "predicted": result.predicted, "probabilities": result.probabilities,
            "target": result.target, "classes": list(result.classes), "model": cam.name, "size": cam.size,
            "ms": (time.perf_counter() - t0) * 1000}
