# Helpers for tests/images/*.sh (sourced): ROOT, fail, expect_status, need_image.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
# need_image NAME [ARG]: the image's path; fails the test (never skips) when it was not built.
need_image() {
  "$ROOT/scripts/images.sh" --check "$@" ||
    fail "image '$*' missing: run scripts/build-images.sh (scripts/test.sh does this before the e2e tests)"
}
