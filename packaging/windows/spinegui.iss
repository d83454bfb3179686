; Inno Setup script for spinegui on Windows (64-bit). UNTESTED: written beside the Linux build, never
; compiled here. Build the bundle first, then compile this (packaging/windows/build.ps1 does both):
;   python -m PyInstaller --noconfirm --distpath dist --workpath build\pyinstaller packaging\spinegui.spec
;   iscc /DAppVersion=0.1.0 packaging\windows\spinegui.iss
; Installs dist\spinegui\ (spinegui.exe: the windowed app; spinegui-cli.exe: the command line) into
; Program Files, a Start-menu entry, optionally a desktop icon and the folder on PATH; uninstalls all.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif

[Setup]
AppId={{6C0F9E54-2B7D-4B8F-9D61-5A1E8C2F7A10}
AppName=spinegui
AppVersion={#AppVersion}
AppPublisher=spinegui developers
DefaultDirName={autopf}\spinegui
DefaultGroupName=spinegui
UninstallDisplayIcon={app}\spinegui.exe
SetupIconFile=..\..\resources\spinegui.ico
OutputDir=..\..\dist
OutputBaseFilename=spinegui-{#AppVersion}-windows-x64-setup
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequiredOverridesAllowed=dialog
ChangesEnvironment=yes
; A CUDA bundle is several GB: lzma2/fast keeps compiling bearable, and a setup over 2 GB must span
; (setup.exe + spinegui-…-1.bin, … beside it; ship them together).
Compression=lzma2/fast
SolidCompression=no
DiskSpanning=yes
DiskSliceSize=max
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Put spinegui-cli on PATH (for terminals and scripts)"; Flags: unchecked

[Files]
Source: "..\..\dist\spinegui\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\spinegui"; Filename: "{app}\spinegui.exe"; IconFilename: "{app}\_internal\resources\spinegui.ico"
Name: "{group}\spinegui self-test"; Filename: "{cmd}"; Parameters: "/k ""{app}\spinegui-cli.exe"" self-test"
Name: "{group}\{cm:UninstallProgram,spinegui}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\spinegui"; Filename: "{app}\spinegui.exe"; Tasks: desktopicon

[Registry]
Root: HKA; Subkey: "{code:EnvKey}"; ValueType: expandsz; ValueName: "Path"; \
    ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\spinegui.exe"; Description: "{cm:LaunchProgram,spinegui}"; Flags: nowait postinstall skipifsilent

[Code]
function EnvKey(Param: String): String;
begin
  if IsAdminInstallMode then
    Result := 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment'
  else
    Result := 'Environment';
end;

function NeedsAddPath(Dir: String): Boolean;
var
  Paths: String;
  Root: Integer;
begin
  if IsAdminInstallMode then Root := HKEY_LOCAL_MACHINE else Root := HKEY_CURRENT_USER;
  if not RegQueryStringValue(Root, EnvKey(''), 'Path', Paths) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';') = 0;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Paths, Dir: String;
  Root, P: Integer;
begin
  { take the folder off PATH again }
  if CurUninstallStep <> usPostUninstall then exit;
  if IsAdminInstallMode then Root := HKEY_LOCAL_MACHINE else Root := HKEY_CURRENT_USER;
  Dir := ExpandConstant('{app}');
  if RegQueryStringValue(Root, EnvKey(''), 'Path', Paths) then
  begin
    P := Pos(';' + Uppercase(Dir), Uppercase(Paths));
    if P > 0 then
    begin
      Delete(Paths, P, Length(Dir) + 1);
      RegWriteExpandStringValue(Root, EnvKey(''), 'Path', Paths);
    end;
  end;
end;
