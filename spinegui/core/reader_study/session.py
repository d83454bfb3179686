"""One reader's pass through a study: their own random order, their answers, pause and resume.

    s = session(study, "rad1")                # or ReaderSession(study, "rad1"); study or its folder
    item = s.next_item()                      # None when every item is answered
    pixels = study.load_item(item)
    s.record(item, "synthetic", 4, 7.2)       # one row appended to answers/rad1.csv, flushed and fsynced
    done, total = s.progress

The order is drawn once from the study's seed and the reader's name and kept in readers/NAME.json, so a
resumed session (any process, any day) goes on exactly where it stopped. Reader names are data: a name
becomes a file name only if it is a plain one (core/ids.py).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from spinegui.core.dataset.vindr import LABELS
from spinegui.core.dataset.workspace import atomic_write_bytes
from spinegui.core.errors import InputError
from spinegui.core.ids import safe_id, shown
from spinegui.core.reader_study.study import ORIGINS, Study, open_study

ANSWERS = ORIGINS                       # what a reader may answer: real or synthetic
COLUMNS = ("item", "answer", "confidence", "seconds", "lesion_class", "quality", "answered_at")
REQUIRED = COLUMNS[:4]
CONFIDENCE = (1, 5)                     # 1: a guess .. 5: certain
QUALITY = (1, 5)
MAX_SECONDS = 7 * 24 * 3600.0           # a week on one image is a paused session's clock, not a reading


@dataclass(frozen=True)
class Answer:
    item: str
    answer: str
    confidence: int
    seconds: float
    lesion_class: str | None = None
    quality: int | None = None
    answered_at: str = ""


def check_reader(reader: object, where: Path | None = None) -> str:
    name = safe_id(reader, "reader name", where)
    if name.startswith("."):
        raise InputError(where, f"reader name {shown(name)} may not start with a dot")
    return name


def _whole(value: object, low: int, high: int) -> int | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if isinstance(value, bool) or not text.lstrip("+-").isdigit():
        return None
    n = int(text)
    return n if low <= n <= high else None


def check_answer(item: object, answer: object, confidence: object, seconds: object, lesion_class: object,
                 quality: object, items: set[str] | list[str]) -> Answer:
    """The answer as a row, or ValueError saying what is wrong (the caller names file and line)."""
    if item not in items:
        raise ValueError(f"unknown item {shown(item)}")
    if answer not in ANSWERS:
        raise ValueError(f"answer {shown(answer)} is not real or synthetic")
    conf = _whole(confidence, *CONFIDENCE)
    if conf is None:
        low, high = CONFIDENCE
        raise ValueError(f"confidence {shown(confidence)} is not a whole number from {low} to {high}")
    try:
        secs = float(seconds)   # type: ignore[arg-type]
    except (TypeError, ValueError):
        secs = math.nan
    if not 0.0 <= secs <= MAX_SECONDS:   # (NaN fails too)
        raise ValueError(f"seconds {shown(seconds)} is not a time from 0 to {MAX_SECONDS:.0f}")
    lesion = None if lesion_class in (None, "") else lesion_class
    if lesion is not None and lesion not in LABELS:
        raise ValueError(f"lesion_class {shown(lesion_class)} is not a VinDr-SpineXR class")
    qual = None if quality in (None, "") else _whole(quality, *QUALITY)
    if quality not in (None, "") and qual is None:
        raise ValueError(f"quality {shown(quality)} is not a whole number from {QUALITY[0]} to {QUALITY[1]}")
    return Answer(str(item), str(answer), conf, secs, lesion, qual)


def read_answers(path: Path, study: Study) -> dict[str, Answer]:
    """item -> Answer, every row checked; InputError naming the file and the line of the first bad row.
    A last line cut short by a crash (no newline, not a valid row) is ignored: that item is asked again."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"unreadable answers file: {exc}") from None
    return parse_answers(text, path, study)


