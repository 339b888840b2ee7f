# Shared helpers for the networking tests (sourced). The test's HTTP server lives in its own
# network namespace (sfsrv, 10.201.0.2, veth to the host side 10.201.0.1); runners reach it through
# their namespace's veth and the host's forwarding. No outside address is ever used.
readonly SRV_NS=sfsrv SRV_ADDR=10.201.0.2 SRV_HOST_ADDR=10.201.0.1 SRV_PORT=8000

# server_namespace: creates namespace sfsrv with eth0 $SRV_ADDR, a veth to sfsrv-h $SRV_HOST_ADDR
# on this side and a default route back (the servers a test starts there are its own).
server_namespace() {
  ip netns add "$SRV_NS"
  ip link add sfsrv-h type veth peer name eth0 netns "$SRV_NS"
  ip addr add "$SRV_HOST_ADDR/30" dev sfsrv-h && ip link set sfsrv-h up
  ip -n "$SRV_NS" link set lo up
  ip -n "$SRV_NS" addr add "$SRV_ADDR/30" dev eth0 && ip -n "$SRV_NS" link set eth0 up
  ip -n "$SRV_NS" route add default via "$SRV_HOST_ADDR"
}

# start_server DIR: serves DIR over HTTP in namespace sfsrv; waits until it answers.
start_server() {
  local dir=$1
  server_namespace
  ip netns exec "$SRV_NS" python3 -m http.server --bind "$SRV_ADDR" --directory "$dir" "$SRV_PORT" \
    >"${SRV_LOG:-/dev/null}" 2>&1 &
  SRV_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    ip netns exec "$SRV_NS" python3 -c "import urllib.request as u; u.urlopen('http://$SRV_ADDR:$SRV_PORT/', timeout=1)" \
      2>/dev/null && return 0
    sleep 0.1
  done
  echo "FAIL: the test HTTP server did not come up" >&2
  return 1
}

stop_server() {
  if [[ -n ${SRV_PID:-} ]]; then
    kill "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
  fi
  ip link del sfsrv-h 2>/dev/null || true
  ip netns del "$SRV_NS" 2>/dev/null || true
  SRV_PID=""
}

# A page of known size and content: the fetch function's answer is checked against it.
make_page() {
  local dir=$1
  mkdir -p "$dir"
  python3 -c "import sys; sys.stdout.write(''.join(chr(97 + i % 26) for i in range(12345)))" > "$dir/page.txt"
}
