"""The GAN quality gate's verdict (spinegui/gan/gate.py, in quality.json) as rich text for the GAN tab."""

from __future__ import annotations


def gate_text(gate: dict | None) -> str:
    """The quality gate's verdict as rich text (appended to the scores)."""
    if not gate:
        return "<br><b>Quality gate: not run</b> (this report is older: Check quality again)"
    if gate.get("gate") == "pass":
        return (f"<br><b style='color:#1a7f37'>Quality gate: PASS</b> (KID to held-out real images "
                f"{gate.get('kid')} vs real-vs-real {gate.get('kid_real_ref')}; {gate.get('gate_note', '')})")
    reasons = "".join(f"<br>&nbsp;• {r}" for r in gate.get("reasons", []))
    return f"<br><b style='color:#c01c28'>Quality gate: FAIL</b> — do not use these samples as they are:{reasons}"
