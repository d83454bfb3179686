"""Menus and keyboard shortcuts of the main window (every frequent action has a key)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox

from spinegui import __version__
from spinegui.core.dataset.vindr import LESION_TYPES
from spinegui.core.errors import InputError
from spinegui.ui.reader.menu import build_reader_menu

EXPORT_FORMATS = {"vindr": "VinDr CSV", "coco": "COCO JSON", "voc": "Pascal VOC XML", "yolo": "YOLO txt"}
PRESETS = ("Default (DICOM)", "Auto (percentiles)", "Bone", "Soft tissue", "Full range")


def build_menus(win) -> dict[str, QAction]:
    actions: dict[str, QAction] = {}

    def add(menu, key, text, slot, shortcut=None, checkable=False):
        action = QAction(text, win)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        menu.addAction(action)
        actions[key] = action
        return action

    bar = win.menuBar()
    file = bar.addMenu("&File")
    add(file, "open", "&Open dataset…", lambda: _open_dataset(win), QKeySequence.StandardKey.Open)
    export = file.addMenu("&Export annotations")
    for fmt, label in EXPORT_FORMATS.items():
        add(export, f"export_{fmt}", f"{label}…", lambda _=False, f=fmt: _export(win, f))
    imports = file.addMenu("&Import annotations")
    for fmt, label in EXPORT_FORMATS.items():
        add(imports, f"import_{fmt}", f"{label}…", lambda _=False, f=fmt: _import(win, f))
    add(file, "save_elsewhere", "Save edits to another &folder…", win.save_edits_elsewhere)
    file.addSeparator()
    add(file, "quit", "&Quit", win.close, QKeySequence.StandardKey.Quit)

    edit = bar.addMenu("&Edit")
    add(edit, "undo", "Undo", win.undo, QKeySequence.StandardKey.Undo).setEnabled(False)
    add(edit, "redo", "Redo", win.redo, "Ctrl+Shift+Z").setEnabled(False)
    edit.addSeparator()
    add(edit, "delete_box", "Delete selected box", win.annotation_panel.delete_selected)
    add(edit, "no_finding", "Mark image No finding", win.annotation_panel.mark_no_finding, "Ctrl+N")
    add(edit, "verified", "Toggle verified", lambda: win.annotation_panel.verified.click(), "Ctrl+Return")
    add(edit, "reader", "Reader name…", win.ask_reader)

    view = bar.addMenu("&View")
    add(view, "fit", "Fit to window", win.viewer.zoom_fit, "0")
    add(view, "actual", "Actual size", win.viewer.zoom_actual, "1")
    add(view, "invert", "Invert", lambda: win.viewer.set_invert(not _inverted(win)), "I")
    add(view, "auto_window", "Auto window", win.viewer.auto_window, "A")
    view.addAction(win.gradcam.action)  # enabled for an image opened from the Results tab
    actions["gradcam"] = win.gradcam.action
    presets = view.addMenu("Window presets")
    for n, name in enumerate(PRESETS, start=1):
        add(presets, f"preset_{n}", name, lambda _=False, p=name: win.viewer.apply_preset(p), f"F{n}")
    win.classes_menu = view.addMenu("Show lesion types")
    for t in LESION_TYPES:
        add(win.classes_menu, f"show_{t}", t, lambda _=False: _apply_visibility(win), checkable=True).setChecked(True)
    win.readers_menu = view.addMenu("Show readers")  # filled when a dataset opens (set_reader_actions)
    view.addSeparator()
    add(view, "augment", "Augmentation", win.show_augment_panel, "Ctrl+G")
    add(view, "gan", "GAN training", win.show_gan_panel, "Ctrl+T")
    add(view, "results", "Experiment results", win.show_results_panel, "Ctrl+R")
    add(view, "new_experiment", "New experiment…", lambda: _new_experiment(win), "Ctrl+E")
    view.addSeparator()
    for dock in (win.browser_dock, win.annotation_dock, win.header_dock):
        view.addAction(dock.toggleViewAction())

    go = bar.addMenu("&Go")
    add(go, "next", "Next image", win.next_image, "PgDown")
    add(go, "previous", "Previous image", win.previous_image, "PgUp")

    build_reader_menu(win, bar.addMenu("&Reader study"), add)

    help_menu = bar.addMenu("&Help")
    add(help_menu, "about", "About spinegui", lambda: QMessageBox.about(
        win, "spinegui", f"spinegui {__version__}\nSpine X-ray augmentation research on VinDr-SpineXR."))
    return actions


def set_reader_actions(win, readers: list[str]) -> None:
    """One checkable action per reader of the open dataset (boxes of unticked readers are hidden)."""
    win.readers_menu.clear()
    for r in readers:
        action = QAction(r, win, checkable=True, checked=True)
        action.triggered.connect(lambda _=False: _apply_visibility(win))
        win.readers_menu.addAction(action)
    _apply_visibility(win)


def _apply_visibility(win) -> None:
    classes = {a.text() for a in win.classes_menu.actions() if a.isChecked()}
    readers = {a.text() for a in win.readers_menu.actions() if a.isChecked()}
    all_readers = len(readers) == len(win.readers_menu.actions())
    win.viewer.set_visible(None if all_readers else readers,
                           None if len(classes) == len(LESION_TYPES) else classes)


def _inverted(win) -> bool:
    return bool(getattr(win.viewer, "inverted", False))


def _new_experiment(win) -> None:
    """The Results tab, then its New-experiment form (on the open dataset)."""
    win.show_results_panel()
    win.results_panel.new_experiment()


def _open_dataset(win) -> None:
    folder = QFileDialog.getExistingDirectory(win, "Open a VinDr-SpineXR folder")
    if folder:
        win.open_dataset(folder)


def _export(win, fmt: str) -> None:
    if win.store is None:
        return
    folder = QFileDialog.getExistingDirectory(win, f"Export {EXPORT_FORMATS[fmt]} into an empty folder")
    if not folder:
        return
    from spinegui.core.annotations.exports import export_annotations, image_sizes, needs_sizes, prepare_out_dir

    try:
        prepare_out_dir(folder, win.index.root)  # never into the dataset
        sizes = image_sizes(win.index, win.cache.dir)[0] if needs_sizes(fmt) else None
        export_annotations(win.store.snapshot(), fmt, Path(folder), sizes)
    except InputError as exc:
        win.show_error(str(exc))
        return
    win.show_message(f"exported {EXPORT_FORMATS[fmt]} to {folder}")


def _import(win, fmt: str) -> None:
    """Read an export folder and make its annotations current, as one undoable edit."""
    if win.store is None or (win.store.reader is None and not win.ask_reader()):
        return
    folder = QFileDialog.getExistingDirectory(win, f"Import {EXPORT_FORMATS[fmt]} from a folder")
    if not folder:
        return
    from spinegui.core.annotations.exports import import_annotations

    try:
        counts = win.store.import_images(import_annotations(fmt, Path(folder)), f"import {EXPORT_FORMATS[fmt]}")
    except InputError as exc:
        win.show_error(str(exc))
        return
    text = (f"imported {EXPORT_FORMATS[fmt]} from {folder}: {counts['images_changed']} image(s) changed, "
            f"{counts['unchanged']} unchanged, {counts['boxes']} box(es)")
    if counts["unknown_images"]:
        text += f"; skipped {counts['unknown_images']} image(s) not in this dataset"
    win.show_message(text)
