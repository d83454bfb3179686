"""The experiment's settings (checked, defaults filled in) and its results table. No torch here:
the CLI checks and prints with this module before the job process starts."""

from __future__ import annotations

from typing import Any

from spinegui.core.errors import InputError
from spinegui.train.planner import PROTOCOLS, STRATEGIES, check_choice, parse_per_class
from spinegui.train.splits import resolve_classes

MODELS = ("vgg16", "inception_v3", "resnet18")     # the classifiers (spinegui.train.classifier builds them)
MIN_SIZE = {"vgg16": 32, "inception_v3": 75, "resnet18": 32}
DEFAULT_SIZE = {"vgg16": 224, "inception_v3": 299, "resnet18": 224}

DEFAULTS: dict[str, Any] = {
    "workspace": "", "case": "", "models": ["resnet18"], "strategies": list(STRATEGIES),
    "protocols": list(PROTOCOLS), "size": 0, "epochs": 30, "batch": 32, "optimizer": "adamw", "lr": 0.0,
    "weight_decay": 1e-4, "patience": 5, "flip": False, "per_class": "balance", "gan_share": 0.5,
    "val_fraction": 0.2, "max_real": 0, "on_the_fly": False, "gan_arch": "wgan-gp", "gan_epochs": 200,
    "gan_size": 64, "gan_width": 32, "bootstrap": 200, "device": "auto", "seed": 0, "workers": 0, "threads": 0,
    "weights": {},
}
_RANGES = {"size": (0, 1024), "epochs": (1, 10000), "batch": (2, 4096), "patience": (0, 10000),
           "max_real": (0, 10**7), "gan_epochs": (1, 100000), "gan_width": (8, 256), "bootstrap": (0, 100000),
           "seed": (0, 2**31 - 1), "workers": (0, 256), "threads": (0, 1024), "lr": (0.0, 10.0),
           "weight_decay": (0.0, 10.0), "gan_share": (0.0, 1.0), "val_fraction": (0.01, 0.99)}


def experiment_config(values: dict[str, Any]) -> dict[str, Any]:
    """Checked settings; bad input is an InputError naming the setting."""
    cfg = {**DEFAULTS, **{k: v for k, v in values.items() if v is not None}}
    if not cfg.get("root"):
        raise InputError(None, "no dataset root given")
    cfg["classes"] = resolve_classes(cfg["case"] or None, cfg.get("classes"))
    cfg["models"] = check_choice(list(cfg["models"]), MODELS, "model")
    cfg["strategies"] = check_choice(list(cfg["strategies"]), STRATEGIES, "strategy")
    cfg["protocols"] = check_choice(list(cfg["protocols"]), PROTOCOLS, "protocol")
    cfg["per_class"] = parse_per_class(cfg["per_class"])
    for key, (low, high) in _RANGES.items():
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise InputError(None, f"{key.replace('_', '-')} must be a number from {low} to {high}, got {value!r}")
    for model in cfg["models"]:
        if cfg["size"] and cfg["size"] < MIN_SIZE[model]:
            raise InputError(None, f"{model} needs images of at least {MIN_SIZE[model]} px, got --size {cfg['size']}")
    choices = {"optimizer": ("adamw", "sgd"), "device": ("auto", "cpu", "cuda"),
               "gan_arch": ("wgan-gp", "wgan", "dcgan"), "gan_size": (64, 128, 256)}
    for key, allowed in choices.items():
        if cfg[key] not in allowed:
            raise InputError(None, f"{key.replace('_', '-')} must be one of {', '.join(map(str, allowed))}, "
                                   f"got {cfg[key]!r}")
    unknown = set(cfg["weights"]) - set(MODELS)
    if unknown:
        raise InputError(None, f"weights for unknown model '{sorted(unknown)[0]}' (models: {', '.join(MODELS)})")
    return cfg


CSV_COLUMNS = ("protocol", "strategy", "model", "size", "train_images", "train_synthetic", "val_images",
               "val_synthetic", "test_images", "epochs_run", "best_epoch", "train_accuracy", "val_accuracy",
               "val_macro_f1", "test_accuracy", "test_accuracy_lo", "test_accuracy_hi", "test_balanced_accuracy",
               "test_macro_f1", "test_macro_f1_lo", "test_macro_f1_hi", "test_auroc", "test_auroc_lo",
               "test_auroc_hi", "prep_s", "train_s", "total_s", "train_flops_per_image", "train_img_s")


def csv_row(r: dict) -> dict:
    ci = r.get("ci", {}).get("test") or {}

    def bound(name, i):
        return ci[name][i] if ci.get(name) else None

    row = {
        "protocol": r["protocol"], "strategy": r["strategy"], "model": r["model"], "size": r["size"],
        **{k: r["counts"][k] for k in ("train_images", "train_synthetic", "val_images", "val_synthetic",
                                        "test_images")},
        "epochs_run": r["epochs_run"], "best_epoch": r["best_epoch"], "train_accuracy": r["train_accuracy"],
        "val_accuracy": r["val"]["accuracy"], "val_macro_f1": r["val"]["macro_f1"],
        "test_accuracy": r["test"]["accuracy"], "test_accuracy_lo": bound("accuracy", 0),
        "test_accuracy_hi": bound("accuracy", 1), "test_balanced_accuracy": r["test"]["balanced_accuracy"],
        "test_macro_f1": r["test"]["macro_f1"], "test_macro_f1_lo": bound("macro_f1", 0),
        "test_macro_f1_hi": bound("macro_f1", 1), "test_auroc": r["test"]["auroc"],
        "test_auroc_lo": bound("auroc", 0), "test_auroc_hi": bound("auroc", 1),
        "prep_s": r["compute"]["prep_s"], "train_s": r["compute"]["train_s"], "total_s": r["compute"]["total_s"],
        "train_flops_per_image": r["flops_per_image"].get("train"), "train_img_s": r["compute"].get("train_img_s"),
    }
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


def format_results(rows: list[dict]) -> str:
    """The results as a text table: the preprint's train/val accuracy, then the test split's."""
    def pct(v):
        return "   -" if v is None else f"{100 * v:5.1f}"

    head = (f"{'protocol':<9}{'strategy':<9}{'model':<13}{'train acc':>10}{'val acc':>8}{'test acc':>9}"
            f"{'test bal':>9}{'macro-F1 [95% CI]':>22}{'AUROC':>7}{'time s':>8}")
    lines = [head]
    for r in rows:
        c = csv_row(r)
        ci = (f"{pct(c['test_macro_f1'])} [{pct(c['test_macro_f1_lo']).strip()}-{pct(c['test_macro_f1_hi']).strip()}]"
              if c["test_macro_f1_lo"] is not None else pct(c["test_macro_f1"]))
        lines.append(f"{c['protocol']:<9}{c['strategy']:<9}{c['model']:<13}{pct(c['train_accuracy']):>10}"
                     f"{pct(c['val_accuracy']):>8}{pct(c['test_accuracy']):>9}{pct(c['test_balanced_accuracy']):>9}"
                     f"{ci:>22}{pct(c['test_auroc']):>7}{c['total_s']:>8.0f}")
    return "\n".join(lines)
