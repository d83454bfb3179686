"""Case-study splits: whole studies per fold (property test over many random datasets), stratified,
the preprint's split by image, and which images a case uses."""

from types import SimpleNamespace

import numpy as np
import pytest

from spinegui.core.errors import InputError
from spinegui.train.splits import (
    ABNORMAL,
    CASES,
    Item,
    check_folds,
    image_class,
    resolve_classes,
    select,
    split_by_image,
    split_by_study,
)


def random_items(rng, n_classes):
    """Index-like records: studies of 1-4 images, skewed class sizes, some studies mixing classes."""
    items, weights = [], rng.dirichlet(np.ones(n_classes) * 0.7)
    for s in range(int(rng.integers(3, 120))):
        study = f"study{s:04d}"
        for k in range(int(rng.integers(1, 5))):
            items.append(Item(f"{study}-img{k}", study, int(rng.choice(n_classes, p=weights))))
    return items


def test_no_study_is_in_two_folds_whatever_the_data_and_seed():
    for seed in range(300):
        rng = np.random.default_rng(seed)
        items = random_items(rng, int(rng.integers(2, 6)))
        frac = float(rng.uniform(0.1, 0.5))
        train, val = split_by_study(items, frac, seed)
        assert sorted(train + val, key=lambda i: i.image_id) == sorted(items, key=lambda i: i.image_id)
        assert not {i.study_id for i in train} & {i.study_id for i in val}, seed
        for label in {i.label for i in items}:
            if len({i.study_id for i in items if i.label == label}) >= 2:   # then it is on both sides
                assert any(i.label == label for i in val) and any(i.label == label for i in train), seed


def test_the_split_is_stratified_and_repeatable():
    items = [Item(f"s{s}-{k}", f"s{s}", c) for c, n in ((0, 400), (1, 60), (2, 15)) for s in range(n)
             for k in range(2) if not (s % 3 and k)]      # mostly one image a study, some two
    items = [Item(i.image_id + f"c{i.label}", i.study_id + f"c{i.label}", i.label) for i in items]
    train, val = split_by_study(items, 0.2, seed=3)
    for label in (0, 1, 2):
        n = sum(i.label == label for i in items)
        share = sum(i.label == label for i in val) / n
        assert abs(share - 0.2) < 0.08, (label, share)
    assert (train, val) == split_by_study(items, 0.2, seed=3)
    assert split_by_study(items, 0.2, seed=4) != (train, val)


def test_split_by_image_is_stratified_and_ignores_studies():
    labels = [0] * 50 + [1] * 10 + [2] * 2
    is_val = split_by_image(labels, 0.2, seed=1)
    assert [int(is_val[np.array(labels) == c].sum()) for c in (0, 1, 2)] == [10, 2, 1]
    with pytest.raises(InputError, match="between 0 and 1"):
        split_by_image(labels, 1.0, seed=1)


def test_a_class_missing_from_a_fold_is_named():
    with pytest.raises(InputError, match=r"class 'Vertebral collapse' has no image in the val fold \(safe"):
        check_folds({"train": [0, 1], "val": [0], "test": [0, 1]}, ["No finding", "Vertebral collapse"], "safe")


def record(image_id, study, labels, split="train"):
    return SimpleNamespace(image_id=image_id, study_id=study, labels=set(labels), split=split, file_exists=True)


def test_selection_keeps_one_class_an_image_and_the_test_split_apart():
    recs = [record("a", "s1", {"No finding"}), record("b", "s1", {"Disc space narrowing", "Osteophytes"}),
            record("c", "s2", {"Disc space narrowing", "Vertebral collapse"}), record("d", "s3", {"Osteophytes"}),
            record("e", "s4", {"Vertebral collapse"}, "test"), record("f", "s4", {"Vertebral collapse"}),
            record("g", "s5", {"No finding"}, "test")]
    index = SimpleNamespace(in_split=lambda split: [r for r in recs if r.split == split])
    sel = select(index, CASES["1"])
    assert [(i.image_id, i.label) for i in sel.pool] == [("a", 0), ("b", 1)]
    assert [(i.image_id, i.label) for i in sel.test] == [("e", 2), ("g", 0)]
    assert sel.left_out == {"shows two of the classes": 1, "study also in the official test split": 1}
    assert image_class({"Osteophytes", "Surgical implant"}, CASES["binary"]) == ABNORMAL
    assert image_class({"No finding"}, CASES["binary"]) == "No finding"


def test_cases_and_classes_are_checked_by_name():
    assert resolve_classes("1") == ["No finding", "Disc space narrowing", "Vertebral collapse"]
    assert resolve_classes(None, ["Osteophytes", " No finding"]) == ["Osteophytes", "No finding"]
    with pytest.raises(InputError, match="unknown case '4'"):
        resolve_classes("4")
    with pytest.raises(InputError, match="did you mean 'Spondylolysthesis'"):
        resolve_classes(None, ["Spondylolisthesis", "No finding"])
    with pytest.raises(InputError, match="two or more"):
        resolve_classes(None, ["Osteophytes"])
    with pytest.raises(InputError, match="binary"):
        resolve_classes(None, ["Abnormal", "Osteophytes"])
