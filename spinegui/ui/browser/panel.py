"""The study browser panel: studies and their images, filtered, sorted, with thumbnails.

A QTreeView over BrowserModel (lazy, see browser_model) through BrowserProxy (filtering). Rows have
one height and no widgets: lesion chips are painted by a delegate, thumbnails come from the
ThumbnailLoader (a background thread, batched repaints). The panel only presents: what matches a filter
is decided by spinegui.core.dataset.browse.

    browser = StudyBrowser(index, store, cache)
    browser.image_selected.connect(viewer.show_image)
    store.listeners.append(browser.refresh_image)      # edits show at once
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QModelIndex, QPoint, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QIcon, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from spinegui.core.dataset import browse
from spinegui.core.dataset.browse import FilterSpec
from spinegui.core.dataset.cache import ImageCache
from spinegui.core.dataset.vindr import LESION_COLOURS, LESION_TYPES, NO_FINDING, VinDrIndex
from spinegui.ui.browser.model import (
    BOX_COL,
    ID_COL,
    LESION_COL,
    READER_COL,
    SPLIT_COL,
    STATE_COL,
    BrowserModel,
    BrowserProxy,
    ImageIdRole,
    LabelsRole,
    StudyIdRole,
)
from spinegui.ui.browser.thumbnails import THUMB_SIZE, ThumbnailLoader

# Short chip texts (the full name is in the cell's tooltip and the lesion filter's list).
CHIP_TEXT = {
    "Osteophytes": "Osteophytes", "Disc space narrowing": "Disc narrowing", "Surgical implant": "Implant",
    "Foraminal stenosis": "Foraminal", "Spondylolysthesis": "Spondylo", "Vertebral collapse": "Collapse",
    "Other lesions": "Other", NO_FINDING: "No finding",
}
COLUMN_WIDTHS = {ID_COL: 190, SPLIT_COL: 52, LESION_COL: 220, BOX_COL: 50, READER_COL: 92, STATE_COL: 130}
# Narrowest each column gets before the view scrolls sideways (the id column: the thumbnail and a few
# characters; the others: their header text). Longer cells are elided, their tooltips hold the whole
# text; so do the headers' (a sort arrow in a narrow header may elide its text).
MIN_ID_TEXT_PX = 16
HEADER_PAD_PX = 14
SHRINK_FIRST = (SPLIT_COL, READER_COL, STATE_COL, BOX_COL, ID_COL)  # the chips tell the most: they go last
VISUAL_ORDER = (ID_COL, LESION_COL, BOX_COL, STATE_COL, SPLIT_COL, READER_COL)
SEARCH_DELAY_MS = 180     # typing re-filters once the user pauses, not per key
UPDATE_DELAY_MS = 250     # thumbnails_updated calls are gathered into one repaint


class RowDelegate(QStyledItemDelegate):
    """The id column: fixes the (uniform) row height to the thumbnail's, whatever row comes first,
    and draws a study's two lines as a bold id over a muted summary."""

    def sizeHint(self, option, index):
        hint = super().sizeHint(option, index)
        return QSize(hint.width(), max(hint.height(), THUMB_SIZE + 6))

    def paint(self, painter: QPainter, option, index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        style = opt.widget.style() if opt.widget else QApplication.style()
        if index.parent().isValid():  # an image row: icon + id, as any item; a lone "…" says nothing
            if opt.rect.width() - opt.decorationSize.width() - 12 < opt.fontMetrics.horizontalAdvance("0000…"):
                opt.text = ""  # too narrow for the id: its tooltip has it
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
            return
        lines = opt.text.replace("\u2028", "\n").split("\n")  # initStyleOption made "\n" a LineSeparator
        opt.text = ""
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        rect = opt.rect.adjusted(4, 0, -4, 0)  # study rows have no decoration: the text gets the cell
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        text = opt.palette.color(opt.palette.ColorRole.HighlightedText if selected else opt.palette.ColorRole.Text)
        muted = QColor(text)
        muted.setAlphaF(0.7)
        bold = QFont(opt.font)
        bold.setBold(True)
        fm = QFontMetrics(opt.font)
        top = rect.top() + (rect.height() - fm.height() * len(lines)) / 2
        painter.save()
        for i, line in enumerate(lines):
            painter.setFont(bold if i == 0 else opt.font)
            painter.setPen(text if i == 0 else muted)
            elided = QFontMetrics(painter.font()).elidedText(line, Qt.TextElideMode.ElideRight, rect.width())
            painter.drawText(QRectF(rect.left(), top + i * fm.height(), rect.width(), fm.height()),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), elided)
        painter.restore()


