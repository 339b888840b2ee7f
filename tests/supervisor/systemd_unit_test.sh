#!/usr/bin/env bash
# configs/snapfaas-supervisor.service is a unit systemd accepts: `systemd-analyze verify` on a copy
# whose /opt/snapfaas paths point at this checkout and build; any line it prints about the unit
# (an unknown key, a bad value, a directive folded into a comment) fails the test.
# Usage: systemd_unit_test.sh SOURCE_DIR SUPERVISOR_BINARY
set -euo pipefail
src="${1:?source dir}" supervisor="${2:?supervisor binary}"
command -v systemd-analyze >/dev/null || { echo "systemd-analyze is missing (Debian package systemd)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sed -e "s|/opt/snapfaas/build/release/supervisor/snapfaas-supervisor|$supervisor|" -e "s|/opt/snapfaas|$src|g" \
  "$src/configs/snapfaas-supervisor.service" > "$work/snapfaas-supervisor.service"
grep -q "^ExecStart=$supervisor " "$work/snapfaas-supervisor.service" || { echo "ExecStart does not name the supervisor" >&2; exit 1; }
out="$(systemd-analyze verify "$work/snapfaas-supervisor.service" 2>&1 || true)"
if grep -F "snapfaas-supervisor.service" <<<"$out"; then
  echo "systemd-analyze verify objects to configs/snapfaas-supervisor.service (above)" >&2
  exit 1
fi
echo "configs/snapfaas-supervisor.service: systemd-analyze verify has nothing to say"
