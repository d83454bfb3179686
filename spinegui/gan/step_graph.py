"""One training step captured as a CUDA graph and replayed.

A WGAN-GP step at 64-128 px is launch-bound: a few hundred small kernels (critic forward on real,
fake and mix, the double backward of the gradient penalty, the optimiser) keep the GPU mostly idle.
Replaying them as one graph removes the per-kernel launch cost.

The step function must be free of host synchronisation (no .item(), no float(tensor)) and read its
randomness from generators registered here, so that each replay draws fresh numbers.
Outputs are static tensors: the next replay overwrites them, so callers copy what they keep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def graphs_supported(device: torch.device) -> bool:
    return device.type == "cuda" and hasattr(torch.cuda.CUDAGraph, "register_generator_state")


class StepGraph:
    """The first ``warmup`` calls run eagerly on a side stream (as the CUDA graphs guide asks, so that
    lazily made state such as optimiser moments and cuDNN plans exist); the next call captures,
    and every call from then on replays. Every call is a real step on the inputs given."""

    def __init__(self, fn: Callable[..., torch.Tensor], generators: Sequence[torch.Generator] = (),
                 warmup: int = 3, before_capture: Callable[[], None] | None = None,
                 on_fail: Callable[[str, list[torch.Tensor]], None] | None = None):
        """``before_capture`` must stop other threads' CUDA work (a checkpoint writer waiting on an
        event would invalidate the capture); ``on_fail(why, generator states before the capture)``."""
        self.fn, self.generators, self.warmup = fn, list(generators), warmup
        self.before_capture, self.on_fail = before_capture, on_fail
        self.calls = 0
        self.failed: str | None = None   # why capture failed; the step then stays eager
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_in: list[torch.Tensor] = []
        self.static_out: torch.Tensor | None = None

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.failed:
            return self.fn(*inputs)
        if self.graph is None and self.calls <= self.warmup:
            main = torch.cuda.current_stream()
            side = self._side = getattr(self, "_side", None) or torch.cuda.Stream()
            side.wait_stream(main)
            with torch.cuda.stream(side):
                out = self.fn(*inputs)
            main.wait_stream(side)
            return out
        if self.graph is None:
            if self.before_capture:
                self.before_capture()
            states = [g.get_state() for g in self.generators]
            stream = torch.cuda.current_stream()
            try:
                self._capture(inputs)
            except RuntimeError as exc:   # an op that cannot be captured: keep training, eagerly
                # a failed capture_end leaves the capture stream current: go back to ours
                torch.cuda.set_stream(stream)
                cause = exc.__context__ or exc   # the op that broke the capture, not capture_end
                self.failed = f"CUDA graph capture failed, training goes on without graphs: {cause}".splitlines()[0]
                torch.cuda.synchronize()
                if self.on_fail:
                    self.on_fail(self.failed, states)
                return self.fn(*inputs)
        for static, x in zip(self.static_in, inputs):
            static.copy_(x, non_blocking=True)
        self.graph.replay()
        return self.static_out

    def _capture(self, inputs: Sequence[torch.Tensor]) -> None:
        self.static_in = [x.detach().clone() for x in inputs]
        graph = torch.cuda.CUDAGraph()
        for gen in self.generators:
            graph.register_generator_state(gen)
        torch.cuda.synchronize()
        with torch.cuda.graph(graph):
            self.static_out = self.fn(*self.static_in)
        self.graph = graph
