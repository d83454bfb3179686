"""GAN checkpoints: safetensors (tensors only, never pickled code) plus a JSON sidecar.

A full checkpoint holds both networks, both optimisers and the random state, so a resumed run
continues the interrupted one's trajectory exactly. Generator-only snapshots of the last epochs
are kept for harvesting samples, as the preprint did. Writes go to a temp file and are renamed:
a full disk fails the job and leaves the previous checkpoint whole.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from spinegui.core.errors import InputError
from spinegui.core.workspace import honour_umask

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
    """Tensors and sidecar of a checkpoint; anything wrong is an InputError naming the file."""
    path = Path(path)
    try:
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "checkpoint sidecar (.json) is missing") from None
    except (OSError, ValueError) as exc:
        raise InputError(path, f"checkpoint sidecar unreadable: {exc}") from None
    if meta.get("format") != FORMAT:
        raise InputError(path, f"not a spinegui GAN checkpoint (format {meta.get('format')!r})")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), "pt") as fh:
            embedded = (fh.metadata() or {}).get("spinegui")
    except FileNotFoundError:
        raise InputError(path, "checkpoint file not found") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(path, f"corrupt checkpoint: {exc}") from None
    return tensors, (json.loads(embedded) if embedded else meta)


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
