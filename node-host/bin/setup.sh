#!/usr/bin/env bash
# Prepares a fresh machine for LiquidMesh: Debian's Chromium (headless peers and browser
# tests), certutil from libnss3-tools (trusting a host's local CA in a Chromium profile),
# Debian's nats-server (the NATS backbone's tests), Firefox ESR, WebKitGTK's WebDriver and
# xvfb (the browser suites in the other engines), the npm dependencies from the
# lockfile and the command's bundle. Idempotent: skips what is in place.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Debian packages, each checked by the command it provides:
# - chromium: headless peers and the browser suites;
# - certutil (libnss3-tools): Chromium peers trust a host's local CA through their NSS database;
# - nats-server: the NATS backbone's tests (and a site's own cluster);
# - firefox-esr, WebKitWebDriver (webkit2gtk-driver), xvfb-run (xvfb): the browser suites in
#   the other engines.
missing=()
for pair in /usr/bin/chromium:chromium certutil:libnss3-tools nats-server:nats-server firefox-esr:firefox-esr WebKitWebDriver:webkit2gtk-driver xvfb-run:xvfb; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} from Debian's packages"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: ${missing[*]} missing and this user cannot install them; run: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# Reinstall only when the lockfile changed since the last install here.
stamp=node_modules/.liquidmesh-lockfile.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing npm dependencies (npm ci)"
  PUPPETEER_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
# The classification model is generated from nsfwjs' weights (an npm package), not committed.
if [ ! -f modules/classify/model.onnx ]; then
  echo "setup: building modules/classify/model.onnx"
  node modules/classify/build-model.mjs >/dev/null
fi
# The command's sources bundled for bare Node (ADR 0037): a lighter peer process. Without
# it (or once a source changes) the command runs its sources through tsx instead.
node node-host/bin/cli-bundle.mjs
echo "setup: ready"
