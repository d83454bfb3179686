"""The main window: browser | viewer | annotation and header panels, menus, status bar.

It wires panels to the core objects of one dataset (index, workspace, cache, annotation store) and
holds no computation of its own.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QTabWidget,
)

from spinegui.core.annotations.store import AnnotationStore
from spinegui.core.dataset.cache import ImageCache
from spinegui.core.dataset.vindr import VinDrIndex, load_index
from spinegui.core.dataset.workspace import Workspace
from spinegui.core.dataset.workspace_lock import WorkspaceBusy
from spinegui.core.errors import InputError
from spinegui.ui.annotate.panel import AnnotationPanel
from spinegui.ui.augment.panel import AugmentPanel
from spinegui.ui.browser.panel import StudyBrowser
from spinegui.ui.common.background import CacheBuilder
from spinegui.ui.common.image_loader import ImageLoader, viewer_image_from_cache
from spinegui.ui.gan.panel import GanPanel
from spinegui.ui.results.gradcam_view import GradCamOverlay
from spinegui.ui.results.panel import ResultsPanel
from spinegui.ui.viewer.header_panel import HeaderPanel
from spinegui.ui.viewer.view import ImageViewer
from spinegui.ui.window_menus import build_menus, set_reader_actions

# How a window names itself to whoever it keeps out of its workspace ("... has this workspace").
WINDOW_HOLDER = "a spinegui app window"
READ_ONLY_POLL_MS = 2000  # a read-only window looks this often whether the writer has gone
DEFAULT_SIZE = (1400, 900)
MIN_RESTORED_SIZE = (1000, 640)  # a stored window smaller than this is not restored: the default instead
NO_DISPLAY_PLATFORMS = ("offscreen", "minimal", "minimalegl")  # Qt platforms that draw on no screen


def on_real_display() -> bool:
    """Whether windows are on a screen someone sees (not Qt's offscreen or minimal platforms)."""
    return QGuiApplication.platformName() not in NO_DISPLAY_PLATFORMS


class MainWindow(QMainWindow):
    image_shown = Signal(str, bool)  # image_id, full resolution
    image_failed = Signal(str, str)  # image_id, reason: the current image cannot be shown
    # Store callbacks may run on other threads (the autosave thread); signals queue them to the UI.
    _store_changed = Signal(str)
    _save_state = Signal(object)  # error line, or None when saving works again

    def __init__(self, settings: QSettings, workspace_dir: Path | None = None):
        super().__init__()
        self.settings = settings
        self.workspace_dir = workspace_dir
        self.index: VinDrIndex | None = None
        self.store: AnnotationStore | None = None
        self.cache: ImageCache | None = None
        self.builder: CacheBuilder | None = None
        self.browser: StudyBrowser | None = None
        self.current: str | None = None
        self.started = time.perf_counter()
        self.setWindowTitle("spinegui")

        self.viewer = ImageViewer(self)
        self.augment_panel = AugmentPanel()  # computes nothing until its tab is first shown
        self.gan_panel = GanPanel()  # jobs run in their own processes; the panel reads their run folders
        self.results_panel = ResultsPanel()  # reads experiment folders (JSON, CSV): no torch in the app
        self.results_panel.open_result.connect(self._on_open_result)
        self.results_panel.open_image.connect(self.open_result_image)
        self._result_caption: tuple[str, str] | None = None  # (image_id, caption) shown over that image
        self._opening_result = None  # the ResultImage of the image the Results tab is about to open
        # Grad-CAM of an image opened from a run: torch runs in the overlay's worker process only.
        self.gradcam = GradCamOverlay(self.viewer, self._gradcam_image, self)
        self.gradcam.message.connect(self.show_message)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.viewer, "Viewer")
        self.tabs.addTab(self.augment_panel, "Augment")
        self.tabs.addTab(self.gan_panel, "GAN")
        self.tabs.addTab(self.results_panel, "Results")
        self.setCentralWidget(self.tabs)
        self._docks_hidden: list[QDockWidget] = []
        self.loader = ImageLoader(self)
        self.loader.ready.connect(self._on_image_ready)
        self.loader.failed.connect(self._on_image_failed)
        self.annotation_panel = AnnotationPanel()
        self.header_panel = HeaderPanel()
        self.browser_dock = self._dock("Studies", None, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.annotation_dock = self._dock("Annotations", self.annotation_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.header_dock = self._dock("DICOM header", self.header_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.annotation_dock, self.header_dock)
        self.annotation_dock.raise_()

        self._store_changed.connect(self._refresh_after_edit)
        self._save_state.connect(self._show_save_state)
        self.viewer.cursor_info.connect(lambda text: self.cursor_label.setText(text))
        self.viewer.window_changed.connect(self._on_window_changed)
        self.viewer.box_selected.connect(self.annotation_panel.select_box)
        self.viewer.message.connect(self._on_edit_message)
        self.annotation_panel.message.connect(self.show_message)
        self.annotation_panel.box_chosen.connect(self.viewer.select_box)
        self.annotation_panel.reader_requested.connect(self.ask_reader)
        self.image_shown.connect(self._feed_augment_panel)
        self.tabs.currentChanged.connect(self._on_tab_changed)

        self.cursor_label = QLabel()
        self.window_label = QLabel()
        self.save_label = QLabel()
        self.read_only_label = QLabel("READ-ONLY")
        self.read_only_label.setStyleSheet("color: #c64600; font-weight: bold")
        self.read_only_label.hide()
        self.progress = QProgressBar()
        self.progress.setFormat("caching %v/%m")
        self._fit_progress(10_000)
        self.progress.hide()
        bar = self.statusBar()
        bar.addWidget(self.cursor_label, 1)
        bar.addPermanentWidget(self.window_label)
        bar.addPermanentWidget(self.read_only_label)
        bar.addPermanentWidget(self.save_label)
        bar.addPermanentWidget(self.progress)
        self.actions: dict[str, QAction] = build_menus(self)
        # Autosave reports failures only; while edits are pending, look a few times a second.
        self._save_poll = QTimer(self, interval=300)
        self._save_poll.timeout.connect(self._poll_save_state)
        # A read-only window (another writer has the workspace) follows the writer's saves and takes
        # the workspace over when the writer closes.
        self._read_only_poll = QTimer(self, interval=READ_ONLY_POLL_MS)
        self._read_only_poll.timeout.connect(self._poll_read_only)
        self._restore_layout()

    def _dock(self, title, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        if widget is not None:
            dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    # --- dataset ----------------------------------------------------------------------------------
    def open_dataset(self, root: str | Path) -> bool:
        """Open a VinDr root; on bad input say what is wrong and keep the current dataset."""
        try:
            index = load_index(root)
        except InputError as exc:
            self.show_error(str(exc))
            return False
        if self.store is not None:  # the current edits must be on disk before anything else opens
            try:
                self.store.save()
            except InputError as exc:
                self.show_error(f"{exc} — not opening {index.root.name}; File ▸ Save edits to another folder…")
                return False
        self.close_dataset()
        try:
            ws = Workspace.for_dataset(index.root, self.workspace_dir)
            store = self._open_store(index, ws)
        except InputError as exc:
            self.show_error(str(exc))
            return False
        self.index, self.store = index, store
        self.cache = ImageCache(ws.cache_dir)
        self.gan_panel.set_dataset(index, ws, self.cache)
        self.results_panel.set_runs_root(ws.runs_dir)
        store.set_sizes({k: tuple(e["shape"]) for k, e in self.cache.entries.items() if e.get("state") == "ok"})
        store.listeners.append(self._store_changed.emit)
        store.save_listeners.append(self._save_state.emit)
        self.loader.cache = self.cache
        self.loader.use_private_full_dir(store.read_only is not None)  # read-only: write nothing there
        self.loader.paths = {r.image_id: r.path for r in index.images.values()}
        if self.browser is not None:
            self.browser.deleteLater()  # setWidget does not free the previous dataset's browser
        self.browser = StudyBrowser(index, store, self.cache)
        self.browser.image_selected.connect(self.show_image)
        self.browser_dock.setWidget(self.browser)
        self.annotation_panel.set_store(store)
        set_reader_actions(self, sorted({r for rec in index.images.values() for r in rec.readers}))
        self.settings.setValue("last_dataset", str(index.root))
        self._show_edit_mode()
        problems = [p for p in index.problems if p.severity == "error"]
        if problems:
            self.show_message(f"{len(problems)} annotation row(s) skipped; first: {problems[0]}")
        if store.read_only is None:
            self._start_cache_build()  # the writer's window builds the cache; a read-only one reads it
        else:
            self.show_message(f"read-only: {store.read_only}; edits are off until it closes")
            self._read_only_poll.start()
        first = next(iter(index.images), None)
        if first:
            self.browser.select_image(first)  # emits image_selected -> show_image
        return True

    def _open_store(self, index: VinDrIndex, ws: Workspace) -> AnnotationStore:
        """The workspace's store: its writer, or read-only while another writer has the workspace."""
        reader = self.settings.value("reader") or None
        try:
            return AnnotationStore(index, ws, reader=reader, holder=WINDOW_HOLDER)
        except WorkspaceBusy as exc:
            return AnnotationStore(index, ws, reader=reader, holder=WINDOW_HOLDER,
                                   read_only=f"{exc.holder} has this workspace")

    def _show_edit_mode(self) -> None:
        """Title, status bar, panels and menus follow whether this window may edit."""
        reason = self.store.read_only if self.store else None
        name = self.index.root.name if self.index else ""
        self.setWindowTitle((f"spinegui — {name}" + (" (read-only)" if reason else "")) if name else "spinegui")
        self.read_only_label.setVisible(reason is not None)
        self.read_only_label.setToolTip(f"read-only: {reason}" if reason else "")
        self.viewer.set_store(self.store, editable=reason is None)
        self.annotation_panel.refresh()
        for key, action in self.actions.items():
            if key.startswith("import_") or key in ("save_elsewhere", "delete_box", "no_finding", "verified"):
                action.setEnabled(reason is None)

    def _poll_read_only(self) -> None:
        store = self.store
        if store is None or store.read_only is None:
            self._read_only_poll.stop()
            return
        before = store.read_only
        if store.refresh():
            self._read_only_poll.stop()
            self._show_edit_mode()
            self._start_cache_build()
            self.show_message("the other writer closed the workspace: this window can edit now")
        elif store.read_only != before:
            self._show_edit_mode()

    def close_dataset(self, discard_unsaved: bool = False) -> None:
        self._read_only_poll.stop()
        if self.builder is not None:
            self.builder.cancel()
            self.builder.wait()
            self.builder = None
        if self.store is not None:
            try:
                self.store.close(discard_unsaved=discard_unsaved)
            except InputError as exc:
                self.show_error(str(exc))
            self.store = None

    def _start_cache_build(self) -> None:
        items = [(r.image_id, r.path) for r in self.index.images.values() if r.file_exists]
        self.builder = CacheBuilder(self.cache, items, parent=self)
        self.builder.progress.connect(self._on_cache_progress)
        self.builder.images_ready.connect(self._on_cached)
        self.builder.finished.connect(self._on_cache_finished)
        self.builder.start()

    def _on_cache_progress(self, done: int, total: int) -> None:
        if self.sender() is not self.builder:
            return
        if total != self.progress.maximum():
            self._fit_progress(total)
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setVisible(done < total)

    def _fit_progress(self, total: int) -> None:
        """Wide enough for "caching <total>/<total>" with the style's margins: never clipped."""
        text = self.progress.format().replace("%v", str(total)).replace("%m", str(total))
        width = self.progress.fontMetrics().horizontalAdvance(text) + 40
        self.progress.setMinimumWidth(width)
        self.progress.setMaximumWidth(max(220, width))

    def _on_cached(self, image_ids: list) -> None:
        if self.store is None or self.sender() is not self.builder:
            return  # a late batch from a build that was cancelled when its dataset closed
        if self.browser is not None:
            self.browser.thumbnails_updated(image_ids)
        sizes = {i: tuple(self.cache.entries[i]["shape"]) for i in image_ids
                 if self.cache.entries.get(i, {}).get("state") == "ok"}
        self.store.set_sizes(sizes)

    def _on_cache_finished(self, result) -> None:
        if self.sender() is not self.builder:
            return
        self.progress.hide()
        if isinstance(result, str):
            self.show_message(result)
        elif result.failed:
            self.show_message(f"{result.failed} image(s) could not be decoded; they show their reason")

    # --- images -----------------------------------------------------------------------------------
    def show_image(self, image_id: str) -> None:
        if not image_id or self.index is None:
            return
        self.current = image_id
        if self._result_caption and self._result_caption[0] != image_id:
            self._result_caption = None
        if self.gradcam.context is not None and self.gradcam.context.item_id != image_id:
            self.gradcam.set_context(None)
        rec = self.index.images[image_id]
        self.annotation_panel.show_image(image_id)
        self.header_panel.show_file(rec.path)
        if not rec.file_exists:
            self.viewer.set_placeholder(f"{rec.path.name}: file missing from the dataset")
            self.augment_panel.set_source(None)
            self.image_failed.emit(image_id, "file missing from the dataset")
            return
        neighbours = self.browser.neighbours(image_id, 1) if self.browser else []
        self.loader.request(image_id, neighbours)

    def _on_image_ready(self, image, full: bool) -> None:
        same = self.viewer_image_id() == image.image_id
        if self._result_caption and self._result_caption[0] == image.image_id:
            image = replace(image, title=self._result_caption[1])
        self.viewer.set_image(image, keep_view=same)
        self.viewer.show_boxes(image.image_id)
        self.image_shown.emit(image.image_id, full)

    def viewer_image_id(self) -> str | None:
        img = getattr(self.viewer, "image", None)
        return getattr(img, "image_id", None)

    def _on_image_failed(self, image_id: str, reason: str) -> None:
        name = self.index.images[image_id].path.name if self.index and image_id in self.index.images else image_id
        self.viewer.set_placeholder(f"{name}: {reason}")
        if image_id == self.current:
            self.augment_panel.set_source(None)
            self.image_failed.emit(image_id, reason)

    def next_image(self) -> None:
        if self.browser:
            self.browser.next_image()

    def previous_image(self) -> None:
        if self.browser:
            self.browser.previous_image()

    # --- augmentation ---------------------------------------------------------------------------
    def _feed_augment_panel(self, image_id: str, _full: bool = False) -> None:
        """The current image and its boxes to the Augment tab (the display-cache image, up to 2048 px,
        or what the viewer shows while the cache has none)."""
        if self.store is None or image_id != self.current:
            return
        image = viewer_image_from_cache(self.cache, image_id) if self.cache else None
        if image is None and self.viewer_image_id() == image_id:
            image = self.viewer.image
        if image is not None:
            self.augment_panel.set_source(image, self.store.boxes(image_id), self.index.root,
                                          dicom_path=self.index.images[image_id].path)

    def show_augment_panel(self) -> None:
        self.tabs.setCurrentWidget(self.augment_panel)

    def show_gan_panel(self) -> None:
        self.tabs.setCurrentWidget(self.gan_panel)

    def show_results_panel(self) -> None:
        self.tabs.setCurrentWidget(self.results_panel)

    def open_result_image(self, image_id: str, caption: str) -> None:
        """An image from the Results tab: shown in the viewer with its prediction as the title overlay."""
        context, self._opening_result = self._opening_result, None
        if self.index is None or self.browser is None or image_id not in self.index.images:
            self.show_message(f"{image_id} is not in the open dataset (a synthetic image, or another dataset's): "
                              f"{caption}")
            return
        self._result_caption = (image_id, caption)
        self.gradcam.set_context(context if context is not None and context.item_id == image_id else None)
        self.tabs.setCurrentWidget(self.viewer)
        if self.viewer_image_id() == image_id:  # shown already: only the caption changes
            self.viewer.set_image(replace(self.viewer.image, title=caption), keep_view=True)
        self.browser.select_image(image_id)
        self.show_message(f"{image_id}: {caption}")

    def _on_open_result(self, result) -> None:
        self._opening_result = result  # open_result_image follows at once (see RunDetail._activate)

    def _gradcam_image(self, image_id: str):
        """The image Grad-CAM explains: the display-cache array (as the experiment's cache prepared it),
        or what the viewer shows while the cache has none."""
        image = viewer_image_from_cache(self.cache, image_id) if self.cache else None
        if image is None and self.viewer_image_id() == image_id:
            image = self.viewer.image
        return image

    def _on_tab_changed(self, _index: int) -> None:
        """The Augment, GAN and Results tabs need the width: the docks step aside while they are shown."""
        if self.tabs.currentWidget() in (self.augment_panel, self.gan_panel, self.results_panel):
            for d in (self.browser_dock, self.annotation_dock, self.header_dock):
                if d.isVisible():
                    d.hide()
                    self._docks_hidden.append(d)
        else:
            for d in self._docks_hidden:
                d.show()
            self._docks_hidden = []

    # --- edits ------------------------------------------------------------------------------------
    def _refresh_after_edit(self, image_id: str) -> None:
        if self.browser:
            self.browser.refresh_image(image_id)
        if image_id == self.current:
            self.annotation_panel.refresh()
            self._feed_augment_panel(image_id)
        self._update_undo_actions()
        self._save_poll.start()

    def _update_undo_actions(self) -> None:
        if not self.store:
            return
        self.actions["undo"].setEnabled(self.store.can_undo)
        self.actions["undo"].setText(self.store.undo_text or "Undo")
        self.actions["redo"].setEnabled(self.store.can_redo)
        self.actions["redo"].setText(self.store.redo_text or "Redo")

    def undo(self) -> None:
        if self.store and (image_id := self.store.undo()):
            self._go_to_edit(image_id)

    def redo(self) -> None:
        if self.store and (image_id := self.store.redo()):
            self._go_to_edit(image_id)

    def _go_to_edit(self, image_id: str) -> None:
        if image_id != self.current and self.browser:  # undo shows the image it changed
            self.browser.select_image(image_id)

    def ask_reader(self) -> bool:
        current = self.store.reader if self.store else self.settings.value("reader", "")
        name, ok = QInputDialog.getText(self, "Reader", "Your reader name (stored with each edit):",
                                        text=current or "")
        if not ok or not name.strip():
            return False
        try:
            if self.store:
                self.store.reader = name
        except InputError as exc:
            self.show_error(str(exc))
            return False
        self.settings.setValue("reader", name.strip())
        self.annotation_panel.refresh()
        return True

    def _on_edit_message(self, text: str) -> None:
        if self.store is not None and self.store.reader is None and self.store.read_only is None:
            self.ask_reader()
        else:
            self.show_message(text)

    def _poll_save_state(self) -> None:
        if self.store is None or self.store.last_save_error:
            self._save_poll.stop()
            return
        self.save_label.setText("saving…" if self.store.dirty else "saved")
        if not self.store.dirty:
            self._save_poll.stop()

    def _show_save_state(self, error: str | None) -> None:
        if error is None:
            self.save_label.setText("saved")
            self.save_label.setStyleSheet("")
            self.save_label.setToolTip("")
            return
        self.save_label.setText("NOT SAVED")
        self.save_label.setStyleSheet("color: #e01b24; font-weight: bold")
        self.save_label.setToolTip(error)
        self.show_message(f"{error} — edits are kept in memory; File ▸ Save edits to… picks another place")

    def save_edits_elsewhere(self) -> bool:
        folder = QFileDialog.getExistingDirectory(self, "Save edits to another workspace folder")
        if not folder or not self.store:
            return False
        try:
            self.store.relocate(folder)
        except InputError as exc:
            self.show_error(str(exc))
            return False
        self.show_message(f"edits saved to {self.store.edits_path}")
        return True

    # --- view -------------------------------------------------------------------------------------
    def _on_window_changed(self, window) -> None:
        self.window_label.setText(f"W {window.width:.0f}  L {window.center:.0f}")

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)

    def show_error(self, text: str) -> None:
        self.show_message(text)
        if not self.property("headless"):
            QMessageBox.warning(self, "spinegui", text)

    def _restore_layout(self) -> None:
        geometry = self.settings.value("geometry")
        restored = geometry is not None and self.restoreGeometry(geometry)
        if not restored or self.width() < MIN_RESTORED_SIZE[0] or self.height() < MIN_RESTORED_SIZE[1]:
            self.resize(*DEFAULT_SIZE)  # none stored, unreadable, or a squashed one (e.g. an old offscreen run's)
        state = self.settings.value("window_state")
        if state is not None:
            self.restoreState(state)
        else:  # first start: room for the browser's columns, the viewer gets the rest
            self.resizeDocks([self.browser_dock, self.annotation_dock], [560, 300], Qt.Orientation.Horizontal)

    def _save_layout(self) -> None:
        """Window geometry and dock layout, only from a window on a real display: an offscreen or
        --screenshot run's window is sized by a virtual screen, and would open the next start squashed."""
        if not on_real_display() or self.property("headless"):
            return
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())

    def closeEvent(self, event) -> None:
        if not self.results_panel.confirm_quit(self.gan_panel):  # jobs running (either tab): "Keep working" keeps it
            event.ignore()
            return
        if self.store is not None and not self.store.flush():
            answer = QMessageBox.question(
                self, "Unsaved edits",
                f"Your edits could not be saved:\n{self.store.last_save_error}\n\nSave them to another folder?",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel,
            )
            if answer == QMessageBox.StandardButton.Cancel or (
                answer == QMessageBox.StandardButton.Save and not self.save_edits_elsewhere()
            ):
                event.ignore()
                return
        self.tabs.setCurrentWidget(self.viewer)  # the docks come back before the layout is saved
        self._save_layout()
        self.settings.sync()
        self.close_dataset(discard_unsaved=True)  # anything unsaved here, the user chose to discard
        self.loader.shutdown()
        self.results_panel.shutdown()
        self.gradcam.shutdown()
        self.gan_panel.shutdown()  # running jobs are cancelled: each writes a checkpoint (Resume later)
        event.accept()
