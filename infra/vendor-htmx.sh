#!/usr/bin/env bash
# Re-installs htmx into portal/static/vendor from the npm registry package pinned in
# portal/static/vendor/PINS.json, and checks the tarball's integrity and the file's SHA-256.
# Nothing is ever loaded from a CDN; to upgrade, change the pin, run this, and commit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pins="$root/portal/static/vendor/PINS.json"
read -r version integrity sha <<<"$(python3 -c "
import json,sys; p=json.load(open('$pins'))['htmx.min.js']
print(p['version'], p['tarball_integrity'], p['sha256'])")"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "htmx.org@$version" --silent >/dev/null)
tarball="$work/htmx.org-$version.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
[ "$actual" = "$integrity" ] || { echo "tarball integrity mismatch: $actual" >&2; exit 1; }
tar xzf "$tarball" -C "$work"
echo "$sha  $work/package/dist/htmx.min.js" | sha256sum -c --quiet
cp "$work/package/dist/htmx.min.js" "$root/portal/static/vendor/htmx.min.js"
cp "$work/package/LICENSE" "$root/portal/static/vendor/htmx.LICENSE"
echo "htmx $version installed and verified"
