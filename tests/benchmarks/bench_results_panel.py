"""The Results tab's responsiveness while an experiment runs, against the same timer with nothing running;
and the time the New-experiment form takes to open.

The window is open on a case-1 dataset made from a demo dataset (one study of each class moved to the
test split), with the Results tab shown. A 10 ms QTimer measures how late each tick comes (the event
loop's stall):
- reference: the tab shown, nothing running, for a few seconds;
- busy: New experiment… (the form, then its plan), Start (resnet18 on the CPU in a job process: strategies
  none and basic, both protocols), then --seconds of the grid filling, the live box and its curves
  updating; then Cancel until the job has stopped. Each user action is its own event, as a click is.
Budgets (docs/ARCHITECTURE.md, Performance budgets; the issue): the form opens in <= 200 ms; no stall
above 50 ms while an experiment runs. The worst stall is printed with the phase it fell in, and the
share of the UI thread's CPU time.
With --parallel N the experiment's runs go to N job processes of their own (its parts, RUN/parts/*), which
the tab follows through their folders.
Run: python tests/benchmarks/bench_results_panel.py [--seconds 60] [--images 80] [--epochs 20] [--parallel 2]
"""

import argparse
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from bench_gan_panel import Lateness  # noqa: E402  (the same probe as the GAN tab's benchmark)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0, help="experiment time to watch")
    ap.add_argument("--images", type=int, default=80, help="demo dataset size")
    ap.add_argument("--epochs", type=int, default=20, help="classifier epochs per run")
    ap.add_argument("--parallel", type=int, default=0, help="runs at once, each in its own process (0: one job)")
    ap.add_argument("--shots", type=Path, default=None, help="also save the form and the tab mid-run as PNGs here")
    args = ap.parse_args()

    import tempfile

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from case_factory import make_case_root
    from spinegui.core.demo.dataset import generate_demo_dataset
    from spinegui.jobs import read_status
    from spinegui.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate_demo_dataset(tmp / "demo", n_images=args.images, seed=7, class_mix="balanced")
        root = make_case_root(tmp / "demo", tmp / "case")
        win = MainWindow(QSettings(str(tmp / "bench.ini"), QSettings.Format.IniFormat), tmp / "ws")
        win.setProperty("headless", True)
        win.resize(1560, 900)
        win.show()
        win.open_dataset(root)
        probe = Lateness()

        def run_for(seconds: float, until=lambda: False) -> float:
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds and not until():
                app.processEvents()
                time.sleep(0.001)
            return time.monotonic() - t0

        run_for(5.0)   # the window's own cache build
        probe.start()
        probe.phase = "open tab"
        win.actions["results"].trigger()
        run_for(1.0)
        panel = win.results_panel
        probe.phase = "idle"
        run_for(3.0)
        probe.phase = "form"
        opens = []
        for _ in range(3):
            t0 = time.perf_counter()
            win.actions["new_experiment"].trigger()
            app.processEvents()
            opens.append((time.perf_counter() - t0) * 1000)
            if _ < 2:
                panel.dialog.reject()
                run_for(0.3)
        dialog = panel.dialog
        dialog.set_choices(case="1", protocol="both", settings={
            "models": ["resnet18"], "strategies": ["none", "basic"], "size": 32, "epochs": args.epochs,
            "patience": 0, "per_class": "6", "device": "cpu", "threads": 1, "workers": 1, "bootstrap": 50,
            "parallel": args.parallel})
        t0 = time.monotonic()
        run_for(60.0, lambda: dialog.answered == dialog._gen)
        planned = time.monotonic() - t0
        if not dialog.start_button.isEnabled():
            raise SystemExit(f"not planned: {dialog.message.text()}")
        if args.shots:
            args.shots.mkdir(parents=True, exist_ok=True)
            dialog.grab().save(str(args.shots / "new_experiment_form.png"))
        state = lambda: (panel._live_status or {}).get("state")  # noqa: E731
        probe.phase = "start"
        t_click = time.monotonic()
        dialog.start_button.click()
        run_for(120.0, lambda: state() == "running")
        started = time.monotonic() - t_click
        probe.phase = "running"
        run_for(args.seconds)
        cells, live = len(panel.exp.runs) if panel.exp else 0, panel.live_box.status.text()
        if args.shots:
            probe.phase = "shot"   # (grabbing the window is the benchmark's work, not the tab's)
            win.grab().save(str(args.shots / "results_mid_run.png"))
        probe.phase = "cancel"
        panel.cancel_button.click()
        run_for(60.0, lambda: state() in ("cancelled", "done"))
        run_for(0.5)
        probe.timer.stop()
        status = read_status(panel._folder)
        win.close()

    spread = f", {args.parallel} runs at once" if args.parallel else ""
    print(f"Results tab, resnet18 32 px on the CPU ({os.cpu_count()} CPUs, {args.images} demo images, case 1, "
          f"none + basic, both protocols, {args.epochs} epochs{spread}): planned {planned * 1000:.0f} ms after the "
          f"form was filled, running {started:.1f} s after Start, watched {args.seconds:.0f} s: {cells} of 4 cells "
          f"filled, ended {status['state']!r}")
    print(f"live box before Cancel: {re.sub('<[^>]+>', '', live)}")
    print(f"New experiment form opens in {', '.join(f'{t:.0f}' for t in opens)} ms (<= 200 ms required; "
          f"the first includes importing its modules)")
    print(f"reference, tab shown and nothing running: {probe.summary({'idle'})}")
    print(f"opening the tab: {probe.summary({'open tab'})}")
    print(f"form and plan: {probe.summary({'form'})}")
    print(f"Start, running, Cancel: {probe.summary({'start', 'running', 'cancel'})} (<= 50 ms required)")
    for phase in ("start", "running", "cancel"):
        print(f"  {phase}: {probe.summary({phase})}")
    idle_max = max(r[1] for r in probe.rows if r[0] == "idle")
    busy_max = max(r[1] for r in probe.rows if r[0] in {"start", "running", "cancel"})
    print(f"ratio of the worst stall, busy / idle: {busy_max / max(idle_max, 1.0):.1f}")


if __name__ == "__main__":
    main()
