"""The strategy planner: which images each fold holds, real and synthetic, before anything runs.

Strategies: none (real images only); oversample (real images repeated to the same per-class counts
as the other strategies: no new pixels, the control for "more images" against "new images"); basic
(geometric copies, the preprint's `basic` preset); gan (GAN samples); hybrid (half GAN samples, half
geometric copies with `hybrid-geometric`).
Per-class target: "balance" grows every class to the largest one; a number N (the preprint's ~4,000)
grows every smaller class to N. Real images are never dropped to meet a target.

Symmetric (`symmetric=True`, the shortcut control): every class, No finding included, gets the same
share of synthetic images, of the same kinds (geometric / GAN) in the same proportions, so how an
image was made cannot tell its class. The share is the one the class farthest below the target
needs; a class with more real images then grows past the target in proportion (the classifier's
class-weighted loss evens the classes out again).

Protocols: `safe` splits by study first, then adds synthetic images to the training fold, made from
the training fold alone. `paper` (the preprint's procedure, for the leakage audit) augments the
whole pool, then splits images at random: copies of one image, and GAN samples of a GAN that saw
the validation images, land on both sides. Both keep the official test split apart, real only.

`plan_case` returns one `Plan` per protocol x strategy: per-class counts and a `Spec` for every
image of every fold (the fold manifest), so the counts table is known before any image is made.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from spinegui.core.errors import InputError
from spinegui.train.splits import FOLDS, Item, Selection, check_folds, split_by_image, split_by_study

STRATEGIES = ("none", "oversample", "basic", "gan", "hybrid")
PROTOCOLS = ("safe", "paper")
PRESETS = {"basic": "basic", "hybrid": "hybrid-geometric"}   # geometric preset of each strategy
ORIGINS = ("real", "oversample", "geometric", "gan")   # oversample: a repeat of a real image


@dataclass
class Spec:
    """One image of a fold. Geometric copies keep their source's study id."""
    item_id: str
    label: int
    origin: str          # real | oversample | geometric | gan
    source_id: str       # the real image it is (real, oversample) or was made from (geometric); "" for gan
    study_id: str        # "" for gan samples
    fold: str = "train"
    copy: int = 0        # index of this copy among its class's synthetic images (seeds)


@dataclass
class ClassCount:
    name: str
    real: int
    geometric: int = 0
    gan: int = 0
    oversample: int = 0      # repeats of real images (the oversample strategy)

    @property
    def total(self) -> int:
        return self.real + self.geometric + self.gan + self.oversample


@dataclass
class Plan:
    protocol: str
    strategy: str
    classes: list[str]
    counts: list[ClassCount]          # the augmented set: safe -> training fold, paper -> whole pool
    specs: list[Spec] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.protocol}-{self.strategy}"

    def fold(self, name: str) -> list[Spec]:
        return [s for s in self.specs if s.fold == name]

    def fold_counts(self) -> dict[str, list[int]]:
        out = {f: [0] * len(self.classes) for f in FOLDS}
        for s in self.specs:
            out[s.fold][s.label] += 1
        return out

    def leaks(self) -> dict:
        """The leakage audit: held-out images that are synthetic, or share a study (a patient's other
        view, or the source of a copy) with a training image."""
        train_studies = {s.study_id for s in self.specs if s.fold == "train" and s.study_id}
        held = [s for s in self.specs if s.fold != "train"]
        return {"synthetic_held_out": sum(1 for s in held if s.origin != "real"),
                "held_out_sharing_a_study_with_train": sum(1 for s in held if s.study_id in train_studies)}

    def as_dict(self) -> dict:
        return {"protocol": self.protocol, "strategy": self.strategy,
                "classes": [{"name": c.name, "real": c.real, "geometric": c.geometric, "gan": c.gan,
                             "oversample": c.oversample, "total": c.total} for c in self.counts],
                "folds": self.fold_counts(), "leaks": self.leaks()}


