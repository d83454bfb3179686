"""Classifiers: metrics (spinegui.core.results.metrics, the one ROC/AUROC) against scikit-learn, model shapes,
local weights, checkpoints and resume."""

import numpy as np
import pytest
import torch

from job_ctx import Ctx
from spinegui.core.errors import InputError
from spinegui.core.results.metrics import binary_auroc, bootstrap, roc_curve, scores
from spinegui.train import classifier as C
from spinegui.train.classifier_train import ClassifierTrainer, FoldData
from spinegui.train.compute import Ledger, flops_per_image

sk = pytest.importorskip("sklearn.metrics")


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)   # two threads that spin on a busy 2-core machine are far slower
    yield
    torch.set_num_threads(before)


def fixed_predictions(n, k, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y] * rng.uniform(0, 1, (n, 1))
    prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    prob[1: n // 5] = prob[0]                              # ties, as real softmax outputs have
    return y, prob


@pytest.mark.parametrize("k,seed", [(2, 0), (3, 1), (3, 2), (5, 3)])
def test_metrics_equal_scikit_learns(k, seed):
    y, prob = fixed_predictions(300, k, seed)
    pred = prob.argmax(1)
    names = [f"c{i}" for i in range(k)]
    got = scores(y, prob, names)
    labels = list(range(k))
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(y, pred))
    assert got["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y, pred))
    assert got["macro_f1"] == pytest.approx(sk.f1_score(y, pred, average="macro", labels=labels, zero_division=0))
    p, r, f, s = sk.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    for i, name in enumerate(names):
        c = got["per_class"][name]
        assert (c["precision"], c["recall"], c["f1"], c["support"]) == pytest.approx((p[i], r[i], f[i], s[i]))
    want_auc = sk.roc_auc_score(y, prob[:, 1]) if k == 2 else sk.roc_auc_score(y, prob, multi_class="ovr")
    assert got["auroc"] == pytest.approx(want_auc)
    for i, name in enumerate(names):
        assert got["per_class"][name]["auroc"] == pytest.approx(sk.roc_auc_score(y == i, prob[:, i]))
    assert got["confusion"] == sk.confusion_matrix(y, pred, labels=labels).tolist()
    assert np.allclose(got["confusion_normalised"], sk.confusion_matrix(y, pred, labels=labels, normalize="true"),
                       atol=1e-4)


def test_metrics_with_a_class_never_predicted_and_the_numpy_auroc(monkeypatch):
    y = np.array([0, 0, 1, 1, 2, 2])
    prob = np.array([[.9, .1, 0], [.8, .2, 0], [.6, .4, 0], [.3, .7, 0], [.5, .5, 0], [.2, .8, 0]])
    got = scores(y, prob, ["a", "b", "c"])
    assert got["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2,
                                     "auroc": pytest.approx(0.5)}
    assert got["macro_f1"] == pytest.approx(sk.f1_score(y, prob.argmax(1), average="macro", zero_division=0))
    import builtins
    real_import = builtins.__import__

    def no_torchmetrics(name, *a, **kw):      # numpy only: the same areas without torchmetrics
        if name.startswith("torchmetrics"):
            raise ImportError(name)
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_torchmetrics)
    assert scores(y, prob, ["a", "b", "c"])["auroc"] == pytest.approx(got["auroc"])


@pytest.mark.parametrize("positive, scores", [
    ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]),
    ([1, 0, 1, 0, 1, 1, 0], [0.9, 0.9, 0.5, 0.5, 0.5, 0.2, 0.1]),  # ties across classes
    ([0, 1, 0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3, 0.3, 0.3]),          # one threshold only
    ([1, 0], [0.2, 0.6]),
])
def test_roc_points_match_scikit_learn(positive, scores):
    fpr, tpr, thr = roc_curve(np.array(positive, bool), scores)
    sk_fpr, sk_tpr, sk_thr = sk.roc_curve(positive, scores)
    assert np.allclose(fpr, sk_fpr) and np.allclose(tpr, sk_tpr) and np.array_equal(thr, sk_thr)


def test_roc_area_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 5, 200) / 4.0          # many ties
    positive = rng.random(200) < 0.3
    fpr, tpr, _ = roc_curve(positive, scores)
    assert binary_auroc(positive, scores) == pytest.approx(sk.roc_auc_score(positive, scores), abs=1e-12)
    assert fpr[0] == tpr[0] == 0.0 and fpr[-1] == tpr[-1] == 1.0
    assert binary_auroc(np.zeros(200, bool), scores) is None


def test_bootstrap_intervals_hold_the_estimate():
    y, prob = fixed_predictions(200, 3, 7)
    ci = bootstrap(y, prob, 3, n=200, seed=0)
    point = scores(y, prob, ["a", "b", "c"])
    for name in ("accuracy", "balanced_accuracy", "macro_f1", "auroc"):
        lo, hi = ci[name]
        assert lo < point[name] < hi and hi - lo < 0.3
    assert ci == bootstrap(y, prob, 3, n=200, seed=0)


@pytest.mark.parametrize("name,size", [("resnet18", 32), ("vgg16", 64), ("inception_v3", 75)])
def test_models_take_one_channel_and_give_one_logit_per_class(name, size):
    model = C.build(name, 3, size).eval()
    with torch.no_grad():
        main, aux = C.logits(model(torch.rand(2, 1, size, size)))
    assert main.shape == (2, 3) and aux is None


def test_inception_trains_with_its_auxiliary_classifier_from_299_px():
    model = C.build("inception_v3", 2, 299).train()
    main, aux = C.logits(model(torch.rand(2, 1, 299, 299)))
    assert main.shape == aux.shape == (2, 2)
    assert not C.has_aux("inception_v3", 298) and C.build("inception_v3", 2, 80).AuxLogits is None
    with pytest.raises(InputError, match="at least 75 px"):
        C.build("inception_v3", 2, 64)


