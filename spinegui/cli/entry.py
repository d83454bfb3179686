"""The `spinegui` command. Each subcommand calls the same core functions the GUI calls.

Bad input ends with exit code 2 and one line `spinegui: error: <file>: <reason>` on stderr; --debug
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from spinegui import __version__
from spinegui.cli.common import CountBar, Parser, run_handler
from spinegui.core.argtypes import SEED_MAX, finite, number
from spinegui.core.errors import InputError

EXIT_BROKEN_PIPE = 141   # 128 + SIGPIPE: what a shell reports for a tool whose reader went away
MAX_WORKERS = 256   # a typo like --workers 10000 would start that many processes on a big dataset


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="spinegui", description="Spine X-ray augmentation research on VinDr-SpineXR.")
    p.add_argument("--version", action="version", version=f"spinegui {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    p.add_argument("--dataset", type=Path, default=None,
                   help="open the app on this VinDr-SpineXR root (default: the last one, or the demo dataset)")
    p.add_argument("--screenshot", type=Path, default=None, metavar="OUT.png",
                   help="open the app, save a picture of the window once the first image is drawn, exit")
    p.add_argument("--workspace", dest="app_workspace", type=Path, default=None,
                   help="the app's workspace folder (default: one per dataset under the user data folder)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    d = sub.add_parser("demo-data", help="write a procedural demo dataset in the VinDr-SpineXR layout")
    d.add_argument("out", type=Path, help="new (or empty) folder to write")
    d.add_argument("--images", type=int, default=300, help="number of images (default 300)")
    d.add_argument("--seed", type=number(int, 0, SEED_MAX), default=0,
                   help="the same seed gives the same dataset, byte for byte (default 0)")
    d.add_argument("--full-size", action="store_true", help="VinDr-like 2300-3300 px tall images (slower)")
    d.add_argument("--class-mix", choices=("vindr", "balanced"), default="vindr",
                   help="vindr: the dataset's imbalance (default); balanced: each class about equally often")
    d.add_argument("--workers", type=number(int, 1, MAX_WORKERS), default=None, help="processes (default: all cores)")
    d.set_defaults(handler=cmd_demo_data)

    i = sub.add_parser("info", help="summarise a dataset: images, studies, readers, counts, problems")
    i.add_argument("root", type=Path,
                   help="VinDr-SpineXR dataset folder (holds annotations/, train_images/, test_images/)")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.add_argument("--workspace", type=Path, default=None, help="workspace folder (default: per dataset)")
    i.set_defaults(handler=cmd_info)

    r = sub.add_parser("render", help="render a DICOM's display image to an 8-bit PNG")
    r.add_argument("file", type=Path, help="any DICOM file")
    r.add_argument("-o", "--output", type=Path, required=True, help="PNG file to write")
    r.add_argument("--window", type=finite, nargs=2, metavar=("CENTER", "WIDTH"), default=None,
                   help="VOI window in modality units (default: the file's window, else a robust percentile window)")
    r.add_argument("--frame", type=number(int, 0), default=0, help="frame of a multi-frame file (default 0)")
    r.set_defaults(handler=cmd_render)

    c = sub.add_parser("cache", help="decode every image once into the workspace cache")
    c.add_argument("root", type=Path, help="VinDr-SpineXR dataset folder")
    c.add_argument("--size", type=int, default=256, help="training array size in pixels (default 256)")
    c.add_argument("--workers", type=number(int, 1, MAX_WORKERS), default=None, help="processes (default: all cores)")
    c.add_argument("--workspace", type=Path, default=None, help="workspace folder (default: per dataset)")
    c.set_defaults(handler=cmd_cache)

    x = sub.add_parser("export", help="write the current annotations as VinDr CSV, COCO, Pascal VOC or YOLO")
    x.add_argument("root", type=Path, help="VinDr-SpineXR dataset folder")
    x.add_argument("--format", choices=("vindr", "coco", "voc", "yolo"), required=True,
                   help="vindr: the dataset's own CSV; coco: one JSON; voc: one XML per image; yolo: one txt per image")
    x.add_argument("--out", type=Path, required=True, help="new or empty folder to write")
    x.add_argument("--overwrite", action="store_true", help="replace an earlier `spinegui export` output in --out")
    x.add_argument("--workspace", type=Path, default=None, help="workspace folder (default: per dataset)")
    x.add_argument("--provenance", action="store_true",
                   help="vindr: add edited_by, edited_at, verified_by, verified_at columns")
    x.set_defaults(handler=cmd_export)
    _add_augment_parser(sub)
    from spinegui.cli import gan as cli_gan
    from spinegui.cli import jobs as jobs_cli

    cli_gan.add_parsers(sub)
    from spinegui.cli import experiment as cli_experiment

    cli_experiment.add_parsers(sub)
    from spinegui.cli import report as cli_report

    cli_report.add_parsers(sub)
    jobs_cli.add_parsers(sub)
    from spinegui.cli import selftest as selftest_cmd

    selftest_cmd.add_parsers(sub)
    from spinegui.cli import reader_study as cli_reader_study

    cli_reader_study.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            if sys.stdout is not None:   # (None in a windowed app)
                sys.stdout.flush()   # a reader that went away shows here, not as a traceback at exit
    except BrokenPipeError:
        _drop_broken_streams()
        return EXIT_BROKEN_PIPE


def _drop_broken_streams() -> None:
    """`spinegui info DS | head -1`: the reader has gone. A stream that still cannot flush is pointed
    at devnull, so that the interpreter's last flush at exit stays quiet too (Python docs, "Note on
    SIGPIPE")."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            except (OSError, ValueError):   # not a real file (a test's capture): nothing to do
                pass
        except (OSError, ValueError, AttributeError):   # closed, or None in a windowed app
            pass


