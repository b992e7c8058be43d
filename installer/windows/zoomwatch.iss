; Inno Setup script: a per-user install of zoomwatch (no admin rights), a Start menu entry, an optional
; "start at login" (the same HKCU Run value the app manages itself), and an uninstaller that removes
; that value and zoomwatch's log folder. Uninstalling never removes backups, settings or recordings.
; zoomwatch.exe is the windowed tray; zoomwatch-cli.exe is the same program with a console, for the
; command line (a windowed program has no stdin/stdout/stderr).
; Build: iscc /DAppVersion=0.1.0 /DSourceDir=..\..\dist\zoomwatch zoomwatch.iss

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\zoomwatch"
#endif

[Setup]
AppId={{6F2C8E0B-5A7D-4C1E-9B3A-2D8E4F6A1C90}
AppName=zoomwatch
AppVersion={#AppVersion}
AppPublisher=zoomwatch contributors
DefaultDirName={localappdata}\Programs\zoomwatch
DefaultGroupName=zoomwatch
PrivilegesRequired=lowest
OutputBaseFilename=zoomwatch-{#AppVersion}-setup
SetupIconFile=..\..\assets\zoomwatch.ico
UninstallDisplayIcon={app}\zoomwatch.exe
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
; The running tray holds this named mutex (zoomwatch/tray.py, APP_MUTEX): setup and uninstall ask the
; user to quit zoomwatch first, so they never meet its files in use.
AppMutex=org.zoomwatch.tray
CloseApplications=yes

[Tasks]
Name: "startatlogin"; Description: "Start zoomwatch when I log in"; GroupDescription: "Options:"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\zoomwatch"; Filename: "{app}\zoomwatch.exe"; Parameters: "tray"
Name: "{group}\Uninstall zoomwatch"; Filename: "{uninstallexe}"

[Registry]
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "zoomwatch"; \
  ValueData: """{app}\zoomwatch.exe"" tray"; Tasks: startatlogin; Flags: uninsdeletevalue

[UninstallDelete]
; the log folder (platformdirs' user_log_dir: %LOCALAPPDATA%\zoomwatch\Logs); the settings, the catalog
; and the backups beside it in %LOCALAPPDATA%\zoomwatch stay
Type: filesandordirs; Name: "{localappdata}\zoomwatch\Logs"

[Code]
// the Run value may also have been written by the app's own "Start at login" item
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usPostUninstall then
    RegDeleteValue(HKEY_CURRENT_USER, 'Software\Microsoft\Windows\CurrentVersion\Run', 'zoomwatch');
end;

[Run]
Filename: "{app}\zoomwatch.exe"; Parameters: "tray"; Description: "Start zoomwatch now"; \
  Flags: nowait postinstall skipifsilent
