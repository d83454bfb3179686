# Build the Windows installer: the PyInstaller bundle, then Inno Setup. UNTESTED (written on Linux).
# Needs: a venv with spinegui installed (.venv\Scripts\python.exe), Inno Setup 6 (iscc on PATH).
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
$py = if ($env:PYTHON) { $env:PYTHON } else { ".venv\Scripts\python.exe" }
& $py -m pip install --quiet "pyinstaller>=6.10"
if (-not (Test-Path resources\spinegui.ico)) { & $py packaging\make_icons.py }
& $py -m PyInstaller --noconfirm --distpath dist --workpath build\pyinstaller packaging\spinegui.spec
if ($LASTEXITCODE) { throw "PyInstaller failed" }
$version = & $py -c "import tomllib; print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])"
& dist\spinegui\spinegui-cli.exe self-test
if ($LASTEXITCODE) { throw "the bundle's self-test failed" }
iscc "/DAppVersion=$version" packaging\windows\spinegui.iss
if ($LASTEXITCODE) { throw "Inno Setup failed" }
