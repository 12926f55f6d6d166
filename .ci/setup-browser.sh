#!/usr/bin/env bash
# The real browser for the pages' tests (crates/kontakt-web/tests/browser.rs): Debian's
# chromium, driven headless by playwright-core from npm (no browser download: playwright-core
# only drives the chromium it is given). Installs into tests/browser/node_modules from the
# committed package-lock.json. Prints KONTAKT_CHROMIUM and KONTAKT_BROWSER_TESTS.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# Cyrillic glyphs for the screenshots.
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
major=$(node -e 'process.stdout.write(process.versions.node.split(".")[0])')
if [ "$major" -lt 20 ]; then
    echo "node $major is too old for playwright-core (20 or later)" >&2
    exit 1
fi
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >&2)
node -e 'require(process.argv[1])' "$(pwd)/tests/browser/node_modules/playwright-core" >&2
echo "KONTAKT_CHROMIUM=$(command -v chromium)"
echo "KONTAKT_BROWSER_TESTS=$(pwd)/tests/browser"
