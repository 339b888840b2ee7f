# Shared helpers for scripts/*.sh (sourced, not run).
# ROOT: the repository; CACHE: git-ignored cache for images and kernels; step: a visible progress line.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SNAPFAAS_CACHE:-$ROOT/.cache}"
BUILD_RELEASE="${SNAPFAAS_BUILD_RELEASE:-$ROOT/build/release}"  # overridable: a helper's own Release build
BUILD_ASAN="$ROOT/build/asan"
JOBS="$(nproc)"

step() { printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
