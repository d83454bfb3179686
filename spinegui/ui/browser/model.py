"""The study browser's models: a lazy study -> image tree, and the filter proxy in front of it.

Why a tree and not a flat image table: the study rows carry their own summary (images, abnormal),
images stay grouped under their study whatever the sort, and a whole study folds away. It costs one
level of parent bookkeeping, kept to integers: a study index has internalId 0, an image index the
study's number + 1.

Nothing per row is built up front. The model keeps the ids in display order (lists of strings) and an
`ImageFacts` per image, made on first use (by painting, sorting or filtering) and dropped when the
image changes; `data()` formats only the rows the view asks for. Sorting happens here, with Python's
sort on precomputed keys (one pass, ~10 ms for the full dataset), rather than in the proxy, whose
comparator would call back into Python for each of the ~n log n comparisons. Filtering is decided in
one pass too (browse.FilterSpec); the proxy's filterAcceptsRow only looks the answer up.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from spinegui.core.dataset import browse
from spinegui.core.dataset.browse import FilterSpec, ImageFacts
from spinegui.core.dataset.vindr import LESION_TYPES, VinDrIndex

COLUMNS = ("Study / image", "Split", "Lesions", "Boxes", "Readers", "State")
ID_COL, SPLIT_COL, LESION_COL, BOX_COL, READER_COL, STATE_COL = range(len(COLUMNS))
COLUMN_TIPS = ("Study (bold) and its images; click to sort", "Dataset split: train or test",
               "Lesion types boxed in the image (No finding: none)", "Number of lesion boxes, all readers",
               "Readers who boxed or marked the image", "Edited in this workspace / verified by a reader")
LabelsRole = int(Qt.ItemDataRole.UserRole) + 1    # list[str]: the lesion chips to paint
ImageIdRole = int(Qt.ItemDataRole.UserRole) + 2   # str: the image id (None on study rows)
StudyIdRole = int(Qt.ItemDataRole.UserRole) + 3
SHORT_ID = 10  # characters of an id shown in a cell (full id in the tooltip)

# Roles as plain ints: data() runs several times per painted cell, and Qt passes ints.
DISPLAY, DECORATION, TOOLTIP, ALIGN, BACKGROUND, FOREGROUND = (int(r) for r in (
    Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ToolTipRole,
    Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole))
_IMAGE_ROLES = frozenset({DISPLAY, DECORATION, TOOLTIP, ALIGN, FOREGROUND, LabelsRole, ImageIdRole, StudyIdRole})
_STUDY_ROLES = frozenset({DISPLAY, TOOLTIP, ALIGN, BACKGROUND, LabelsRole, StudyIdRole})
_NO_INDEX = QModelIndex()
_NCOLS = len(COLUMNS)
_CENTER = Qt.AlignmentFlag.AlignCenter
_STUDY_BAND = QColor(128, 128, 128, 28)  # a faint band marks the study rows as group headers
_EDITED, _VERIFIED = QColor("#e8a33d"), QColor("#4caf50")
# Built once: or-ing enum flags in Python costs microseconds, and flags() runs for every row.
_STUDY_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_IMAGE_FLAGS = _STUDY_FLAGS | Qt.ItemFlag.ItemNeverHasChildren


def short(id_: str) -> str:
    return id_ if len(id_) <= SHORT_ID + 1 else id_[:SHORT_ID] + "…"


def state_text(edited: bool, verified: bool) -> str:
    return " · ".join(t for t, on in (("✎ edited", edited), ("✓ verified", verified)) if on)


class BrowserModel(QAbstractItemModel):
    def __init__(self, index: VinDrIndex, store=None, thumbnails=None, parent=None):
        super().__init__(parent)
        self.index_ = index
        self.store = store
        self.thumbnails = thumbnails  # ThumbnailLoader or None
        groups: dict[str, list[str]] = {}
        for rec in index.images.values():
            groups.setdefault(rec.study_id, []).append(rec.image_id)
        self._study_ids = list(groups)                     # study number -> id (dataset order)
        self._dataset_images = list(groups.values())
        self._images = [list(g) for g in self._dataset_images]  # study number -> image ids, display order
        self._order = list(range(len(self._study_ids)))   # display row -> study number
        self._row_of_study = list(self._order)            # study number -> display row
        self._loc = {img: (s, r) for s, ids in enumerate(self._images) for r, img in enumerate(ids)}
        self._facts: dict[str, ImageFacts] = {}
        self.spec = FilterSpec()
        self._match: set[str] | None = None               # None: the filter keeps everything
        self._study_hits: list[int] | None = None         # per study number: images kept
        self._summaries: dict[int, tuple] = {}            # study rows painted so far (see _summarise)
        self._sorted_by: tuple = (-1, Qt.SortOrder.AscendingOrder)

    # --- facts, filter, counts (called by the panel) -----------------------------------------
    def facts(self, image_id: str) -> ImageFacts:
        f = self._facts.get(image_id)
        if f is None:
            f = self._facts[image_id] = browse.image_facts(self.index_.images[image_id], self.store)
        return f

    def set_filter(self, spec: FilterSpec) -> None:
        """Decide which images are kept (the proxy must be told to re-filter afterwards)."""
        self.spec = spec
        self._summaries.clear()  # "k of n images" depends on the filter
        if spec.is_empty:
            self._match = self._study_hits = None
            return
        self._match = {i for i in self._loc if spec.matches(self.facts(i))}
        hits = [0] * len(self._study_ids)
        for image_id in self._match:
            hits[self._loc[image_id][0]] += 1
        self._study_hits = hits

    def accepts(self, source_row: int, source_parent: QModelIndex) -> bool:
        if self._match is None:
            return True
        if not source_parent.isValid():
            return self._study_hits[self._order[source_row]] > 0
        return self._images[self._order[source_parent.row()]][source_row] in self._match

    def counts(self) -> tuple[int, int, int]:
        """(images kept, images in all, studies kept)."""
        if self._match is None:
            return len(self._loc), len(self._loc), len(self._study_ids)
        return len(self._match), len(self._loc), sum(1 for h in self._study_hits if h)

    def is_kept(self, image_id: str) -> bool:
        return image_id in self._loc and (self._match is None or image_id in self._match)

    def refresh_image(self, image_id: str) -> None:
        """Its annotations changed: new facts, re-decide the filter for it, repaint it and its study."""
        if image_id not in self._loc:
            return
        self._facts.pop(image_id, None)
        study, row = self._loc[image_id]
        self._summaries.pop(study, None)
        if self._match is not None:
            was, now = image_id in self._match, self.spec.matches(self.facts(image_id))
            if was != now:
                (self._match.add if now else self._match.discard)(image_id)
                self._study_hits[study] += 1 if now else -1
        # Image first, then its study: the proxy inserts a study that just gained its first match.
        parent = self.createIndex(self._row_of_study[study], 0, 0)
        self.dataChanged.emit(self.index(row, 0, parent), self.index(row, len(COLUMNS) - 1, parent))
        self.dataChanged.emit(parent, parent.siblingAtColumn(len(COLUMNS) - 1))

    def thumbnails_changed(self, image_ids) -> None:
        """Repaint the thumbnail cells of these images: one dataChanged per run of adjacent rows."""
        rows_by_study: dict[int, list[int]] = {}
        for image_id in image_ids:
            loc = self._loc.get(image_id)
            if loc is not None:
                rows_by_study.setdefault(loc[0], []).append(loc[1])
        for study, rows in rows_by_study.items():
            parent = self.createIndex(self._row_of_study[study], 0, 0)
            rows.sort()
            start = prev = rows[0]
            for r in rows[1:] + [None]:
                if r is not None and r == prev + 1:
                    prev = r
                    continue
                self.dataChanged.emit(self.index(start, 0, parent), self.index(prev, 0, parent),
                                      [DECORATION, TOOLTIP])
                if r is not None:
                    start = prev = r

    def source_index(self, image_id: str, column: int = 0) -> QModelIndex:
        study, row = self._loc[image_id]
        return self.createIndex(row, column, study + 1)

    def walk(self, image_id: str | None, step: int):
        """Kept image ids after (step > 0) or before (step < 0) an image in display order, crossing
        studies; from the start (or the end) when image_id is None. The image itself need not be kept."""
        n = len(self._order)
        if image_id is None:
            first_study, first_row = (0, -1) if step > 0 else (n - 1, None)
        else:
            first_study, first_row = self.position(image_id)
        studies = range(first_study, n) if step > 0 else range(first_study, -1, -1)
        match = self._match
        for study_row in studies:
            ids = self._images[self._order[study_row]]
            if study_row == first_study and first_row is not None:
                rows = range(first_row + 1, len(ids)) if step > 0 else range(first_row - 1, -1, -1)
            else:
                rows = range(len(ids)) if step > 0 else range(len(ids) - 1, -1, -1)
            for r in rows:
                if match is None or ids[r] in match:
                    yield ids[r]

    def position(self, image_id: str) -> tuple[int, int]:
        """(display row of its study, row within the study): the key of the display order."""
        study, row = self._loc[image_id]
        return self._row_of_study[study], row

    # --- QAbstractItemModel ------------------------------------------------------------------
    def index(self, row, column, parent=_NO_INDEX):
        # Hot: the proxy maps every data() call through here. Plain ints, no enum lookups.
        if column < 0 or column >= _NCOLS or row < 0:
            return _NO_INDEX
        if not parent.isValid():
            return self.createIndex(row, column, 0) if row < len(self._order) else _NO_INDEX
        if parent.internalId() == 0 and parent.column() == 0:
            study = self._order[parent.row()]
            if row < len(self._images[study]):
                return self.createIndex(row, column, study + 1)
        return _NO_INDEX

    def parent(self, child=None):
        if child is None:  # QObject.parent()
            return super().parent()
        sid = child.internalId() if child.isValid() else 0
        if sid == 0:
            return _NO_INDEX
        return self.createIndex(self._row_of_study[sid - 1], 0, 0)

    def rowCount(self, parent=_NO_INDEX):
        if not parent.isValid():
            return len(self._order)
        if parent.internalId() == 0 and parent.column() == 0:
            return len(self._images[self._order[parent.row()]])
        return 0

    def columnCount(self, parent=_NO_INDEX):
        return _NCOLS

    def hasChildren(self, parent=_NO_INDEX):
        if not parent.isValid():
            return bool(self._order)
        return parent.internalId() == 0 and parent.column() == 0

    def flags(self, index):
        # Telling the view images never have children spares it asking for each row.
        return _IMAGE_FLAGS if index.internalId() else _STUDY_FLAGS

    def headerData(self, section, orientation, role=DISPLAY):
        if orientation == Qt.Orientation.Horizontal and role == DISPLAY:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == TOOLTIP:
            return COLUMN_TIPS[section]
        return None

    def data(self, index, role=DISPLAY):
        sid = index.internalId()
        if sid == 0:
            if role not in _STUDY_ROLES or not index.isValid():
                return None
            return self._study_data(self._order[index.row()], index.column(), role)
        if role not in _IMAGE_ROLES:  # most roles a view asks for: answered without any lookup
            return None
        return self._image_data(self._images[sid - 1][index.row()], index.column(), role)

    def _image_data(self, image_id: str, col: int, role: int):
        if role == ImageIdRole:
            return image_id
        if role == StudyIdRole:
            return self.index_.images[image_id].study_id
        if role == DECORATION:
            return self._thumbnail(image_id) if col == ID_COL else None
        f = self.facts(image_id)
        if role == DISPLAY:
            if col == ID_COL:
                return short(image_id)
            if col == SPLIT_COL:
                return f.split
            if col == LESION_COL:
                return ", ".join(f.labels)
            if col == BOX_COL:
                return f.n_boxes
            if col == READER_COL:
                return ", ".join(f.readers)
            return state_text(f.edited, f.verified)
        if role == LabelsRole:
            return list(f.labels) if col == LESION_COL else None
        if role == FOREGROUND:
            return (_VERIFIED if f.verified else _EDITED) if col == STATE_COL and (f.edited or f.verified) else None
        if role == ALIGN:
            return _CENTER if col == BOX_COL else None
        if role == TOOLTIP:
            return self._image_tooltip(image_id, f, col)
        return None

    def _thumbnail(self, image_id: str):
        if self.thumbnails is None:
            return None
        if not self.index_.images[image_id].file_exists:
            return self.thumbnails.missing
        return self.thumbnails.thumbnail(image_id)

    def _image_tooltip(self, image_id: str, f: ImageFacts, col: int) -> str:
        if col == LESION_COL:
            return "\n".join(f.labels)
        if col == READER_COL:
            return "Readers: " + (", ".join(f.readers) or "none named")
        lines = [f"Image {image_id}", f"Series {f.series_id}", f"Study {f.study_id}"]
        if col == ID_COL:
            rec = self.index_.images[image_id]
            if not rec.file_exists:
                lines.append(f"File missing: {rec.path}")
            elif self.thumbnails is not None:
                state, reason = self.thumbnails.status(image_id)
                if state == "failed":
                    lines.append(f"Cache failed: {reason}")
                elif state == "uncached":
                    lines.append("Not in the cache yet")
        if col == STATE_COL:
            lines.insert(0, state_text(f.edited, f.verified) or "Not edited, not verified")
        if col == STATE_COL and self.store is not None:
            ann = self.store.annotations(image_id)
            if ann.verified_by:
                lines.append(f"Verified by {ann.verified_by} at {ann.verified_at}")
            editors = sorted({b.edited_by for b in ann.boxes if b.edited_by})
            if editors:
                lines.append("Edited by " + ", ".join(editors))
        return "\n".join(lines)

    def _study_data(self, study: int, col: int, role: int):
        if role == StudyIdRole:
            return self._study_ids[study]
        if role == BACKGROUND:
            return _STUDY_BAND
        if role == ALIGN:
            return _CENTER if col == BOX_COL else None
        summary = self._summaries.get(study)
        if summary is None:
            summary = self._summaries[study] = self._summarise(study)
        cells, labels, tooltip = summary
        if role == DISPLAY:
            return cells[col]
        if role == LabelsRole:
            return labels if col == LESION_COL else None
        return tooltip  # TOOLTIP

    def _summarise(self, study: int) -> tuple:
        """A study row's cells, chips and tooltip (kept per study until it or the filter changes)."""
        facts = [self.facts(i) for i in self._images[study]]  # a study has a handful of images
        labels = [t for t in LESION_TYPES if any(t in f.labels for f in facts)] or ["No finding"]
        n, abnormal = len(facts), sum(f.abnormal for f in facts)
        kept = n if self._study_hits is None else self._study_hits[study]
        shown = f"{n} image{'s' * (n != 1)}" if kept == n else f"{kept} of {n} images"
        summary = f"{shown} · {abnormal} abnormal"
        edited, verified = sum(f.edited for f in facts), sum(f.verified for f in facts)
        state = " · ".join(t for t in (edited and f"{edited} edited", verified and f"{verified} verified") if t)
        cells = (f"{short(self._study_ids[study])}\n{summary}", "/".join(sorted({f.split for f in facts})),
                 ", ".join(labels), sum(f.n_boxes for f in facts), ", ".join(browse.readers_of(facts)), state)
        readers = cells[READER_COL]
        tip = "\n".join(t for t in (f"Study {self._study_ids[study]}", summary, state,
                                     readers and f"Readers: {readers}") if t)  # the whole of elided cells
        return cells, labels, tip

    # --- sorting -----------------------------------------------------------------------------
    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        """Sort studies by the column's study summary, and images within each study (stable)."""
        if (column, order) == self._sorted_by:
            return  # QTreeView.sortByColumn asks twice (indicator signal + its own call)
        self._sorted_by = (column, order)
        self.layoutAboutToBeChanged.emit()
        old_persistent = self.persistentIndexList()
        old_images = [list(ids) for ids in self._images]
        old_order = list(self._order)
        if column < 0 or column >= len(browse.SORT_COLUMNS):
            self._images = [list(g) for g in self._dataset_images]
            self._order = list(range(len(self._study_ids)))
        else:
            name = browse.SORT_COLUMNS[column]
            rev = order == Qt.SortOrder.DescendingOrder
            # From dataset order each time, so ties keep the dataset's order whatever came before.
            self._images = [sorted(g, key=lambda i: browse.image_sort_key(name, self.facts(i)), reverse=rev)
                            for g in self._dataset_images]
            keys = [browse.study_sort_key(name, sid, [self.facts(i) for i in self._images[s]])
                    for s, sid in enumerate(self._study_ids)]
            self._order = sorted(range(len(self._study_ids)), key=keys.__getitem__, reverse=rev)
        self._row_of_study = [0] * len(self._order)
        for row, s in enumerate(self._order):
            self._row_of_study[s] = row
        self._loc = {img: (s, r) for s, ids in enumerate(self._images) for r, img in enumerate(ids)}
        # Move the persistent indexes (the proxy's, the view's selection) to the rows' new places.
        new_persistent = []
        for idx in old_persistent:
            sid = idx.internalId()
            if sid == 0:
                row = self._row_of_study[old_order[idx.row()]]
                new_persistent.append(self.createIndex(row, idx.column(), 0))
            else:
                row = self._loc[old_images[sid - 1][idx.row()]][1]
                new_persistent.append(self.createIndex(row, idx.column(), sid))
        self.changePersistentIndexList(old_persistent, new_persistent)
        self.layoutChanged.emit()


class BrowserProxy(QSortFilterProxyModel):
    """Filters by the model's precomputed decision; sorting is forwarded to the model (see above)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setDynamicSortFilter(True)  # an edited image is re-filtered on its dataChanged

    def filterAcceptsRow(self, source_row, source_parent):
        return self.sourceModel().accepts(source_row, source_parent)

    def sort(self, column, order=Qt.SortOrder.AscendingOrder):
        self.sourceModel().sort(column, order)

    def apply_filter(self, spec: FilterSpec) -> None:
        # invalidate() re-maps in one layout change. The incremental invalidateFilter() path emits a
        # removal per run of hidden rows, each moving every persistent index (the view keeps one per
        # expanded study): 3.5x slower on the full dataset. Sorting is ours, so nothing is re-sorted.
        self.sourceModel().set_filter(spec)
        self.invalidate()


__all__ = ["BrowserModel", "BrowserProxy", "COLUMNS", "LabelsRole", "ImageIdRole", "StudyIdRole"]
