"""Say which system packages are missing before Qt aborts on a platform plugin it cannot load.

Qt 6.5+ needs libraries a fresh Linux often lacks (libxcb-cursor0, libxcb-icccm4, ...); without
them QApplication prints a paragraph and calls abort(). We look at the plugin's shared-library
dependencies with ldd first and turn "not found" into one line naming the Debian/Ubuntu packages.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

# soname -> Debian/Ubuntu package
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-util.so.1": "libxcb-util1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}
PLUGIN_FILES = {"xcb": "libqxcb.so", "wayland": "libqwayland.so", "offscreen": "libqoffscreen.so"}
EXTRA_LIBS = {"xcb": ["libQt6XcbQpa.so.6"], "wayland": ["libQt6WaylandClient.so.6"]}


def chosen_platform(environ=os.environ) -> str:
    """The platform Qt will try first (what QT_QPA_PLATFORM says, else what the session offers)."""
    explicit = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if explicit:
        return explicit
    if environ.get("WAYLAND_DISPLAY") and environ.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    return "xcb"


def missing_libraries(platform: str) -> list[str]:
    """Sonames the platform plugin needs but the dynamic linker cannot find (Linux only)."""
    if not sys.platform.startswith("linux") or platform not in PLUGIN_FILES:
        return []
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    files = [qt / "plugins" / "platforms" / PLUGIN_FILES[platform]]
    files += [qt / "lib" / name for name in EXTRA_LIBS.get(platform, [])]
    missing: list[str] = []
    for f in files:
        if not f.exists():
            continue
        try:
            out = subprocess.run(["ldd", str(f)], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return []  # no ldd: let Qt try and speak for itself
        for soname in not_found(out):
            if soname not in missing:
                missing.append(soname)
    return missing


def not_found(ldd_output: str) -> list[str]:
    return re.findall(r"^\s*(\S+) => not found", ldd_output, flags=re.M)


def platform_problem(environ=os.environ) -> str | None:
    """One line saying why the window cannot open here, or None when it should."""
    platform = chosen_platform(environ)
    if sys.platform.startswith("linux") and platform == "xcb" and not environ.get("DISPLAY"):
        return (
            "no display: DISPLAY is not set (run spinegui on a desktop session, over ssh -X, under xvfb-run, "
            "or with QT_QPA_PLATFORM=offscreen for --screenshot)"
        )
    if platform == "wayland" and not environ.get("WAYLAND_DISPLAY"):
        return "no display: QT_QPA_PLATFORM=wayland but WAYLAND_DISPLAY is not set"
    missing = missing_libraries(platform)
    if missing:
        packages = sorted({DEBIAN_PACKAGES.get(s, s) for s in missing})
        return (
            f"the Qt '{platform}' platform plugin cannot load: missing {', '.join(missing)}; "
            f"install them with: sudo apt-get install {' '.join(packages)}"
        )
    return None
