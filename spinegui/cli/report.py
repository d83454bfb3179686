"""`spinegui report` (an experiment's report.html) and `spinegui gradcam` (where a classifier looked).

torch is imported inside `gradcam` only, so that `spinegui report` and the parser stay light.
"""

from __future__ import annotations

import sys
from pathlib import Path

from spinegui.core.errors import InputError

PICTURES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
FIGURES_KIND = "report-figures"   # what core/outdir.py's list in the figures folder names


def add_parsers(sub) -> None:
    r = sub.add_parser("report", help="write an experiment's report.html: results, confusion matrices, curves, "
                                      "compute cost, leakage and fold checks on one self-contained page")
    r.add_argument("run", type=Path, help="experiment folder (spinegui experiment --out)")
    r.add_argument("--open", action="store_true", help="open the report in the web browser")
    r.add_argument("--out", type=Path, default=None, help="write the page here instead of RUN/report.html")
    r.add_argument("--figures", type=Path, default=None, metavar="DIR",
                   help="also write README figures into DIR (new or empty): confusion_<run>.svg, compute.svg, "
                        "results.md")
    r.add_argument("--overwrite", action="store_true",
                   help="replace the figures an earlier `spinegui report --figures` wrote in DIR")
    r.set_defaults(handler=cmd_report)

    g = sub.add_parser("gradcam", help="Grad-CAM overlay: where a trained classifier found the evidence for a "
                                       "class in one image")
    g.add_argument("source", type=Path, help="an experiment folder or a classifier checkpoint (.safetensors)")
    g.add_argument("--image", required=True, help="a DICOM or PNG/JPEG file, or an image id of the run's dataset")
    g.add_argument("--out", type=Path, required=True, help="overlay PNG to write")
    g.add_argument("--run", dest="key", default=None,
                   help="which run of the experiment, e.g. safe-basic-resnet18 (default: the safe run with the "
                        "best test macro-F1)")
    g.add_argument("--class", dest="target", default=None,
                   help="class to explain, by name or index (default: the predicted class)")
    g.add_argument("--alpha", type=float, default=0.45, help="colour weight of the overlay, 0..1 (default 0.45)")
    g.set_defaults(handler=cmd_gradcam)


def cmd_report(args) -> int:
    from spinegui.core import outdir
    from spinegui.core.results.report import write_figures, write_report

    figures = None
    if args.figures is not None:   # the output-folder rule (core/outdir.py), before anything is written
        keep = {"dataset": _dataset_of(args.run), "keep": [(args.run, "the experiment folder")]}
        figures = outdir.check(args.figures, FIGURES_KIND, overwrite=args.overwrite, **keep)
    path = write_report(args.run, args.out)
    print(f"wrote {path}")
    if args.out is None:   # RUN/report.html is the experiment's own file: --overwrite may replace it
        outdir.adopt(args.run, outdir.run_kind("experiment"), path)
    if figures is not None:
        outdir.prepare(figures, FIGURES_KIND, overwrite=args.overwrite, **keep)
        try:
            written = write_figures(args.run, figures)
        finally:
            outdir.seal(figures, FIGURES_KIND)
        for f in written:
            print(f"wrote {f}")
    if args.open:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            print(f"spinegui: no web browser found; open {path} yourself", file=sys.stderr)
    return 0


def _dataset_of(run_dir: Path) -> str | None:
    """The dataset an experiment folder was made from (its config.toml's root), if it says."""
    from spinegui.core.results.experiment_folder import read_config

    root = read_config(run_dir).get("root")
    return root if isinstance(root, str) else None


