#!/bin/sh
# Removes the app, its menu entry, icon and start-at-login entry. Never touches the backups, the
# settings or the Zoom recordings.
set -eu
data=${XDG_DATA_HOME:-$HOME/.local/share}
config=${XDG_CONFIG_HOME:-$HOME/.config}
rm -rf "$data/zoomwatch/app"
rm -f "$data/applications/zoomwatch.desktop" "$data/icons/hicolor/256x256/apps/zoomwatch.png"
rm -f "$config/autostart/zoomwatch.desktop"
echo "zoomwatch removed; your backups and recordings are untouched"
