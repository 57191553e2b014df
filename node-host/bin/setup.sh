#!/usr/bin/env bash
# Prepares a fresh machine for LiquidMesh: Debian's Chromium (headless peers and browser
# tests), certutil from libnss3-tools (trusting a host's local CA in a Chromium profile),
# Debian's nats-server (the NATS backbone's tests), Firefox ESR, WebKitGTK's WebDriver and
# xvfb (the browser suites in the other engines) and the npm dependencies from the
# lockfile. Idempotent: skips what is in place.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x /usr/bin/chromium ]; then
  echo "setup: installing Chromium from Debian's packages"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: Chromium is missing and this user cannot install it; run: apt-get install chromium" >&2
    exit 1
  fi
fi

# Chromium peers trust a host's local CA through their NSS database, written with certutil.
if ! command -v certutil >/dev/null; then
  echo "setup: installing certutil (libnss3-tools) from Debian's packages"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnss3-tools >/dev/null
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnss3-tools >/dev/null
  else
    echo "setup: certutil is missing and this user cannot install it; run: apt-get install libnss3-tools" >&2
    exit 1
  fi
fi

# The NATS backbone's tests (and a site's own cluster) use Debian's nats-server.
if ! command -v nats-server >/dev/null; then
  echo "setup: installing nats-server from Debian's packages"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  else
    echo "setup: nats-server is missing and this user cannot install it; run: apt-get install nats-server" >&2
    exit 1
  fi
fi

# The browser suites also run in Firefox ESR and in WebKitGTK (WebKitWebDriver under xvfb).
for pair in firefox-esr:firefox-esr WebKitWebDriver:webkit2gtk-driver xvfb-run:xvfb; do
  cmd=${pair%%:*}
  pkg=${pair#*:}
  if ! command -v "$cmd" >/dev/null; then
    echo "setup: installing $pkg from Debian's packages"
    if [ "$(id -u)" -eq 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
    elif command -v sudo >/dev/null; then
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null
    else
      echo "setup: $pkg is missing and this user cannot install it; run: apt-get install $pkg" >&2
      exit 1
    fi
  fi
done

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
echo "setup: ready"
