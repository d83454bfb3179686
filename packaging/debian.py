"""The .deb: /opt/spinegui (the bundle), /usr/bin/spinegui, a .desktop entry and the icon.

Depends: the libraries Qt's xcb plugin needs from a desktop (Qt's list, whether or not PyInstaller
also bundled a copy), plus every system library the bundle's ELF files need but do not carry, found
from their NEEDED entries: a new plugin that needs something new shows up at the next build.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

# Always depended on: what Qt's xcb platform plugin needs from the desktop (Qt's own docs list).
BASELINE = ["libxcb-cursor0", "libegl1", "libxkbcommon-x11-0", "libxcb-icccm4", "libxcb-keysyms1",
            "libxcb-shape0", "libxcb-xinerama0", "libxcb-randr0", "libxcb-render-util0", "libxcb-image0",
            "libgl1", "libfontconfig1", "libdbus-1-3"]

# soname -> Debian/Ubuntu package ("a | b": the name after the 64-bit time_t rename, Ubuntu 24.04+)
PACKAGE_OF = {
    "libc.so.6": "libc6", "libm.so.6": "libc6", "libdl.so.2": "libc6", "librt.so.1": "libc6",
    "libpthread.so.0": "libc6", "libutil.so.1": "libc6", "ld-linux-x86-64.so.2": "libc6",
    "libresolv.so.2": "libc6", "libanl.so.1": "libc6", "libcrypt.so.1": "libcrypt1",
    "libstdc++.so.6": "libstdc++6", "libgcc_s.so.1": "libgcc-s1",
    "libxcb.so.1": "libxcb1", "libX11.so.6": "libx11-6", "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0", "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-xkb.so.1": "libxcb-xkb1", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-render.so.0": "libxcb-render0", "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1", "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinput.so.0": "libxcb-xinput0", "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-randr.so": "libxcb-randr0", "libxcb-present.so.0": "libxcb-present0",
    "libxkbcommon.so.0": "libxkbcommon0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0", "libGLESv2.so.2": "libgles2", "libdrm.so.2": "libdrm2",
    "libfontconfig.so.1": "libfontconfig1", "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3", "libglib-2.0.so.0": "libglib2.0-0 | libglib2.0-0t64",
    "libgthread-2.0.so.0": "libglib2.0-0 | libglib2.0-0t64", "libgobject-2.0.so.0": "libglib2.0-0 | libglib2.0-0t64",
    "libz.so.1": "zlib1g", "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0", "libwayland-egl.so.1": "libwayland-egl1",
    "libxcb-ewmh.so.2": "libxcb-ewmh2", "libSM.so.6": "libsm6", "libICE.so.6": "libice6",
}

# Needed only by parts loaded on demand, and then provided by the system: never a Depends. The NVIDIA
# driver brings libcuda (torch's runtime compiler wants it, on a GPU only); GTK only matters to Qt's
# gtk3 theme plugin, which Qt tries on GNOME desktops, where GTK is installed.
OPTIONAL = {"libcuda.so.1": "NVIDIA driver", "libgtk-3.so.0": "GTK 3", "libgdk-3.so.0": "GTK 3"}

# Bundled plugins (and their Qt libraries) for other platforms than X11/offscreen
ON_DEMAND = re.compile(r"wayland|Wayland|WlShell|[Ee]gl[Ff][Ss]|egldeviceintegrations|linuxfb")

DESKTOP = """[Desktop Entry]
Type=Application
Name=spinegui
GenericName=Spine X-ray augmentation research
Comment=Look at, annotate and augment spine radiographs; train GANs and classifiers
Exec=/usr/bin/spinegui
Icon=spinegui
Terminal=false
Categories=Science;MedicalSoftware;Education;
Keywords=DICOM;X-ray;radiograph;VinDr;augmentation;GAN;
StartupWMClass=spinegui
"""

WRAPPER = """#!/bin/sh
# spinegui from its .deb: the bundle lives in /opt/spinegui (it finds its libraries beside itself).
exec /opt/spinegui/spinegui "$@"
"""


def _is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


def needed_sonames(path: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
    return [line.split("[", 1)[1].split("]", 1)[0] for line in out.splitlines() if "(NEEDED)" in line]


def external_libraries(bundle: Path) -> dict[str, list[str]]:
    """soname -> bundled files that need it, for every soname the bundle does not carry itself
    (glibc's, the graphics stack's, and the OPTIONAL ones)."""
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink() and _is_elf(p)]
    provided = {p.name for p in bundle.rglob("*")}
    external: dict[str, list[str]] = {}
    for f in files:
        for soname in needed_sonames(f):
            if soname not in provided:
                external.setdefault(soname, []).append(str(f.relative_to(bundle)))
    return external


def depends(bundle: Path) -> tuple[list[str], list[str], list[str]]:
    """(Depends, Recommends, sonames with no known package). A library needed only by plugins that
    Qt loads for other platforms (Wayland, EGLFS/KMS, framebuffer) is recommended, not required."""
    external = external_libraries(bundle)
    unknown = sorted(s for s in external if s not in PACKAGE_OF and s not in OPTIONAL)
    required, recommended = list(BASELINE), []
    for soname in sorted(external):
        pkg = PACKAGE_OF.get(soname)
        target = recommended if all(ON_DEMAND.search(f) for f in external[soname]) else required
        if pkg and pkg not in required and pkg not in target:
            target.append(pkg)
    return required, recommended, unknown


def control(version: str, arch: str, installed_kib: int, depends_on: list[str], recommends: list[str],
            variant: str) -> str:
    return (
        f"Package: spinegui\nVersion: {version}\nArchitecture: {arch}\n"
        "Maintainer: spinegui developers <spinegui@localhost>\n"
        f"Installed-Size: {installed_kib}\nDepends: {', '.join(depends_on)}\n"
        + (f"Recommends: {', '.join(recommends)}\n" if recommends else "") +
        "Suggests: nvidia-driver\nSection: science\nPriority: optional\n"
        "Description: spine X-ray augmentation research on VinDr-SpineXR\n"
        " Desktop app and command line: view and annotate DICOM radiographs, preview augmentations,\n"
        " train GANs and classifiers. Self-contained bundle (Python, Qt, torch) in /opt/spinegui;\n"
        f" torch build: {variant}. Check an install with: spinegui self-test\n"
    )


def arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()


def stage(bundle: Path, stage_dir: Path, version: str, resources: Path, variant: str) -> dict:
    """The package tree, the bundle hard-linked into it (not copied): Depends, Recommends and the
    sonames no package is known for."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    opt = stage_dir / "opt" / "spinegui"
    opt.parent.mkdir(parents=True)
    try:
        subprocess.run(["cp", "-al", str(bundle), str(opt)], check=True)  # same disk: instant
    except subprocess.CalledProcessError:
        shutil.copytree(bundle, opt, symlinks=True)
    usr = stage_dir / "usr"
    (usr / "bin").mkdir(parents=True)
    (usr / "bin" / "spinegui").write_text(WRAPPER)
    (usr / "bin" / "spinegui").chmod(0o755)
    apps = usr / "share" / "applications"
    apps.mkdir(parents=True)
    (apps / "spinegui.desktop").write_text(DESKTOP)
    for sub, name in (("256x256", "spinegui.png"), ("scalable", "spinegui.svg")):
        d = usr / "share" / "icons" / "hicolor" / sub / "apps"
        d.mkdir(parents=True)
        shutil.copy2(resources / name, d / name)
    depends_on, recommends, unknown = depends(bundle)
    kib = sum(p.stat().st_size for p in stage_dir.rglob("*") if p.is_file() and not p.is_symlink()) // 1024
    (stage_dir / "DEBIAN").mkdir()
    (stage_dir / "DEBIAN" / "control").write_text(control(version, arch(), kib, depends_on, recommends, variant))
    for d in [stage_dir, *stage_dir.rglob("*")]:  # dpkg-deb refuses group/other-writable control folders
        if d.is_dir() and not d.is_symlink():
            d.chmod(0o755)
    return {"depends": depends_on, "recommends": recommends, "unknown_sonames": unknown}


def pack(stage_dir: Path, out: Path, level: int) -> None:
    out.unlink(missing_ok=True)
    # gzip, not xz/zstd: every dpkg reads it, and xz would take most of an hour on GBs of CUDA libraries.
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", f"-z{level}", "--build", str(stage_dir), str(out)],
                   check=True)
