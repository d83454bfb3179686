"""GAN training: exact resume, checkpoints (safetensors only), bad input, sampling as a dataset."""

import errno
import math
import pickle

import numpy as np
import pytest
import torch

from job_ctx import Ctx
from spinegui.core.errors import InputError
from spinegui.gan import checkpoint as ck
from spinegui.gan.models import ARCHS, SIZES, build
from spinegui.gan.settings import gan_settings
from spinegui.gan.train import Diverged, GanTrainer


def tiny(arch="wgan-gp", **over):
    return gan_settings({"arch": arch, "size": 64, "width": 8, "epochs": 3, "batch": 4, "n_critic": 2,
                         "seed": 5, "device": "cpu", "sample_every": 1, **over})


def images(n=10, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:64, 0:64]
    base = ((np.sin(x / 5.0) + np.cos(y / 7.0) + 2) / 4 * 65535)
    return np.stack([np.clip(base + rng.normal(0, 3000, base.shape), 0, 65535) for _ in range(n)]).astype(np.uint16)


def trainer(tmp_path, settings, ctx, labels=None, classes=("Osteophytes",)):
    data = images()
    labels = np.zeros(len(data), np.int64) if labels is None else labels
    return GanTrainer(settings, data, labels, list(classes), "m", torch.device("cpu"), ctx)


@pytest.mark.parametrize("arch", ARCHS)
def test_models_make_and_judge_images_of_every_size(arch):
    for size in SIZES:
        g, d = build(arch, size, 8, n_classes=3)
        z, y = torch.randn(2, 128), torch.tensor([0, 2])
        x = g(z, y)
        assert x.shape == (2, 1, size, size) and float(x.detach().abs().max()) <= 1
        assert d(x, y).shape == (2,)


@pytest.mark.parametrize("arch", ARCHS)
def test_resumed_run_follows_the_uninterrupted_trajectory(tmp_path, arch):
    whole = Ctx(tmp_path / "a")
    assert trainer(tmp_path, tiny(arch), whole).train()
    cut = Ctx(tmp_path / "b", stop_after=4)        # stops mid-epoch 2 (3 steps an epoch)
    assert not trainer(tmp_path, tiny(arch), cut).train()
    again = Ctx(tmp_path / "b")
    resumed = trainer(tmp_path, tiny(arch), again)
    assert resumed.restore() and (resumed.epoch, resumed.step_in_epoch) == (1, 1)
    assert resumed.train()
    a, b = whole.epochs(), cut.epochs() + again.epochs()
    assert [e["epoch"] for e in b] == [1, 2, 3]
    for x, y in zip(a, b):
        for key in ("critic", "generator", "wasserstein"):
            assert x[key] == pytest.approx(y[key], abs=1e-6), (arch, x["epoch"], key)


def test_checkpoint_round_trip_and_outputs(tmp_path):
    ctx = Ctx(tmp_path)
    t = trainer(tmp_path, tiny(), ctx)
    assert t.train()
    full = tmp_path / "checkpoints" / "m_full.safetensors"
    tensors, meta = ck.read(full)
    assert meta["arch"] == "wgan-gp" and meta["epoch"] == 3 and meta["done"]
    fresh = trainer(tmp_path, tiny(), Ctx(tmp_path))
    fresh.restore()
    for (name, p), q in zip(fresh.G.state_dict().items(), t.G.state_dict().values()):
        assert torch.equal(p, q), name
    assert len(ck.snapshots(tmp_path / "checkpoints", "m")) == 3
    samples = [e for e in ctx.events if e["kind"] == "sample"]
    assert [s["epoch"] for s in samples] == [1, 2, 3] and (tmp_path / samples[-1]["path"]).is_file()


def test_samples_come_from_the_weight_average_which_resumes_exactly(tmp_path):
    from spinegui.gan.sampler import _generator

    t = trainer(tmp_path / "a", tiny(ema=0.9), Ctx(tmp_path / "a"))
    g, avg = t.G, t.G_avg
    expected = [p.detach().clone() for p in avg.parameters()]
    for _ in range(3):   # the update is a warmed-up lerp toward the generator
        with torch.no_grad():
            for p in g.parameters():
                p.add_(0.1)
        t.g_steps += 1
        t._update_average()
        decay = min(0.9, (1 + t.g_steps) / (10 + t.g_steps))
        expected = [e + (1 - decay) * (p - e) for e, p in zip(expected, g.parameters())]
    assert all(torch.allclose(a, e, atol=1e-6) for a, e in zip(avg.parameters(), expected))
    assert not all(torch.equal(a, p) for a, p in zip(avg.parameters(), g.parameters()))

    ctx = Ctx(tmp_path / "b")
    whole = trainer(tmp_path / "b", tiny(ema=0.9), ctx)
    assert whole.train()
    full = tmp_path / "b" / "checkpoints" / "m_full.safetensors"
    tensors, meta = ck.read(full)
    assert meta["ema"] == 0.9 and any(k.startswith("E.") for k in tensors)
    # sampling reads the average, not the trained generator
    sampled = _generator(full, meta).state_dict()
    assert all(torch.equal(sampled[k], v) for k, v in whole.G_avg.state_dict().items())
    assert not all(torch.equal(sampled[k], v) for k, v in whole.G.state_dict().items())
    # a cut run resumes its average exactly
    cut_dir = tmp_path / "c"
    assert not trainer(cut_dir, tiny(ema=0.9), Ctx(cut_dir, stop_after=4)).train()
    resumed = trainer(cut_dir, tiny(ema=0.9), Ctx(cut_dir))
    assert resumed.restore() and resumed.train()
    for k, v in whole.G_avg.state_dict().items():
        assert torch.allclose(resumed.G_avg.state_dict()[k].float(), v.float(), atol=1e-6), k
    # ema 0: no average, samples from the generator itself
    plain = trainer(tmp_path / "d", tiny(ema=0), Ctx(tmp_path / "d"))
    assert plain.G_avg is None and plain.sampler() is plain.G


