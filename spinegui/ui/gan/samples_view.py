"""The GAN sample browser: a sampled dataset's SYNTHETIC images beside real training images of the
class, and the quality report (FID/KID, nearest-distance histogram, each sample beside its nearest
real training image).

Images are read in worker threads by the `*_tiles` functions (numpy + QImage, no widgets); the
widgets only draw the QImages they are given. Every synthetic tile carries a red frame and a
SYNTHETIC badge.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.dataset.cache import ImageCache
from spinegui.core.dicom.display import Window, apply_window, to_uint8
from spinegui.core.errors import InputError
from spinegui.ui.gan.gate_view import gate_text

SYNTHETIC_RED = "#d01818"
TILE_PX = 104
Tile = tuple  # (QImage | None, caption, synthetic)


# --- images (worker threads) ------------------------------------------------------------------------
def gray_image(pixels: np.ndarray, bits: int) -> QImage:
    """An 8-bit grey QImage (its own copy) of unsigned pixels with `bits` significant bits."""
    img8 = to_uint8(np.asarray(pixels, np.float32) / float(2**bits - 1))
    img8 = np.ascontiguousarray(img8)
    h, w = img8.shape
    return QImage(img8.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


def real_image(cache: ImageCache | None, image_id: str) -> QImage | None:
    """A training image from the cache (its training array, else its display image); None if not cached."""
    if cache is None:
        return None
    entry = cache.entries.get(image_id) or {}
    sizes = sorted((int(s) for s in entry.get("train", {})), key=lambda s: (s != 256, s))
    try:
        for size in sizes:
            if cache.train_path(image_id, size).exists():
                return gray_image(cache.open_train(image_id, size), 16)
        display = np.asarray(cache.open_display(image_id))
    except (InputError, OSError, ValueError):
        return None
    window = entry.get("window") or [None, None]
    if window[0] is None or not window[1]:
        lo, hi = float(display.min()), float(display.max())
        window = [(lo + hi) / 2, max(hi - lo, 1.0)]
    img8 = np.ascontiguousarray(to_uint8(apply_window(display, Window(float(window[0]), float(window[1])),
                                                      invert=bool(entry.get("invert")))))
    return QImage(img8.data, img8.shape[1], img8.shape[0], img8.shape[1], QImage.Format.Format_Grayscale8).copy()


def load_quality(run_dir: Path) -> dict | None:
    path = Path(run_dir) / "quality.json"
    if not path.exists():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"unreadable quality report: {exc}") from None
    if not isinstance(report, dict) or not isinstance(report.get("classes"), dict):
        raise InputError(path, "not a quality report (no classes)")
    return report


def quality_tiles(run_dir: Path, report: dict, cls: str, cache: ImageCache | None, k: int = 8) -> list[Tile]:
    """The k samples closest to a training image (memorisation shows first), each followed by its
    nearest real training image."""
    r = report["classes"][cls]
    samples = np.load(Path(run_dir) / r["samples_file"], mmap_mode="r")
    dist = np.asarray(r["sample_to_train"], np.float64)
    tiles: list[Tile] = []
    for i in np.argsort(dist, kind="stable")[:k]:
        real_id = r["nearest_real"][i]
        tiles.append((gray_image(samples[i], 12), f"#{i} · d {dist[i]:.3g}", True))
        tiles.append((real_image(cache, real_id), f"real {real_id[:8]}", False))
    return tiles


def sampled_tiles(out_dir: Path, cls: str, real_ids: list[str], cache: ImageCache | None,
                  k: int = 9) -> tuple[list[Tile], list[Tile]]:
    """Up to k SYNTHETIC images of `cls` from a sampled dataset, and up to k real images of the class."""
    from spinegui.core.dataset.vindr import load_index
    from spinegui.core.dicom.reader import read_image

    index = load_index(out_dir)
    syn: list[Tile] = []
    for rec in [r for r in index.images.values() if cls in r.labels][:k]:
        try:
            img = read_image(rec.path)
        except InputError:
            syn.append((None, f"{rec.image_id[-11:]}: unreadable", True))
            continue
        img8 = np.ascontiguousarray(to_uint8(apply_window(img.pixels, img.window, img.invert)))
        qimg = QImage(img8.data, img8.shape[1], img8.shape[0], img8.shape[1], QImage.Format.Format_Grayscale8)
        syn.append((qimg.copy(), _sample_caption(rec.image_id), True))
    real = [(real_image(cache, i), f"real {i[:8]}", False) for i in real_ids[:k]]
    return syn, real


def _sample_caption(image_id: str) -> str:
    """syn-gan-osteophytes-e00020-00003 -> "epoch 20 · #3"."""
    parts = image_id.rsplit("-", 2)
    try:
        return f"epoch {int(parts[1].lstrip('e'))} · #{int(parts[2])}"
    except (IndexError, ValueError):
        return image_id[-16:]


# --- drawing (UI thread) ---------------------------------------------------------------------------
def mark_synthetic(pm: QPixmap) -> QPixmap:
    """The picture with a red frame and a SYNTHETIC badge painted on it (the whole word, always)."""
    w, h = pm.width(), pm.height()
    p = QPainter(pm)
    p.setPen(QPen(QColor(SYNTHETIC_RED), 4))
    p.drawRect(2, 2, w - 4, h - 4)
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(6, min(16, min(w, h) // 9)))
    p.setFont(font)
    while p.fontMetrics().horizontalAdvance("SYNTHETIC") > w - 14 and font.pixelSize() > 6:
        font.setPixelSize(font.pixelSize() - 1)
        p.setFont(font)
    badge = QRect(4, 4, p.fontMetrics().horizontalAdvance("SYNTHETIC") + 6, p.fontMetrics().height() + 2)
    p.fillRect(badge, QColor(SYNTHETIC_RED))
    p.setPen(QColor("white"))
    p.drawText(badge, Qt.AlignmentFlag.AlignCenter, "SYNTHETIC")
    p.end()
    return pm


def tile_pixmap(image: QImage | None, px: int, synthetic: bool) -> QPixmap:
    pm = QPixmap(px, px)
    pm.fill(QColor("#202020"))
    p = QPainter(pm)
    if image is None:
        p.setPen(QColor("#bbbbbb"))
        p.drawText(pm.rect(), Qt.AlignmentFlag.AlignCenter, "not cached")
    else:
        scaled = image.scaled(px, px, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        p.drawImage((px - scaled.width()) // 2, (px - scaled.height()) // 2, scaled)
    p.end()
    return mark_synthetic(pm) if synthetic else pm


class FittedImage(QLabel):
    """A picture scaled to fit (aspect kept), again whenever the label is resized."""

    def __init__(self, placeholder: str, parent: QWidget | None = None):
        super().__init__(placeholder, parent)
        self._pixmap: QPixmap | None = None
        self.epoch: int | None = None
        self.synthetic = False
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(256, 256)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setStyleSheet("background: #202020; color: #bbbbbb;")

    def set_image(self, image: QImage | None, placeholder: str = "", synthetic: bool = False) -> None:
        self._pixmap = QPixmap.fromImage(image) if image is not None else None
        self.epoch = None
        self.synthetic = synthetic
        if self._pixmap is None:
            self.clear()
            self.setText(placeholder)
        else:
            self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._pixmap is not None:
            self._fit()

    def _fit(self) -> None:
        scaled = self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation)
        self.setPixmap(mark_synthetic(scaled) if self.synthetic else scaled)


class TileGrid(QWidget):
    """Tiles in rows of `columns`, each with a small caption under it; `set_px` resizes the tiles."""

    def __init__(self, columns: int, px: int = TILE_PX, parent: QWidget | None = None):
        super().__init__(parent)
        self.columns, self.px = columns, px
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        self.tiles: list[Tile] = []
        self._empty_text = ""
        self.empty = QLabel("")
        self.empty.setStyleSheet("color: #808080; padding: 8px;")
        self.grid.addWidget(self.empty, 0, 0, 1, columns)
        self.grid.setColumnStretch(columns, 1)  # tiles pack to the left

    def set_px(self, px: int) -> None:
        if px != self.px:
            self.px = px
            self.set_tiles(self.tiles, self._empty_text)

    def set_tiles(self, tiles: list[Tile], empty_text: str = "") -> None:
        while self.grid.count() > 1:
            item = self.grid.takeAt(1)
            if item.widget():
                item.widget().deleteLater()
        self.tiles, self._empty_text = list(tiles), empty_text
        self.empty.setText(empty_text if not tiles else "")
        self.empty.setVisible(not tiles)
        for n, (image, caption, synthetic) in enumerate(tiles):
            cell = QWidget()
            box = QVBoxLayout(cell)
            box.setContentsMargins(0, 0, 0, 0)
            box.setSpacing(1)
            picture = QLabel()
            picture.setPixmap(tile_pixmap(image, self.px, synthetic))
            text = QLabel(caption)
            text.setStyleSheet(f"font-size: 10px; color: {SYNTHETIC_RED if synthetic else '#505050'};")
            text.setFixedWidth(self.px)
            text.setToolTip(caption)
            box.addWidget(picture)
            box.addWidget(text)
            self.grid.addWidget(cell, 1 + n // self.columns, n % self.columns,
                                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)


def fit_tiles(grid: TileGrid, width: int, columns: int) -> None:
    """Tiles as large as `columns` of them fit in `width` pixels (56..160 px)."""
    grid.set_px(max(56, min(160, (width - grid.grid.spacing() * columns) // columns)))


class DistanceHistogram(pg.PlotWidget):
    """Nearest-neighbour distances in feature space: sample->train beside train->train (densities)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, background="w")
        item = self.getPlotItem()
        item.setTitle(f"<span style='color:{SYNTHETIC_RED}'>■ SYNTHETIC sample</span> &nbsp; "
                      "<span style='color:#1f77b4'>■ training image</span>", size="9pt")
        item.setLabel("bottom", "distance to the nearest (other) training image, in features")
        item.setLabel("left", "share")
        for axis in ("bottom", "left"):
            item.getAxis(axis).enableAutoSIPrefix(False)
        item.showGrid(x=True, y=True, alpha=0.25)
        brush_s, brush_t = pg.mkBrush(208, 24, 24, 70), pg.mkBrush(31, 119, 180, 70)
        self.samples = self.plot([0, 1], [0], stepMode="center", fillLevel=0, brush=brush_s,
                                 pen=pg.mkPen(SYNTHETIC_RED, width=2))
        self.train = self.plot([0, 1], [0], stepMode="center", fillLevel=0, brush=brush_t,
                               pen=pg.mkPen("#1f77b4", width=2))
        self.setMinimumHeight(170)
        self.setMaximumHeight(240)

    def set_distances(self, sample_to_train: list[float], train_to_train: list[float], bins: int = 24) -> None:
        st, tt = np.asarray(sample_to_train, float), np.asarray(train_to_train, float)
        both = np.concatenate([st, tt]) if len(st) + len(tt) else np.zeros(1)
        edges = np.histogram_bin_edges(both, bins=bins)
        top = 0.0
        for curve, values in ((self.samples, st), (self.train, tt)):
            counts, _ = np.histogram(values, edges)
            shares = counts / max(len(values), 1)
            curve.setData(edges, shares)
            top = max(top, float(shares.max(initial=0)))
        pad = (edges[-1] - edges[0]) * 0.03 or 0.5
        self.setXRange(edges[0] - pad, edges[-1] + pad, padding=0)
        self.setYRange(0, top * 1.08 or 1, padding=0)


