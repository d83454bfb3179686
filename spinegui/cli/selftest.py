"""`spinegui self-test`: does this install work? Headless; about a minute on a 2-core CPU.

Makes a tiny demo dataset in a temp folder, decodes a JPEG 2000 DICOM with every decoder, opens the
main window (offscreen without a display), runs one augmentation, a few GAN and classifier steps as
job processes on the CPU, and again on CUDA when torch sees a GPU. One line per step with its time;
exit 0 when all pass, 1 naming the failed steps (their files are kept for a look).

SPINEGUI_SELFTEST_FAIL=STEP[,STEP] makes those steps fail on purpose (tests of the failure path,
also on a bundle).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from spinegui.cli import selftest_steps as S

FAIL_ENV = "SPINEGUI_SELFTEST_FAIL"
# (name, function, the steps it needs); the CUDA steps are added when torch sees a GPU
STEPS = [
    ("demo-data", S.demo_data, ()),
    ("decode", S.decode, ("demo-data",)),
    ("window", S.window, ("demo-data",)),
    ("augment", S.augment, ("decode",)),
    ("gan-cpu", lambda c: S.gan(c, "cpu"), ("demo-data",)),
    ("classifier-cpu", lambda c: S.classifier(c, "cpu"), ("demo-data",)),
]
CUDA_STEPS = [
    ("gan-cuda", lambda c: S.gan(c, "cuda"), ("demo-data",)),
    ("classifier-cuda", lambda c: S.classifier(c, "cuda"), ("demo-data",)),
]
ALL_NAMES = [n for n, _, _ in STEPS + CUDA_STEPS]


def add_parsers(sub) -> None:
    t = sub.add_parser("self-test", help="check this install: demo data, decoding, the window, augmentation, "
                                         "GAN and classifier steps in job processes (CPU, and CUDA if present)")
    t.add_argument("--only", default=None, metavar="STEPS",
                   help=f"comma-separated steps to run (and those they need): {', '.join(ALL_NAMES)}")
    t.add_argument("--no-cuda", action="store_true", help="skip the CUDA steps even when torch sees a GPU")
    t.add_argument("--keep", action="store_true", help="keep the temp folder (it is kept anyway when a step fails)")
    t.set_defaults(handler=cmd_self_test)


def _wanted(only: str | None) -> set[str] | None:
    from spinegui.core.errors import InputError

    if not only:
        return None
    names = {n.strip() for n in only.split(",") if n.strip()}
    unknown = sorted(names - set(ALL_NAMES))
    if unknown:
        raise InputError(None, f"unknown self-test step {unknown[0]!r} (steps: {', '.join(ALL_NAMES)})")
    needs = {n: d for n, _, d in STEPS + CUDA_STEPS}
    todo = list(names)
    while todo:  # add what the chosen steps need
        for dep in needs[todo.pop()]:
            if dep not in names:
                names.add(dep)
                todo.append(dep)
    return names


def _header() -> str:
    from spinegui import __version__
    from spinegui.jobs.runfolder import versions

    how = "bundle " + str(Path(sys.executable).parent) if getattr(sys, "frozen", False) else "source"
    torch = versions().get("torch", "?")
    return (f"spinegui {__version__} self-test ({how}; Python {platform.python_version()}, torch {torch}, "
            f"{os.cpu_count()} CPUs)")


def cmd_self_test(args) -> int:
    wanted = _wanted(args.only)
    work = Path(tempfile.mkdtemp(prefix="spinegui-selftest-"))
    # Settings, workspaces and presets of this run stay in the temp folder (the job processes inherit
    # it), and so does the cache folder torch's compiler makes under $TMPDIR when a job imports it.
    scoped = {"SPINEGUI_HOME": str(work / "home"), "TORCHINDUCTOR_CACHE_DIR": str(work / "torchinductor")}
    previous = {k: os.environ.get(k) for k in scoped}
    os.environ.update(scoped)
    print(_header(), flush=True)
    run = _Run(S.Context(work), wanted)
    note = ""
    t_all = time.perf_counter()
    try:
        for step in STEPS:
            run.step(*step)
        cuda_wanted = wanted is None or bool(wanted & {n for n, _, _ in CUDA_STEPS})
        if cuda_wanted and not args.no_cuda:
            try:
                gpu = S.cuda_available()
            except Exception as exc:
                gpu = False
                run.fail("cuda-check", None, _reason(exc))
            if gpu:
                for step in CUDA_STEPS:
                    run.step(*step)
            elif wanted is not None:
                run.fail("cuda-check", None, "CUDA steps asked for, but torch sees no CUDA GPU")
            else:
                note = "no CUDA GPU seen by torch: CPU steps only"
    finally:
        for key, value in previous.items():
            _restore(key, value)
    total = time.perf_counter() - t_all
    if run.failed:
        print(f"self-test FAILED: {', '.join(run.failed)} ({len(run.passed)} passed, {len(run.failed)} failed, "
              f"{total:.1f} s); files kept in {work}", flush=True)
        return 1
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"self-test passed: {len(run.passed)} steps in {total:.1f} s" + (f" ({note})" if note else "")
          + (f"; files in {work}" if args.keep else ""), flush=True)
    return 0


class _Run:
    """Runs steps in order, skipping those whose prerequisites failed, and prints a line each."""

    def __init__(self, ctx: S.Context, wanted: set[str] | None):
        self.ctx, self.wanted = ctx, wanted
        self.inject = {n.strip() for n in os.environ.get(FAIL_ENV, "").split(",") if n.strip()}
        self.passed: list[str] = []
        self.failed: list[str] = []

    def step(self, name: str, func, needs: tuple[str, ...]) -> None:
        if self.wanted is not None and name not in self.wanted:
            return
        missing = [d for d in needs if d not in self.passed]
        if missing:
            _line("skip", name, None, f"needs {', '.join(missing)}")
            self.failed.append(name)
            return
        t0 = time.perf_counter()
        try:
            if name in self.inject:
                raise RuntimeError(f"failure injected by {FAIL_ENV}")
            detail = func(self.ctx)
        except Exception as exc:  # a step's failure is reported, and the other steps go on
            self.fail(name, time.perf_counter() - t0, _reason(exc))
            return
        _line("ok", name, time.perf_counter() - t0, detail)
        self.passed.append(name)

    def fail(self, name: str, secs: float | None, reason: str) -> None:
        _line("FAIL", name, secs, reason)
        self.failed.append(name)


def _line(tag: str, name: str, secs: float | None, detail: str) -> None:
    took = f"{secs:6.1f} s" if secs is not None else " " * 8
    print(f"{tag:>4}  {name:<16}{took}  {detail}", flush=True)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {text}"


def _restore(key: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value
