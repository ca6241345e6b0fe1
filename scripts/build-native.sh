#!/usr/bin/env bash
# Builds Pixel's train-step binding (native/pixel_ort.c) into build/native/pixel_ort.node.
#
# It needs a C compiler, Node's headers (node_api.h, beside the node binary) and onnxruntime's C
# API header. The header comes from Debian's libonnxruntime-dev package (1.21: its C API is served
# unchanged by the onnxruntime 1.30 library onnxruntime-node ships, which the binding loads at run
# time), downloaded once with apt-get into ${PIXEL_CACHE:-~/.cache/pixel}/vendor and checked by
# sha256. Safe to run again: it rebuilds only when the source is newer than the binding.
# Exits non-zero with one line on stderr when it cannot build; the trainer then uses
# onnxruntime-node's binding (slower: it copies every gradient).
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_DEV_VERSION=1.21.0+dfsg-1
ORT_DEV_SHA256=14f7d959d5deacbcf1504830d4189f91fc67382b399ed9ae9d3aa9c4050ced08
ORT_DEV_SUITE=trixie
out=build/native/pixel_ort.node
vendor="${PIXEL_CACHE:-$HOME/.cache/pixel}/vendor"
headers="$vendor/onnxruntime-dev-${ORT_DEV_VERSION}/usr/include/onnxruntime"

say() { printf '[build-native] %s\n' "$*"; }
die() {
  echo "[build-native] $*" >&2
  exit 1
}

if [ -f "$out" ] && [ "$out" -nt native/pixel_ort.c ] && [ "$out" -nt "$0" ]; then
  say "up to date ($out)"
  exit 0
fi

command -v cc >/dev/null 2>&1 || die "no C compiler (cc): install one (apt-get install gcc) to build the train-step binding"
node_include="$(dirname "$(dirname "$(node -p 'process.execPath')")")/include/node"
[ -f "$node_include/node_api.h" ] || node_include=/usr/include/node
[ -f "$node_include/node_api.h" ] || die "Node's headers (node_api.h) are missing beside $(node -p 'process.execPath') and in /usr/include/node"

if [ ! -f "$headers/onnxruntime_c_api.h" ]; then
  command -v apt-get >/dev/null 2>&1 || die "apt-get is missing: it fetches onnxruntime's C API header (Debian's libonnxruntime-dev)"
  deb="$vendor/libonnxruntime-dev_${ORT_DEV_VERSION}_amd64.deb"
  mkdir -p "$vendor"
  if [ ! -f "$deb" ]; then
    say "downloading onnxruntime's C API header (Debian ${ORT_DEV_SUITE} libonnxruntime-dev ${ORT_DEV_VERSION}) into $vendor"
    apt_dir=$(mktemp -d)
    trap 'rm -rf "$apt_dir"' EXIT
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian ${ORT_DEV_SUITE} main" >"$apt_dir/sources.list"
    apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$apt_dir/lists"
      -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root)
    apt-get "${apt_opts[@]}" -qq update >/dev/null 2>&1 || die "apt-get could not read Debian's ${ORT_DEV_SUITE} package lists"
    (cd "$apt_dir" && apt-get "${apt_opts[@]}" -qq download "libonnxruntime-dev=${ORT_DEV_VERSION}" >/dev/null 2>&1) ||
      die "apt-get could not download libonnxruntime-dev ${ORT_DEV_VERSION} from Debian ${ORT_DEV_SUITE}"
    mv "$apt_dir"/libonnxruntime-dev_*.deb "$deb.part"
    mv "$deb.part" "$deb"
  fi
  got=$(sha256sum "$deb" | cut -d' ' -f1)
  if [ "$got" != "$ORT_DEV_SHA256" ]; then
    rm -f "$deb"
    die "$deb had sha256 $got, expected $ORT_DEV_SHA256: removed it; run again"
  fi
  rm -rf "$vendor/onnxruntime-dev-${ORT_DEV_VERSION}.part"
  dpkg-deb -x "$deb" "$vendor/onnxruntime-dev-${ORT_DEV_VERSION}.part" || die "could not unpack $deb"
  rm -rf "$vendor/onnxruntime-dev-${ORT_DEV_VERSION}"
  mv "$vendor/onnxruntime-dev-${ORT_DEV_VERSION}.part" "$vendor/onnxruntime-dev-${ORT_DEV_VERSION}"
fi

mkdir -p build/native
cc -O2 -Wall -Wextra -Werror -shared -fPIC -I"$node_include" -I"$headers" native/pixel_ort.c -o "$out.part" -ldl ||
  die "the C compiler failed on native/pixel_ort.c"
mv "$out.part" "$out"
say "built $out"