class _Area(QScrollArea):
    def __init__(self, on_resize=None):
        super().__init__()
        self.on_resize = on_resize

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.on_resize is not None:
            self.on_resize()


def _scroll(widget: QWidget, on_resize=None) -> QScrollArea:
    area = _Area(on_resize)
    area.setWidgetResizable(True)
    area.setWidget(widget)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


class SampleBrowser(QWidget):
    """Controls and views; the panel runs the jobs (signals) and hands back what to show."""

    make_samples = Signal(int, int, str)   # n per class, last K epochs (0: last checkpoint), folder ("": default)
    check_quality = Signal(int)            # samples per class
    add_to_set = Signal()
    class_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.folder = ""
        self._build_controls()
        top, make_row, quality_row = self._control_rows()
        sampled_group = self._build_sampled_group(make_row)
        quality_group = self._build_quality_group(quality_row)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(sampled_group)
        split.addWidget(quality_group)
        split.setSizes([520, 480])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self.histogram.hide()

    def _build_controls(self) -> None:
        self.n = QSpinBox(minimum=1, maximum=100000, value=20)
        self.n.setToolTip("synthetic images written per class")
        self.last_epochs = QSpinBox(minimum=0, maximum=1000, value=0)
        self.last_epochs.setSpecialValueText("last checkpoint")
        self.last_epochs.setToolTip("harvest from the generator snapshots of the last K epochs, as the "
                                    "preprint did (0: the last checkpoint only)")
        self.folder_button = QPushButton("Folder…")
        self.folder_button.setToolTip("where to write the sampled dataset (default: a new samples_dataset "
                                      "folder in the run)")
        self.folder_button.clicked.connect(self._choose_folder)
        self.make_button = QPushButton("Make samples")
        self.make_button.clicked.connect(lambda: self.make_samples.emit(self.n.value(), self.last_epochs.value(),
                                                                        self.folder))
        self.quality_n = QSpinBox(minimum=2, maximum=100000, value=100)
        self.quality_n.setToolTip("samples per class for FID/KID and the nearest-image check")
        self.quality_button = QPushButton("Check quality")
        self.quality_button.clicked.connect(lambda: self.check_quality.emit(self.quality_n.value()))
        self.classes = QComboBox()
        self.classes.setMinimumWidth(170)
        self.classes.currentTextChanged.connect(lambda t: t and self.class_changed.emit(t))
        self.message = QLabel("")
        self.message.setWordWrap(True)

    def _control_rows(self) -> tuple[QHBoxLayout, QHBoxLayout, QHBoxLayout]:
        """The class row on top, and the rows of the sampling and the quality controls."""
        top = QHBoxLayout()
        top.addWidget(QLabel("Class"))
        top.addWidget(self.classes)
        top.addWidget(self.message, 1)
        make_row = QHBoxLayout()
        for w in (QLabel("Per class"), self.n, QLabel("from"), self.last_epochs, self.folder_button,
                  self.make_button):
            make_row.addWidget(w)
        make_row.addStretch(1)
        quality_row = QHBoxLayout()
        for w in (QLabel("Samples per class"), self.quality_n, self.quality_button):
            quality_row.addWidget(w)
        quality_row.addStretch(1)
        return top, make_row, quality_row

    def _build_sampled_group(self, make_row: QHBoxLayout) -> QGroupBox:
        """Left: the sampled dataset, SYNTHETIC beside real."""
        self.sampled_label = QLabel("No samples yet: Make samples writes a VinDr-layout dataset of "
                                    "SYNTHETIC images.")
        self.sampled_label.setWordWrap(True)
        self.synthetic_grid = TileGrid(3)
        self.real_grid = TileGrid(3)
        pair = QHBoxLayout()
        for title, grid in (("SYNTHETIC samples", self.synthetic_grid), ("Real training images", self.real_grid)):
            col = QVBoxLayout()
            head = QLabel(f"<b>{title}</b>")
            if grid is self.synthetic_grid:
                head.setStyleSheet(f"color: {SYNTHETIC_RED};")
            col.addWidget(head)
            col.addWidget(grid)
            col.addStretch(1)
            pair.addLayout(col)
        self.add_button = QPushButton("Add these samples to the augmentation set")
        self.add_button.setEnabled(False)
        self.add_button.clicked.connect(self.add_to_set)
        self.set_label = QLabel("")
        sampled = QWidget()
        s_box = QVBoxLayout(sampled)
        s_box.addWidget(self.sampled_label)
        s_box.addLayout(pair)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.set_label, 1)
        s_box.addLayout(row)
        s_box.addStretch(1)
        sampled_group = QGroupBox("Sampled dataset")
        g = QVBoxLayout(sampled_group)
        g.addLayout(make_row)
        self.sampled_area = _scroll(sampled, lambda: self._fit_tiles())
        g.addWidget(self.sampled_area)
        return sampled_group

    def _build_quality_group(self, quality_row: QHBoxLayout) -> QGroupBox:
        """Right: the quality report."""
        self.scores = QLabel("No quality report yet: Check quality computes FID, KID and each sample's "
                             "nearest real training image.")
        self.scores.setWordWrap(True)
        self.scores.setTextFormat(Qt.TextFormat.RichText)
        self.histogram = DistanceHistogram()
        self.pairs = TileGrid(4)
        quality = QWidget()
        q_box = QVBoxLayout(quality)
        q_box.addWidget(self.scores)
        q_box.addWidget(self.histogram)
        q_box.addWidget(QLabel("<b>Each sample beside its nearest real training image</b> (closest first)"))
        q_box.addWidget(self.pairs)
        q_box.addStretch(1)
        quality_group = QGroupBox("Quality")
        g = QVBoxLayout(quality_group)
        g.addLayout(quality_row)
        self.quality_area = _scroll(quality, lambda: self._fit_tiles())
        g.addWidget(self.quality_area)
        return quality_group

    def _fit_tiles(self) -> None:
        if not hasattr(self, "quality_area"):
            return  # still being built
        room = self.sampled_area.viewport().width() - 40  # margins, the gap between the two grids
        fit_tiles(self.synthetic_grid, room // 2, 3)
        fit_tiles(self.real_grid, room // 2, 3)
        fit_tiles(self.pairs, self.quality_area.viewport().width() - 30, 4)

    # --- filled by the panel -------------------------------------------------------------------
    def set_run(self, classes: list[str]) -> None:
        self.folder = ""
        self.folder_button.setText("Folder…")
        self.classes.blockSignals(True)
        self.classes.clear()
        self.classes.addItems(classes)
        self.classes.blockSignals(False)
        self.show_quality(None)
        self.show_sampled(None, {})
        self.set_message("")

    def current_class(self) -> str:
        return self.classes.currentText()

    def set_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #c01c28; font-weight: bold;" if error else "")

    def set_busy(self, making: bool, checking: bool) -> None:
        self.make_button.setEnabled(not making)
        self.make_button.setText("Making samples…" if making else "Make samples")
        self.quality_button.setEnabled(not checking)
        self.quality_button.setText("Checking…" if checking else "Check quality")

    def show_quality(self, report: dict | None, cls: str | None = None) -> None:
        r = (report or {}).get("classes", {}).get(cls or self.current_class()) if report else None
        if r is None:
            self.scores.setText("No quality report yet: Check quality computes FID, KID and each sample's "
                                "nearest real training image." if report is None else
                                f"The quality report has no class {cls or self.current_class()!r}.")
            self.histogram.hide()
            self.pairs.set_tiles([])
            return
        fid = "n/a (too few real images)" if r.get("fid") is None else f"{r['fid']:.3f}"
        kid = "n/a" if r.get("kid") is None else f"{r['kid']:.4f} ± {r.get('kid_std') or 0:.4f}"
        share = r.get("memorised_share")
        self.scores.setText(
            f"<span style='font-size: 15px'><b>FID {fid}</b> &nbsp; <b>KID {kid}</b>"
            f"</span><br>features: {report.get('feature_net', '?')}<br>epoch {r.get('epoch')}, "
            f"{len(r.get('sample_to_train', []))} samples vs {r.get('n_real')} real training images; "
            f"median distance sample→train {r.get('median_sample_to_train') or float('nan'):.3g} vs train→train "
            f"{(r.get('median_train_to_train') or float('nan')):.3g}; "
            f"<b>{(share or 0):.0%}</b> of samples closer to a training image than 95% of training images "
            f"are to each other")
        self.scores.setText(self.scores.text() + gate_text(r.get("gate")))
        self.histogram.set_distances(r.get("sample_to_train", []), r.get("train_to_train", []))
        self.histogram.show()

    def show_pairs(self, tiles: list[Tile]) -> None:
        self.pairs.set_tiles(tiles, "no samples in the report")

    def show_sampled(self, out: Path | None, written: dict[str, int], in_set: bool = False) -> None:
        if out is None:
            self.sampled_label.setText("No samples yet: Make samples writes a VinDr-layout dataset of "
                                       "SYNTHETIC images.")
            self.synthetic_grid.set_tiles([])
            self.real_grid.set_tiles([])
        else:
            counts = ", ".join(f"{n} {c}" for c, n in written.items())
            self.sampled_label.setText(f"<b>{out.name}</b> in {out.parent.name}<br>{counts or 'no images'} "
                                       "(SYNTHETIC, VinDr layout)")
            self.sampled_label.setToolTip(str(out))
        self.add_button.setEnabled(out is not None and not in_set)
        self.set_label.setText("✓ in this workspace's augmentation set" if in_set else "")

    def show_sampled_tiles(self, synthetic: list[Tile], real: list[Tile]) -> None:
        self.synthetic_grid.set_tiles(synthetic, "no sample of this class")
        self.real_grid.set_tiles(real, "no real training image of this class")

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Write the sampled dataset into an empty folder")
        if folder:
            self.folder = folder
            self.folder_button.setText(Path(folder).name + "…")
            self.folder_button.setToolTip(folder)
