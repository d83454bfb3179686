"""The GPU's deferred bookkeeping, exercised on the CPU: losses read in batches across epochs, the
generator ring, checkpoints every CHECKPOINT_SECONDS. It must report the same epochs, means and
files as the per-epoch path."""

import numpy as np
import torch

from job_ctx import Ctx
from spinegui.gan import checkpoint as ck
from spinegui.gan import train as gan_train
from test_gan import images, tiny


def _run(tmp_path, name, lazy, monkeypatch, epochs=7, keep_last=3, stop_after=None):
    ctx = Ctx(tmp_path / name, stop_after=stop_after)
    t = gan_train.GanTrainer(tiny(epochs=epochs, keep_last=keep_last, sample_every=3), images(),
                             np.zeros(10, np.int64), ["x"], "m", torch.device("cpu"), ctx)
    if lazy:   # as on a GPU: losses read only at checkpoints, epochs closed from the rows' epochs
        t.lazy_checkpoints, t.read_every_step = True, False
    finished = t.train()
    return t, ctx, finished


def test_deferred_bookkeeping_reports_what_the_per_epoch_path_reports(tmp_path, monkeypatch):
    monkeypatch.setattr(gan_train, "CHECKPOINT_SECONDS", 1e9)
    monkeypatch.setattr(gan_train, "FLUSH_SECONDS", 1e9)   # only samples and the end checkpoint
    eager_t, eager, _ = _run(tmp_path, "a", False, monkeypatch)
    lazy_t, lazy, _ = _run(tmp_path, "b", True, monkeypatch)
    ea, la = eager.epochs(), lazy.epochs()
    assert [e["epoch"] for e in la] == list(range(1, 8))
    for x, y in zip(ea, la):
        for key in ("critic", "wasserstein", "generator"):
            assert abs(x[key] - y[key]) < 1e-9, (key, x, y)
    assert [e["epoch"] for e in eager.events if e["kind"] == "sample"] == \
           [e["epoch"] for e in lazy.events if e["kind"] == "sample"] == [3, 6, 7]
    snaps = [p.name for p in ck.snapshots(tmp_path / "b" / "checkpoints", "m")]
    assert snaps == [f"m_g_epoch{e:05d}.safetensors" for e in (5, 6, 7)]
    assert snaps == [p.name for p in ck.snapshots(tmp_path / "a" / "checkpoints", "m")]
    # each snapshot holds that epoch's generator to sample from (the weight average): the last
    # equals the final average, the ring's slots are not shared between epochs
    last, _ = ck.read(tmp_path / "b" / "checkpoints" / snaps[-1])
    first, meta = ck.read(tmp_path / "b" / "checkpoints" / snaps[0])
    final = {f"G.{k}": v for k, v in lazy_t.G_avg.state_dict().items()}
    assert all(torch.equal(last[k], final[k]) for k in final)
    assert meta["epoch"] == 5 and not all(torch.equal(first[k], last[k]) for k in final)
    same, _ = ck.read(tmp_path / "a" / "checkpoints" / snaps[0])
    assert all(torch.equal(first[k], same[k]) for k in final)


def test_deferred_path_stops_with_a_checkpoint_that_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(gan_train, "CHECKPOINT_SECONDS", 1e9)
    monkeypatch.setattr(gan_train, "FLUSH_SECONDS", 1e9)
    _, cut, finished = _run(tmp_path, "c", True, monkeypatch, stop_after=10)   # mid-epoch 4
    assert not finished
    meta = ck.read(tmp_path / "c" / "checkpoints" / "m_full.safetensors")[1]
    assert (meta["epoch"], meta["step_in_epoch"]) == (3, 1)
    assert [e["epoch"] for e in cut.epochs()] == [1, 2, 3]
    assert [p.name for p in ck.snapshots(tmp_path / "c" / "checkpoints", "m")] == \
           [f"m_g_epoch{e:05d}.safetensors" for e in (1, 2, 3)]
    again = Ctx(tmp_path / "c")
    t = gan_train.GanTrainer(tiny(epochs=7, keep_last=3, sample_every=3), images(), np.zeros(10, np.int64),
                             ["x"], "m", torch.device("cpu"), again)
    assert t.restore() and (t.epoch, t.step_in_epoch) == (3, 1)
    assert t.train() and [e["epoch"] for e in again.epochs()] == [4, 5, 6, 7]


def test_a_slow_disk_loses_no_per_epoch_snapshot(tmp_path, monkeypatch):
    """The writer falls behind: every epoch's generator still reaches the disk (none is replaced)."""
    import time

    slow = ck.save_snapshot

    def save_snapshot(*args, **kwargs):
        time.sleep(0.2)
        return slow(*args, **kwargs)

    monkeypatch.setattr(ck, "save_snapshot", save_snapshot)
    t, _, finished = _run(tmp_path, "d", False, monkeypatch, epochs=6, keep_last=3)
    assert finished   # (full checkpoints may be replaced by newer ones; snapshots never)
    assert [p.name for p in ck.snapshots(tmp_path / "d" / "checkpoints", "m")] == \
           [f"m_g_epoch{e:05d}.safetensors" for e in (4, 5, 6)]


def test_checkpoints_handed_over_reach_the_disk_when_training_fails(tmp_path, monkeypatch):
    """A write still queued when an error ends training is written before the error goes on."""
    import time

    slow = ck.save_full

    def save_full(*args, **kwargs):
        time.sleep(0.3)
        return slow(*args, **kwargs)

    monkeypatch.setattr(ck, "save_full", save_full)
    ctx = Ctx(tmp_path / "e")
    t = gan_train.GanTrainer(tiny(epochs=5), images(), np.zeros(10, np.int64), ["x"], "m", torch.device("cpu"), ctx)
    calls = {"n": 0}
    real_end = t._end_epoch

    def end_epoch(started, n_images):
        real_end(started, n_images)
        calls["n"] += 1
        if calls["n"] == 2:
            raise MemoryError("out of memory (planted)")

    t._end_epoch = end_epoch
    try:
        t.train()
    except MemoryError:
        pass
    meta = ck.read(tmp_path / "e" / "checkpoints" / "m_full.safetensors")[1]
    assert meta["epoch"] == 2
