"""The CUDA-only code paths: CUDA-graph GAN steps, asynchronous loss reads, the GPU augmentation batch.

They run where a GPU is (the lent device machine, a lab workstation) and are skipped elsewhere.
"""

import numpy as np
import pytest
import torch

from job_ctx import Ctx

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _trainer(tmp_path, graphs, n=48, batch=16, size=64, epochs=2, diffaugment=False, name="m"):
    from spinegui.gan.settings import gan_settings
    from spinegui.gan.train import GanTrainer

    s = gan_settings({"size": size, "batch": batch, "epochs": epochs, "device": "cuda", "cuda_graphs": graphs,
                      "diffaugment": diffaugment, "seed": 3})
    images = (np.random.default_rng(1).random((n, size, size)) * 65535).astype(np.uint16)
    ctx = Ctx(tmp_path / name)
    return GanTrainer(s, images, np.zeros(n, np.int64), ["x"], name, torch.device("cuda"), ctx)


def _params(module):
    return torch.cat([p.detach().float().flatten() for p in module.parameters()])


def test_graph_replays_compute_what_eager_steps_compute(tmp_path):
    """Same seeds, same batches: the updates after capture match eager ones, so the registered
    generators draw the same numbers and the captured optimiser steps really run."""
    eager, graphed = _trainer(tmp_path, False, name="e"), _trainer(tmp_path, True, name="g")
    assert graphed.graphed and not eager.graphed
    idx = torch.arange(16, device="cuda")
    y = torch.zeros(16, dtype=torch.long, device="cuda")
    before = _params(eager.D), _params(eager.G)
    assert torch.equal(before[0], _params(graphed.D)) and torch.equal(before[1], _params(graphed.G))
    losses = {"e": [], "g": []}
    for _ in range(5):   # 25 critic and 5 generator steps: 3 eager warm-ups each, a capture, replays
        for _ in range(5):
            losses["e"].append(eager.critic_update(idx).clone())
            losses["g"].append(graphed.critic_update(idx).clone())
        eager.generator_update(y)
        graphed.generator_update(y)
    assert graphed.critic_update.captured and graphed.generator_update.captured
    for name, module_e, module_g, start in (("D", eager.D, graphed.D, before[0]), ("G", eager.G, graphed.G, before[1])):
        step_e, step_g = _params(module_e) - start, _params(module_g) - start
        assert step_e.norm() > 0
        rel = ((step_g - step_e).norm() / step_e.norm()).item()
        assert rel < 0.05, f"{name}: graphed updates differ from eager ones by {rel:.3f}"
    le, lg = torch.stack(losses["e"]), torch.stack(losses["g"])
    assert torch.isfinite(lg).all()
    assert torch.allclose(le, lg, rtol=0.05, atol=1e-3), (le, lg)


def test_graphed_training_checkpoints_and_resumes(tmp_path):
    t = _trainer(tmp_path, True, epochs=3, diffaugment=True)
    assert t.train()
    assert t.critic_update.captured
    assert not [e for e in t.ctx.events if e["kind"] == "log" and "capture failed" in e["message"]]
    assert t.epoch == 3 and t.critic_steps == 9
    events = [e for e in t.ctx.events if e["kind"] == "loss"]
    assert len(events) == 9 and all(np.isfinite(e["critic"]) for e in events)
    ckpts = sorted(p.name for p in (tmp_path / "m" / "checkpoints").glob("*.safetensors"))
    assert "m_full.safetensors" in ckpts and "m_g_epoch00003.safetensors" in ckpts

    again = _trainer(tmp_path, True, epochs=5, diffaugment=True)
    assert again.restore() and again.epoch == 3
    assert torch.equal(_params(again.G), _params(t.G))
    assert again.train() and again.epoch == 5


def test_graphed_nan_stops_with_the_step(tmp_path):
    from spinegui.gan.train import Diverged

    t = _trainer(tmp_path, True, epochs=4)
    t.s["gp_weight"] = float("nan")     # a python float captured as a constant: every step is NaN
    with pytest.raises(Diverged, match="diverged at step 1 "):
        t.train()


def test_gpu_augmentation_batch_matches_the_cpu_one():
    from spinegui.augment.pipeline import Augmenter
    from spinegui.augment.presets import load_preset

    aug = Augmenter(load_preset("basic"))
    x = torch.rand(8, 1, 128, 128)
    x[:, :, 40:80, 50:90] = 1.0
    cpu = aug.batch(x, seed=5)
    gpu = aug.batch(x.cuda(), seed=5).cpu()
    assert (gpu - cpu).abs().mean() < 0.02


def test_classifier_trains_on_cuda_without_per_step_syncs(tmp_path):
    from spinegui.train.classifier_train import ClassifierTrainer, FoldData

    class Quiet:
        def emit(self, *a, **k):
            pass

        def log(self, *a, **k):
            pass

        def should_stop(self):
            return False

    n = 96
    store = (np.random.default_rng(0).random((n, 64, 64)) * 65535).astype(np.uint16)
    labels = np.arange(n) % 3
    store[labels == 1, 20:40, 20:40] = 65535
    fold = FoldData([store], np.stack([np.zeros(n), np.arange(n)], 1), labels, [str(i) for i in range(n)])
    s = {"seed": 0, "lr": None, "optimizer": "adamw", "weight_decay": 1e-4, "batch": 16, "epochs": 3,
         "patience": 0, "flip": True}
    t = ClassifierTrainer("resnet18", ["a", "b", "c"], 64, s, torch.device("cuda"), tmp_path, "k", Quiet())
    assert t.fit(fold, fold)
    history = t.state["history"]
    assert len(history) == 3 and all(np.isfinite(h["train_loss"]) for h in history)
    assert history[-1]["images"] == 96 and history[-1]["img_s"] > 0
