"""The classifiers: VGG-16, Inception v3 (the preprint's) and ResNet-18 (small, for the CPU), from
torchvision with weights=None (nothing is downloaded), adapted to one-channel X-rays.

- The first convolution takes one channel. From a local ImageNet weights file (.safetensors, or a
  .pth/.pt state dict read with weights_only=True) its three input filters are summed, which gives
  a grey image the response the RGB network gave the same image replicated to three channels.
  Without weights, the first input slice of torchvision's own initialisation is kept.
- Inception's auxiliary classifier exists only from 299 px (its branch needs a 17x17 map); in
  training its loss counts 0.4 (Szegedy et al.), in evaluation it is ignored.
- Checkpoints are safetensors with a JSON sidecar; one of another model, class count or size is
  refused with an InputError naming the file.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from spinegui.core.dataset.workspace import atomic_write_bytes, honour_umask
from spinegui.core.errors import InputError
from spinegui.train.experiment_config import DEFAULT_SIZE, MIN_SIZE, MODELS  # noqa: F401

AUX_MIN_SIZE = 299
AUX_WEIGHT = 0.4
FIRST_CONV = {"vgg16": "features.0", "inception_v3": "Conv2d_1a_3x3.conv", "resnet18": "conv1"}
HEADS = {"vgg16": ("classifier.6.",), "inception_v3": ("fc.", "AuxLogits."), "resnet18": ("fc.",)}
MEAN, STD = 0.449, 0.226        # ImageNet's mean and std averaged over RGB: input = (x - MEAN) / STD
FORMAT = "spinegui-classifier-1"


def check_model(name: str, size: int | None = None) -> None:
    if name not in MODELS:
        raise InputError(None, f"unknown model '{name}' (models: {', '.join(MODELS)})")
    if size is not None and size < MIN_SIZE[name]:
        raise InputError(None, f"{name} needs images of at least {MIN_SIZE[name]} px, got {size}")


def has_aux(name: str, size: int) -> bool:
    return name == "inception_v3" and size >= AUX_MIN_SIZE


def build(name: str, n_classes: int, size: int, weights: str | Path | None = None) -> nn.Module:
    """A one-channel `name` with `n_classes` outputs for size x size inputs."""
    from torchvision import models

    check_model(name, size)
    if name == "vgg16":
        model = models.vgg16(weights=None, num_classes=n_classes)
    elif name == "resnet18":
        model = models.resnet18(weights=None, num_classes=n_classes)
    else:
        model = models.inception_v3(weights=None, aux_logits=has_aux(name, size), init_weights=True,
                                    transform_input=False, num_classes=n_classes)
    parent, attr = _parent(model, FIRST_CONV[name])
    conv = getattr(parent, attr)
    one = nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None)
    with torch.no_grad():
        one.weight.copy_(conv.weight[:, :1])
        if conv.bias is not None:
            one.bias.copy_(conv.bias)
    setattr(parent, attr, one)
    if weights:
        load_pretrained(model, name, weights)
    return model


def _parent(model: nn.Module, dotted: str) -> tuple[nn.Module, str]:
    *path, attr = dotted.split(".")
    for part in path:
        model = getattr(model, part)
    return model, attr


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "weights file not found")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise InputError(path, f"unreadable weights file: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise InputError(path, "not a state dict of tensors")
    return state


def load_pretrained(model: nn.Module, name: str, path: str | Path) -> None:
    """Local ImageNet weights into a one-channel model; the class heads keep their fresh weights."""
    state = dict(read_tensors(path))
    key = FIRST_CONV[name] + ".weight"
    if key in state and state[key].ndim == 4 and state[key].shape[1] == 3:
        state[key] = state[key].sum(dim=1, keepdim=True)
    own = model.state_dict()
    heads = HEADS[name]
    state = {k: v for k, v in state.items()
             if not (k.startswith(heads) and (k not in own or own[k].shape != v.shape))}
    missing = [k for k in own if k not in state and not k.startswith(heads)]
    unexpected = [k for k in state if k not in own and not k.startswith(heads)]
    wrong = [k for k in state if k in own and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        detail = "; ".join(f"{what} {len(keys)} (e.g. {keys[0]})" for what, keys in
                           (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys)
        raise InputError(path, f"these weights do not fit {name}: {detail}")
    model.load_state_dict(state, strict=False)


def logits(output) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(main logits, auxiliary logits or None) from any of the models' outputs."""
    if isinstance(output, torch.Tensor):
        return output, None
    main, aux = output[0], output[1] if len(output) > 1 else None
    return main, aux


def normalise(x01: torch.Tensor) -> torch.Tensor:
    return (x01 - MEAN) / STD


# --- checkpoints --------------------------------------------------------------------------------
def save_checkpoint(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Tensors with their metadata inside (one rename commits both), fsynced; the JSON sidecar is the
    readable copy (as the GAN checkpoints)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    meta = {"format": FORMAT, **meta}
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp),
                  metadata={"spinegui": json.dumps(meta)})
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        honour_umask(tmp)
        os.replace(tmp, path)
        atomic_write_bytes(path.with_suffix(".json"), json.dumps(meta, indent=1).encode())
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, f"cannot write checkpoint {path.name}: {exc.strerror or exc}") from None


def checkpoint_meta(path: Path) -> dict:
    """A classifier checkpoint's metadata (model, n_classes, classes, size, ...): the copy inside the
    file, else the JSON sidecar. Anything else is an InputError naming the file."""
    path = Path(path)
    try:
        with safe_open(str(path), "pt") as fh:
            embedded = (fh.metadata() or {}).get("spinegui")
        meta = json.loads(embedded) if embedded else json.loads(path.with_suffix(".json").read_text("utf-8"))
    except FileNotFoundError:
        raise InputError(path, "checkpoint file not found") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(path, f"corrupt checkpoint: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise InputError(path, f"not a spinegui classifier checkpoint (format {found!r})")
    return meta


def read_checkpoint(path: Path, model: str, n_classes: int, size: int) -> tuple[dict[str, torch.Tensor], dict]:
    """A checkpoint of exactly this model; anything else is an InputError naming the file."""
    path = Path(path)
    meta = checkpoint_meta(path)
    have = (meta.get("model"), meta.get("n_classes"), meta.get("size"))
    if have != (model, n_classes, size):
        raise InputError(path, f"checkpoint is a {have[0]} with {have[1]} classes at {have[2]} px; this run "
                               f"trains a {model} with {n_classes} classes at {size} px")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(path, f"corrupt checkpoint: {exc}") from None
    return tensors, meta


def load_module(module: nn.Module, tensors: dict[str, torch.Tensor], prefix: str, path: Path) -> None:
    state = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(path, f"checkpoint does not fit this model: {str(exc).splitlines()[0]}") from None