def slug(name: str) -> str:
    """As the GAN checkpoints name their models (gan.checkpoint.model_slug; this module has no torch)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"


def check_choice(values: list[str], known: tuple[str, ...], what: str) -> list[str]:
    values = [v.strip() for v in values if v.strip()]
    for v in values:
        if v not in known:
            raise InputError(None, f"unknown {what} '{v}' ({what}s: {', '.join(known)})")
    if not values:
        raise InputError(None, f"no {what} given")
    return list(dict.fromkeys(values))


def parse_per_class(value) -> int | str:
    if value in (None, "balance"):
        return "balance"
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise InputError(None, f"per-class target must be 'balance' or a number, got {value!r}") from None
    if n < 1:
        raise InputError(None, f"per-class target must be at least 1, got {n}")
    return n


def class_counts(strategy: str, classes: list[str], real: list[int], per_class, gan_share: float = 0.5,
                 symmetric: bool = False) -> list[ClassCount]:
    """How many geometric copies, GAN samples or repeats each class gets (symmetric: see the module)."""
    target = max(real) if per_class == "balance" else int(per_class)
    # symmetric: the synthetic share of the class farthest below the target, for every class
    low = min(real)
    share = max(0.0, 1 - low / target) if symmetric and low > 0 else 0.0
    out = []
    for name, n in zip(classes, real):
        extra = round(n / (1 - share)) - n if symmetric and share else max(0, target - n)
        extra = 0 if strategy == "none" else extra
        gan = {"gan": extra, "hybrid": math.ceil(extra * gan_share)}.get(strategy, 0)
        if strategy == "oversample":
            out.append(ClassCount(name, n, oversample=extra))
        else:
            out.append(ClassCount(name, n, extra - gan, gan))
    return out


def _synthetic(items: list[Item], counts: list[ClassCount], seed: int) -> list[Spec]:
    """Real specs of `items` and the synthetic specs the counts ask for (sources drawn round-robin)."""
    specs = [Spec(i.image_id, i.label, "real", i.image_id, i.study_id) for i in items]
    rng = np.random.default_rng(seed)
    for label, c in enumerate(counts):
        sources = [i for i in items if i.label == label]
        order = [sources[j] for j in rng.permutation(len(sources))]
        for k in range(c.geometric):
            src = order[k % len(order)]
            specs.append(Spec(f"aug-{src.image_id}-{k // len(order)}", label, "geometric", src.image_id,
                              src.study_id, copy=k))
        for k in range(c.gan):
            specs.append(Spec(f"syn-gan-{slug(c.name)}-{k:06d}", label, "gan", "", "", copy=k))
        for k in range(c.oversample):   # item id rep-<source>-<round>: the manifest names each repeat
            src = order[k % len(order)]
            specs.append(Spec(f"rep-{src.image_id}-{k // len(order)}", label, "oversample", src.image_id,
                              src.study_id, copy=k))
    return specs


def plan_case(selection: Selection, protocols, strategies, per_class="balance", *, val_fraction: float = 0.2,
              seed: int = 0, gan_share: float = 0.5, symmetric: bool = False) -> list[Plan]:
    """Every protocol x strategy of a case. Refuses a class with no image in a fold, by name."""
    classes, k = selection.classes, len(selection.classes)
    per_class = parse_per_class(per_class)
    plans = []
    test = [Spec(i.image_id, i.label, "real", i.image_id, i.study_id, "test") for i in selection.test]
    for protocol in check_choice(list(protocols), PROTOCOLS, "protocol"):
        if protocol == "safe":
            train, val = split_by_study(selection.pool, val_fraction, seed)
            check_folds({"train": [i.label for i in train], "val": [i.label for i in val],
                         "test": [s.label for s in test]}, classes, protocol)
            val_specs = [Spec(i.image_id, i.label, "real", i.image_id, i.study_id, "val") for i in val]
        else:
            train = selection.pool
        real = [sum(1 for i in train if i.label == c) for c in range(k)]
        for strategy in check_choice(list(strategies), STRATEGIES, "strategy"):
            counts = class_counts(strategy, classes, real, per_class, gan_share, symmetric)
            specs = _synthetic(train, counts, seed)
            if protocol == "safe":
                specs += val_specs
            else:   # the preprint: everything augmented first, then images split at random
                is_val = split_by_image([s.label for s in specs], val_fraction, seed)
                for s, v in zip(specs, is_val):
                    s.fold = "val" if v else "train"
            plan = Plan(protocol, strategy, classes, counts, specs + test)
            fc = plan.fold_counts()
            check_folds({f: [c for c in range(k) if fc[f][c]] for f in FOLDS}, classes, protocol)
            plans.append(plan)
    return plans


def format_table(plans: list[Plan]) -> str:
    """The per-class counts, like the preprint's table: one block per protocol, a column per strategy."""
    lines = []
    for protocol in dict.fromkeys(p.protocol for p in plans):
        group = [p for p in plans if p.protocol == protocol]
        first = group[0]
        folds = first.fold_counts()
        width = max(len(c) for c in first.classes) + 2
        if protocol == "safe":
            lines.append("safe protocol: split by study first; synthetic images made from, and added to, "
                         "the training fold only")
            head = f"{'class':<{width}}{'train':>7}{'val':>6}{'test':>6}"
        else:
            lines.append("paper protocol (leaky, the preprint's): the whole pool augmented, then images "
                         "split at random")
            head = f"{'class':<{width}}{'pool':>7}{'test':>6}"
        cells_of = {}
        for k in range(len(first.classes)):
            for j, p in enumerate(group):
                c = p.counts[k]
                extra = " ".join(s for s in (f"+{c.gan} gan" if c.gan else "",
                                             f"+{c.geometric} geo" if c.geometric else "",
                                             f"+{c.oversample} rep" if c.oversample else "") if s)
                cells_of[k, j] = f"{c.total}" + (f" ({extra})" if extra else "")
        # each strategy column as wide as its widest cell, two spaces apart: numbers never touch
        widths = [max([len(p.strategy)] + [len(cells_of[k, j]) for k in range(len(first.classes))]) + 2
                  for j, p in enumerate(group)]
        lines.append(head + "  |" + "".join(f"{p.strategy:>{w}}" for p, w in zip(group, widths)))
        for k, name in enumerate(first.classes):
            c0 = first.counts[k]
            row = f"{name:<{width}}{c0.real:>7}"
            row += f"{folds['val'][k]:>6}{folds['test'][k]:>6}" if protocol == "safe" else f"{folds['test'][k]:>6}"
            lines.append(row + "  |" + "".join(f"{cells_of[k, j]:>{w}}" for j, w in enumerate(widths)))
        if protocol == "paper":
            lines.append("after the random split: " + "; ".join(
                f"{p.strategy}: train {sum(p.fold_counts()['train'])}, val {sum(p.fold_counts()['val'])}"
                for p in group))
        lines.append("leakage audit (validation and test images that are synthetic / share a study with "
                     "training): " + "; ".join(f"{p.strategy} {p.leaks()['synthetic_held_out']}/"
                                               f"{p.leaks()['held_out_sharing_a_study_with_train']}" for p in group))
        lines.append("")
    return "\n".join(lines).rstrip()