def test_local_imagenet_weights_sum_the_first_filters_and_keep_the_new_head(tmp_path):
    from safetensors.torch import save_file
    from torchvision.models import resnet18

    rgb = resnet18(weights=None)                        # an "ImageNet" file: 3 channels, 1000 classes
    path = tmp_path / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in rgb.state_dict().items()}, str(path))
    model = C.build("resnet18", 3, 64, weights=path)
    assert torch.allclose(model.conv1.weight, rgb.conv1.weight.sum(1, keepdim=True))
    assert torch.equal(model.layer4[1].conv2.weight, rgb.layer4[1].conv2.weight)
    assert model.fc.weight.shape == (3, 512)
    pth = tmp_path / "resnet18.pth"
    torch.save(rgb.state_dict(), pth)
    assert torch.allclose(C.build("resnet18", 3, 64, weights=pth).conv1.weight, model.conv1.weight)
    partial = tmp_path / "partial.safetensors"      # another network's file fits as badly
    save_file({k: v.contiguous() for k, v in rgb.state_dict().items() if not k.startswith("layer4")}, str(partial))
    with pytest.raises(InputError, match=r"do not fit resnet18: missing \d+ \(e.g. layer4"):
        C.build("resnet18", 3, 64, weights=partial)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="unreadable weights file"):
        C.build("resnet18", 3, 64, weights=tmp_path / "junk.pth")


SETTINGS = {"optimizer": "adamw", "lr": 0.0, "weight_decay": 1e-4, "epochs": 2, "batch": 4, "patience": 0,
            "seed": 3, "flip": True}


def tiny_data(n=8, size=32):
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    images = (rng.uniform(0, 0.5, (n, size, size)) + 0.4 * labels[:, None, None]) * 65535
    return FoldData([images.astype(np.uint16)], np.stack([np.zeros(n), np.arange(n)], 1), labels,
                    [f"i{k}" for k in range(n)])


def trainer(tmp_path, ctx, name="resnet18", n_classes=2, size=32):
    return ClassifierTrainer(name, ["a", "b"][:n_classes] + ["c"] * (n_classes - 2), size, SETTINGS,
                             torch.device("cpu"), tmp_path, "run", ctx)


def test_a_cancelled_run_resumes_on_the_uninterrupted_trajectory(tmp_path):
    data = tiny_data()
    whole = trainer(tmp_path / "a", Ctx())
    assert whole.fit(data, data)
    cut = trainer(tmp_path / "b", Ctx(stop_after=3))        # 2 steps an epoch: stops in epoch 2
    assert not cut.fit(data, data)
    again = trainer(tmp_path / "b", Ctx())
    assert again.restore() and (again.state["epoch"], again.state["step_in_epoch"]) == (1, 1)
    assert again.fit(data, data)
    for a, b in zip(whole.state["history"], again.state["history"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_macro_f1"] == b["val_macro_f1"]
    assert len(again.state["history"]) == 2 and again.best.exists()
    assert again.predict(data).shape == (8, 2)


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    data = tiny_data()
    t = trainer(tmp_path, Ctx())
    t.s = {**SETTINGS, "epochs": 1}
    assert t.fit(data, data)
    other = trainer(tmp_path, Ctx(), n_classes=3)
    with pytest.raises(InputError, match="checkpoint is a resnet18 with 2 classes at 32 px; this run trains a "
                                         "resnet18 with 3 classes"):
        other.restore()
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(1)}, str(other.last), metadata={"spinegui": '{"format": "spinegui-gan-1"}'})
    with pytest.raises(InputError, match="not a spinegui classifier checkpoint"):
        other.restore()
    other.last.write_bytes(b"garbage")
    with pytest.raises(InputError, match="corrupt checkpoint"):
        other.restore()


def test_compute_counts_flops_and_stages(tmp_path):
    model = C.build("resnet18", 2, 32)
    flops = flops_per_image(model, 32, torch.device("cpu"))
    assert 0 < flops["forward"] < flops["train"] < 4 * flops["forward"]
    ledger = Ledger(torch.device("cpu"), tmp_path / "compute.json")
    with ledger.stage("train", protocol="safe", strategy="gan", model="resnet18") as rec:
        rec["images"] = 10
    ledger.add("gan_train", 2.0, 5, protocol="safe", strategies=["gan", "hybrid"])
    cost = ledger.cost("safe", "hybrid")
    assert cost["prep_s"] == 2.0 and cost["train_s"] == 0
    assert ledger.cost("safe", "gan")["train_s"] >= 0 and "safe-gan" in ledger.summary()["per_strategy"]
    again = Ledger(torch.device("cpu"), tmp_path / "compute.json", resume=True)
    assert len(again.records) == 2 and again.records[0]["peak_rss_bytes"] > 0


def test_on_the_fly_copies_get_a_new_geometric_draw_each_epoch(tmp_path):
    from spinegui.train.experiment_data import on_the_fly_augmenter

    data = tiny_data()
    data.on_the_fly[::2] = True                       # half the training images are live copies
    seen = []
    basic = on_the_fly_augmenter("basic")

    def augment(x, seed):
        seen.append((len(x), seed))
        out = basic(x, seed)
        assert out.shape == x.shape
        return out

    t = ClassifierTrainer("resnet18", ["a", "b"], 32, SETTINGS, torch.device("cpu"), tmp_path, "otf", Ctx(),
                          augment=augment)
    assert t.fit(data, data)
    assert sum(n for n, _ in seen) == 8 and len({s for _, s in seen}) == len(seen)   # 4 live a epoch, 2 epochs
    assert on_the_fly_augmenter("none") is None and on_the_fly_augmenter("gan") is None
