#!/usr/bin/env bash
# integration: a missing kernel or image gives exactly one clear "error:" line and a non-zero exit,
# before any VM starts; build-appfs.sh puts the function's files into the ext2 image.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# expect_error "what it must say" CMD...: non-zero exit, exactly one error line, containing the text.
expect_error() {
  local want="$1"; shift
  local err rc
  set +e
  err="$("$@" 2>&1 >/dev/null)"
  rc=$?
  set -e
  [[ $rc -ne 0 ]] || fail "$* exited 0, expected an error"
  [[ $(grep -c '^error: ' <<<"$err") -eq 1 ]] || fail "$*: expected one 'error:' line, got: $err"
  grep -q "^error: .*$want" <<<"$err" || fail "$*: error line does not say '$want': $err"
  pass "$(basename "$1") ${*:2}: $(grep '^error: ' <<<"$err")"
}

touch "$tmp/empty"
expect_error "guest kernel not found: $tmp/none" "$ROOT/scripts/run-guest.sh" --kernel "$tmp/none" --rootfs "$tmp/empty" -- true
expect_error "guest rootfs not found: $tmp/none" "$ROOT/scripts/run-guest.sh" --kernel "$tmp/empty" --rootfs "$tmp/none" -- true
expect_error "app image not found" "$ROOT/scripts/run-guest.sh" --kernel "$tmp/empty" --rootfs "$tmp/empty" --appfs "$tmp/none" -- true
expect_error "L1 kernel not found: $tmp/none" "$ROOT/scripts/kvm-host.sh" --kernel "$tmp/none" -- true
expect_error "build-images.sh" env SNAPFAAS_CACHE="$tmp/cache" "$ROOT/scripts/images.sh" --check vmlinux
expect_error "neither handler.py .* nor handler.js" "$ROOT/scripts/build-appfs.sh" "$tmp" "$tmp/out.ext2"
expect_error "unknown argument 'ruby'" "$ROOT/scripts/build-rootfs.sh" ruby
expect_error "not found" "$ROOT/scripts/build-appfs.sh" "$tmp/none" "$tmp/out.ext2"

"$ROOT/scripts/build-appfs.sh" "$ROOT/functions/markdown" "$tmp/markdown.ext2" 2>/dev/null
debugfs -R "cat /handler.py" "$tmp/markdown.ext2" 2>/dev/null | cmp -s - "$ROOT/functions/markdown/handler.py" ||
  fail "handler.py inside the ext2 image differs from functions/markdown/handler.py"
pass "build-appfs.sh: handler.py in the image matches the source"
"$ROOT/scripts/build-appfs.sh" "$ROOT/functions/gzip-js" "$tmp/gzip-js.ext2" 2>/dev/null
debugfs -R "cat /handler.js" "$tmp/gzip-js.ext2" 2>/dev/null | cmp -s - "$ROOT/functions/gzip-js/handler.js" ||
  fail "handler.js inside the ext2 image differs from functions/gzip-js/handler.js"
pass "build-appfs.sh: handler.js of a JavaScript function in the image matches the source"
