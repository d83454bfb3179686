"""The Augment tab's client of the augmentation worker process (``augment_worker``).

The worker is spawned when the Augment tab is first shown; how it is spawned, restarted and stopped
is ``worker_engine.WorkerEngine``'s.

Scheduling (all on the UI thread; replies come from a reader thread through a queued signal):
- one request in flight at a time, so the worker is always at most one request behind;
- per kind only the newest submission waits ("preview" and "full": one request; "grid": a list of
  one-draw requests, so a preview never waits behind more than one grid draw); submitting a kind
  replaces what of that kind still waits (a dragged slider keeps only its latest position);
- next to go: a waiting preview, then full resolution, then the grid draws;
- requests submitted while the worker starts (torch import, a few seconds) wait for its "ready".
Which replies are still wanted (generations) is the panel's business; every reply is delivered.

If the worker dies it is restarted once and the request it died on is tried again; a second death in
a row switches the engine off until ``start()`` is called again (the panel does so when it is shown).
"""

from __future__ import annotations

import mmap
import time
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import Signal

from spinegui.ui.augment.worker import worker_main
from spinegui.ui.common.worker_engine import WorkerEngine, WorkerSpec

PRIORITY = ("preview", "full", "grid")


@dataclass
class AugmentResult:
    """One draw as the worker returns it (the fields of ``spinegui.augment.pipeline.Augmented``)."""
    image: np.ndarray
    boxes: np.ndarray          # (m, 4) float32 XYXY of the kept boxes, in ``image`` pixels
    kept: np.ndarray           # (k,) bool over the request's boxes
    visibility: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        return int(np.count_nonzero(~self.kept))


@dataclass
class Request:
    kind: str                  # "preview", "full" or "grid"
    generation: int            # the caller's; replies carry their request back
    source: dict               # from AugmentEngine.source()
    chain: tuple[int, ...]     # long-side reductions of the source before augmenting
    boxes: np.ndarray          # (k, 4) XYXY in source-array pixels
    config: dict
    seeds: list[int]
    tag: object = None         # the caller's, never sent
    id: int = 0
    sent: float = 0.0          # perf_counter() when it went to the worker

    def wire(self) -> dict:
        return {"id": self.id, "source": self.source, "chain": tuple(self.chain),
                "boxes": np.asarray(self.boxes, np.float64).reshape(-1, 4), "config": self.config,
                "seeds": [int(s) for s in self.seeds]}


@dataclass
class Reply:
    request: Request
    results: list[AugmentResult]
    scale: float = 1.0                          # result pixels per source-array pixel
    value_range: tuple[float, float] = (0.0, 1.0)
    worker_ms: float = 0.0                      # the augmentation itself, in the worker
    round_trip_ms: float = 0.0                  # send to delivery, as the UI sees it
    error: str | None = None


class AugmentEngine(WorkerEngine):
    worker = WorkerSpec(worker_main, "augment", "augmentation",
                        off_until="augmentation is off until the Augment tab is shown again")
    message = Signal(str, bool)      # one line for the user, is it an error

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pending: dict[str, list[Request]] = {}
        self._temp_source: tuple[np.ndarray, str] | None = None   # (the array, its temporary file)

    def stop(self) -> None:
        self._temp_source = None
        super().stop()

    # --- requests -------------------------------------------------------------------------------
    def source(self, pixels: np.ndarray, *, bits_stored: int | None = None, dicom: str | None = None) -> dict:
        """The worker's name for ``pixels``: the .npy file it is memory-mapped from (the display cache),
        else a copy written once to a temporary folder."""
        desc = {"shape": tuple(int(v) for v in pixels.shape), "dtype": str(pixels.dtype),
                "bits_stored": int(bits_stored) if bits_stored else None, "dicom": str(dicom) if dicom else None}
        path = npy_path(pixels)
        if path is None:  # not from a .npy file (an image decoded in memory): written once
            if self._temp_source is not None and self._temp_source[0] is pixels:
                path = self._temp_source[1]
            else:
                tmp_dir = self._res.scratch("spinegui-augment-")
                for old in tmp_dir.glob("*.npy"):
                    old.unlink(missing_ok=True)
                path = str(tmp_dir / f"source-{next(self._ids)}.npy")
                np.save(path, np.ascontiguousarray(pixels), allow_pickle=False)
                self._temp_source = (pixels, path)
        desc["path"] = path
        return desc

    def submit(self, kind: str, requests: list[Request]) -> None:
        """Replace what of ``kind`` still waits by ``requests`` (sent in this order)."""
        if kind not in PRIORITY:
            raise ValueError(f"unknown request kind {kind!r}")
        for r in requests:
            r.kind = kind
        self._pending[kind] = list(requests)
        self._dispatch()

    def cancel(self, kind: str | None = None) -> None:
        """Forget waiting requests (of one kind); one in flight still answers."""
        if kind is None:
            self._pending.clear()
        else:
            self._pending.pop(kind, None)

    def waiting(self, kind: str) -> int:
        """Requests of ``kind`` not answered yet (waiting or in flight)."""
        in_flight = self._in_flight is not None and self._in_flight.kind == kind
        return len(self._pending.get(kind, ())) + int(in_flight)

    @property
    def busy(self) -> bool:
        return self._in_flight is not None or any(self._pending.values())

    # --- WorkerEngine's hooks -------------------------------------------------------------------
    def _say(self, line: str) -> None:
        self.message.emit(line, True)

    def _could_not_start(self, line: str) -> None:
        self._say(line)  # what waits stays: it goes once the tab is shown again and the worker starts

    def _next_request(self) -> Request | None:
        for kind in PRIORITY:
            queue = self._pending.get(kind)
            if queue:
                return queue.pop(0)
        return None

    def _take_waiting(self) -> list[Request]:
        waiting = [r for queue in self._pending.values() for r in queue]
        self._pending.clear()
        return waiting

    def _requeue(self, lost: Request) -> None:
        queue = self._pending.setdefault(lost.kind, [])
        if lost.kind == "grid" or not queue:  # once more, unless newer work of its kind replaced it
            queue.insert(0, lost)

    def _reply(self, req: Request, payload: dict) -> Reply:
        rtt = (time.perf_counter() - req.sent) * 1000
        if "error" in payload:
            return Reply(req, [], error=payload["error"], round_trip_ms=rtt)
        return Reply(req, [AugmentResult(**r) for r in payload["results"]], float(payload["scale"]),
                     tuple(payload["value_range"]), float(payload["ms"]), rtt)


def npy_path(pixels: np.ndarray) -> str | None:
    """The .npy file ``pixels`` is the whole memory map of (np.load(..., mmap_mode="r")), else None."""
    if not isinstance(pixels, np.memmap) or not isinstance(getattr(pixels, "base", None), mmap.mmap):
        return None
    name = getattr(pixels, "filename", None)
    return name if name and str(name).endswith(".npy") else None