def _main(argv: list[str] | None) -> int:
    started = time.perf_counter()
    args = build_parser().parse_args(argv)
    # every command's parser names its handler (set_defaults); no command opens the app
    return run_handler(args, None if args.command else lambda a: _open_app(a, started))


def _open_app(args, started: float) -> int:
    from spinegui.ui.app import run_app

    if args.screenshot is not None and args.screenshot.suffix.lower() != ".png":
        raise InputError(args.screenshot, "the screenshot must be a .png file")
    return run_app(args.dataset, args.screenshot, args.app_workspace, started)


# --- helpers ------------------------------------------------------------------------------------
def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise InputError(None, f"{name} must be at least 1 (got {value})")


# --- commands -----------------------------------------------------------------------------------
def cmd_demo_data(args) -> int:
    from spinegui.core.demo.dataset import generate_demo_dataset

    _positive("--images", args.images)
    _positive("--workers", args.workers)
    t0 = time.perf_counter()
    plans = generate_demo_dataset(args.out, args.images, args.seed, args.full_size, args.class_mix,
                                  args.workers, CountBar("demo-data"))
    studies = len({p.study_id for p in plans})
    print(f"wrote {len(plans)} images from {studies} studies to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_info(args) -> int:
    from spinegui.core.dataset.cache import ImageCache
    from spinegui.core.dataset.vindr import check_boxes_against_sizes, load_index
    from spinegui.core.dataset.workspace import default_workspace_dir

    index = load_index(args.root)
    counts = index.counts()
    problems = list(index.problems)
    cache_dir = (args.workspace or default_workspace_dir(index.root)) / "cache"
    cache = ImageCache(cache_dir) if (cache_dir / "manifest.json").exists() else None
    if cache:  # the cache knows the image sizes, so boxes can be checked against them for free
        sizes = {k: tuple(e["shape"]) for k, e in cache.entries.items() if e.get("state") == "ok"}
        problems += check_boxes_against_sizes(index, sizes)
        for image_id, reason in sorted(cache.failures().items()):
            rec = index.images.get(image_id)
            problems.append(_decode_problem(rec, image_id, reason))
    counts["problems"] = [
        {"path": str(p.path), "line": p.line, "severity": p.severity, "reason": p.reason} for p in problems
    ]
    counts["root"] = str(index.root)
    counts["cache"] = str(cache_dir) if cache else None
    if args.json:
        print(json.dumps(counts, indent=2))
    else:
        _print_info(counts, problems)
    return 0


def _decode_problem(rec, image_id: str, reason: str):
    from spinegui.core.dataset.vindr import Problem

    return Problem(rec.path if rec else Path(image_id), f"cannot decode: {reason}")


def _print_info(counts: dict, problems) -> None:
    print(f"dataset  {counts['root']}")
    print(f"images   {counts['images']}  studies {counts['studies']}  series {counts['series']}")
    print(f"readers  {', '.join(counts['readers']) or '-'}")
    splits = counts["splits"]
    print()
    print(f"{'':24}" + "".join(f"{s:>18}" for s in splits))
    for key in ("images", "studies", "normal", "abnormal", "boxes"):
        print(f"{key:24}" + "".join(f"{splits[s][key]:>18}" for s in splits))
    print(f"{'class (boxes / images)':24}")
    for cls in next(iter(splits.values()))["classes"]:
        cells = "".join(f"{splits[s]['classes'][cls]['boxes']:>11} / {splits[s]['classes'][cls]['images']:<4}"
                        for s in splits)
        print(f"  {cls:22}{cells}")
    print()
    if not problems:
        print("problems none")
        return
    print(f"problems {len(problems)}")
    for p in problems[:25]:
        print(f"  {p.severity}: {p}")
    if len(problems) > 25:
        print(f"  ... and {len(problems) - 25} more (--json lists all)")


def cmd_render(args) -> int:
    from PIL import Image

    from spinegui.core.dicom.display import Window
    from spinegui.core.dicom.reader import read_image

    window = None
    if args.window:   # (parsing refused NaN and infinities)
        center, width = args.window
        if width <= 0:
            raise InputError(None, f"--window width must be positive (got {width:g})")
        window = Window(center, width, "user")
    out = args.output
    if out.suffix.lower() != ".png":
        raise InputError(out, "output must be a .png file")
    img = read_image(args.file, frame=args.frame)
    try:
        Image.fromarray(img.display_u8(window)).save(out)
    except OSError as exc:
        raise InputError(out, f"cannot write: {exc.strerror or exc}") from None
    print(f"wrote {out} ({img.pixels.shape[1]}x{img.pixels.shape[0]})")
    return 0


def cmd_cache(args) -> int:
    from spinegui.core.dataset.cache import ImageCache
    from spinegui.core.dataset.vindr import load_index
    from spinegui.core.dataset.workspace import Workspace

    _positive("--size", args.size)
    _positive("--workers", args.workers)
    if args.size > 4096:
        raise InputError(None, f"--size {args.size} is larger than any VinDr image; use at most 4096")
    index = load_index(args.root)
    ws = Workspace.for_dataset(index.root, args.workspace)
    ws_lock = ws.lock("spinegui cache")  # noqa: F841 - one writer per workspace; freed on return
    cache = ImageCache(ws.cache_dir)
    items = [(r.image_id, r.path) for r in index.images.values() if r.file_exists]
    report = cache.build(items, train_size=args.size, workers=args.workers, progress=CountBar("cache"))
    return _cache_outcome(ws.cache_dir, index, cache, report)


def _cache_outcome(cache_dir: Path, index, cache, report) -> int:
    """The summary; exit 1 naming how many of the dataset's images are not cached (a file that failed
    before and has not changed since counts again: the cache still lacks it)."""
    recs = index.images
    failed = {k: why for k, why in cache.failures().items() if k in recs and recs[k].file_exists}
    missing = sorted(str(r.path) for r in recs.values() if not r.file_exists)
    fresh = report.reused - (len(failed) - report.failed)   # known failures are "reused" by the build
    rate = report.decoded / report.seconds if report.seconds else 0.0
    print(f"cache {cache_dir}: {report.decoded} decoded, {fresh} up to date, {len(failed)} failed, "
          f"{len(missing)} missing in {report.seconds:.1f} s ({rate:.1f} images/s)")
    lines = [f"  failed {recs[k].path}: {why}" for k, why in sorted(failed.items())]
    lines += [f"  missing {path}" for path in missing]
    for line in lines[:20]:
        print(line)
    if len(lines) > 20:
        print(f"  ... and {len(lines) - 20} more (spinegui info --json lists every problem)")
    if lines:
        print(f"spinegui: error: {len(lines)} of {len(recs)} images not cached ({len(failed)} cannot be "
              f"decoded, {len(missing)} missing)", file=sys.stderr)
    return 1 if lines else 0


def cmd_export(args) -> int:
    from spinegui.core.annotations.exports import export_workspace

    report = export_workspace(args.root, args.format, args.out, args.workspace, provenance=args.provenance,
                              overwrite=args.overwrite,
                              progress=CountBar("image sizes"))
    print(f"exported {report.images} images ({report.boxes} boxes, {report.no_finding_images} without boxes) "
          f"as {report.format} to {report.out_dir}")
    return 0


# --- augment (spinegui.augment.export) ---------------------------------------------------------
def _add_augment_parser(sub) -> None:
    a = sub.add_parser("augment", help="write augmented train images of some classes as a new VinDr-layout dataset")
    a.add_argument("root", type=Path, nargs="?", help="the VinDr-SpineXR root to draw train images from")
    how = a.add_mutually_exclusive_group()
    how.add_argument("--preset", help="a built-in or saved preset (e.g. basic, hybrid-geometric)")
    how.add_argument("--config", type=Path, metavar="FILE.toml", help="settings from a TOML file")
    a.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change one setting on top of the preset/config/defaults (repeatable; see --list-knobs)")
    a.add_argument("--classes", help='comma-separated classes, e.g. "Vertebral collapse,No finding"')
    a.add_argument("--per-class", type=int, help="augmented images to write per class")
    a.add_argument("--seed", type=int, default=0, help="the whole export follows from it (default 0)")
    a.add_argument("--out", type=Path, help="new or empty folder to write (a VinDr root)")
    a.add_argument("--overwrite", action="store_true", help="replace an earlier augment output in --out")
    a.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    a.add_argument("--list-knobs", action="store_true",
                   help="list every setting with its range and default, and exit")
    a.set_defaults(handler=cmd_augment)


def _augment_config(args) -> dict:
    from spinegui.augment.command import parse_set
    from spinegui.augment.knobs import ConfigError, validate
    from spinegui.augment.presets import load_config, load_preset

    values = load_preset(args.preset) if args.preset else load_config(args.config) if args.config else {}
    for item in args.set:
        try:
            key, value = parse_set(item)
        except ValueError as exc:
            raise InputError(None, str(exc)) from None
        values = {**values, key: value}
    try:
        return validate(values)
    except ConfigError as exc:
        raise InputError(None, str(exc)) from None


def _list_knobs() -> int:
    from spinegui.augment.knobs import KNOBS
    from spinegui.augment.presets import preset_names

    for k in KNOBS:
        default = f"[{','.join(f'{v:g}' for v in k.default)}]" if isinstance(k.default, tuple) else (
            f"{k.default:g}" if isinstance(k.default, float) else str(k.default))
        print(f"{k.name:16} {k.kind:7} {k.allowed():24} default {default}")
        print(f"{'':16} {k.help}")
    print(f"presets: {', '.join(preset_names())}")
    return 0


def _augment_command(args) -> str:
    """The command as parsed, for the report (main() may be called with an argv of its own)."""
    import shlex

    parts = ["spinegui", "augment", str(args.root)]
    parts += ["--preset", args.preset] if args.preset else ["--config", str(args.config)] if args.config else []
    for item in args.set:
        parts += ["--set", item]
    parts += ["--classes", args.classes, "--per-class", str(args.per_class), "--seed", str(args.seed),
              "--out", str(args.out)]
    parts += ["--overwrite"] if args.overwrite else []
    parts += ["--workers", str(args.workers)] if args.workers else []
    return shlex.join(parts)


MAX_PER_CLASS = 100_000   # augment --per-class: ten times VinDr-SpineXR's train split, per class


def cmd_augment(args) -> int:
    import os

    from spinegui.augment.export import export_augmented

    if args.list_knobs:
        return _list_knobs()
    missing = [n for n, v in (("ROOT", args.root), ("--classes", args.classes), ("--per-class", args.per_class),
                              ("--out", args.out)) if v is None]
    if missing:
        raise InputError(None, f"augment needs {', '.join(missing)}")
    from spinegui.core.limits import check_count

    # a typo like 10**20 would otherwise plan that many outputs (and processes) before writing one
    check_count("--per-class", args.per_class, 1, MAX_PER_CLASS)
    if args.workers is not None:
        check_count("--workers", args.workers, 1, MAX_WORKERS)
    config = _augment_config(args)
    t0 = time.perf_counter()
    report = export_augmented(args.root, config, args.classes, args.per_class, args.seed, args.out,
                              overwrite=args.overwrite, workers=args.workers or os.cpu_count() or 1,
                              progress=CountBar("augment"), command=_augment_command(args))
    per = ", ".join(f"{c} {n}" for c, n in report.images.items())
    dropped = sum(report.dropped_boxes.values())
    print(f"wrote {report.total} augmented images ({per}) to {report.out_dir} in {time.perf_counter() - t0:.1f} s; "
          f"{report.redraws} redraws, {dropped} boxes dropped, {len(report.skipped)} skipped")
    for s in report.skipped[:10]:
        print(f"  skipped {s['path']}: {s['reason']}")
    if len(report.skipped) > 10:
        print(f"  ... and {len(report.skipped) - 10} more in {report.report_path}")
    return 0
# --- end augment --------------------------------------------------------------------------------