class LesionChipDelegate(QStyledItemDelegate):
    """Paints a cell's labels as rounded chips in the class colours, in up to two rows ("+n" beyond)."""

    GAP = 4

    def __init__(self, parent=None):
        super().__init__(parent)
        self._fonts: tuple | None = None  # (base font, chip font, chip height, chip widths): per font

    def _chip_font(self, base: QFont) -> tuple:
        if self._fonts is None or self._fonts[0] != base:
            font = QFont(base)
            font.setPixelSize(11)
            font.setBold(True)
            fm = QFontMetrics(font)
            widths = {t: fm.horizontalAdvance(text) + 12 for t, text in CHIP_TEXT.items()}
            self._fonts = (QFont(base), font, fm.height() + 4, widths)
        return self._fonts[1:]

    def paint(self, painter: QPainter, option, index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""  # the style draws background/selection only; the chips are ours
        style = opt.widget.style() if opt.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        labels = index.data(LabelsRole)
        if not labels:
            return
        font, chip_h, widths = self._chip_font(opt.font)
        rect = opt.rect.adjusted(4, 0, -4, 0)
        max_lines = 2 if rect.height() >= 2 * chip_h + self.GAP else 1
        lines, hidden = _layout_chips([widths.get(t, 80) for t in labels], rect.width(), self.GAP, max_lines)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setFont(font)
        top = rect.top() + (rect.height() - (len(lines) * (chip_h + self.GAP) - self.GAP)) / 2
        for line in lines:
            x = rect.left()
            for item, width in line:
                r = QRectF(x, top, width, chip_h)
                if item is None:
                    painter.setPen(opt.palette.color(opt.palette.ColorRole.Text))
                    painter.drawText(r, Qt.AlignmentFlag.AlignCenter, f"+{hidden}")
                else:
                    _draw_chip(painter, r, labels[item], opt)
                x += width + self.GAP
            top += chip_h + self.GAP
        painter.restore()


def _layout_chips(widths: list[int], avail: int, gap: int, max_lines: int) -> tuple[list[list[tuple]], int]:
    """Greedy line filling: lines of (label index, width), and how many labels did not fit (shown as
    a "+n" marker, item None, at the end of the last line)."""
    marker = 24
    lines: list[list[tuple]] = [[]]
    used = 0
    for i, w in enumerate(widths):
        need = used + gap + w if lines[-1] else w
        if need <= avail:
            lines[-1].append((i, w))
            used = need
        elif len(lines) < max_lines and w <= avail:
            lines.append([(i, w)])
            used = w
        else:  # no room: free space for the marker on the last line
            while lines[-1] and used + gap + marker > avail:
                lines[-1].pop()
                used = sum(x for _, x in lines[-1]) + gap * max(0, len(lines[-1]) - 1)
            lines[-1].append((None, marker))
            break
    shown = sum(1 for line in lines for item, _ in line if item is not None)
    return [line for line in lines if line], len(widths) - shown


def _draw_chip(painter: QPainter, r: QRectF, label: str, opt) -> None:
    path = QPainterPath()
    path.addRoundedRect(r, r.height() / 2, r.height() / 2)
    colour = LESION_COLOURS.get(label)
    if colour is None:  # "No finding": a quiet outline, not a class colour
        muted = opt.palette.color(opt.palette.ColorRole.PlaceholderText)
        painter.setPen(muted)
        painter.drawPath(path)
        painter.drawText(r, Qt.AlignmentFlag.AlignCenter, CHIP_TEXT[NO_FINDING])
        return
    fill = QColor(colour)
    painter.fillPath(path, fill)
    # Dark text on light chips, white on dark ones (perceived luminance).
    lum = 0.299 * fill.red() + 0.587 * fill.green() + 0.114 * fill.blue()
    painter.setPen(QColor("#1b1b1b") if lum > 150 else QColor("white"))
    painter.drawText(r, Qt.AlignmentFlag.AlignCenter, CHIP_TEXT.get(label, label))


def fitted_widths(preferred: dict[int, int], least: dict[int, int], avail: int, stretch: int,
                  shrink_first: tuple[int, ...] = ()) -> dict[int, int]:
    """Column widths summing to ``avail`` where it allows: the preferred widths, grown in ``stretch``,
    or shrunk towards their least widths in the order of ``shrink_first`` (then the rest, ``stretch``
    last); never below the least."""
    widths = {c: max(w, least[c]) for c, w in preferred.items()}
    excess = sum(widths.values()) - avail
    if excess <= 0:
        widths[stretch] -= excess
        return widths
    order = [*shrink_first, *(c for c in widths if c not in shrink_first and c != stretch), stretch]
    for col in order:
        take = min(excess, widths[col] - least[col])
        widths[col] -= take
        excess -= take
    return widths


def _dot(colour: str | None) -> QIcon:
    pm = QPixmap(12, 12)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    if colour:
        p.setBrush(QColor(colour))
        p.setPen(Qt.PenStyle.NoPen)
    else:
        p.setPen(QColor("#9aa0a6"))
    p.drawEllipse(1, 1, 10, 10)
    p.end()
    return QIcon(pm)


def _combo(items: list[tuple[str, object]], tip: str) -> QComboBox:
    box = QComboBox()
    for text, value in items:
        box.addItem(text, value)
    box.setToolTip(tip)
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    return box


class _TreeView(QTreeView):
    """Says so when the filters leave nothing, rather than showing a blank pane."""

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.model() is not None and self.model().rowCount() == 0:
            p = QPainter(self.viewport())
            p.setPen(self.palette().color(self.palette().ColorRole.PlaceholderText))
            p.drawText(self.viewport().rect().adjusted(0, 40, 0, 0),
                       int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop),
                       "No image matches these filters")
            p.end()


