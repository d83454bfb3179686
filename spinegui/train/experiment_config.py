"""The experiment's settings (checked, defaults filled in) and its results table. No torch here:
the CLI checks and prints with this module before the job process starts."""

from __future__ import annotations

from typing import Any

from spinegui.core.errors import InputError
from spinegui.core.params import Param, ParamSet
from spinegui.train.planner import PROTOCOLS, STRATEGIES, check_choice, parse_per_class
from spinegui.train.splits import resolve_classes

# The GAN budget when neither --gan-steps nor --gan-minutes is given: by time on the CPU (its speed
# varies with the machine and its load), by steps on a GPU (where a few thousand steps take a minute).
GAN_CPU_MINUTES = 3.0
GAN_GPU_STEPS = 3000

MODELS = ("vgg16", "inception_v3", "resnet18")     # the classifiers (spinegui.train.classifier builds them)
MIN_SIZE = {"vgg16": 32, "inception_v3": 75, "resnet18": 32}
DEFAULT_SIZE = {"vgg16": 224, "inception_v3": 299, "resnet18": 224}

# 0 stands for "the default" for size, lr, workers and threads (zero_is_default): the command line
# refuses an explicit 0, the config (a resumed run's config.toml) holds it.
EXPERIMENT = ParamSet((
    Param("models", "list", ["resnet18"], choices=MODELS, help="comma-separated: vgg16, inception_v3, resnet18",
          shown_default="resnet18, the one that trains on a CPU"),
    Param("strategies", "list", list(STRATEGIES), choices=STRATEGIES, help="comma-separated",
          shown_default="all five: none, oversample, basic, gan, hybrid"),
    Param("protocols", "list", list(PROTOCOLS), choices=PROTOCOLS, cli=False,   # --protocol safe|paper|both
          help="split protocols: safe, paper"),
    Param("size", "int", 0, 0, 1024, zero_is_default=True, help="input size in px",
          shown_default="224, 299 for inception_v3"),
    Param("epochs", "int", 30, 1, 10000, help="classifier epochs at most"),
    Param("patience", "int", 5, 0, 10000,
          help="early stop after this many epochs without a better validation macro-F1; 0: never"),
    Param("batch", "int", 32, 2, 4096, help="images per training step"),
    Param("optimizer", "choice", "adamw", choices=("adamw", "sgd"), help="the classifier's optimiser"),
    Param("lr", "float", 0.0, 0.0, 10.0, zero_is_default=True, help="learning rate, cosine schedule",
          shown_default="adamw 1e-3, sgd 1e-2; ten times less with --weights"),
    Param("weight_decay", "float", 1e-4, 0.0, 10.0, cli=False, help="the optimiser's weight decay"),
    Param("flip", "bool", False, help="random horizontal flips while training"),
    Param("per_class", "text", "balance", help="target images per class: balance (grow every class to the "
                                               "largest) or a number such as 4000 (the preprint's)"),
    Param("on_the_fly", "bool", False, help="draw the geometric copies anew each epoch on the device instead "
                                            "of pre-generating them"),
    Param("max_real", "int", 0, 0, 10**7, help="at most this many real images per class (e.g. 1000, as the "
                                               "preprint's No finding); 0: all"),
    Param("val_fraction", "float", 0.2, 0.01, 0.99, help="validation share"),
    Param("gan_share", "float", 0.5, 0.0, 1.0, cli=False, help="share of GAN samples in the hybrid strategy"),
    Param("gan_arch", "choice", "wgan-gp", choices=("wgan-gp", "wgan", "dcgan"),
          help="the GAN of the gan and hybrid strategies: wgan-gp (gradient penalty, trained with the GAN "
               "tab's best CPU recipe: batch 8, n-critic 2, lr 2e-4, ema 0.999), wgan (the preprint's weight "
               "clipping, RMSprop), dcgan"),
    Param("gan_epochs", "int", 0, 0, 100000, zero_is_default=True,
          help="GAN epochs per class at most (the preprint trained 200), besides the step and time budget",
          shown_default="no limit: the budget ends training"),
    Param("gan_steps", "int", 0, 0, 10**7, zero_is_default=True,
          help="generator steps per GAN (with --gan-minutes: whichever comes first)",
          shown_default=f"{GAN_GPU_STEPS} on a GPU when neither budget is given; none on the CPU"),
    Param("gan_minutes", "float", 0.0, 0.0, 10**5, zero_is_default=True,
          help="training minutes per GAN (resumes included; with --gan-steps: whichever comes first)",
          shown_default=f"{GAN_CPU_MINUTES:g} on the CPU when neither budget is given (enough for recognisable "
                        f"spines on the demo at 64 px; a few minutes keep the demo grid affordable); none on a GPU"),
    Param("gan_gate", "choice", "on", choices=("on", "off"),
          help="score every GAN on real images of its class held out from its training (20 percent, at least "
               "4); a GAN that fails is named and its strategies' rows are marked gate: fail"),
    Param("gan_size", "choice", 64, choices=(64, 128, 256), help="GAN image side in px"),
    Param("gan_width", "int", 32, 8, 256, help="GAN feature maps"),
    Param("bootstrap", "int", 1000, 0, 100000,
          help="resamples of the study-level bootstrap behind every 95% CI and paired test (0: none)"),
    Param("device", "choice", "auto", choices=("auto", "cpu", "cuda"), help="auto: the GPU when there is one"),
    Param("seed", "int", 0, 0, 2**31 - 1, help="one seed for splits, sampling and training"),
    Param("seeds", "int", 1, 1, 1000, help="repeat every run with seeds seed, seed+1, ... (model init, data order, "
                                           "augmentation and GAN sampling; the split and the GANs stay)"),
    Param("symmetric", "bool", False, help="every class, No finding included, gets the same mix of geometric "
                                           "copies and GAN samples, and real images pass the GAN's resolution "
                                           "when GAN samples are used: how an image was made cannot tell its class"),
    Param("executor", "choice", "local", choices=("local", "slurm"),
          help="local: on this machine; slurm: every GAN and every run its own SLURM job (through submitit), "
               "all writing into the one experiment folder on shared storage"),
    Param("parallel", "int", 0, 0, 64, zero_is_default=True,
          help="with --executor local: runs at once, each in its own process (one per GPU on a machine with "
               "several GPUs)", shown_default="the number of GPUs; 1 without a GPU"),
    Param("workers", "int", 0, 0, 256, zero_is_default=True, help="cache decoding processes",
          shown_default="all cores"),
    Param("threads", "int", 0, 0, 1024, zero_is_default=True,
          help="CPU threads for torch; 1 is often faster on a CPU that other programs keep busy",
          shown_default="torch's"),
), what="experiment setting")

