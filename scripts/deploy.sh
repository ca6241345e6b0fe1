#!/usr/bin/env bash
# Deploys Pixel's Helm chart (deploy/helm/pixel) to the current kubectl context and waits for the
# rollout, or, with --dry-run, lints and renders it without a cluster.
#
#   bash scripts/deploy.sh [--dry-run] [--release NAME] [--namespace NS] [--values FILE]... [--timeout 10m]
#
# HELM (default: helm on PATH, else the one scripts/setup.sh --test built) and KUBECTL name the tools.
set -euo pipefail
cd "$(dirname "$0")/.."

release=pixel
namespace=pixel
timeout=10m
dry_run=0
values=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --release) release="${2:?--release needs a name}"; shift ;;
    --namespace) namespace="${2:?--namespace needs a name}"; shift ;;
    --values) values+=("${2:?--values needs a file}"); shift ;;
    --timeout) timeout="${2:?--timeout needs a duration}"; shift ;;
    -h | --help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "deploy: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if ! [[ "$release" =~ ^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$ ]]; then echo "deploy: --release must be a DNS label (lower-case letters, digits, -), at most 53 characters" >&2; exit 2; fi
if ! [[ "$namespace" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]]; then echo "deploy: --namespace must be a DNS label" >&2; exit 2; fi
for f in "${values[@]}"; do [ -f "$f" ] || { echo "deploy: values file not found: $f" >&2; exit 2; }; done

helm="${HELM:-}"
if [ -z "$helm" ]; then
  if command -v helm >/dev/null 2>&1; then helm=helm
  elif [ -x "${PIXEL_CACHE:-$HOME/.cache/pixel}/vendor/helm/helm" ]; then helm="${PIXEL_CACHE:-$HOME/.cache/pixel}/vendor/helm/helm"
  else echo "deploy: helm is missing: install it, or run bash scripts/setup.sh --test (builds it from the Go module proxy)" >&2; exit 1
  fi
fi
chart=deploy/helm/pixel
args=()
for f in "${values[@]}"; do args+=(--values "$f"); done

"$helm" lint "$chart" "${args[@]}" >/dev/null || { echo "deploy: helm lint failed (run: $helm lint $chart)" >&2; exit 1; }
if [ "$dry_run" = 1 ]; then
  "$helm" template "$release" "$chart" --namespace "$namespace" "${args[@]}"
  echo "deploy: dry run: chart linted and rendered for release $release in namespace $namespace; nothing applied" >&2
  exit 0
fi

kubectl="${KUBECTL:-kubectl}"
"$kubectl" version --request-timeout=10s >/dev/null 2>&1 || { echo "deploy: no cluster answers through $kubectl (check the context)" >&2; exit 1; }
"$helm" upgrade --install "$release" "$chart" --namespace "$namespace" --create-namespace --wait --timeout "$timeout" --rollback-on-failure "${args[@]}" ||
  { echo "deploy: helm upgrade failed or did not become ready within $timeout (rolled back)" >&2; exit 1; }
for d in $("$kubectl" -n "$namespace" get deployments -l "app.kubernetes.io/instance=$release" -o name); do
  "$kubectl" -n "$namespace" rollout status "$d" --timeout "$timeout" >/dev/null || { echo "deploy: $d did not roll out" >&2; exit 1; }
done
"$helm" status "$release" --namespace "$namespace"
