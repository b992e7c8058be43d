#!/bin/sh
# Installs zoomwatch for this user (no root): the app in ~/.local/share/zoomwatch/app, a menu entry
# and the icon. Run from the unpacked folder: ./install.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
app="$data/zoomwatch/app"
mkdir -p "$app" "$data/applications" "$data/icons/hicolor/256x256/apps"
cp -R "$here/." "$app/"
sed "s|@APPDIR@|$app|" "$here/zoomwatch.desktop" > "$data/applications/zoomwatch.desktop"
cp "$here/zoomwatch.png" "$data/icons/hicolor/256x256/apps/zoomwatch.png"
echo "zoomwatch installed in $app; start it from the menu, or: $app/zoomwatch tray"
