"""The GAN tab and the quality gate: the verdict beside the scores, "Add these samples" asking first
when the gate failed (or never ran), the few-images warning, and a diverged run flagged."""

from __future__ import annotations

import json
import tomllib

from PySide6.QtCore import Qt
from test_gan_panel import CLASS, cached, fake_run, panel, select, write_quality, write_sampled

from spinegui.gan.data import images_of
from spinegui.ui.gan.run_io import status_line

__all__ = ["cached", "panel"]   # fixtures shared with test_gan_panel.py

FAILED = {"gate": "fail", "kid": 3.2, "kid_real_ref": -0.1,
          "reasons": ["samples are too alike (noise or collapse): mean pairwise distance 1.60 vs 14.72"]}
PASSED = {"gate": "pass", "kid": 0.01, "kid_real_ref": -0.02, "reasons": [], "gate_note": "test"}


def _sampled_run(panel, qtbot, index, name: str, gate: dict | None):
    run = fake_run(panel.ws.runs_dir, name, "done")
    report = write_quality(run, [r.image_id for r in images_of(index, CLASS)])
    if gate is not None:
        report["classes"][CLASS]["gate"] = gate
        (run / "quality.json").write_text(json.dumps(report))
    write_sampled(run, index)
    select(qtbot, panel, run)
    panel.tabs.setCurrentWidget(panel.browser)
    qtbot.waitUntil(lambda: panel.browser.add_button.isEnabled() and panel._quality is not None, timeout=10000)
    return run


def _sets(panel) -> list:
    path = panel.ws.path / "workspace.toml"
    return tomllib.loads(path.read_text()).get("synthetic_sets", []) if path.exists() else []


def test_add_samples_asks_first_when_the_gate_failed_and_adds_nothing_on_cancel(panel, qtbot, cached, monkeypatch):
    index, _ = cached
    asked = []
    monkeypatch.setattr("spinegui.ui.gan.tasks.ask", lambda *a: asked.append(a) or False)
    _sampled_run(panel, qtbot, index, "gan-failed", FAILED)
    text = panel.browser.scores.text()
    assert "Quality gate: FAIL" in text and "too alike" in text
    qtbot.mouseClick(panel.browser.add_button, Qt.MouseButton.LeftButton)
    assert len(asked) == 1 and "quality gate failed" in asked[0][2] and "too alike" in asked[0][2]
    qtbot.waitUntil(lambda: "not added" in panel.browser.message.text(), timeout=5000)
    assert _sets(panel) == [] and panel.browser.add_button.isEnabled()


def test_add_samples_goes_ahead_without_a_question_when_the_gate_passed(panel, qtbot, cached, monkeypatch):
    index, _ = cached
    asked = []
    monkeypatch.setattr("spinegui.ui.gan.tasks.ask", lambda *a: asked.append(a) or False)
    _sampled_run(panel, qtbot, index, "gan-passed", PASSED)
    assert "Quality gate: PASS" in panel.browser.scores.text()
    qtbot.mouseClick(panel.browser.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.browser.add_button.isEnabled(), timeout=5000)
    assert asked == [] and len(_sets(panel)) == 1


def test_a_class_with_few_images_is_warned_about_before_training(panel):
    panel.form.set_checked([CLASS])
    assert panel.form.counts[CLASS] < 20          # the demo's: a handful per class
    assert f"few training images: {CLASS} ({panel.form.counts[CLASS]})" in panel.form.warning.text()
    panel.form.set_checked([])
    assert panel.form.warning.text() == ""


def test_a_diverged_run_is_flagged():
    text = status_line("gan-x", {"state": "failed", "message": "diverged at step 12 (critic loss nan, ...)"},
                       None, 3.0)
    assert "DIVERGED" in text
    assert "DIVERGED" not in status_line("gan-x", {"state": "failed", "message": "out of memory"}, None, 3.0)


def test_the_status_line_hides_the_epoch_cap_behind_a_budget_but_shows_a_real_epoch_count():
    from spinegui.gan.spec import MAX_EPOCHS

    budgeted = status_line("gan-x", {"state": "running"}, {"epoch": 169, "epochs": MAX_EPOCHS}, 3.0)
    assert "epoch 169 " in budgeted + " " and f"/{MAX_EPOCHS}" not in budgeted
    assert "epoch 12/60" in status_line("gan-x", {"state": "running"}, {"epoch": 12, "epochs": 60}, 3.0)
