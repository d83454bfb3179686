"""Export an augmented dataset in the VinDr-SpineXR layout (the `spinegui augment` command).

    report = export_augmented(root, config, ["Vertebral collapse"], per_class=200, seed=0, out=DIR)

Sources are train images only (synthetic data must never reach validation or test). For each class,
``per_class`` outputs take the train images that show the class (or, for "No finding", have no box)
in turn, in an order fixed by the seed. Output (class c, j) is augmented with seeds derived from
(seed, c, j, attempt), so the files are byte-identical whatever the number of workers, and a class
gets the same images whichever other classes are asked for. An output whose every box of its class
was dropped (out of the image, too small) is drawn again with the next seed, at most MAX_DRAWS times.

Each output is ``train_images/aug-<source image id>-<k>.dicom`` (k-th use of that source), listed
with the source's study (so a study-level split keeps it with its source) and readers, in a new
series per source series (series_id = SeriesInstanceUID, as in VinDr).

Work goes out per source image (one decode, up to CHUNK outputs): decoding is the expensive part.
A source that cannot be read is skipped with its reason and its outputs go to the class's other
sources, so a class still gets ``per_class`` images while any of its sources can be read.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from spinegui import __version__
from spinegui.augment.knobs import ConfigError, changed, validate
from spinegui.core import outdir
from spinegui.core.dataset.vindr import COLUMNS, LABELS, NO_FINDING, ImageRecord, load_index
from spinegui.core.dataset.workspace import atomic_write_bytes
from spinegui.core.errors import InputError
from spinegui.core.ids import safe_id

MAX_DRAWS = 10
CHUNK = 8          # outputs per job: few enough that a lone source still spreads over the workers
REPORT_NAME = "augment_report.json"
OUTPUT_KIND = "augment"     # what core/outdir.py's list in the output folder names


@dataclass
class ExportReport:
    out_dir: Path
    per_class: int
    images: dict[str, int]                 # outputs written, per class
    dropped_boxes: dict[str, int]          # boxes (any class) lost by the kept transforms, per class
    redraws: int                           # transforms drawn again because every target box left
    skipped: list[dict] = field(default_factory=list)   # {"image_id", "path", "reason"[, "class"]}
    cancelled: bool = False
    report_path: Path | None = None

    @property
    def total(self) -> int:
        return sum(self.images.values())


@dataclass(frozen=True)
class _Slot:
    """One output: the j-th image of class ``label``, made from ``source`` (its ``copy``-th use)."""
    label: str
    j: int
    source: str
    copy: int

    @property
    def image_id(self) -> str:
        return f"aug-{self.source}-{self.copy}"


@dataclass(frozen=True)
class _Job:
    """What a worker needs for one source image and some of its outputs (picklable)."""
    source: str
    path: str
    study_id: str
    series_id: str                                  # the new series for this source's outputs
    boxes: tuple[tuple[str, str, tuple], ...]        # (lesion_type, rad_id, xyxy) of every reader
    no_finding_readers: tuple[str, ...]
    slots: tuple[_Slot, ...]
    config: dict
    seed: int
    out: str


# --- checks -------------------------------------------------------------------------------------
def check_classes(classes) -> list[str]:
    """The class names, in order, without repeats; InputError naming an unknown one."""
    if isinstance(classes, str):
        classes = classes.split(",")
    out: list[str] = []
    for name in (c.strip() for c in classes):
        if not name:
            continue
        if name not in LABELS:
            near = difflib.get_close_matches(name, LABELS, n=1, cutoff=0.5)
            near = near or [lab for lab in LABELS if lab.lower() == name.lower()]
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise InputError(None, f"unknown class '{name}'{hint}; classes are: {', '.join(LABELS)}")
        if name not in out:
            out.append(name)
    if not out:
        raise InputError(None, "no class given; classes are: " + ", ".join(LABELS))
    return out


def _check_number(name: str, value: int, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(None, f"{name} must be an integer of at least {low} (got {value!r})")
    return int(value)


def _prepare_out(out: Path, root: Path, overwrite: bool) -> Path:
    """The output folder by the rule of spinegui/core/outdir.py: never in (or holding) the dataset; a
    folder that is not empty only with overwrite, and only an earlier `spinegui augment` output, of
    which exactly the files it wrote are deleted."""
    return outdir.prepare(out, OUTPUT_KIND, overwrite=overwrite, dataset=root,
                          subdirs=("annotations", "train_images", "test_images"))


# --- planning -----------------------------------------------------------------------------------
def candidates(index, label: str) -> list[ImageRecord]:
    """Train images (with a file) that show ``label``; for "No finding", those without any box."""
    recs = [r for r in index.in_split("train") if r.file_exists]
    if label == NO_FINDING:
        picked = [r for r in recs if not r.boxes]
    else:
        picked = [r for r in recs if any(b.lesion_type == label for b in r.boxes)]
    return sorted(picked, key=lambda r: r.image_id)


def _source_order(recs: list[ImageRecord], label: str, seed: int) -> list[str]:
    rng = np.random.default_rng([seed, LABELS.index(label)])
    return [recs[i].image_id for i in rng.permutation(len(recs))]


def derived_seed(seed: int, label: str, j: int, attempt: int) -> int:
    return int(np.random.SeedSequence([seed, LABELS.index(label), j, attempt]).generate_state(1)[0])


def series_uid(source_series: str, seed: int) -> str:
    """A new 32-hex series per source series and export seed: derived images get their own series."""
    return hashlib.md5(f"spinegui-augment:{source_series}:{seed}".encode()).hexdigest()


# --- the worker ---------------------------------------------------------------------------------
def _worker_init() -> None:
    # The workers are the parallelism: one decoder thread each avoids oversubscribing the cores.
    from spinegui.core.dicom import reader as dicom_io
    from spinegui.core.procs import exit_with_parent

    dicom_io.set_decode_threads(1)
    exit_with_parent()


def run_job(job: _Job) -> dict:
    """Decode one source, write its outputs; returns {"failed": reason} or {"outputs": [...]}.
    Runs in a worker process."""
    from spinegui.augment.pipeline import Augmenter
    from spinegui.core.dicom.header import open_dataset, quiet_reader
    from spinegui.core.dicom.reader import read_image

    try:
        with quiet_reader():
            header = open_dataset(Path(job.path), pixels=False)
        img = read_image(job.path)
    except InputError as exc:
        return {"failed": exc.reason}
    if str(header.get("BurnedInAnnotation", "")).upper() == "YES":
        # The copy would be marked de-identified while its pixels (copied as they are) may show text
        # that identifies the patient; spinegui does not clean pixel data.
        return {"failed": "the source has burned-in annotation (BurnedInAnnotation YES); spinegui does not "
                          "clean pixels, so it writes no de-identified copy of it"}
    pixels = img.pixels
    if pixels.dtype != np.uint16 or img.converted_from_colour:
        return {"failed": f"only greyscale images of up to 16 unsigned bits can be augmented "
                          f"(this one decodes to {pixels.dtype}{', colour' if img.converted_from_colour else ''})"}
    bits = min(16, max(img.bits_stored or 16, int(pixels.max()).bit_length(), 1))
    aug = Augmenter(job.config)
    outputs = []
    for slot in job.slots:
        try:
            outputs.append(_one_output(job, slot, aug, header, img, bits))
        except OSError as exc:  # the output folder: nothing more can be written there
            return {"fatal": f"cannot write: {exc.strerror or exc}", "outputs": outputs}
        except Exception as exc:  # one odd file must not end a long export: report it, go on
            outputs.append({"j": slot.j, "label": slot.label, "redraws": 0,
                            "failed": f"cannot augment: {type(exc).__name__}: {exc}"})
    return {"outputs": outputs}


def _one_output(job: _Job, slot: _Slot, aug, header, img, bits: int) -> dict:
    from spinegui.augment.dicom_out import derived_dicom

    boxes = np.array([b[2] for b in job.boxes], np.float64).reshape(-1, 4)
    target = np.array([b[0] == slot.label for b in job.boxes], bool)
    for attempt in range(MAX_DRAWS):
        seed = derived_seed(job.seed, slot.label, slot.j, attempt)
        res = aug(img.pixels, boxes, seed=seed, value_range=(0, 2**bits - 1))
        if slot.label == NO_FINDING or np.any(res.kept & target):
            break
    else:
        return {"j": slot.j, "label": slot.label, "redraws": MAX_DRAWS - 1,
                "failed": f"the transform dropped every {slot.label} box in {MAX_DRAWS} draws"}
    rows, dropped = _rows(job, slot, res)
    provenance = {
        "generator": "spinegui augment", "spinegui": __version__, "source_image_id": job.source,
        "class": slot.label, "seed": seed, "export_seed": job.seed, "attempt": attempt,
        "params": res.params, "knobs": changed(job.config),
    }
    data = derived_dicom(header, res.image, image_id=slot.image_id, series_id=job.series_id,
                         bits_stored=bits, invert=img.invert, params=res.params, provenance=provenance)
    atomic_write_bytes(Path(job.out) / "train_images" / f"{safe_id(slot.image_id)}.dicom", data)
    return {"j": slot.j, "label": slot.label, "image_id": slot.image_id, "rows": rows, "dropped": dropped,
            "redraws": attempt}


def _rows(job: _Job, slot: _Slot, res) -> tuple[list[list[str]], dict[str, int]]:
    """CSV rows of one output (kept boxes of every reader, "No finding" readers) and drops per class."""
    base = [job.study_id, job.series_id, slot.image_id]
    rows, dropped = [], Counter()
    kept = iter(res.boxes)
    for (label, rad_id, _), is_kept in zip(job.boxes, res.kept):
        if not is_kept:
            dropped[label] += 1
            continue
        coords = [f"{v:.2f}" for v in next(kept)]
        if float(coords[0]) >= float(coords[2]) or float(coords[1]) >= float(coords[3]):
            dropped[label] += 1  # a sliver that rounding to the CSV's 2 decimals would empty
            continue
        rows.append(base + [rad_id, label, *coords])
    rows += [base + [rad, NO_FINDING, "", "", "", ""] for rad in job.no_finding_readers]
    return rows, dict(dropped)


# --- the export ---------------------------------------------------------------------------------
def export_augmented(root, config: dict, classes, per_class: int, seed: int, out, *, overwrite: bool = False,
                     workers: int = 1, progress: Callable[[int, int, str], None] | None = None,
                     should_stop: Callable[[], bool] | None = None,
                     command: str | None = None) -> ExportReport:
    """Write ``per_class`` augmented train images of each class to ``out`` as a VinDr root, with
    augment_report.json. Raises InputError for unusable input (nothing is written then)."""
    try:
        config = validate(config)
    except ConfigError as exc:
        raise InputError(None, str(exc)) from None
    classes = check_classes(classes)
    per_class = _check_number("--per-class", per_class, 1)
    seed = _check_number("--seed", seed, 0)
    workers = _check_number("--workers", workers, 1)
    index = load_index(root)
    order: dict[str, list[str]] = {}
    for label in classes:
        recs = candidates(index, label)
        if not recs:
            what = "without boxes" if label == NO_FINDING else f"with a {label} box"
            raise InputError(index.root, f"no train image {what} to augment")
        order[label] = _source_order(recs, label, seed)
    out = _prepare_out(Path(out).expanduser(), index.root, overwrite)
    try:
        slots_for = {label: [(j, order[label][j % len(order[label])]) for j in range(per_class)]
                     for label in classes}
        run = _Run(index, config, seed, out, workers, progress, should_stop, per_class * len(classes))
        try:
            failed: dict[str, str] = {}
            while slots_for and not run.cancelled:
                failed.update(run.pass_(slots_for))
                # Outputs whose source failed go round the class's remaining sources, until none is left.
                retry = {}
                for label, items in slots_for.items():
                    todo = [j for j, src in items if src in failed]
                    left = [s for s in order[label] if s not in failed]
                    if todo and left:
                        retry[label] = [(j, left[k % len(left)]) for k, j in enumerate(todo)]
                slots_for = retry
        finally:
            run.close()
        command = command or _command(root, config, classes, per_class, seed, out)
        return run.finish(classes, per_class, command)
    finally:
        # Even after a failure: what was written is listed, so that --overwrite can replace it.
        outdir.seal(out, OUTPUT_KIND)


def _command(root, config, classes, per_class, seed, out) -> str:
    from spinegui.augment.command import command_line

    return command_line(str(root), config, seed=seed, classes=classes, per_class=per_class, out=str(out))


class _Run:
    """The state of one export: jobs out, results in, counts, and the pool (if any)."""

    def __init__(self, index, config, seed, out, workers, progress, should_stop, total):
        self.index, self.config, self.seed, self.out = index, config, seed, out
        self.progress, self.should_stop, self.total = progress, should_stop, total
        self.copies: Counter = Counter()
        self.results: dict[tuple[str, int], dict] = {}   # (label, j) -> output
        self.skipped: list[dict] = []
        self.cancelled = False
        self.workers, self.pool = workers, None

    def _pool(self, n_jobs: int) -> ProcessPoolExecutor | None:
        """Started on first need, with no more workers than jobs (each worker imports torch)."""
        if self.pool is None and min(self.workers, n_jobs) > 1:
            self.pool = ProcessPoolExecutor(min(self.workers, n_jobs), mp_context=get_context("spawn"),
                                            initializer=_worker_init)
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _jobs(self, slots_for: dict[str, list[tuple[int, str]]]) -> list[_Job]:
        by_source: dict[str, list[_Slot]] = defaultdict(list)
        for label, items in slots_for.items():
            for j, src in items:
                by_source[src].append(_Slot(label, j, src, self.copies[src]))
                self.copies[src] += 1
        jobs = []
        for src, slots in by_source.items():
            rec = self.index.images[src]
            boxes = tuple((b.lesion_type, b.rad_id, b.xyxy) for b in rec.boxes)
            for k in range(0, len(slots), CHUNK):
                jobs.append(_Job(src, str(rec.path), rec.study_id, series_uid(rec.series_id, self.seed), boxes,
                                 tuple(sorted(rec.no_finding_readers)), tuple(slots[k:k + CHUNK]), self.config,
                                 self.seed, str(self.out)))
        return jobs

    def pass_(self, slots_for) -> dict[str, str]:
        """Run every output of ``slots_for``; returns the sources that could not be read."""
        failed: dict[str, str] = {}

        def record(job: _Job, result: dict) -> None:
            if "failed" in result:
                if job.source not in failed:
                    failed[job.source] = result["failed"]
                    self.skipped.append({"image_id": job.source, "path": job.path, "reason": result["failed"]})
                return
            for o in result["outputs"]:
                self.results[(o["label"], o["j"])] = o
                if "failed" in o:
                    self.skipped.append({"image_id": job.source, "path": job.path, "class": o["label"],
                                         "reason": o["failed"]})
                if self.progress:
                    self.progress(len(self.results), self.total, o.get("image_id", job.source))
            if "fatal" in result:
                raise InputError(self.out, result["fatal"])

        jobs = self._jobs(slots_for)
        pool = self._pool(len(jobs))
        if pool is None:
            for job in jobs:
                if self._stop():
                    break
                record(job, run_job(job))
            return failed
        pending = {pool.submit(run_job, job): job for job in jobs}
        while pending:
            done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in done:
                job = pending.pop(fut)
                if fut.cancelled():
                    continue
                try:
                    record(job, fut.result())
                except BrokenProcessPool:
                    raise InputError(self.out, "a worker process crashed; run the export again") from None
            if not self.cancelled and self._stop():
                # Jobs already running finish and are recorded, so every file written is in the CSV.
                for fut in pending:
                    fut.cancel()
        return failed

    def _stop(self) -> bool:
        if self.should_stop and self.should_stop():
            self.cancelled = True
        return self.cancelled

    def finish(self, classes, per_class, command) -> ExportReport:
        rows, images, dropped, redraws = [], Counter(), Counter(), 0
        for label in classes:  # CSV in (class, j) order: the same file whatever finished first
            for j in range(per_class):
                o = self.results.get((label, j))
                if o is None:
                    continue
                redraws += o["redraws"]
                if "failed" in o:
                    continue
                rows += o["rows"]
                images[label] += 1
                dropped.update(o["dropped"])
        _write_csvs(self.out, rows)
        report = ExportReport(self.out, per_class, {c: images[c] for c in classes},
                              {c: dropped[c] for c in LABELS if dropped[c]}, redraws, self.skipped,
                              self.cancelled, self.out / REPORT_NAME)
        record = {
            "spinegui": __version__, "source": str(self.index.root), "command": command, "seed": self.seed,
            "classes": classes, "per_class": per_class, "config": self.config, "knobs": changed(self.config),
            "images": report.images, "images_total": report.total, "dropped_boxes": report.dropped_boxes,
            "redraws": redraws, "skipped": self.skipped, "cancelled": self.cancelled,
        }
        atomic_write_bytes(report.report_path, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
        return report


def _write_csvs(out: Path, train_rows: list[list[str]]) -> None:
    for split, rows in (("train", train_rows), ("test", [])):
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
        atomic_write_bytes(out / "annotations" / f"{split}.csv", buf.getvalue().encode("utf-8"))
