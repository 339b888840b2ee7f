#!/usr/bin/env bash
# Installs every Debian package in scripts/packages.txt that is missing (apt-get update only then),
# and configures + builds build/release (Release, -Werror) and build/asan (ASan+UBSan, -Werror).
# Idempotent: a second run installs nothing and rebuilds only what changed.
# Usage: scripts/setup.sh [--no-build] [--only release|asan]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

build=1 only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-build) build=0 ;;
    --only) only="${2:?--only needs release or asan}"; shift ;;
    *) die "setup.sh: unknown argument '$1' (use --no-build, --only release|asan)" ;;
  esac
  shift
done

mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$ROOT/scripts/packages.txt" | tr -d ' ')
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  step "installing ${#missing[@]} Debian packages: ${missing[*]}"
  [[ $(id -u) -eq 0 ]] || die "installing packages needs root (missing: ${missing[*]})"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  step "Debian packages: all ${#wanted[@]} present"
fi

# N-API headers of the guest's Node.js (guest/node/, the `nodejs` runtime image): the four headers
# of Debian's libnode-dev at the version scripts/build-rootfs.sh nodejs installs, fetched with
# `apt-get download` and unpacked into $CACHE/node-api (not installed: libnode-dev needs Debian's
# nodejs, which would replace a host's own).
node_api="$CACHE/node-api"
node_version="$(apt-cache policy libnode-dev 2>/dev/null | awk '/Candidate:/{print $2}')"
if [[ -z $node_version || $node_version == "(none)" ]]; then
  apt-get update -q >/dev/null
  node_version="$(apt-cache policy libnode-dev | awk '/Candidate:/{print $2}')"
fi
if [[ "$(cat "$node_api/version" 2>/dev/null)" != "$node_version" ]]; then
  step "N-API headers: Debian's libnode-dev $node_version (apt-get download) into ${node_api#"$ROOT"/}"
  tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get download -q "libnode-dev=$node_version" >/dev/null 2>&1) ||
    die "apt-get download libnode-dev=$node_version failed"
  dpkg-deb -x "$tmp"/libnode-dev_*.deb "$tmp/x"
  rm -rf "$node_api" && mkdir -p "$node_api/include"
  for h in node_api.h node_api_types.h js_native_api.h js_native_api_types.h; do
    cp "$tmp/x/usr/include/node/$h" "$node_api/include/"
  done
  echo "$node_version" >"$node_api/version"
  rm -rf "$tmp"
fi

[[ $build -eq 1 ]] || exit 0

configure_and_build() {  # dir, extra cmake args...
  local dir="$1"; shift
  if [[ ! -f "$dir/build.ninja" ]]; then
    step "configuring $dir"
    cmake -S "$ROOT" -B "$dir" -G Ninja -DSNAPFAAS_WERROR=ON "$@" >/dev/null
  fi
  step "building $dir"
  cmake --build "$dir" -j "$JOBS"
}
if [[ -z "$only" || "$only" == release ]]; then
  configure_and_build "$BUILD_RELEASE" -DCMAKE_BUILD_TYPE=Release
fi
if [[ -z "$only" || "$only" == asan ]]; then
  configure_and_build "$BUILD_ASAN" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSNAPFAAS_SANITIZE=ON
fi
