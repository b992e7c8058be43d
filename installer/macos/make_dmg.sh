#!/usr/bin/env bash
# Packs zoomwatch.app into a compressed disk image with a link to /Applications.
# Usage: make_dmg.sh dist/zoomwatch.app dist/zoomwatch-VERSION.dmg
set -euo pipefail
app=$1
dmg=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"
hdiutil create -volname zoomwatch -srcfolder "$stage" -ov -format UDZO "$dmg"
