"""Mouse gestures on the viewer, as a user makes them (real Qt events on its viewport)."""

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

LEFT, RIGHT, NONE = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton, Qt.MouseButton.NoButton
MOVE_GAP_MS = 15  # pyqtgraph drops mouse moves closer than 10 ms (mouseRateLimit)


def send(widget, kind, pos, button, buttons):
    pos = QPointF(pos)
    ev = QMouseEvent(kind, pos, QPointF(widget.mapToGlobal(pos)), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def drag(qtbot, viewer, start, end, button=LEFT, steps=6):
    """Press at ``start``, move in steps, release at ``end`` (source-pixel points)."""
    vp = viewer.viewport
    p0, p1 = QPointF(viewer.map_to_viewport(*start)), QPointF(viewer.map_to_viewport(*end))
    send(vp, QEvent.Type.MouseButtonPress, p0, button, button)
    for i in range(1, steps + 1):
        qtbot.wait(MOVE_GAP_MS)
        send(vp, QEvent.Type.MouseMove, p0 + (p1 - p0) * (i / steps), NONE, button)
    qtbot.wait(MOVE_GAP_MS)
    send(vp, QEvent.Type.MouseButtonRelease, p1, button, NONE)
    qtbot.wait(1)


def click(qtbot, viewer, at, button=LEFT):
    vp, p = viewer.viewport, viewer.map_to_viewport(*at)
    send(vp, QEvent.Type.MouseButtonPress, p, button, button)
    send(vp, QEvent.Type.MouseButtonRelease, p, button, NONE)
    qtbot.wait(1)


def hover(qtbot, viewer, at):
    qtbot.wait(MOVE_GAP_MS)
    send(viewer.viewport, QEvent.Type.MouseMove, viewer.map_to_viewport(*at), NONE, NONE)


def source_px_per_screen_px(viewer) -> float:
    a, b = viewer.map_to_viewport(0, 0), viewer.map_to_viewport(1000, 0)
    return 1000.0 / max(1, b.x() - a.x())
