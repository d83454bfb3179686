"""GAN checkpoints: safetensors (tensors only, never pickled code) plus a JSON sidecar.

A full checkpoint holds both networks, both optimisers and the random state, so a resumed run
continues the interrupted one's trajectory exactly. Generator-only snapshots of the last epochs
are kept for harvesting samples, as the preprint did. Writes go to a temp file and are renamed:
a full disk fails the job and leaves the previous checkpoint whole. Reading checks the metadata
(types and ranges) before any model is built from it, and refuses non-finite weights.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from spinegui.core.dataset.workspace import honour_umask
from spinegui.core.errors import InputError
from spinegui.core.limits import read_json
from spinegui.gan.spec import ARCHS, MAX_CLASSES, MAX_EPOCHS, SIZES, WIDTHS

FORMAT = "spinegui-gan-1"
_FULL = re.compile(r"^(?P<model>.+)_full\.safetensors$")
_SNAP = re.compile(r"^(?P<model>.+)_g_epoch(?P<epoch>\d+)\.safetensors$")


def model_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"


def _atomic_save(tensors: dict[str, torch.Tensor], meta: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp_json = path.with_name(f".{path.stem}.json.tmp")
    try:
        # The metadata also travels inside the safetensors file, so one rename commits tensors and
        # metadata together; the sidecar is the readable copy (a crash between the renames leaves
        # a stale sidecar, which read() ignores in favour of the embedded one).
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp),
                  metadata={"spinegui": json.dumps(meta)})
        _fsync(tmp)
        honour_umask(tmp)
        tmp_json.write_text(json.dumps(meta, indent=1), encoding="utf-8")
        os.replace(tmp, path)
        os.replace(tmp_json, path.with_suffix(".json"))
    except OSError as exc:
        for t in (tmp, tmp_json):
            t.unlink(missing_ok=True)
        raise OSError(exc.errno, f"cannot write checkpoint {path.name}: {exc.strerror or exc}") from None


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for i, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            out[f"{prefix}.{i}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return out


def load_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    params = [p for group in opt.param_groups for p in group["params"]]
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            _, index, key = name.split(".", 2)
            param = params[int(index)]
            if value.shape == param.shape:   # moments take the parameter's device and memory layout
                value = torch.empty_like(param, dtype=value.dtype).copy_(value)
            state.setdefault(int(index), {})[key] = value
    sd = opt.state_dict()
    sd["state"] = state
    opt.load_state_dict(sd)


def save_full(ckpt_dir: Path, model: str, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    path = ckpt_dir / f"{model}_full.safetensors"
    _atomic_save(tensors, {"format": FORMAT, "kind": "full", **meta}, path)
    return path


def snapshot_path(ckpt_dir: Path, model: str, epoch: int) -> Path:
    return Path(ckpt_dir) / f"{model}_g_epoch{epoch:05d}.safetensors"


def save_snapshot(ckpt_dir: Path, model: str, epoch: int, generator: dict[str, torch.Tensor], meta: dict,
                  keep_last: int) -> Path:
    path = snapshot_path(ckpt_dir, model, epoch)
    _atomic_save(generator, {"format": FORMAT, "kind": "generator", "epoch": epoch, **meta}, path)
    for old in snapshots(ckpt_dir, model)[:-keep_last]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
    return path


def snapshots(ckpt_dir: Path, model: str) -> list[Path]:
    found = []
    for p in Path(ckpt_dir).glob(f"{model}_g_epoch*.safetensors"):
        m = _SNAP.match(p.name)
        if m and m["model"] == model:
            found.append((int(m["epoch"]), p))
    return [p for _, p in sorted(found)]


def read(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and metadata of a checkpoint, checked before use (types and ranges of every field the
    code builds from, finite weights); anything wrong is an InputError naming the file."""
    path = Path(path)
    meta = read_meta(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise InputError(path, "not a regular file; a checkpoint must be one")
        with safe_open(str(path), "pt") as fh:
            embedded = (fh.metadata() or {}).get("spinegui")
        if embedded:   # the copy that was renamed together with the tensors (see _atomic_save)
            meta = check_meta(path, _loads(path, embedded))
        tensors = load_file(str(path))
    except FileNotFoundError:
        raise InputError(path, "checkpoint file not found") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(path, f"corrupt checkpoint: {exc}") from None
    check_finite(path, tensors)
    return tensors, meta


def read_meta(path: str | Path) -> dict:
    """The checked JSON sidecar of a checkpoint (no tensors read)."""
    path = Path(path)
    side = path.with_suffix(".json")
    try:
        meta = read_json(side, what="checkpoint sidecar")
    except FileNotFoundError:
        raise InputError(path, "checkpoint sidecar (.json) is missing") from None
    except InputError as exc:   # named after the checkpoint the user chose; the reason names the sidecar
        raise InputError(path, exc.reason) from None
    return check_meta(path, meta)


def _loads(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InputError(path, f"corrupt checkpoint metadata: {type(exc).__name__}") from None


_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_meta(path: Path, meta: Any) -> dict:
    """``meta`` when every field the code uses has its type and range; else InputError naming it.

    Models are built from these numbers before the tensors are compared with them, so a width of
    100000 would allocate gigabytes first: the ranges are those training can produce (gan_spec).
    """
    if not isinstance(meta, dict):
        raise InputError(path, "checkpoint metadata is not a JSON object")
    if meta.get("format") != FORMAT:
        raise InputError(path, f"not a spinegui GAN checkpoint (format {_show(meta.get('format'))})")

    def bad(key: str, want: str) -> InputError:
        return InputError(path, f"checkpoint field '{key}' must be {want}, got {_show(meta.get(key))}")

    def whole(key: str, low: int, high: int, required: bool = True) -> None:
        if key not in meta and not required:
            return
        v = meta.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise bad(key, f"a whole number from {low} to {high}")

    if meta.get("kind") not in ("full", "generator"):
        raise bad("kind", "'full' or 'generator'")
    if meta.get("arch") not in ARCHS:
        raise bad("arch", f"one of {', '.join(ARCHS)}")
    if isinstance(meta.get("size"), bool) or meta.get("size") not in SIZES:
        raise bad("size", f"one of {', '.join(map(str, SIZES))}")
    whole("width", *WIDTHS)
    whole("n_classes", 1, MAX_CLASSES)
    whole("epoch", 0, MAX_EPOCHS)
    classes = meta.get("classes")
    if (not isinstance(classes, list) or len(classes) != meta["n_classes"]
            or not all(isinstance(c, str) and 0 < len(c) <= 200 for c in classes) or len(set(classes)) != len(classes)):
        raise bad("classes", f"a list of {meta['n_classes']} distinct class names (n_classes)")
    if not isinstance(meta.get("model"), str) or not _MODEL.match(meta["model"]):
        raise bad("model", "a name of letters, digits, '.', '_' or '-'")
    ema = meta.get("ema", 0)
    if isinstance(ema, bool) or not isinstance(ema, (int, float)) or not 0 <= ema < 1:
        raise bad("ema", "a number from 0 to below 1")
    whole("seed", 0, 2**63 - 1, required=False)
    if meta["kind"] == "full":   # where a resumed run continues from
        for key in ("step_in_epoch", "critic_steps", "g_steps"):
            whole(key, 0, 2**62)
        sums = meta.get("sums")
        if not isinstance(sums, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in sums.values()):
            raise bad("sums", "an object of finite numbers")
    return meta


def _show(value: Any) -> str:
    try:
        text = repr(value)
    except RecursionError:   # JSON nested nearly as deep as the parser allows
        return "a deeply nested value"
    return text if len(text) <= 60 else text[:59] + "…"


def check_finite(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """A NaN or infinite weight makes every image NaN (black once written): refuse the file."""
    for name, t in tensors.items():
        if not (t.is_floating_point() or t.is_complex()):
            continue
        try:
            finite = bool(torch.isfinite(t).all())
        except (RuntimeError, NotImplementedError):   # dtypes without isfinite (float8)
            finite = bool(torch.isfinite(t.float()).all())
        if not finite:
            raise InputError(path, f"checkpoint holds non-finite weights (NaN or infinity) in '{name}'; "
                                   "the run diverged or the file is damaged")


def check_matches(path: Path, meta: dict, settings: dict, n_classes: int) -> None:
    want = (settings["arch"], settings["size"], settings["width"], n_classes)
    have = (meta.get("arch"), meta.get("size"), meta.get("width"), meta.get("n_classes"))
    if want != have:
        raise InputError(path, f"checkpoint is a {have[0]} {have[1]} px model (width {have[2]}, "
                               f"{have[3]} classes); this run is {want[0]} {want[1]} px (width {want[2]}, "
                               f"{want[3]} classes)")


def load_module(module: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str, path: Path) -> None:
    state = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(path, f"checkpoint does not fit this model: {str(exc).splitlines()[0]}") from None
