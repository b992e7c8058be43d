#!/usr/bin/env bash
# Signs zoomwatch.app for distribution, then packs, notarises and staples the disk image. The order matters:
#   1. sign every Mach-O file inside the app, innermost first, each with a secure timestamp and the
#      hardened runtime (notarisation refuses anything else; `codesign --deep` is not used: it skips
#      files outside the standard code folders and cannot give each one the right options);
#   2. sign the app bundle itself last (its seal covers everything signed before);
#   3. build the dmg from the signed app (installer/macos/make_dmg.sh), and sign the dmg;
#   4. notarise the dmg (xcrun notarytool, waiting for the answer), then staple the ticket to it.
# Usage: sign_and_notarize.sh dist/zoomwatch.app dist/zoomwatch-VERSION.dmg
# Needs: ZOOMWATCH_SIGN_IDENTITY ("Developer ID Application: NAME (TEAMID)") and ZOOMWATCH_NOTARY_PROFILE
# (a profile saved with `xcrun notarytool store-credentials`).
set -euo pipefail
app=$1
dmg=$2
identity=${ZOOMWATCH_SIGN_IDENTITY:?set ZOOMWATCH_SIGN_IDENTITY to your Developer ID Application identity}
profile=${ZOOMWATCH_NOTARY_PROFILE:?set ZOOMWATCH_NOTARY_PROFILE to a notarytool keychain profile}
here=$(cd "$(dirname "$0")" && pwd)
entitlements="$here/entitlements.plist"

sign() {
    codesign --force --timestamp --options runtime --entitlements "$entitlements" --sign "$identity" "$1"
}

# 1. every Mach-O file (executables, dylibs, Python extension modules), deepest paths first
find "$app/Contents" -type f -print0 | while IFS= read -r -d '' file; do
    if file -b "$file" | grep -q '^Mach-O'; then
        printf '%s\t%s\n' "$(tr -cd '/' <<<"$file" | wc -c)" "$file"
    fi
done | sort -rn | cut -f2- | while IFS= read -r file; do
    sign "$file"
done
# 2. the bundle last
sign "$app"
codesign --verify --strict --verbose=2 "$app"
# 3. the dmg, from the signed app
bash "$here/make_dmg.sh" "$app" "$dmg"
codesign --force --timestamp --sign "$identity" "$dmg"
# 4. notarise, then staple the ticket so the dmg opens offline too
result=$(xcrun notarytool submit "$dmg" --keychain-profile "$profile" --wait)
echo "$result"
if ! grep -q "status: Accepted" <<<"$result"; then
    echo "notarisation was not accepted: read why with xcrun notarytool log SUBMISSION-ID --keychain-profile $profile" >&2
    exit 1
fi
xcrun stapler staple "$dmg"
xcrun stapler validate "$dmg"
