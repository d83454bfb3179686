"""Decompression bombs: tiny DICOM files that declare huge images are refused from the header (or the
compressed stream's own header) before any decoder or buffer runs, in every read path: render, the
cache build, the app's full-resolution loader. SPINEGUI_MAX_PIXELS moves the cap."""

import io
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit

import spinegui
from dicom_factory import make_dataset, vindr_like_file
from hostile_util import assert_one_line_error, run_cli, tree_digest
from spinegui.core.dataset.cache import ImageCache, decode_full_resolution
from spinegui.core.dataset.vindr import load_index
from spinegui.core.dicom.reader import read_image
from spinegui.core.errors import InputError

REPO = Path(spinegui.__file__).resolve().parents[1]
TOO_LARGE = "image too large"


def j2k_blank(cols: int, rows: int, precision: int = 12) -> bytes:
    """A valid ~80-byte JPEG 2000 codestream of a cols x rows constant image: one tile, no wavelet
    levels, one empty packet. OpenJPEG decodes it at the declared size (gigabytes for 20000 x 20000)."""
    siz = struct.pack(">HIIIIIIIIH", 0, cols, rows, 0, 0, cols, rows, 0, 0, 1) + bytes([precision - 1, 1, 1])
    cod = bytes([0, 0]) + struct.pack(">H", 1) + bytes([0, 0, 4, 4, 0, 1])
    qcd = bytes([0x40, precision << 3])
    body = b"\xff\x93\x00"
    sot = struct.pack(">HIBB", 0, 12 + len(body), 0, 1)
    return (b"\xff\x4f" + b"\xff\x51" + struct.pack(">H", 2 + len(siz)) + siz
            + b"\xff\x52" + struct.pack(">H", 2 + len(cod)) + cod
            + b"\xff\x5c" + struct.pack(">H", 2 + len(qcd)) + qcd
            + b"\xff\x90" + struct.pack(">H", 2 + len(sot)) + sot + body + b"\xff\xd9")


def _encapsulated(path: Path, rows: int, cols: int, stream: bytes, ts, bits: int = 12) -> Path:
    ds = make_dataset(np.zeros((4, 4), np.uint16 if bits > 8 else np.uint8), bits_stored=bits)
    ds.__dict__.pop("_factory_pixels", None)
    ds.Rows, ds.Columns = rows, cols
    ds.PixelData = encapsulate([stream])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = ts
    ds.save_as(path, enforce_file_format=True)
    return path


