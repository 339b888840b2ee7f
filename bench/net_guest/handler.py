"""Guest side of bench/net.sh: TCP round trips and bulk throughput to the benchmark servers.

Run in the guest as a script (init's snapfaas.cmd=, app image at /srv) or as a function
(handle(request)); prints/returns one JSON object. Servers (bench/net_inner.sh starts them in
the server namespace): an echo server on ECHO_PORT and a sink on SINK_PORT that reads to EOF.
"""
import json
import socket
import sys
import time

SERVER = "10.201.0.2"
ECHO_PORT = 9001
SINK_PORT = 9002


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def rtt(count, size, warmup, batch=25):
    """Round trips in batches: the guest's clock may tick in jiffies (10 ms under the emulated host),
    so single round trips cannot be timed; a batch's mean can. p50/p99 are over batch means."""
    s = socket.create_connection((SERVER, ECHO_PORT), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b"x" * size

    def one():
        s.sendall(msg)
        got = 0
        while got < size:
            chunk = s.recv(size - got)
            if not chunk:
                raise ConnectionError("echo server closed the connection")
            got += len(chunk)

    for _ in range(warmup):
        one()
    means = []
    t_all = time.perf_counter_ns()
    for _ in range(max(1, count // batch)):
        t0 = time.perf_counter_ns()
        for _ in range(batch):
            one()
        means.append((time.perf_counter_ns() - t0) / 1000 / batch)
    total_us = (time.perf_counter_ns() - t_all) / 1000
    s.close()
    means.sort()
    clock_res_ns = time.get_clock_info("perf_counter").resolution * 1e9
    return {"tcp_rtt_p50_us": round(percentile(means, 50), 1), "tcp_rtt_p99_us": round(percentile(means, 99), 1),
            "tcp_rtt_mean_us": round(total_us / (len(means) * batch), 1), "tcp_rtt_count": len(means) * batch,
            "tcp_rtt_batch": batch, "tcp_rtt_size_bytes": size, "clock_resolution_ns": clock_res_ns}


def throughput(total_bytes):
    s = socket.create_connection((SERVER, SINK_PORT), timeout=60)
    buf = b"y" * 65536
    t0 = time.perf_counter()
    sent = 0
    while sent < total_bytes:
        sent += s.send(buf[: min(len(buf), total_bytes - sent)])
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):  # the sink closes once it has read everything
        pass
    seconds = time.perf_counter() - t0
    s.close()
    return {"tcp_throughput_mbit_s": round(total_bytes * 8 / seconds / 1e6, 3), "tcp_bulk_bytes": total_bytes,
            "tcp_bulk_seconds": round(seconds, 3)}


def run(count=300, size=64, warmup=30, bulk=8 << 20):
    out = {}
    out.update(rtt(count, size, warmup))
    out.update(throughput(bulk))
    return out


def handle(request):
    return run(**request)


if __name__ == "__main__":
    args = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    try:
        print("NETBENCH " + json.dumps(run(**args)), flush=True)
    except Exception as e:
        print("NETBENCH " + json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        sys.exit(1)
