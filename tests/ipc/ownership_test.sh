#!/usr/bin/env bash
# ipc/ owns the rings and the doorbells (docs/ARCHITECTURE.md, "Who owns which contract"): no host
# code outside ipc/ touches ring indices or calls futex itself. Fails, naming file and line, when
# runner/, supervisor/, wrapper/, guest/, common/ or bench/ does. Comments are not code: lines whose
# code part (before //) is empty are skipped. Freestanding ring-3 test guests (tests/guests/) play
# a hostile peer and write indices on purpose; they are not host code.
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$root"
patterns=(
  '\bRingIndices\b'                          # the shared index pair: only ring.h/ring.cpp hold one
  'atomic_ref\([^)]*\b(head|tail)\)'         # loads/stores of a ring index
  'SYS_futex|__NR_futex|\bFUTEX_[A-Z_]+|linux/futex\.h|futex_waitv'  # futex calls: ipc/doorbell.cpp only
)
status=0
for pattern in "${patterns[@]}"; do
  while IFS= read -r hit; do
    file="${hit%%:*}" rest="${hit#*:}" line="${rest%%:*}" text="${rest#*:}"
    code="${text%%//*}"
    grep -qE "$pattern" <<<"$code" || continue
    echo "ownership: $file:$line: outside ipc/: $(sed -E 's/^[[:space:]]+//' <<<"$text")"
    status=1
  done < <(grep -rnE --include='*.cpp' --include='*.h' --include='*.c' "$pattern" \
             runner supervisor wrapper guest common bench 2>/dev/null || true)
done
[[ $status -eq 0 ]] && echo "ownership: no ring index or futex access outside ipc/"
exit $status
