"""The annotation store: every image's current boxes, edits with undo/redo, autosave and recovery.

Qt-free (the GUI and the CLI call the same methods). The current annotations of an image are the
dataset's own unless edited; edits live in the workspace overlay (``annotation_file``), never in the
dataset folder.

    store = AnnotationStore(index, Workspace.for_dataset(root), reader="rad4", sizes=sizes)
    store.listeners.append(lambda image_id: view.refresh(image_id))
    uid = store.add_box(image_id, "Osteophytes", (10, 20, 110, 140))
    store.move_box(image_id, uid, (12, 20, 120, 150))      # end of a drag: one undo step
    store.undo_text                                          # "Undo move box"
    store.undo()
    store.import_images(import_annotations("coco", folder))  # many images, one undo step
    store.close()                                            # saves; stops the autosave thread

Autosave (``autosave.Autosaver``): a background thread writes the overlay 0.5 s after the last
change, and at most 1 s after the first unsaved one while edits keep coming, so every change is on
disk within about 1 s (2 s promised). A failed write keeps the edits in memory, sets
``last_save_error``, retries every 2 s, and ``relocate()`` saves them to another workspace.
Listeners are called in the thread that made the change; ``save_listeners`` are called from the
autosave thread (a Qt UI must re-post to its own). The undo history lives in memory only (one
session).

One writer per workspace: a store holds the workspace's lock (``workspace_lock``) from opening to
``close()``; a second one raises ``WorkspaceBusy`` unless opened with ``read_only="why"``. A read-only
store refuses edits, never writes, and ``refresh()`` shows what the writer saved since, or takes the
workspace over once the writer has gone.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from spinegui.core.annotations.autosave import Autosaver
from spinegui.core.annotations.importer import Change, Step, plan_import
from spinegui.core.annotations.model import (
    AnnBox,
    AnnotatedImage,
    ImageAnnotations,
    check_lesion_type,
    check_reader,
    check_xyxy,
    new_uid,
    original_annotations,
    utc_now,
)
from spinegui.core.annotations.overlay import CorruptEditsError, edits_path, move_aside, read_edits, write_edits
from spinegui.core.dataset.vindr import VinDrIndex
from spinegui.core.dataset.workspace import Workspace, WorkspaceLock
from spinegui.core.dataset.workspace_lock import WorkspaceBusy
from spinegui.core.errors import InputError

__all__ = ["AnnBox", "AnnotatedImage", "AnnotationStore", "ImageAnnotations"]

log = logging.getLogger(__name__)

UNDO_LIMIT = 1000


class AnnotationStore:
    def __init__(self, index: VinDrIndex, workspace: Workspace, *, reader: str | None = None,
                 sizes: dict[str, tuple[int, int]] | None = None, autosave: bool = True,
                 undo_limit: int = UNDO_LIMIT, read_only: str | None = None,
                 holder: str = "a spinegui annotation editor"):
        self.index = index
        self._workspace = workspace
        self._lock = threading.RLock()
        self._reader = check_reader(reader) if reader is not None else None
        self._sizes = dict(sizes or {})
        self._originals: dict[str, ImageAnnotations] = {}
        self._edits: dict[str, ImageAnnotations] = {}
        self.orphans: dict[str, ImageAnnotations] = {}  # edits of images not in the index: kept, re-saved
        self._holder = holder
        self._read_only = " ".join(read_only.split()) if read_only is not None else None
        # Taken before reading, so that what is read is what this store will overwrite.
        self._ws_lock: WorkspaceLock | None = None if read_only is not None else workspace.lock(holder)
        self._file_stamp: tuple | None = None
        try:
            self._edits, self.orphans = self._load()
        except BaseException:
            self._release_ws_lock()
            raise
        self._undo: deque[Step] = deque(maxlen=undo_limit)
        self._redo: list[Step] = []
        self._closed = False
        self.listeners: list[Callable[[str], None]] = []  # called with the image_id that changed
        self._saver = Autosaver(self._write, start=autosave)
        # Called with the error line when saving fails, and None when it works again (autosave thread).
        self.save_listeners = self._saver.listeners
        self._atexit = functools.partial(_flush_at_exit, weakref.ref(self))
        atexit.register(self._atexit)  # a normal exit without close() still saves

    # --- properties ---------------------------------------------------------------------------
    @property
    def workspace(self) -> Workspace:
        return self._workspace

    @property
    def edits_path(self) -> Path:
        return edits_path(self._workspace.path)

    @property
    def read_only(self) -> str | None:
        """Why this store cannot edit (another writer has the workspace), or None when it can."""
        return self._read_only

    @property
    def reader(self) -> str | None:
        return self._reader

    @reader.setter
    def reader(self, name: str) -> None:
        self._reader = check_reader(name)

    def set_sizes(self, sizes: dict[str, tuple[int, int]]) -> None:
        """Image sizes (rows, cols) learnt later (e.g. when the cache is built): boxes clip to them."""
        with self._lock:
            self._sizes.update(sizes)

    @property
    def dirty(self) -> bool:
        """True while some change is not on disk yet (ask before quitting)."""
        return self._saver.dirty

    @property
    def last_save_error(self) -> str | None:
        """The last save's error line while saving fails; None once a save works."""
        return self._saver.last_error

    # --- reading ------------------------------------------------------------------------------
    def annotations(self, image_id: str) -> ImageAnnotations:
        with self._lock:
            return self._current(image_id)

    def boxes(self, image_id: str) -> tuple[AnnBox, ...]:
        return self.annotations(image_id).boxes

    def is_edited(self, image_id: str) -> bool:
        with self._lock:
            return image_id in self._edits

    def edited_image_ids(self) -> list[str]:
        with self._lock:
            return list(self._edits)

    def snapshot(self) -> list[AnnotatedImage]:
        """Every image of the index with its current annotations (what the exporters write)."""
        with self._lock:
            return [AnnotatedImage(r.image_id, r.study_id, r.series_id, r.split, self._current(r.image_id))
                    for r in self.index.images.values()]

    # --- edits (each one undo step) -----------------------------------------------------------
    def add_box(self, image_id: str, lesion_type: str, xyxy) -> str:
        """Add a box drawn by the current reader; returns its uid. Clears that reader's 'No finding'."""
        label = check_lesion_type(lesion_type)
        uid = new_uid()

        def make(a: ImageAnnotations, reader: str) -> ImageAnnotations:
            box = AnnBox(uid, label, check_xyxy(xyxy, self._sizes.get(image_id)), reader, reader, utc_now())
            return replace(a, boxes=a.boxes + (box,), no_finding=a.no_finding - {reader})

        self._edit(image_id, "add box", make)
        return uid

    def move_box(self, image_id: str, uid: str, xyxy) -> None:
        """Set a box's coordinates (the UI calls it once, at the end of a drag)."""
        old = self._box(image_id, uid)
        new_xyxy = check_xyxy(xyxy, self._sizes.get(image_id))
        ox0, oy0, ox1, oy1 = old.xyxy
        x0, y0, x1, y1 = new_xyxy
        same_size = abs((x1 - x0) - (ox1 - ox0)) < 1e-9 and abs((y1 - y0) - (oy1 - oy0)) < 1e-9
        self._change_box(image_id, uid, "move box" if same_size else "resize box", xyxy=new_xyxy)

    def set_lesion_type(self, image_id: str, uid: str, lesion_type: str) -> None:
        self._change_box(image_id, uid, "change lesion type", lesion_type=check_lesion_type(lesion_type))

    def delete_box(self, image_id: str, uid: str) -> None:
        self._box(image_id, uid)
        self._edit(image_id, "delete box",
                   lambda a, reader: replace(a, boxes=tuple(b for b in a.boxes if b.uid != uid)))

    def mark_no_finding(self, image_id: str) -> int:
        """The current reader says the image shows no lesion: their own boxes are removed (other
        readers' stay), in the same undo step. Returns how many boxes were removed."""
        removed = 0

        def make(a: ImageAnnotations, reader: str) -> ImageAnnotations:
            nonlocal removed
            kept = tuple(b for b in a.boxes if b.rad_id != reader)
            removed = len(a.boxes) - len(kept)
            return replace(a, boxes=kept, no_finding=a.no_finding | {reader})

        self._edit(image_id, "mark No finding", make)
        return removed

    def clear_no_finding(self, image_id: str) -> None:
        """Withdraw the current reader's 'No finding' mark."""
        self._edit(image_id, "clear No finding", lambda a, reader: replace(a, no_finding=a.no_finding - {reader}))

    def set_verified(self, image_id: str, verified: bool = True) -> None:
        def make(a: ImageAnnotations, reader: str) -> ImageAnnotations:
            if not verified:
                return replace(a, verified_by=None, verified_at=None)
            if a.verified_by == reader:
                return a  # already verified by this reader: nothing to undo
            return replace(a, verified_by=reader, verified_at=utc_now())

        self._edit(image_id, "mark verified" if verified else "mark unverified", make)

    def import_images(self, images: list[AnnotatedImage], text: str = "import annotations") -> dict:
        """Replace the annotations of every listed image that is in the index with the imported ones,
        all in ONE undo step (rules: annotation_import). Images not in the index are skipped; nothing
        changes when a box is unusable (InputError). Returns the counts {"images_changed", "boxes",
        "unknown_images", "unchanged"}."""
        reader = self._require_reader()
        with self._lock:
            self._check_open()
            changes, counts = plan_import(images, self.index.images, self._current, reader, self._sizes)
            self._commit(changes, text)
        for image_id, _, _ in changes:
            self._notify(image_id)
        return counts

    # --- undo / redo --------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        with self._lock:
            return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        with self._lock:
            return bool(self._redo)

    @property
    def undo_text(self) -> str | None:
        """Menu text of the next undo ("Undo move box"), or None."""
        with self._lock:
            return f"Undo {self._undo[-1].text}" if self._undo else None

    @property
    def redo_text(self) -> str | None:
        with self._lock:
            return f"Redo {self._redo[-1].text}" if self._redo else None

    def undo(self) -> str | None:
        """Undo the last edit; returns the image_id it changed, the first one for a step that changed
        several (an import), or None when there was nothing to undo."""
        return self._step(self._undo, self._redo, "before")

    def redo(self) -> str | None:
        return self._step(self._redo, self._undo, "after")

    def _step(self, source, target, which: str) -> str | None:
        with self._lock:
            self._check_open()
            if not source:
                return None
            step = source.pop()
            for image_id, before, after in step.changes:
                self._set(image_id, before if which == "before" else after)
            target.append(step)
            self._saver.changed()
        for image_id, _, _ in step.changes:
            self._notify(image_id)
        return step.image_id

    # --- saving -------------------------------------------------------------------------------
    def save(self) -> None:
        """Write the overlay now if anything is unsaved. Raises InputError when it cannot be written
        (the edits stay in memory, and autosave keeps retrying)."""
        self._saver.save()

    def flush(self) -> bool:
        """save() that never raises: True when everything is on disk."""
        return self._saver.flush()

    def _write(self) -> None:
        with self._lock:
            if self._read_only is not None:
                return  # never: a read-only store has no edits to write
            edits = {**self.orphans, **self._edits}
            path = self.edits_path
        try:
            write_edits(path, edits)
        except OSError as exc:
            raise InputError(path, f"cannot save annotation edits: {exc.strerror or exc}") from None
        except ValueError as exc:  # e.g. a non-finite number: refused rather than written as NaN
            raise InputError(path, f"cannot save annotation edits: {exc}") from None

    def refresh(self) -> bool:
        """A read-only store: take the workspace over if its writer has gone (returns True: edits work
        from now on), else re-read what the writer saved since. Listeners hear of every image whose
        annotations changed. A writable store: nothing to do (False)."""
        with self._lock:
            if self._read_only is None or self._closed:
                return False
        try:
            ws_lock = self._workspace.lock(self._holder)
        except InputError as exc:  # WorkspaceBusy, or the folder is gone: stay read-only
            ws_lock = None
            why = f"{exc.holder} has this workspace" if isinstance(exc, WorkspaceBusy) else str(exc)
        with self._lock:
            if ws_lock is None:
                self._read_only = why
                if self._stamp() == self._file_stamp:
                    return False
            old = dict(self._edits)
            try:
                self._edits, self.orphans = self._load(writer=ws_lock is not None)
            except InputError as exc:
                if ws_lock is not None:
                    ws_lock.release()
                    self._read_only = str(exc)
                return False  # keep showing the last state that could be read
            if ws_lock is not None:
                self._ws_lock, self._read_only = ws_lock, None
            changed = [i for i in old.keys() | self._edits.keys() if old.get(i) != self._edits.get(i)]
        for image_id in changed:
            self._notify(image_id)
        return ws_lock is not None

    def relocate(self, new_workspace_dir: str | Path) -> None:
        """Save the edits into another workspace folder (when the current one cannot be written)."""
        if self._read_only is not None:
            raise InputError(None, f"read-only: {self._read_only}")
        target = edits_path(Path(new_workspace_dir).expanduser().resolve())
        if target.exists():
            raise InputError(target, "already holds annotation edits; choose another folder")
        ws = Workspace.for_dataset(self.index.root, new_workspace_dir)
        new_lock = ws.lock(self._holder)  # the new place gets one writer too
        if target.exists():  # written between the check and the lock
            new_lock.release()
            raise InputError(target, "already holds annotation edits; choose another folder")
        with self._lock:
            self._workspace = ws
            self._release_ws_lock()
            self._ws_lock = new_lock
            self._saver.changed()  # everything is written to the new place
        self.save()

    def close(self, discard_unsaved: bool = False) -> None:
        """Stop autosave, save and free the workspace for another writer. Raises InputError if the
        final save fails (edits stay in memory: relocate() and save() still work, and the workspace
        stays locked) unless `discard_unsaved`: then the unsaved edits are dropped."""
        with self._lock:
            self._closed = True
        self._saver.stop()
        try:
            self.save()
        except InputError:
            if not discard_unsaved:
                raise
        atexit.unregister(self._atexit)
        self._release_ws_lock()

    def _release_ws_lock(self) -> None:
        if self._ws_lock is not None:
            self._ws_lock.release()
            self._ws_lock = None

    def __enter__(self) -> AnnotationStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------------------
    def _load(self, writer: bool | None = None) -> tuple[dict, dict]:
        """(edits, orphans) as saved. Only the writer moves a corrupt file aside."""
        writer = self._read_only is None if writer is None else writer
        path = self.edits_path
        self._file_stamp = self._stamp()
        try:
            saved = read_edits(path)
        except CorruptEditsError as exc:
            if not writer:
                raise InputError(path, f"{exc.reason}; left as it is (read-only here)") from None
            aside = move_aside(path)
            raise InputError(path, f"{exc.reason}; moved it aside to {aside.name} (nothing was lost from "
                                   f"it); opening again starts from the dataset's annotations") from None
        edits, orphans = {}, {}
        for image_id, ann in saved.items():
            if image_id not in self.index.images:
                orphans[image_id] = ann
            elif ann != self._original(image_id):
                edits[image_id] = ann
        return edits, orphans

    def _stamp(self) -> tuple | None:
        """What tells a rewritten overlay (atomic rename: a new inode) from the one read."""
        try:
            st = os.stat(self.edits_path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _original(self, image_id: str) -> ImageAnnotations:
        ann = self._originals.get(image_id)
        if ann is None:
            ann = self._originals[image_id] = original_annotations(self.index.images[image_id])
        return ann

    def _current(self, image_id: str) -> ImageAnnotations:
        ann = self._edits.get(image_id)
        if ann is not None:
            return ann
        if image_id not in self.index.images:
            raise InputError(None, f"unknown image {image_id!r}")
        return self._original(image_id)

    def _set(self, image_id: str, ann: ImageAnnotations) -> None:
        # An image back in its dataset state (e.g. after undo) is no longer an edit.
        if ann == self._original(image_id):
            self._edits.pop(image_id, None)
        else:
            self._edits[image_id] = ann

    def _box(self, image_id: str, uid: str) -> AnnBox:
        with self._lock:
            box = self._current(image_id).box(uid)
        if box is None:
            raise InputError(None, f"no box {uid!r} in image {image_id}")
        return box

    def _change_box(self, image_id: str, uid: str, text: str, **changes) -> None:
        def make(a: ImageAnnotations, reader: str) -> ImageAnnotations:
            boxes = []
            for b in a.boxes:
                if b.uid == uid:
                    new = replace(b, **changes)
                    b = b if new == b else replace(new, edited_by=reader, edited_at=utc_now())
                boxes.append(b)
            return replace(a, boxes=tuple(boxes))

        self._box(image_id, uid)
        self._edit(image_id, text, make)

    def _require_reader(self) -> str:
        self._check_writable()
        reader = self._reader
        if reader is None:
            raise InputError(None, "no reader set: enter your reader name (e.g. 'rad1') before editing")
        return reader

    def _edit(self, image_id: str, text: str, make: Callable[[ImageAnnotations, str], ImageAnnotations]) -> None:
        reader = self._require_reader()
        with self._lock:
            self._check_open()
            before = self._current(image_id)
            after = make(before, reader)
            if after == before:
                return  # nothing changed: no undo step, no save
            self._commit([(image_id, before, after)], text)
        self._notify(image_id)

    def _commit(self, changes: list[Change], text: str) -> None:
        """Apply (image_id, before, after) changes as one undo step (the caller holds the lock and
        notifies listeners after releasing it). No changes: no step, no save."""
        if not changes:
            return
        for image_id, _, after in changes:
            self._set(image_id, after)
        self._undo.append(Step(tuple(changes), text))
        self._redo.clear()
        self._saver.changed()

    def _check_open(self) -> None:
        if self._closed:
            raise InputError(None, "the annotation store is closed")
        self._check_writable()

    def _check_writable(self) -> None:
        if self._read_only is not None:
            raise InputError(None, f"read-only: {self._read_only}")

    def _notify(self, image_id: str) -> None:
        for cb in list(self.listeners):
            try:
                cb(image_id)
            except Exception:  # a broken view must not undo a stored edit
                log.exception("annotation listener failed")


def _flush_at_exit(ref: weakref.ref[AnnotationStore]) -> None:
    store = ref()
    if store is not None and store.dirty:
        store.flush()
