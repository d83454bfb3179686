"""Decode speed of read_image against plain pydicom + pylibjpeg and plain SimpleITK.

    python tests/benchmarks/bench_decode.py                 # VinDr-like JPEG 2000, 7 rounds
    python tests/benchmarks/bench_decode.py --rounds 11 --syntaxes   # + RLE, JPEG Lossless, native
    python tests/benchmarks/bench_decode.py --threads 1     # as one worker of a parallel cache build

Builds a VinDr-like file (2874x1443, 12-bit, JPEG 2000 lossless, made by tests/unit/dicom_factory.py)
in a temporary folder, then times the first decode of the file (nothing is cached between runs) with
each method, interleaved round by round so that machine noise hits all of them alike, and prints the
medians and a final ratio line. Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _factory():
    sys.path.insert(0, str(HERE.parent / "unit"))
    sys.path.insert(0, str(HERE.parent.parent))
    import dicom_factory

    return dicom_factory


def plain_pydicom(path: Path):
    """What a script would do: dcmread + ds.pixel_array (pydicom picks pylibjpeg-openjpeg here)."""
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path).pixel_array


def plain_sitk(path: Path):
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def spinegui_read(path: Path):
    from spinegui.core.dicom.reader import read_image

    return read_image(path).pixels


def _without_opj_env(fn):
    """Run a reference with the environment a plain script would have (no OPJ_NUM_THREADS of ours)."""

    def run(path):
        saved = os.environ.pop("OPJ_NUM_THREADS", None)
        try:
            return fn(path)
        finally:
            if saved is not None:
                os.environ["OPJ_NUM_THREADS"] = saved

    return run


def time_methods(path: Path, methods: dict, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in methods}
    for fn in methods.values():  # warm-up: imports, plugin discovery, thread pools
        fn(path)
    for _ in range(rounds):
        for name, fn in methods.items():
            t0 = time.perf_counter()
            fn(path)
            times[name].append(time.perf_counter() - t0)
    return times


def build_files(folder: Path, syntaxes: bool) -> dict[str, Path]:
    f = _factory()
    from pydicom.uid import JPEG2000Lossless, RLELossless

    arr = f.vindr_like_array(2874, 1443, seed=0)
    files = {"JPEG 2000 Lossless": f.write_dataset(f.make_dataset(arr), folder / "j2k.dicom",
                                                   transfer_syntax=JPEG2000Lossless)}
    if syntaxes:
        import SimpleITK as sitk

        files["RLE Lossless"] = f.write_dataset(f.make_dataset(arr), folder / "rle.dicom",
                                                transfer_syntax=RLELossless)
        files["Explicit VR LE"] = f.write_dataset(f.make_dataset(arr), folder / "raw.dicom")
        writer = sitk.ImageFileWriter()
        writer.SetImageIO("GDCMImageIO")
        writer.SetFileName(str(folder / "jpll.dicom"))
        writer.SetUseCompression(True)
        writer.SetCompressor("JPEG")  # GDCM writes JPEG Lossless SV1 for 16-bit input
        writer.Execute(sitk.ReadImage(str(files["Explicit VR LE"])))
        files["JPEG Lossless SV1"] = folder / "jpll.dicom"
    return files


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="decode threads for read_image (0: all)")
    ap.add_argument("--syntaxes", action="store_true", help="also time RLE, JPEG Lossless, native")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(HERE.parent.parent))
    from spinegui.core.dicom.display import apply_window, percentile_window
    from spinegui.core.dicom.reader import read_image, set_decode_threads

    set_decode_threads(args.threads or None)
    methods = {
        "pydicom+pylibjpeg": _without_opj_env(plain_pydicom),
        "SimpleITK": _without_opj_env(plain_sitk),
        "read_image": spinegui_read,
    }
    print(f"cpus={os.cpu_count()} rounds={args.rounds} read_image threads={args.threads or 'all'}")
    ratio = float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        files = build_files(Path(tmp), args.syntaxes)
        for label, path in files.items():
            times = time_methods(path, methods, args.rounds)
            med = {name: statistics.median(v) for name, v in times.items()}
            img = read_image(path)
            print(f"\n{label}: {path.stat().st_size / 1e6:.2f} MB, read_image backend = {img.decoder}")
            for name, value in med.items():
                spread = f"min {min(times[name]):.3f} max {max(times[name]):.3f}"
                print(f"  {name:18s} median {value:.3f} s   ({spread})")
            if label == "JPEG 2000 Lossless":
                ratio = med["read_image"] / min(med["pydicom+pylibjpeg"], med["SimpleITK"])
                px = img.pixels
                t0 = time.perf_counter()
                for _ in range(10):
                    w = percentile_window(px)
                t_pct = (time.perf_counter() - t0) / 10
                t0 = time.perf_counter()
                for _ in range(10):
                    apply_window(px, w)
                t_win = (time.perf_counter() - t0) / 10
                print(f"  percentile_window {t_pct * 1000:.1f} ms, apply_window {t_win * 1000:.1f} ms")
    print(f"\nratio read_image / fastest reference: {ratio:.2f} (<= 1.0 required)")
    return ratio


if __name__ == "__main__":
    main()
