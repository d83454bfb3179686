"""The classifier trainer under DistributedDataParallel: two gloo ranks on the CPU (torch.multiprocessing
spawn) train one resnet18. After every epoch the ranks' whole state (weights and batch-norm buffers)
is identical, each rank trained on its own half of the epoch, the epoch's sums count every image once,
rank 0 alone wrote the checkpoints, and a cancel seen by one rank stops both at the same step."""

import json
import socket

import numpy as np
import pytest
import torch
import torch.distributed as td
import torch.multiprocessing as mp

from job_ctx import Ctx
from spinegui.torchkit import distributed as D
from spinegui.train.classifier_train import ClassifierTrainer, FoldData

SETTINGS = {"optimizer": "adamw", "lr": 0.0, "weight_decay": 1e-4, "epochs": 2, "batch": 4, "patience": 0,
            "seed": 3, "flip": True}
N = 12          # 6 items a rank an epoch, 2 a step: 3 steps an epoch


def _data(n=N, size=32) -> FoldData:
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    images = (rng.uniform(0, 0.5, (n, size, size)) + 0.4 * labels[:, None, None]) * 65535
    return FoldData([images.astype(np.uint16)], np.stack([np.zeros(n), np.arange(n)], 1), labels,
                    [f"i{k}" for k in range(n)])


def _state_vector(trainer) -> torch.Tensor:
    return torch.cat([v.detach().double().flatten() for v in trainer.model.state_dict().values()])


class _Checked(ClassifierTrainer):
    """Records, at the end of each epoch, whether every rank holds rank 0's state, and the items it trained on."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.checks, self.items = [], []

    def _order(self, n, batch, epoch):
        order = super()._order(n, batch, epoch)
        self.items.append(sorted(int(i) for i in order[:-batch]))   # without the wrap-round
        return order

    def _end_epoch(self, val):
        super()._end_epoch(val)
        mine = _state_vector(self)
        gathered = [torch.zeros_like(mine) for _ in range(self.dist.world)]
        td.all_gather(gathered, mine)
        self.checks.append({"identical": all(torch.equal(g, gathered[0]) for g in gathered),
                            "spread": D.weight_spread([self.model], self.dist),
                            "moved": float((mine - self.initial).abs().max())})


class _StopOnRank1(Ctx):
    def __init__(self, rank, after):
        super().__init__()
        self.rank, self.after = rank, after

    def should_stop(self):
        self.checks += 1
        return self.rank == 1 and self.checks > self.after


def _rank(rank: int, port: int, out: str, cancel_after) -> None:
    torch.set_num_threads(1)
    td.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        dist = D.Dist(rank, 2, 0)
        ctx = Ctx() if cancel_after is None else _StopOnRank1(rank, cancel_after)
        data = _data()
        # a folder of each rank's own, to see who writes (an experiment's ranks share one)
        t = _Checked("resnet18", ["a", "b"], 32, SETTINGS, torch.device("cpu"), f"{out}/ckpt{rank}", "ddp", ctx,
                     dist=dist)
        t.initial = _state_vector(t)
        finished = t.fit(data, data)
        result = {"finished": finished, "checks": t.checks, "items": t.items, "history": t.state["history"],
                  "step": [t.state["epoch"], t.state["step_in_epoch"], t.state["steps_done"]]}
        with open(f"{out}/rank{rank}.json", "w") as fh:
            json.dump(result, fh)
    finally:
        td.destroy_process_group()


def _spawn(tmp_path, cancel_after=None) -> list[dict]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank, args=(port, str(tmp_path), cancel_after), nprocs=2, join=True)
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    return tmp, _spawn(tmp)


def test_two_ranks_hold_identical_weights_after_every_epoch(trained):
    _, ranks = trained
    for r in ranks:
        assert r["finished"] and len(r["checks"]) == SETTINGS["epochs"]
        for check in r["checks"]:
            assert check["identical"] and check["spread"] == 0.0
            assert check["moved"] > 0          # they trained: identical, not merely untouched
    assert ranks[0]["history"] == ranks[1]["history"]


def test_each_rank_trains_its_own_shard_and_the_sums_count_every_image_once(trained):
    _, ranks = trained
    for epoch in range(SETTINGS["epochs"]):
        a, b = ranks[0]["items"][epoch], ranks[1]["items"][epoch]
        assert len(a) == len(b) == N // 2 and sorted(a + b) == list(range(N))   # DistributedSampler's halves
    assert ranks[0]["items"][0] != ranks[0]["items"][1]                          # set_epoch: a new split
    for entry in ranks[0]["history"]:
        assert entry["images"] == N            # 3 steps x 2 images x 2 ranks
    assert ranks[0]["step"] == ranks[1]["step"] == [2, 0, 6]


def test_rank_0_alone_writes_the_checkpoints(trained):
    tmp, _ = trained
    written = sorted(p.name for p in (tmp / "ckpt0").iterdir())
    assert "ddp_best.safetensors" in written and "ddp_last.safetensors" in written
    assert not (tmp / "ckpt1").exists()


def test_a_cancel_seen_by_one_rank_stops_both_at_the_same_step(tmp_path):
    ranks = _spawn(tmp_path, cancel_after=4)        # rank 1 asks to stop at its 5th check: epoch 2, step 2
    assert [r["finished"] for r in ranks] == [False, False]
    assert ranks[0]["step"] == ranks[1]["step"] == [1, 1, 4]
    assert all(len(r["checks"]) == 1 and r["checks"][0]["identical"] for r in ranks)
    assert (tmp_path / "ckpt0" / "ddp_last.safetensors").is_file() and not (tmp_path / "ckpt1").exists()