def _jpeg_declaring(cols: int, rows: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", rows, cols)
    return bytes(data)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bombs")
    native = make_dataset(np.zeros((4, 4), np.uint16))
    native.Rows = native.Columns = 65535  # 8.6 GB declared, 32 bytes present
    native.save_as(d / "header-65535.dcm", enforce_file_format=True)
    return {
        # a real JPEG 2000 image of 20000 x 20000 (~1 KB file, ~6 GB to decode)
        "j2k-20000": _encapsulated(d / "j2k-20000.dcm", 20000, 20000, j2k_blank(20000, 20000), JPEG2000Lossless),
        # header 65535 x 65535 around a small stream: decoders reserve the header's size first
        "j2k-header-65535": _encapsulated(d / "j2k-65535.dcm", 65535, 65535, j2k_blank(64, 64), JPEG2000Lossless),
        "native-header-65535": d / "header-65535.dcm",
        # an honest header, but the stream itself says 20000 x 20000 (decoders believe the stream)
        "j2k-stream-20000": _encapsulated(d / "j2k-stream.dcm", 64, 64, j2k_blank(20000, 20000), JPEG2000Lossless),
        "jpeg-stream-30000": _encapsulated(d / "jpeg-stream.dcm", 64, 64, _jpeg_declaring(30000, 30000),
                                           JPEGBaseline8Bit, bits=8),
    }


def test_the_bombs_are_tiny_and_well_formed(bombs):
    from PIL import Image

    assert all(p.stat().st_size < 4096 for p in bombs.values())
    small = Image.open(io.BytesIO(j2k_blank(300, 200)))
    small.load()   # the same codestream builder makes a real, decodable image
    assert small.size == (300, 200)


@pytest.mark.parametrize("name", ["j2k-20000", "j2k-header-65535", "native-header-65535", "j2k-stream-20000",
                                  "jpeg-stream-30000"])
def test_render_refuses_a_bomb_in_one_line_and_writes_nothing(bombs, name, tmp_path, capsys):
    src = bombs[name]
    before = tree_digest(src.parent)
    out = tmp_path / "out.png"
    rc, _, err = run_cli(["render", src, "-o", out], capsys)
    assert_one_line_error(rc, err, str(src), TOO_LARGE, "SPINEGUI_MAX_PIXELS")
    assert not out.exists() and tree_digest(src.parent) == before


def test_the_app_loader_refuses_a_bomb(bombs, tmp_path):
    dest = tmp_path / "full.npy"
    for src in bombs.values():
        result = decode_full_resolution(str(src), str(dest))
        assert TOO_LARGE in result["error"], result
        assert not dest.exists()


def test_cache_records_a_bomb_as_failed_with_the_reason(demo_root, bombs, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    victim = next(r for r in load_index(root).images.values() if r.file_exists)
    shutil.copyfile(bombs["j2k-20000"], victim.path)
    before = tree_digest(root)
    rc, out, err = run_cli(["cache", root, "--size", "32", "--workers", "1", "--workspace", tmp_path / "ws"], capsys)
    assert rc in (0, 1) and "Traceback" not in err   # (whether a failed image makes it exit 1 is not ours)
    assert "1 failed" in out and f"failed {victim.path}: {TOO_LARGE}" in out
    manifest = json.loads((tmp_path / "ws" / "cache" / "manifest.json").read_text())
    entry = manifest["entries"][victim.image_id]
    assert entry["state"] == "failed" and TOO_LARGE in entry["reason"]
    ok = [e for e in manifest["entries"].values() if e["state"] == "ok"]
    assert len(ok) == len(manifest["entries"]) - 1   # the other images are cached as usual
    assert tree_digest(root) == before


def test_cache_build_in_worker_processes_records_the_failure(bombs, tmp_path):
    good, _ = vindr_like_file(tmp_path / "good.dcm", 120, 80)
    cache = ImageCache(tmp_path / "cache")
    report = cache.build([("good", good), ("bomb", bombs["j2k-header-65535"])], train_size=32, workers=2)
    assert (report.decoded, report.failed) == (1, 1)
    assert TOO_LARGE in cache.failures()["bomb"]


def _run_limited(argv: list, data_limit: int) -> tuple[int, str, int]:
    """`spinegui ARGV` in a child whose data segment is capped (so a bomb cannot take the machine
    down even before the fix); returns (exit code, stderr, peak RSS in bytes)."""
    code = ("import resource, sys\n"
            "from spinegui.cli.entry import main\n"
            "rc = main(sys.argv[1:])\n"
            # VmHWM, not getrusage: a forked child's maxrss starts at its parent's (a big pytest worker)
            "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0].split()[1]\n"
            "print('MAXRSS', hwm, file=sys.stderr)\n"
            "sys.exit(rc)\n")

    def limit():
        resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True, text=True,
                          env=env, preexec_fn=limit, timeout=120)
    lines = proc.stderr.strip().splitlines()
    rss = next((int(ln.split()[1]) * 1024 for ln in lines if ln.startswith("MAXRSS")), 0)
    return proc.returncode, "\n".join(ln for ln in lines if not ln.startswith("MAXRSS")), rss


@pytest.mark.parametrize("name", ["j2k-20000", "j2k-header-65535", "j2k-stream-20000"])
def test_peak_memory_stays_small(bombs, name, tmp_path):
    rc, err, rss = _run_limited(["render", bombs[name], "-o", tmp_path / "o.png"], 3 << 30)
    assert_one_line_error(rc, err, TOO_LARGE)
    assert 0 < rss < 400 << 20, f"peak RSS {rss >> 20} MiB"


def test_the_cap_is_a_setting(tmp_path, monkeypatch):
    path, _ = vindr_like_file(tmp_path / "x.dcm", 300, 200)
    assert read_image(path).shape == (300, 200)
    monkeypatch.setenv("SPINEGUI_MAX_PIXELS", "50000")
    with pytest.raises(InputError, match="200 x 300 = 60,000 pixels, above the limit of 50,000"):
        read_image(path)
    monkeypatch.setenv("SPINEGUI_MAX_PIXELS", "60000")
    assert read_image(path).shape == (300, 200)
    monkeypatch.setenv("SPINEGUI_MAX_PIXELS", "lots")
    with pytest.raises(InputError, match="SPINEGUI_MAX_PIXELS must be a whole number"):
        read_image(path)


def test_raising_the_cap_lets_a_large_header_through_to_the_decoder(bombs, monkeypatch):
    monkeypatch.setenv("SPINEGUI_MAX_PIXELS", str(65535 * 65535))
    with pytest.raises(InputError) as err:
        read_image(bombs["native-header-65535"])   # past the cap: the decoder's own check words it
    assert TOO_LARGE not in err.value.reason and "truncated" in err.value.reason
