"""The app's side of the Grad-CAM worker (``gradcam_worker``): a spawned process that imports torch, so
that the app never does, and answers one heatmap request at a time.

The worker starts with the first request (torch takes a few seconds to import) and then stays, with
the last checkpoint loaded, until the engine goes, the app quits, or the app dies (``exit_with_parent``).
One request is in flight at most; a request submitted meanwhile replaces the one still waiting (the
user toggled on another image: only the newest matters). Spawning, the reader thread, restarting a
worker that died once and giving it up after a second death (until ``start()``) are
``worker_engine.WorkerEngine``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import Signal

from spinegui.core.dicom.display import Window
from spinegui.ui.common.worker_engine import WorkerEngine, WorkerSpec
from spinegui.ui.results.gradcam_worker import worker_main


@dataclass
class GradCamRequest:
    image_id: str
    checkpoint: str
    source: dict               # {"path": .npy file} or {"pixels": array}
    window: Window             # the image's default window (what the experiment's cache applied)
    invert: bool
    target: str | None = None  # the class to explain, by name; None: the model's own prediction
    tag: object = None         # the caller's, never sent
    id: int = 0
    sent: float = 0.0

    def wire(self) -> dict:
        return {"id": self.id, "checkpoint": self.checkpoint, "source": self.source, "window": self.window,
                "invert": bool(self.invert), "target": self.target}


@dataclass
class GradCamReply:
    request: GradCamRequest
    heatmap: np.ndarray | None = None   # float32 in [0, 1], the source image's H x W
    predicted: int = -1
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    target: int = -1
    classes: list[str] = field(default_factory=list)
    model: str = ""
    worker_ms: float = 0.0
    error: str | None = None

    @property
    def target_probability(self) -> float:
        return float(self.probabilities[self.target]) if 0 <= self.target < len(self.probabilities) else float("nan")


class GradCamEngine(WorkerEngine):
    worker = WorkerSpec(worker_main, "gradcam", "Grad-CAM", off_until="Grad-CAM is off until it is asked for again")
    message = Signal(str)            # one line for the user: the worker failed or died

    def __init__(self, parent=None):
        super().__init__(parent)
        self._waiting: GradCamRequest | None = None

    @property
    def busy(self) -> bool:
        return self._in_flight is not None or self._waiting is not None

    def submit(self, request: GradCamRequest) -> None:
        """Ask for one heatmap; it replaces a request still waiting. The worker starts if it must."""
        self._waiting = request
        if self._state in ("idle", "failed"):
            self.start()
        self._dispatch()

    def cancel(self) -> None:
        """Forget the waiting request (one in flight still answers; the caller drops what it no longer wants)."""
        self._waiting = None

    # --- WorkerEngine's hooks -------------------------------------------------------------------
    def _say(self, line: str) -> None:
        self.message.emit(line)

    def _next_request(self) -> GradCamRequest | None:
        req, self._waiting = self._waiting, None
        return req

    def _take_waiting(self) -> list[GradCamRequest]:
        return [r for r in (self._next_request(),) if r is not None]

    def _requeue(self, lost: GradCamRequest) -> None:
        if self._waiting is None:  # once more, unless a newer one replaced it
            self._waiting = lost

    def _unanswered(self, requests: list[GradCamRequest], line: str) -> None:
        for req in requests:  # the caller learns that its request will not be answered
            self.finished.emit(GradCamReply(req, error=line))

    def _on_garbled(self, detail: str) -> None:
        req, self._in_flight = self._in_flight, None
        if req is not None:
            self.finished.emit(GradCamReply(req, error=f"a Grad-CAM reply could not be read: {detail}"))
        self._dispatch()

    def _reply(self, req: GradCamRequest, payload: dict) -> GradCamReply:
        if "error" in payload:
            return GradCamReply(req, error=str(payload["error"]))
        return GradCamReply(req, np.asarray(payload["heatmap"], np.float32), int(payload["predicted"]),
                            np.asarray(payload["probabilities"], np.float32), int(payload["target"]),
                            list(payload["classes"]), str(payload["model"]), float(payload["ms"]))