class StudyBrowser(QWidget):
    image_selected = Signal(str)  # image_id of the newly current image

    def __init__(self, index: VinDrIndex, store=None, cache: ImageCache | None = None, parent=None):
        super().__init__(parent)
        self._index = index
        self._store = store
        self._current: str | None = None
        self._syncing = False          # True while we move the view's current row ourselves
        self._collapsed: set[str] = set()
        self._updated: set[str] = set()
        self.thumbnails = ThumbnailLoader(parent=self)
        self.model = BrowserModel(index, store, self.thumbnails, self)
        self.proxy = BrowserProxy(self)
        self.proxy.setSourceModel(self.model)
        self.thumbnails.loaded.connect(self.model.thumbnails_changed)
        self._build_controls()
        self._build_view()
        self._update_timer = QTimer(self, singleShot=True, interval=UPDATE_DELAY_MS)
        self._update_timer.timeout.connect(self._repaint_updated)
        self.set_cache(cache)
        self._view.expandAll()
        self._update_counts()

    # --- construction --------------------------------------------------------------------------
    def _build_controls(self) -> None:
        self.search_edit = QLineEdit(placeholderText="Search study, series or image id (prefix)…")
        self.search_edit.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._apply_filter)
        self.search_edit.textChanged.connect(self._search_timer.start)
        self.split_box = _combo([("All splits", None), ("Train", "train"), ("Test", "test")], "Split")
        self.lesion_box = _combo([("Any lesion type", None)], "Lesion type (image has at least one such box)")
        for t in LESION_TYPES:
            self.lesion_box.addItem(_dot(LESION_COLOURS[t]), t, t)
        self.lesion_box.addItem(_dot(None), NO_FINDING, NO_FINDING)
        self.finding_box = _combo([("Normal + abnormal", None), ("Normal", browse.NORMAL),
                                   ("Abnormal", browse.ABNORMAL)], "Normal (no box) or abnormal")
        self.reader_box = _combo([("Any reader", None)], "Reader (boxed or marked the image)")
        for r in browse.all_readers(self._index, self._store):
            self.reader_box.addItem(r, r)
        self.state_box = _combo([("Any state", None), ("Edited", "edited"), ("Not edited", "unedited"),
                                 ("Verified", "verified"), ("Not verified", "unverified")],
                                "Edited in this workspace / verified by a reader")
        for box in (self.split_box, self.lesion_box, self.finding_box, self.reader_box, self.state_box):
            box.currentIndexChanged.connect(self._apply_filter)
        self.clear_button = QToolButton(text="Clear", toolTip="Clear all filters")
        self.clear_button.clicked.connect(lambda: self.set_filter(FilterSpec()))
        self.counts_label = QLabel()
        self.counts_label.setObjectName("browserCounts")

    def _build_view(self) -> None:
        view = self._view = _TreeView(self)
        view.setModel(self.proxy)
        view.setUniformRowHeights(True)  # the view need not measure rows: 10k rows scroll smoothly
        view.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setAllColumnsShowFocus(True)
        view.setIndentation(14)
        view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setItemDelegateForColumn(ID_COL, RowDelegate(view))
        view.setItemDelegateForColumn(LESION_COL, LesionChipDelegate(view))
        header = view.header()
        header.setSortIndicatorClearable(True)   # a third click restores the dataset order
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        view.setSortingEnabled(True)
        # Set widths (ResizeToContents would read every row), fitted to the view as it resizes.
        for visual, col in enumerate(VISUAL_ORDER):  # in order of use
            header.moveSection(header.visualIndex(col), visual)
        header.setStretchLastSection(False)
        self._fitting = False
        self._user_widths = False  # a column the user dragged: stop fitting, keep theirs
        header.sectionResized.connect(self._on_section_resized)
        view.viewport().installEventFilter(self)
        self.fit_columns()
        view.selectionModel().currentChanged.connect(self._on_current_changed)
        view.collapsed.connect(lambda i: self._collapsed.add(i.data(StudyIdRole)))
        view.expanded.connect(lambda i: self._collapsed.discard(i.data(StudyIdRole)))
        self.proxy.layoutChanged.connect(self._scroll_to_current)

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        grid.addWidget(self.search_edit, 0, 0, 1, 4)
        grid.addWidget(self.clear_button, 0, 4)
        grid.addWidget(self.split_box, 1, 0)
        grid.addWidget(self.finding_box, 1, 1)
        grid.addWidget(self.lesion_box, 1, 2, 1, 3)
        grid.addWidget(self.reader_box, 2, 0)
        grid.addWidget(self.state_box, 2, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addLayout(grid)
        layout.addWidget(view, 1)
        layout.addWidget(self.counts_label)

    @property
    def view(self) -> QTreeView:
        return self._view

    # --- column widths -------------------------------------------------------------------------
    def min_widths(self) -> dict[int, int]:
        fm = self._view.header().fontMetrics()
        out = {col: fm.horizontalAdvance(self.model.headerData(col, Qt.Orientation.Horizontal)) + HEADER_PAD_PX
               for col in COLUMN_WIDTHS}
        indent = 2 * self._view.indentation()  # the branch area and an image's indentation
        out[ID_COL] = max(out[ID_COL], indent + THUMB_SIZE + 8 + MIN_ID_TEXT_PX)
        return out

    def fit_columns(self) -> None:
        """Every column inside the view: from the preferred widths (COLUMN_WIDTHS) the least telling
        columns shrink first, the lesion chips last; room to spare goes to the chips."""
        if self._user_widths:
            return
        avail = self._view.viewport().width()
        widths = fitted_widths(COLUMN_WIDTHS, self.min_widths(), avail, LESION_COL, SHRINK_FIRST)
        self._fitting = True
        try:
            header = self._view.header()
            for col, width in widths.items():
                header.resizeSection(col, width)
        finally:
            self._fitting = False

    def _on_section_resized(self, *_args) -> None:
        if not self._fitting and self._view.header().underMouse():
            self._user_widths = True

    def eventFilter(self, obj, ev) -> bool:
        if obj is self._view.viewport() and ev.type() == QEvent.Type.Resize:
            self.fit_columns()
        return False

    # --- cache and thumbnails ------------------------------------------------------------------
    def set_cache(self, cache: ImageCache | None) -> None:
        self.thumbnails.set_cache(cache)
        self._view.viewport().update()

    def thumbnails_updated(self, image_ids: list[str]) -> None:
        """The cache gained these: their rows reload lazily; visible ones repaint (gathered, throttled)."""
        self.thumbnails.mark_available(image_ids)
        self._updated.update(image_ids)
        if not self._update_timer.isActive():
            self._update_timer.start()

    def _repaint_updated(self) -> None:
        visible = [i for i in self._visible_image_ids() if i in self._updated]
        self._updated.clear()
        if visible:
            self.model.thumbnails_changed(visible)

    def _visible_image_ids(self) -> list[str]:
        """The image rows on screen now (a few dozen: walks the viewport, never the model)."""
        ids, height = [], self._view.viewport().height()
        idx = self._view.indexAt(QPoint(1, 1))
        while idx.isValid() and self._view.visualRect(idx).top() < height:
            image_id = idx.data(ImageIdRole)
            if image_id:
                ids.append(image_id)
            idx = self._view.indexBelow(idx)
        return ids

    # --- filtering -----------------------------------------------------------------------------
    def filter_spec(self) -> FilterSpec:
        return FilterSpec(split=self.split_box.currentData(), lesion=self.lesion_box.currentData(),
                          finding=self.finding_box.currentData(), reader=self.reader_box.currentData(),
                          state=self.state_box.currentData(), search=self.search_edit.text())

    def set_filter(self, spec: FilterSpec) -> None:
        """Set every filter control at once (one re-filter, not one per control)."""
        boxes = ((self.split_box, spec.split), (self.lesion_box, spec.lesion), (self.finding_box, spec.finding),
                 (self.reader_box, spec.reader), (self.state_box, spec.state))
        for box, value in boxes:
            box.blockSignals(True)
            if box is self.reader_box and value and box.findData(value) < 0:
                box.addItem(value, value)
            box.setCurrentIndex(max(0, box.findData(value)))
            box.blockSignals(False)
        self.search_edit.blockSignals(True)
        self.search_edit.setText(spec.search)
        self.search_edit.blockSignals(False)
        self._apply_filter()

    def _apply_filter(self) -> None:
        self._search_timer.stop()
        self._syncing = True  # rows vanishing move Qt's current row: that is not the user choosing
        try:
            self.proxy.apply_filter(self.filter_spec())
            self._expand()
        finally:
            self._syncing = False
        self._show_current()
        self._update_counts()

    def _expand(self) -> None:
        # Rows that come back after a filter come back collapsed: expand all but the user's collapses.
        self._view.expandAll()
        if self._collapsed:
            for row in range(self.proxy.rowCount()):
                idx = self.proxy.index(row, 0)
                if idx.data(StudyIdRole) in self._collapsed:
                    self._view.collapse(idx)

    def _update_counts(self) -> None:
        kept, total, studies = self.model.counts()
        self.counts_label.setText(f"{kept:,} of {total:,} images · {studies:,} stud{'y' if studies == 1 else 'ies'}")

    def visible_count(self) -> tuple[int, int]:
        kept, total, _ = self.model.counts()
        return kept, total

    # --- the current image ---------------------------------------------------------------------
    def current_image(self) -> str | None:
        return self._current

    def select_image(self, image_id: str) -> None:
        """Make it current (emits image_selected if it changed) and show its row if the filter keeps it."""
        if image_id not in self._index.images:
            raise KeyError(f"unknown image {image_id!r}")
        changed = image_id != self._current
        self._current = image_id
        self._show_current()
        if changed:
            self.image_selected.emit(image_id)

    def next_image(self) -> str | None:
        return self._step(+1)

    def previous_image(self) -> str | None:
        return self._step(-1)

    def _step(self, direction: int) -> str | None:
        target = next(self.model.walk(self._current, direction), None)
        if target is not None:
            self.select_image(target)
        return target

    def neighbours(self, image_id: str, n: int = 1) -> list[str]:
        """Up to n ids after and n before it in the current order, nearest first, alternating
        after/before (what a viewer should prefetch first)."""
        if image_id not in self._index.images:
            return []
        after = self.model.walk(image_id, +1)
        before = self.model.walk(image_id, -1)
        out = []
        for _ in range(n):
            for it in (after, before):
                nxt = next(it, None)
                if nxt is not None:
                    out.append(nxt)
        return out

    def _show_current(self) -> None:
        """Point the view's current row at the current image (or at nothing if it is filtered out)."""
        self._syncing = True
        try:
            sm = self._view.selectionModel()
            if self._current is None or not self.model.is_kept(self._current):
                sm.clearCurrentIndex()
                sm.clearSelection()
                return
            idx = self.proxy.mapFromSource(self.model.source_index(self._current))
            if idx.parent().isValid() and not self._view.isExpanded(idx.parent()):
                self._view.expand(idx.parent())
            if self._view.currentIndex() != idx:
                self._view.setCurrentIndex(idx)
            self._view.scrollTo(idx)
        finally:
            self._syncing = False

    def _scroll_to_current(self) -> None:
        idx = self._view.currentIndex()
        if idx.isValid():
            self._view.scrollTo(idx)

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._syncing:
            return
        image_id = current.data(ImageIdRole)
        if image_id and image_id != self._current:  # a study row leaves the current image as it is
            self._current = image_id
            self.image_selected.emit(image_id)

    # --- edits ---------------------------------------------------------------------------------
    def refresh_image(self, image_id: str) -> None:
        """Its annotations changed: re-decide the filter for it and repaint its row and its study's."""
        if image_id not in self._index.images:
            return
        self._syncing = True
        try:
            self.model.refresh_image(image_id)
        finally:
            self._syncing = False
        for reader in self.model.facts(image_id).readers:
            if self.reader_box.findData(reader) < 0:
                self.reader_box.addItem(reader, reader)
        if self.model.is_kept(image_id):
            parent = self.proxy.mapFromSource(self.model.source_index(image_id)).parent()
            if parent.isValid() and self.model.index_.images[image_id].study_id not in self._collapsed:
                self._view.expand(parent)  # a study that just reappeared comes back collapsed
        self._update_counts()