DEFAULTS: dict[str, Any] = {"workspace": "", "case": "", **EXPERIMENT.defaults(), "weights": {}}
# Checked by planner functions of their own (their messages name the model or strategy).
_CHECKED_ELSEWHERE = ("models", "strategies", "protocols", "per_class")


def gan_budget(cfg: dict, device_type: str) -> dict:
    """The GAN settings' budget ({"steps", "minutes"}) for the device; the defaults when none was given."""
    steps, minutes = cfg.get("gan_steps") or 0, cfg.get("gan_minutes") or 0.0
    if not steps and not minutes:
        steps, minutes = (GAN_GPU_STEPS, 0.0) if device_type == "cuda" else (0, GAN_CPU_MINUTES)
    return {"steps": steps, "minutes": minutes}


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
    settings = {p.name: cfg[p.name] for p in EXPERIMENT if p.name not in _CHECKED_ELSEWHERE}
    checked = EXPERIMENT.validate(settings)
    cfg.update({k: checked[k] for k in settings})
    for model in cfg["models"]:
        if cfg["size"] and cfg["size"] < MIN_SIZE[model]:
            raise InputError(None, f"{model} needs images of at least {MIN_SIZE[model]} px, got --size {cfg['size']}")
    unknown = set(cfg["weights"]) - set(MODELS)
    if unknown:
        raise InputError(None, f"weights for unknown model '{sorted(unknown)[0]}' (models: {', '.join(MODELS)})")
    return cfg


CSV_COLUMNS = ("protocol", "strategy", "model", "seed", "seed_index", "size", "train_images", "train_synthetic",
               "val_images",
               "val_synthetic", "test_images", "epochs_run", "best_epoch", "train_accuracy", "val_accuracy",
               "val_macro_f1", "test_accuracy", "test_accuracy_lo", "test_accuracy_hi", "test_balanced_accuracy",
               "test_macro_f1", "test_macro_f1_lo", "test_macro_f1_hi", "test_auroc", "test_auroc_lo",
               "test_auroc_hi", "prep_s", "train_s", "total_s", "train_flops_per_image", "train_img_s")


def csv_row(r: dict) -> dict:
    ci = r.get("ci", {}).get("test") or {}

    def bound(name, i):
        return ci[name][i] if ci.get(name) else None

    row = {
        "protocol": r["protocol"], "strategy": r["strategy"], "model": r["model"],
        "seed": r.get("seed"), "seed_index": r.get("seed_index", 0), "size": r["size"],
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
    """The results as a text table, a row per run (a seed's repeat its own row, its seed shown):
    the preprint's train/val accuracy, then the test split's."""
    def pct(v):
        return "   -" if v is None else f"{100 * v:5.1f}"

    head = (f"{'protocol':<9}{'strategy':<11}{'model':<13}{'seed':>6}{'train acc':>10}{'val acc':>8}{'test acc':>9}"
            f"{'test bal':>9}{'macro-F1 [95% CI]':>22}{'AUROC':>7}{'time s':>8}")
    lines = [head]
    for r in rows:
        c = csv_row(r)
        ci = (f"{pct(c['test_macro_f1'])} [{pct(c['test_macro_f1_lo']).strip()}-{pct(c['test_macro_f1_hi']).strip()}]"
              if c["test_macro_f1_lo"] is not None else pct(c["test_macro_f1"]))
        seed = "-" if c["seed"] is None else str(c["seed"])
        lines.append(f"{c['protocol']:<9}{c['strategy']:<11}{c['model']:<13}{seed:>6}{pct(c['train_accuracy']):>10}"
                     f"{pct(c['val_accuracy']):>8}{pct(c['test_accuracy']):>9}{pct(c['test_balanced_accuracy']):>9}"
                     f"{ci:>22}{pct(c['test_auroc']):>7}{c['total_s']:>8.0f}")
    return "\n".join(lines)