# --- gradcam ------------------------------------------------------------------------------------------
def _pick_checkpoint(run_dir: Path, key: str | None) -> Path:
    """The run's best checkpoint of `key`, or of the safe run with the best test macro-F1."""
    from spinegui.core.results.experiment_folder import read_results

    try:
        runs = read_results(run_dir).get("runs") or []
    except InputError:
        runs = []   # no usable results.json: the checkpoints alone decide below
    suffix = "_best.safetensors"
    found = {p.name[: -len(suffix)]: p for p in sorted((run_dir / "checkpoints").glob("*" + suffix))}
    if not found:
        raise InputError(run_dir, "no classifier checkpoint in this folder (checkpoints/*_best.safetensors)")
    if key is None:
        scored = [r for r in runs if r.get("key") in found and (r.get("test") or {}).get("macro_f1") is not None]
        ranked = sorted(scored, key=lambda r: (r.get("protocol") == "safe", r["test"]["macro_f1"]), reverse=True)
        if ranked:
            key = ranked[0]["key"]
            print(f"using {key} (test macro-F1 {100 * ranked[0]['test']['macro_f1']:.1f}%; --run picks another)")
        elif len(found) == 1:
            key = next(iter(found))
        else:
            raise InputError(run_dir, f"several runs; pick one with --run ({', '.join(found)})")
    if key not in found:
        raise InputError(run_dir, f"no checkpoint for run '{key}' (runs: {', '.join(found)})")
    return found[key]


def _read_picture(path: Path):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):       # 16-bit grey: GAN samples, exported X-rays
                return np.clip(np.asarray(img, np.float32) / 65535.0, 0.0, 1.0)
            if img.mode == "F":
                return np.clip(np.asarray(img, np.float32), 0.0, 1.0)
            return np.asarray(img.convert("L"), np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(path, f"cannot read the image: {exc}") from None


def _read_image(image: str, run_dir: Path | None):
    from spinegui.core.dicom.reader import read_image

    path = Path(image).expanduser()
    if path.is_file():
        return _read_picture(path) if path.suffix.lower() in PICTURES else read_image(path).display()
    root = _dataset_of(run_dir) if run_dir is not None else None
    if not root:
        raise InputError(path, "no such file (an image id needs an experiment folder whose dataset is known)")
    from spinegui.core.dataset.vindr import load_index

    record = load_index(root).images.get(image)
    if record is None:
        raise InputError(path, f"no such file, nor an image id of the dataset {root}")
    return read_image(record.path).display()


def _target(value: str | None, classes: list[str]) -> int | None:
    if value is None:
        return None
    if value in classes:
        return classes.index(value)
    if value.isdigit() and int(value) < len(classes):
        return int(value)
    raise InputError(None, f"--class: unknown class '{value}' (classes: {', '.join(classes)})")


def cmd_gradcam(args) -> int:
    source = args.source.expanduser()
    out = args.out.expanduser()
    if out.suffix.lower() != ".png":
        raise InputError(out, "output must be a .png file")
    if not 0.0 <= args.alpha <= 1.0:
        raise InputError(None, f"--alpha must be from 0 to 1 (got {args.alpha:g})")
    if source.is_dir():
        run_dir, checkpoint = source, _pick_checkpoint(source, args.key)
    elif source.is_file():
        checkpoint = source
        run_dir = source.parent.parent if (source.parent.parent / "config.toml").is_file() else None
    else:
        raise InputError(source, "no such experiment folder or checkpoint")
    image01 = _read_image(args.image, run_dir)

    from PIL import Image

    from spinegui.core.results.heatmap import overlay
    from spinegui.train.gradcam import GradCam

    cam = GradCam(checkpoint)
    result = cam(image01, _target(args.target, cam.classes))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(overlay(image01, result.heatmap, args.alpha)).save(out)
    except OSError as exc:
        raise InputError(out, f"cannot write: {exc.strerror or exc}") from None
    probs = ", ".join(f"{c} {100 * p:.1f}%" for c, p in zip(result.classes, result.probabilities))
    print(f"predicted: {result.classes[result.predicted]} (confidence {100 * result.confidence:.1f}%; {probs})")
    print(f"wrote {out}: Grad-CAM for '{result.classes[result.target]}' of {checkpoint.name}")
    return 0