def parse_answers(text: str, path: Path, study: Study) -> dict[str, Answer]:
    """read_answers on the file's text."""
    try:
        rows = list(_rows(text))
    except csv.Error as exc:
        raise InputError(path, f"not a CSV file: {exc}") from None
    if not rows:
        return {}
    header = [h.strip() for h in rows[0][1]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(path, f"line 1: missing column{'s' * (len(missing) > 1)} {', '.join(missing)}")
    col = {c: header.index(c) for c in COLUMNS if c in header}
    torn = not text.endswith("\n")
    items, out, first = set(study.items), {}, {}
    for k, (line, row) in enumerate(rows[1:], start=2):
        try:
            if len(row) != len(header):
                raise ValueError(f"{len(row)} fields where the header has {len(header)}")
            got = {c: row[i] for c, i in col.items()}
            ans = check_answer(got["item"], got["answer"], got["confidence"], got["seconds"],
                               got.get("lesion_class"), got.get("quality"), items)
        except ValueError as exc:
            if torn and k == len(rows):
                break
            raise InputError(path, f"line {line}: {exc}") from None
        if ans.item in out:
            raise InputError(path, f"line {line}: {ans.item} answered twice (first on line {first[ans.item]})")
        out[ans.item], first[ans.item] = Answer(**{**ans.__dict__, "answered_at": got.get("answered_at", "")}), line
    return out


def _rows(text: str):
    """(line number, fields) of each non-blank CSV row."""
    reader = csv.reader(io.StringIO(text))
    line = 1
    for row in reader:
        if any(cell.strip() for cell in row):
            yield line, row
        line = reader.line_num + 1


class ReaderSession:
    def __init__(self, study: Study | str | Path, reader: str):
        self.study = study if isinstance(study, Study) else open_study(study)
        folder = self.study.folder
        self.reader = check_reader(reader, folder)
        self.order_path = folder / "readers" / f"{self.reader}.json"
        self.answers_path = folder / "answers" / f"{self.reader}.csv"
        self.order = self._order()
        self.answered: dict[str, Answer] = read_answers(self.answers_path, self.study)
        self._mend_tail()
        self._seen = self._file_size()

    def _file_size(self) -> int:
        try:
            return self.answers_path.stat().st_size
        except FileNotFoundError:
            return 0

    # --- order ------------------------------------------------------------------------------------
    def _order(self) -> list[str]:
        path = self.order_path
        for other in path.parent.glob("*.json"):
            if other.stem != self.reader and other.stem.casefold() == self.reader.casefold():
                raise InputError(path.parent, f"reader {shown(self.reader)} differs from reader "
                                              f"{shown(other.stem)} only in case; use one name")
        if path.exists():
            try:
                doc = json.loads(path.read_bytes())
                order = doc["order"]
            except (OSError, ValueError, TypeError, KeyError) as exc:
                raise InputError(path, f"unreadable reader order: {exc}") from None
            if not isinstance(order, list) or sorted(map(str, order)) != sorted(self.study.items):
                raise InputError(path, "this reader's order does not hold exactly the study's items")
            return [str(i) for i in order]
        seed = order_seed(self.study.seed, self.reader)
        order = [self.study.items[i] for i in np.random.default_rng(seed).permutation(len(self.study.items))]
        doc = {"reader": self.reader, "seed": seed, "order": order}
        atomic_write_bytes(path, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
        return order

    def _mend_tail(self) -> None:
        """A row cut short by a crash (read_answers skipped it) is cut off, so the next row starts a line."""
        try:
            data = self.answers_path.read_bytes()
        except FileNotFoundError:
            return
        if not data or data.endswith(b"\n"):
            return
        cut = data[: data.rfind(b"\n") + 1]
        tail_valid = len(parse_answers(cut.decode("utf-8-sig"), self.answers_path, self.study)) < len(self.answered)
        atomic_write_bytes(self.answers_path, data + b"\n" if tail_valid else cut)

    # --- answering --------------------------------------------------------------------------------
    @property
    def progress(self) -> tuple[int, int]:
        return len(self.answered), len(self.order)

    def next_item(self) -> str | None:
        return next((i for i in self.order if i not in self.answered), None)

    def record(self, item: str, answer: str, confidence: int, seconds: float, lesion_class: str | None = None,
               quality: int | None = None) -> Answer:
        """Append one answer (flushed and fsynced before this returns); InputError for a bad one."""
        try:
            ans = check_answer(item, answer, confidence, seconds, lesion_class, quality, self.study.items)
        except ValueError as exc:
            raise InputError(self.answers_path, str(exc)) from None
        if self._file_size() != self._seen:   # the same reader answering in another window meanwhile
            self.answered = read_answers(self.answers_path, self.study)
        if ans.item in self.answered:
            raise InputError(self.answers_path, f"{ans.item} is already answered by {self.reader}")
        ans = Answer(**{**ans.__dict__, "answered_at": datetime.now(UTC).isoformat(timespec="seconds")})
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        self.answers_path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.answers_path.exists() or self.answers_path.stat().st_size == 0
        if new:
            writer.writerow(COLUMNS)
        writer.writerow([ans.item, ans.answer, ans.confidence, f"{ans.seconds:.3f}", ans.lesion_class or "",
                         "" if ans.quality is None else ans.quality, ans.answered_at])
        with open(self.answers_path, "a", newline="", encoding="utf-8") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        self._seen = self._file_size()
        self.answered[ans.item] = ans
        return ans


def order_seed(study_seed: int, reader: str) -> int:
    digest = hashlib.sha256(f"{int(study_seed)}/{reader}".encode()).hexdigest()
    return int(digest[:15], 16)


def session(study: Study | str | Path, reader: str) -> ReaderSession:
    return ReaderSession(study, reader)
