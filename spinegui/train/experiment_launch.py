"""What the CLI and the Results tab's "New experiment" form both do before an experiment starts:
check the settings, read the dataset, select and plan (the per-class table), refuse what cannot run.
No torch and no Qt here: it runs in the window's process and in the CLI before the job starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spinegui.core.errors import InputError


@dataclass
class Planned:
    cfg: dict[str, Any]      # the checked settings (experiment_config)
    selection: Any           # splits.Selection: the images chosen, and what was left out and why
    plans: list              # planner.Plan per protocol x strategy

    def table(self) -> str:
        from spinegui.train.planner import format_table

        return format_table(self.plans)


def local_weights(items: dict[str, str] | list[str]) -> dict[str, str]:
    """{model: absolute path} from {model: path} or ["MODEL=FILE", ...]; a missing file is refused."""
    pairs = {}
    if isinstance(items, dict):
        pairs = dict(items)
    else:
        for item in items:
            model, sep, path = item.partition("=")
            if not sep or not path:
                raise InputError(None, f"--weights wants MODEL=FILE, got {item!r}")
            pairs[model.strip()] = path
    out = {}
    for model, path in pairs.items():
        if not path:
            continue
        file = Path(path).expanduser().resolve()
        if not file.is_file():
            raise InputError(file, "weights file not found")
        out[model] = str(file)
    return out


def check_gan_classes(cfg: dict, plans) -> None:
    """With the quality gate on, refuse a class too small to hold images out from its GAN's training."""
    if cfg["gan_gate"] != "on":
        return
    from spinegui.gan.gate import check_class_sizes, gan_classes

    for protocol in cfg["protocols"]:
        ids = gan_classes(plans, protocol, cfg["classes"])
        check_class_sizes({name: len(v) for name, v in ids.items()}, protocol)


def plan_experiment(values: dict[str, Any], index=None) -> Planned:
    """Check `values` (the experiment job's config), select the images and plan every protocol x
    strategy. InputError (one line, naming the setting, class or fold) when it cannot run."""
    from spinegui.core.dataset.vindr import load_index
    from spinegui.train.experiment_config import experiment_config
    from spinegui.train.planner import plan_case
    from spinegui.train.splits import select

    cfg = experiment_config(values)
    if index is None:
        index = load_index(cfg["root"])
    selection = select(index, cfg["classes"], max_real=cfg["max_real"], seed=cfg["seed"])
    plans = plan_case(selection, cfg["protocols"], cfg["strategies"], cfg["per_class"],
                      val_fraction=cfg["val_fraction"], seed=cfg["seed"], gan_share=cfg["gan_share"],
                      symmetric=cfg["symmetric"])
    check_gan_classes(cfg, plans)
    return Planned(cfg, selection, plans)
