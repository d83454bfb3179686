#!/usr/bin/env bash
# Build dist/spinegui.app (the spec's BUNDLE step) and a drag-to-Applications .dmg. UNTESTED: written
# on Linux, never run on a Mac. Needs a venv with spinegui installed (torch from PyPI is the CPU/MPS
# build on macOS: there is no CUDA there) and Xcode's command-line tools (hdiutil comes with macOS).
#   bash packaging/macos/build_dmg.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m pip install --quiet "pyinstaller>=6.10"
[ -f resources/spinegui.icns ] || "$PY" packaging/make_icons.py
"$PY" -m PyInstaller --noconfirm --distpath dist --workpath build/pyinstaller packaging/spinegui.spec
VERSION=$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
ARCH=$(uname -m)

# The bundle checks itself before it is packed.
dist/spinegui.app/Contents/MacOS/spinegui self-test

# Unsigned: Gatekeeper asks on first open (right-click > Open). With a Developer ID, sign and notarize:
#   codesign --deep --force --options runtime --sign "Developer ID Application: …" dist/spinegui.app
#   xcrun notarytool submit dist/spinegui-$VERSION-macos-$ARCH.dmg --keychain-profile … --wait
STAGE=build/dmg
rm -rf "$STAGE"
mkdir -p "$STAGE"
cp -R dist/spinegui.app "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname "spinegui $VERSION" -srcfolder "$STAGE" -ov -format UDZO \
    "dist/spinegui-$VERSION-macos-$ARCH.dmg"
echo "wrote dist/spinegui-$VERSION-macos-$ARCH.dmg"
