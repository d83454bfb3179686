#!/usr/bin/env bash
# Set up spinegui in ./.venv: torch (pinned), the package, and with --test what the tests need.
# On Debian/Ubuntu as root it also installs the system libraries Qt needs (and Xvfb for the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
extra=""
[ "${1:-}" = "--test" ] && extra="[test]"

python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# torch first, pinned: an unpinned torch would pull a multi-GB build from the registry.
python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
python -m pip install --quiet -e ".${extra}"

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  # Qt 6 platform plugins (xcb, offscreen, wayland) need these on a fresh Debian/Ubuntu.
  (apt-get update -qq && apt-get install -y -qq --no-install-recommends \
     libegl1 libgl1 libfontconfig1 libxkbcommon0 libxkbcommon-x11-0 libdbus-1-3 \
     libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 \
     libxcb-randr0 libxcb-render-util0 libxcb-image0 fonts-dejavu-core \
     $([ -n "$extra" ] && echo xvfb xauth) >/dev/null) \
    || echo "install.sh: warning: apt-get could not install Qt's system libraries" >&2
fi
echo "install.sh: ready; activate with: . .venv/bin/activate"
