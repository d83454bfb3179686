"""What the GAN tab reads from run folders in its worker threads, and the pure text it shows.

Split out of the GAN panel so the panel keeps to its widgets; nothing here touches a widget.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from spinegui.cli.jobs import gan_progress_words
from spinegui.core import run_events as E
from spinegui.core.errors import InputError
from spinegui.jobs import read_config, read_events, read_status
from spinegui.ui.gan.runs_list import STATE_COLOURS
from spinegui.ui.gan.samples_view import load_quality

GRID_MAX_PX = 512       # the sample grid is scaled to this in the worker


# --- worker-thread helpers ------------------------------------------------------------------------
def load_grid(path: Path) -> QImage | None:
    image = QImage(str(path))
    if image.isNull():
        return None
    if max(image.width(), image.height()) > GRID_MAX_PX:
        image = image.scaled(GRID_MAX_PX, GRID_MAX_PX, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image


def run_overview(run: Path) -> dict:
    """A run's classes, quality report and newest sampled dataset inside it (when there are)."""
    config = read_config(run)
    sampled = None
    candidates = [p for p in run.glob("samples_dataset*") if (p / "sample_report.json").is_file()]
    if candidates:
        newest = max(candidates, key=lambda p: (p / "sample_report.json").stat().st_mtime)
        try:
            sampled = (newest, json.loads((newest / "sample_report.json").read_text()).get("written", {}))
        except (OSError, ValueError):
            sampled = None
    try:
        quality, quality_error = load_quality(run), None
    except InputError as exc:
        quality, quality_error = None, str(exc)
    return {"classes": list(config.get("classes", [])), "config": config, "quality": quality,
            "quality_error": quality_error, "sampled": sampled}


def task_outcome(task: Path) -> tuple[dict, dict]:
    """A sampling/quality job's final status and its "result" event."""
    events, _ = read_events(task)
    return read_status(task), next((e for e in reversed(events) if e.get("kind") == E.RESULT), {})


def new_folder(parent: Path, prefix: str, classes: list[str], stamp: bool = True) -> Path:
    """A fresh folder name under ``parent``: prefix, time stamp, the first two classes (-2, -3… if taken)."""
    slug = "-".join("".join(ch if ch.isalnum() else "-" for ch in c.lower()).strip("-") for c in classes[:2])
    name = "-".join(p for p in (prefix, time.strftime("%Y%m%d-%H%M%S") if stamp else "",
                                slug + ("-etc" if len(classes) > 2 else "")) if p)
    path, k = parent / name, 2
    while path.exists():
        path, k = parent / f"{name}-{k}", k + 1
    return path


# --- the status line ------------------------------------------------------------------------------
def elapsed_text(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def speed_text(img_s: float | None, average: bool) -> str:
    """ "avg 123 img/s" for a finished run's whole-run average (rich text: kept on one line), "123 img/s"
    for the live rate; three significant digits below 100."""
    if img_s is None:
        return ""
    shown = f"{img_s:,.0f}" if img_s >= 100 else f"{img_s:.3g}"
    return f"avg&nbsp;{shown}&nbsp;img/s" if average else f"{shown} img/s"


def status_line(run_name: str, status: dict | None, progress: dict | None, elapsed: float | None,
                shown_state: str | None = None, average: float | None = None) -> str:
    """The shown run's rich-text status: state, elapsed time, epoch and critic step (the words of
    `spinegui jobs`), speed (a done run's: its average over the whole run), device and memory."""
    s = status or {}
    state = shown_state or s.get("state", "…")
    parts = [f"<b style='color:{STATE_COLOURS.get(state, '#000')}'>{state}</b>",
             f"{elapsed_text(elapsed)} elapsed"]
    p = progress or {}
    words = gan_progress_words(p)
    if words:
        parts.append(words)
    done = state == "done" and average is not None
    speed = speed_text(average if done else p.get("img_s"), done)
    if speed:
        parts.append(speed)
    parts.append(s.get("device") or "device –")
    if p.get("gpu_mem_mb") is not None:
        parts.append(f"{p['gpu_mem_mb']} MB GPU")
    elif p.get("rss_mb") is not None:
        parts.append(f"{p['rss_mb']} MB RSS")
    text = f"<b>{run_name}</b>: " + " · ".join(parts)
    if state == "failed" and "diverged" in (s.get("message") or ""):
        text += ("<br><b style='color:#c01c28'>⚠ Training DIVERGED: the losses went NaN. The last good "
                 "checkpoint is kept; resume with a lower learning rate or check its samples first.</b>")
    if s.get("message") and state in ("failed", "cancelled"):
        colour = "#c01c28" if state == "failed" else "#6e7781"
        text += f"<br><span style='color:{colour}'>{s['message']}</span>"
    return text