def test_a_small_class_clamps_the_batch_and_says_so(tmp_path):
    ctx = Ctx(tmp_path)
    t = trainer(tmp_path, tiny(batch=64), ctx)
    assert t.batch == 10
    assert any("batch clamped to 10" in e.get("message", "") for e in ctx.events)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    trainer(tmp_path, tiny("dcgan"), Ctx(tmp_path)).train()
    other = trainer(tmp_path, tiny("wgan-gp"), Ctx(tmp_path))
    with pytest.raises(InputError, match="checkpoint is a dcgan 64 px model"):
        other.restore()


def test_corrupt_and_pickled_checkpoints_are_refused_and_never_executed(tmp_path):
    trainer(tmp_path, tiny(), Ctx(tmp_path)).train()
    full = tmp_path / "checkpoints" / "m_full.safetensors"
    full.write_bytes(full.read_bytes()[:1000])
    with pytest.raises(InputError, match="corrupt checkpoint"):
        ck.read(full)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    full.write_bytes(pickle.dumps({"G.x": Evil()}))
    with pytest.raises(InputError):
        trainer(tmp_path, tiny(), Ctx(tmp_path)).restore()
    assert not marker.exists()


def test_full_disk_fails_with_the_message_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    t = trainer(tmp_path, tiny(epochs=1), Ctx(tmp_path))
    t.train()
    before = (tmp_path / "checkpoints" / "m_full.safetensors").read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ck, "save_file", full_disk)
    t.s = {**t.s, "epochs": 2}
    with pytest.raises(OSError, match="No space left on device"):
        t.train()
    assert (tmp_path / "checkpoints" / "m_full.safetensors").read_bytes() == before
    assert not list((tmp_path / "checkpoints").glob(".*.tmp"))


def test_a_nan_loss_stops_with_diverged_at_step(tmp_path):
    t = trainer(tmp_path, tiny(), Ctx(tmp_path))
    with torch.no_grad():
        next(t.D.parameters()).fill_(math.nan)
    with pytest.raises(Diverged, match=r"diverged at step 1\b"):
        t.train()
    assert not (tmp_path / "checkpoints" / "m_full.safetensors").exists()


def test_conditional_model_and_bad_settings(tmp_path):
    labels = np.array([0, 1] * 5)
    t = trainer(tmp_path, tiny(conditional=True), Ctx(tmp_path), labels, ("Osteophytes", "Vertebral collapse"))
    assert t.n_classes == 2 and t.train()
    with pytest.raises(InputError, match="size: 100 is not one of 64, 128, 256"):
        gan_settings({"size": 100})
    with pytest.raises(InputError, match="epochs: 0 is outside"):
        gan_settings({"epochs": 0})
    assert gan_settings({"arch": "dcgan"})["beta1"] == 0.5 and gan_settings({})["n_critic"] == 5


def test_unknown_or_absent_class_is_refused_by_name(demo_root):
    from spinegui.core.dataset.vindr import load_index
    from spinegui.gan.data import check_classes

    with pytest.raises(InputError, match="did you mean 'Vertebral collapse'"):
        check_classes(["Vertebral colapse"])
    index = load_index(demo_root)
    absent = [c for c in ("Vertebral collapse", "Surgical implant", "Other lesions")
              if not any(c in r.labels for r in index.in_split("train"))]
    for name in absent:
        with pytest.raises(InputError, match=f"no training image of class '{name}'"):
            check_classes([name], index)


def test_diffaugment_is_differentiable_and_repeatable():
    from spinegui.gan.diffaugment import diff_augment

    x = (torch.rand(6, 1, 32, 32) * 2 - 1).requires_grad_(True)
    a = diff_augment(x, torch.Generator().manual_seed(1))
    b = diff_augment(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
    a.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert float((a == 0).float().mean()) > 0.1      # cutout blanks a square in each image


def test_training_with_diffaugment_runs_and_resumes_exactly(tmp_path):
    whole = Ctx(tmp_path / "a")
    trainer(tmp_path, tiny(diffaugment=True, epochs=2), whole).train()
    cut = Ctx(tmp_path / "b", stop_after=2)
    trainer(tmp_path, tiny(diffaugment=True, epochs=2), cut).train()
    again = Ctx(tmp_path / "b")
    t = trainer(tmp_path, tiny(diffaugment=True, epochs=2), again)
    t.restore()
    t.train()
    a, b = whole.epochs(), cut.epochs() + again.epochs()
    assert [x["critic"] for x in a] == pytest.approx([y["critic"] for y in b], abs=1e-6)
