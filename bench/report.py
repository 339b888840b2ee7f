#!/usr/bin/python3
"""Writes docs/PERFORMANCE.md from RESULTS/*.json and the plots (bench/plots.py); run by
`scripts/bench.sh all`. Every figure in the page comes from the JSON: edit this script, never the page.
Usage: bench/report.py --results DIR --plots DIR --out FILE.md
"""
import argparse
import json
import os
import sys

# Published figures, cited, never measured here.
ANCHORS = [
    ("Firecracker: snapshot load (restore) latency, 128 MiB guest",
     "1.5–2.9 ms p50",
     "Firecracker's snapshot-restore performance tests (tests/integration_tests/performance/"
     "test_snapshot_ab.py in firecracker-microvm/firecracker); the range as quoted in issue 8"),
    ("Firecracker: boot, InstanceStart API call → guest /sbin/init, 1 vCPU, 128 MiB",
     "≤ 125 ms",
     "Firecracker SPECIFICATION.md (\"Overhead\"), on an i3.metal host, serial console disabled; "
     "Agache et al., \"Firecracker: Lightweight Virtualization for Serverless Applications\", NSDI 2020"),
    ("REAP: working-set record + prefetch on restore vs lazy page-fault restore (Firecracker snapshots)",
     "cold-start delay reduced 3.7× on average (paper abstract)",
     "Ustiugov et al., \"Benchmarking, Analysis, and Optimization of Serverless Function Snapshots\", "
     "ASPLOS 2021 (vHive)"),
]

DESCRIBE = {
    "ring_rtt": "Host-side shared-memory rings (ipc/): request → response round trip between two processes, "
                "polling and parked (futex doorbell), vs a Unix socket, at 64 B / 1 KiB / 64 KiB.",
    "boot": "firerunner start-up: fork+exec → the ring-3 guest's first port write (native here); Linux "
            "boot to the init's first command inside the emulated KVM host (full run only).",
    "request_rtt": "Warm request path: supervisor-side channel → firerunner → guest ring window → guest "
                   "(ring-3 checksum guest) → response, polling and parked, vs a Unix socket to a plain process.",
    "restore": "Cold start by snapshot restore (ring-3 guest, 128 MiB): load+validate, memory map, VM and "
               "vCPU state, first guest exit; fresh VM vs pre-spawned runner, lazy vs eager vs working-set prefetch.",
    "restore_linux": "The Python function `hello` in a Linux guest: regular boot vs restore from the python3 base + "
                     "hello diff, VM created → the agent's first WAIT (the ratio), and fc_wrapper start → first "
                     "response (end to end, incl. process start and VM creation), inside the emulated KVM host; "
                     "the same for the Node.js twin `hello-js` (nodejs base + diff; its ratio: VM created → first "
                     "response), and the base and diff snapshot sizes; hello's first response after a lazy restore vs "
                     "one with its recorded working set prefetched (REAP-style, fc_wrapper --load_ws), same run.",
    "supervisor": "snapfaas-supervisor replaying workloads: warm throughput and latency, cold start with "
                  "pre-spawned vs spawn-on-demand runners (jailed).",
    "http": "snapfaas-supervisor in service mode (--listen) under wrk: POST /invoke/echo over HTTP/1.1 keep-alive at "
            "1, 16 and 64 connections (requests/s, p50, p99), ring-3 echo guests in jailed firerunners, access log on; "
            "the replay mode with the same runners in the same run. Headline figures with the supervisor's threads "
            "and the runners on separate CPUs (--supervisor_cpus / --runner_cpus), the same rounds unpinned "
            "(*_unpinned) after them. Targets on 2 cores: http_rps_64 >= 50000, http_p50_us_1 <= 150.",
    "density": "N restored ring-3 VMs of one function (128 MiB each): PSS/RSS per VM, total host memory, "
               "restore latency as N grows; forked bench children (pss_mib_per_vm, ...) and real firerunner "
               "processes (runner_*). Targets (issue 20): pss_per_vm_mib_100 <= dirty_per_vm_mib + 1 MiB, "
               "runner_rss_mib <= 3 MiB.",
    "peer": "QEMU -M microvm vs firerunner, same guest kernel + rootfs, same run, inside the emulated KVM "
            "host: Linux boot to a marker and snapshot restore to the guest's answer.",
    "net": "Guest networking: TCP round trip (64 B) and bulk throughput through firerunner's virtio-net vs QEMU's "
           "in the same emulated KVM host, and clones restored from one snapshot fetching at once.",
}

# Which figures are host-side only, by machine case.
EMULATED_NOTE = (
    "On this machine `/dev/kvm` is **PVM**: guest ring 3 runs natively, guest ring 0 is emulated, so a Linux "
    "guest cannot run on it directly. Therefore:\n\n"
    "* **host-side figures, native**: `ring_rtt`, `request_rtt`, `restore`, `supervisor`, `http`, `density` and the "
    "ring-3 part of `boot` use ring-3 test guests (they start at CPL3 and talk by port I/O and shared "
    "memory). They measure everything the VMM and the host do (rings, exits, memory mapping, vCPU/VM state, "
    "page sharing), but no guest kernel work: a Linux guest adds its own interrupt and scheduling costs.\n"
    "* **Linux-guest figures, emulated host**: `peer`, `restore_linux`, `net` and the Linux part of `boot` run inside "
    "`scripts/kvm-host.sh` (QEMU TCG with nested SVM, L2 under nested KVM). Their absolute times are "
    "inflated many-fold by the emulation; only ratios measured in the same run mean something.\n"
    "* A VM entry and exit cost {entry_exit} under PVM here vs ~1–2 µs on hardware KVM, so every parked "
    "(exit-driven) figure here is pessimistic.")
HARDWARE_NOTE = ("This machine has hardware KVM: every figure, including the Linux-guest ones, was measured "
                 "natively.")


def json_path(a, name):
    """Where the reader finds NAME.json: the copy next to the plots (committed) or the results directory."""
    for d in (a.plots, a.results):
        path = os.path.join(d, name + ".json")
        if os.path.exists(path):
            return os.path.relpath(path, os.path.dirname(os.path.abspath(a.out)))
    return name + ".json"


def load(d, name):
    try:
        with open(os.path.join(d, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def entry_exit_note(rr):
    """The measured cost of a parked request's VM entry + exit (request_rtt's JSON `rr`, 64 B), for the machine
    note."""
    rr = rr or {}
    v = rr.get("parked_entry_exit_p50_us_64B")
    if v is None:
        return "tens of µs (not traced in this run)"
    return (f"{fmt(v, ' µs')} together for a parked 64 B request ({fmt(100 * rr['parked_entry_exit_share_64B'], ' %', 0)}"
            " of its round trip, `request_rtt`)")


def fmt(v, unit="", digits=None):
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float)):
        if digits is None:
            a = abs(v)
            digits = 0 if a >= 100 else 1 if a >= 10 else 2 if a >= 1 else 3
        return f"{v:.{digits}f}{unit}"
    return str(v)


def get(j, *path):
    for p in path:
        if not isinstance(j, dict) or p not in j:
            return None
        j = j[p]
    return j


def table(header, rows):
    rows = [r for r in rows if r is not None]
    if not rows:
        return ""
    # Drop the columns no row has a figure for (a benchmark's JSON may not hold every key).
    keep = [i for i in range(len(header)) if i == 0 or any(r[i] not in ("n/a", "") for r in rows)]
    header = [header[i] for i in keep]
    rows = [[r[i] for i in keep] for r in rows]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def section_rtt(name, j, modes):
    rows = []
    for size in ("64B", "1KiB", "64KiB"):
        for mode, label in modes:
            p50 = j.get(f"{mode}_p50_us_{size}")
            if p50 is None:
                continue
            rows.append([size, label, fmt(p50, " µs"), fmt(j.get(f"{mode}_p99_us_{size}"), " µs"),
                         fmt(j.get(f"{mode}_mean_us_{size}"), " µs")])
    out = table(["payload", "path", "p50", "p99", "mean"], rows)
    ratios = sorted(k for k in j if k.startswith("ratio_") and "_p50_" in k)
    if ratios:
        out += "\nRatios (same run): " + ", ".join(f"`{k}` = {fmt(j[k], '×')}" for k in ratios) + "\n"
    ceilings = [s for s in ("64B", "1KiB", "64KiB") if j.get(f"ceiling_unix_over_window_parked_p50_{s}") is not None]
    if ceilings:
        out += ("\nOne VM entry and one VM exit per parked request (traced phases `3_vmm_return_to_guest` + "
                "`5_vm_exit` of `window_exit_driven`, whose guest parks at once, p50 each), and the most "
                "Unix / parked any path that enters and leaves the guest once per request could reach on this "
                "KVM if every other step were free (`ceiling_unix_over_window_parked_p50_*`): "
                + ", ".join(f"{s}: {fmt(j[f'parked_entry_exit_p50_us_{s}'], ' µs')} "
                            f"({fmt(100 * j[f'parked_entry_exit_share_{s}'], ' %', 0)} of the trip), ceiling "
                            f"{fmt(j[f'ceiling_unix_over_window_parked_p50_{s}'], '×')}" for s in ceilings) + "\n")
    return out


def section_boot(j):
    rows = [["ring-3 guest: fork+exec → first guest port write (native)", fmt(j.get("ring3_boot_p50_ms"), " ms"),
             fmt(j.get("ring3_boot_p99_ms"), " ms")],
            ["ring-3 guest: process start → exit (native)", fmt(get(j, "ring3_process_exit_ms", "p50"), " ms"),
             fmt(get(j, "ring3_process_exit_ms", "p99"), " ms")]]
    if j.get("linux_boot_emulated_p50_ms") is not None:
        rows.append(["Linux guest: firerunner start → init runs its command (emulated host)",
                     fmt(j["linux_boot_emulated_p50_ms"], " ms"), fmt(get(j, "linux_boot_emulated_ms", "p99"), " ms")])
    out = table(["what", "p50", "p99"], rows)
    if j.get("linux_boot_emulated_reason"):
        out += f"\nLinux boot not measured in this run: {j['linux_boot_emulated_reason']}.\n"
    return out


def section_restore(j):
    rows = []
    for k, v in j.items():
        if isinstance(v, dict) and "total_p50_ms" in v:
            rows.append([f"`{k}`", fmt(v["total_p50_ms"], " ms"), fmt(v.get("total_p90_ms"), " ms"),
                         fmt(v.get("total_preloaded_p50_ms"), " ms"), fmt(v.get("first_request_p50_ms"), " ms"),
                         fmt(v.get("minor_faults_first_request_p50"), digits=0), fmt(v.get("iterations"), digits=0)])
    out = table(["variant", "restore p50", "p90", "preloaded p50", "first request p50", "minor faults", "runs"],
                rows)
    keys = [k for k in j if not isinstance(j[k], (dict, list)) and k not in ("benchmark", "notes", "quick")]
    if keys:
        out += "\n" + ", ".join(f"`{k}` = {fmt(j[k])}" for k in sorted(keys)) + "\n"
    if j.get("notes"):
        out += f"\n{j['notes']}\n"
    return out


def section_flat(j, skip=("benchmark", "quick", "machine")):
    keys = [k for k in sorted(j) if k not in skip and not isinstance(j[k], (dict, list))]
    return table(["key", "value"], [[f"`{k}`", fmt(j[k])] for k in keys])


def section_peer(j):
    def row(what, key):
        s = j.get(key) or {}
        return [what, fmt(s.get("p50"), " ms"), fmt(s.get("min"), " ms"), fmt(s.get("max"), " ms"),
                fmt(s.get("runs"), digits=0)] if s else [what, "n/a", "", "", ""]
    out = f"Where: {j.get('where', '?')}. Guest: {j.get('guest', '?')}. {j.get('qemu', '')}.\n\n"
    out += table(["what", "p50", "min", "max", "runs"], [
        row("QEMU boot", "qemu_boot_ms"), row("firerunner boot", "firerunner_boot_ms"),
        row("QEMU restore → guest answers", "qemu_restore_ms"),
        row("QEMU restore → QEMU reports running", "qemu_restore_to_running_ms"),
        row("firerunner restore → guest answers", "firerunner_restore_ms")])
    out += (f"\n**Ratios (same run, same L1):** `qemu_boot_over_ours` = {fmt(j.get('qemu_boot_over_ours'), '×')}, "
            f"`qemu_restore_over_ours` = {fmt(j.get('qemu_restore_over_ours'), '×')}.\n")
    if j.get("firerunner_restore_reason"):
        out += f"\nfirerunner restore not measured: {j['firerunner_restore_reason']}.\n"
    out += (f"\nQEMU snapshot: saved in {fmt(j.get('qemu_snapshot_save_ms'), ' ms')} to a "
            f"{fmt(j.get('qemu_snapshot_file_mib'), ' MiB')} migration file (zero pages are not written).")
    if j.get("firerunner_snapshot_disk_mib"):
        out += " firerunner snapshot on disk: " + ", ".join(
            f"{k} {fmt(v, ' MiB')}" for k, v in j["firerunner_snapshot_disk_mib"].items()) + "."
    if j.get("firerunner_restore_fc_wrapper_p50_ms"):
        out += (" fc_wrapper's own phase figures (p50, CLOCK_MONOTONIC): "
                + ", ".join(f"`{k}` {fmt(v, ' ms')}" for k, v in j["firerunner_restore_fc_wrapper_p50_ms"].items())
                + ".")
    out += f" Timing clock: {j.get('clock', '?')}.\n"
    phases = j.get("firerunner_restore_fc_wrapper_p50_ms") or {}
    total = j.get("firerunner_restore_p50_ms")
    if total and phases.get("restore_to_first_wait_ms") is not None and phases.get("vm_creation_ms") is not None:
        out += (f"\nOf firerunner's {fmt(total, ' ms')} restore, the restore proper (snapshot mapped, devices and "
                f"vCPU set, guest to its first WAIT) is {fmt(phases['restore_to_first_wait_ms'], ' ms')}; "
                f"{fmt(phases['vm_creation_ms'], ' ms')} go to starting fc_wrapper and firerunner and creating the "
                "VM, i.e. to process start-up inside the emulated host, which QEMU's figure pays alike "
                "(its `running` time includes its own start-up).\n")
    out += f"\nBoot: {j.get('boot_measures', '')}. Restore: {j.get('restore_measures', '')}.\n"
    return out


def main():
    ap = argparse.ArgumentParser(description="write the performance report from benchmark JSON")
    ap.add_argument("--results", required=True)
    ap.add_argument("--plots", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    run = load(a.results, "run") or {}
    try:
        with open(os.path.join(a.plots, "plots.json")) as f:
            plots = json.load(f)
    except (OSError, ValueError):
        plots = []
    reldir = os.path.relpath(a.plots, os.path.dirname(os.path.abspath(a.out)))
    machine = run.get("machine", "unknown")
    kind = machine.split(":")[0]
    rs, rr, rt, pe, de, su = (load(a.results, n) for n in ("restore", "request_rtt", "ring_rtt", "peer", "density",
                                                           "supervisor"))

    md = ["# SnapFaaS performance",
          "",
          "<!-- Generated by bench/report.py from bench/results/*.json (scripts/bench.sh all). Do not edit: "
          "rerun the benchmarks. -->",
          "",
          f"Run: {run.get('started_utc', '?')}, {'quick' if run.get('quick') else 'full'} run, "
          f"{fmt(run.get('seconds', 0) / 60, ' min', 1)} for all benchmarks "
          f"(`scripts/bench.sh all{' --quick' if run.get('quick') else ''}`). "
          f"1-minute load average at the end: {fmt(run.get('loadavg_1m_at_end'), digits=1)} on "
          f"{os.cpu_count()} cores — the machine is shared with other work, so expect noise; each benchmark "
          "interleaves the cases it compares so that load hits them alike."
          + (f" Source: `{run['source']}`, binaries from `{run.get('build', '?')}`." if run.get("source") else ""),
          "",
          "## Machine case",
          "",
          f"`scripts/kvm-detect.sh`: **{machine}**",
          "",
          HARDWARE_NOTE if kind == "hardware" else EMULATED_NOTE.format(entry_exit=entry_exit_note(rr)),
          ""]
    md += ["## Headline figures", ""]
    head = []
    if rs:
        head.append(["cold start: restore, pre-spawned runner, ring-3 guest (native)",
                     fmt(rs.get("restore_prespawned_p50_ms"), " ms"), "restore"])
        head.append(["cold start: restore into a fresh VM (native)", fmt(rs.get("restore_fresh_p50_ms"), " ms"),
                     "restore"])
        head.append(["fresh / pre-spawned", fmt(rs.get("fresh_over_prespawned"), "×"), "restore"])
    if rr:
        head.append(["warm request round trip 64 B, polling (native)", fmt(rr.get("window_p50_us_64B"), " µs"),
                     "request_rtt"])
        head.append(["Unix socket / ring window, 64 B p50", fmt(rr.get("ratio_unix_over_window_p50_64B"), "×"),
                     "request_rtt"])
        head.append(["Unix socket / ring window, parked (request after the spin), 64 B p50",
                     fmt(rr.get("ratio_unix_over_window_parked_p50_64B"), "×"), "request_rtt"])
        if rr.get("ceiling_unix_over_window_parked_p50_64B") is not None:
            head.append(["… its ceiling on this KVM: Unix socket / one VM entry + exit, 64 B p50",
                         fmt(rr["ceiling_unix_over_window_parked_p50_64B"], "×"), "request_rtt"])
    if rt:
        head.append(["host ring round trip 64 B, polling", fmt(rt.get("ring_p50_us_64B"), " µs"), "ring_rtt"])
    if su:
        for k in ("warm_rps", "warm_p50_ms", "cold_prespawned_p50_ms", "cold_spawn_p50_ms", "spawn_over_prespawned"):
            if k in su:
                head.append([f"supervisor `{k}`", fmt(su[k]), "supervisor"])
    ht = load(a.results, "http")
    if ht:
        for k, label, unit in (("http_rps_64", "HTTP invocations/s, 64 connections (native, ring-3 echo, pinned)", ""),
                               ("http_p50_us_1", "HTTP invocation p50, 1 connection (native, ring-3 echo, pinned)", " µs"),
                               ("http_rps_64_unpinned", "HTTP invocations/s, 64 connections, unpinned", ""),
                               ("http_p50_us_1_unpinned", "HTTP invocation p50, 1 connection, unpinned", " µs")):
            if k in ht:
                head.append([label, fmt(ht[k], unit), "http"])
    if de:
        for k in ("pss_per_vm_mib_100", "dirty_per_vm_mib", "runner_rss_mib", "runner_process_pss_mib",
                  "pss_per_vm_mib_at_100", "dirty_mib_per_vm"):
            if de.get(k) is not None:
                head.append([f"density `{k}`", fmt(de[k], " MiB"), "density"])
    rl, ne = load(a.results, "restore_linux"), load(a.results, "net")
    if rl:
        for k in ("boot_over_restore_hello", "boot_over_restore_emulated_hello"):
            if rl.get(k) is not None:
                head.append([f"Linux `hello`: boot / restore, VM created → agent ready (`{k}`)", fmt(rl[k], "×"),
                             "restore_linux"])
            if rl.get(k + "_end_to_end") is not None:
                head.append([f"Linux `hello`: boot / restore, process start → first response", fmt(rl[k + "_end_to_end"], "×"),
                             "restore_linux"])
        for k in ("boot_over_restore_node_hello", "boot_over_restore_emulated_node_hello"):
            if rl.get(k) is not None:
                head.append([f"Linux `hello-js` (Node.js): boot / restore, VM created → first response (`{k}`)",
                             fmt(rl[k], "×"), "restore_linux"])
        if rl.get("lazy_over_ws_first_response") is not None:
            head.append(["Linux `hello`: lazy restore / working set prefetched, VM created → first response "
                         "(`lazy_over_ws_first_response`, emulated host)" if rl.get("machine_case") != "hardware" else
                         "Linux `hello`: lazy restore / working set prefetched, VM created → first response "
                         "(`lazy_over_ws_first_response`)", fmt(rl["lazy_over_ws_first_response"], "×"), "restore_linux"])
        if rl.get("fault_floor_ms") is not None:
            where = ", emulated host" if rl.get("machine_case") != "hardware" else ""
            head.append([f"Linux `hello` restore: page faults to the first response × cost of a first touch "
                         f"({fmt(rl['restore_page_faults_p50'], digits=0)} × {fmt(rl['first_touch_us_per_page'], ' µs')}"
                         f"{where})", fmt(rl["fault_floor_ms"], " ms"), "restore_linux"])
            head.append(["… its share of the restore, VM created → first response (`fault_floor_share_of_first_response`)",
                         fmt(100 * rl["fault_floor_share_of_first_response"], " %", 0), "restore_linux"])
    if ne:
        for k, label in (("tcp_rtt_p50_us", "guest TCP round trip p50, firerunner virtio-net (emulated host)"),
                         ("qemu_tcp_rtt_p50_us", "guest TCP round trip p50, QEMU virtio-net (emulated host)")):
            if k in ne:
                head.append([label, fmt(ne[k], " µs"), "net"])
    if pe:
        head.append(["QEMU / firerunner, Linux boot p50 (emulated host)", fmt(pe.get("qemu_boot_over_ours"), "×"),
                     "peer"])
        head.append(["QEMU / firerunner, Linux snapshot restore p50 (emulated host)",
                     fmt(pe.get("qemu_restore_over_ours"), "×") if pe.get("qemu_restore_over_ours") is not None
                     else "not measured (see peer)", "peer"])
    md += [table(["figure", "value", "benchmark"], head) or "No benchmark results found.", ""]

    md += ["## Plots", ""]
    captions = {"latency_cdf.png": "Cold vs warm latency CDFs (curves where the JSON holds samples or a quantile "
                                   "list, marked points where it holds only percentiles)",
                "restore_breakdown.png": "Restore phases per variant (p50 of each phase)",
                "density.png": "Density: memory per VM and restore latency vs N",
                "peer.png": "Peer: QEMU vs firerunner, p50, same run",
                "rtt.png": "Round trip p50 by payload size"}
    for p in plots:
        md += [f"![{captions.get(p, p)}]({reldir}/{p})", "", f"*{captions.get(p, p)}.*", ""]
    if not plots:
        md += ["No plots were rendered.", ""]

    md += ["## Benchmarks", ""]
    by_name = {b["name"]: b for b in run.get("benchmarks", [])}
    names = [b["name"] for b in run.get("benchmarks", [])] or sorted(
        f[:-5] for f in os.listdir(a.results) if f.endswith(".json") and f != "run.json")
    for n in names:
        j = load(a.results, n)
        b = by_name.get(n, {})
        md += [f"### `{n}`", "", DESCRIBE.get(n, ""), ""]
        status = ("" if not b else f"{'ok' if b.get('ok') else '**failed**'} in {b.get('seconds')} s, load "
                  f"{fmt(b.get('loadavg_1m_at_start'), digits=1)} at its start. ")
        if b.get("rerun"):  # one benchmark measured again after the run (run.json says when and with what)
            status += f"Re-run: {b['rerun']}. "
        if j is None:
            md += [status + "No JSON: the benchmark failed or is not present.", ""]
            continue
        loadavg = get(j, "machine", "loadavg_1m")
        md += [status + (f"Load during it: {fmt(loadavg, digits=1)}. " if loadavg is not None else "")
               + f"JSON: `{json_path(a, n)}`" + (" (quick)" if j.get("quick") else "") + ".", ""]
        if n == "ring_rtt":
            md.append(section_rtt(n, j, [("ring", "ring, polling (pinned)"), ("ring_default", "ring, polling (unpinned)"),
                                         ("ring_parked", "ring, parked"), ("unix", "Unix socket")]))
        elif n == "request_rtt":
            md.append(section_rtt(n, j, [("window", "ring window, polling"),
                                         ("window_parked_within", "ring window, parked, request within the spin"),
                                         ("window_parked_expired", "ring window, parked, request after the spin"),
                                         ("window_exit_driven", "ring window, exit-driven (no guest spin)"),
                                         ("window_parked_before", "ring window, parked, baseline build"),
                                         ("unix", "Unix socket"), ("unix_within", "Unix socket, same gap as within"),
                                         ("unix_expired", "Unix socket, same gap as after")]))
        elif n == "boot":
            md.append(section_boot(j))
        elif n == "restore":
            md.append(section_restore(j))
        elif n == "peer":
            md.append(section_peer(j))
        else:
            md.append(section_flat(j))
        md.append("")

    md += ["## Published anchors (cited, not measured here)", "",
           "These are other systems' published figures on their own hardware, for orientation only; nothing "
           "in this table was measured by our benchmarks.", "",
           table(["system / figure", "published value", "source"], [list(r) for r in ANCHORS]), "",
           "## Reproduce", "",
           "```", "scripts/bench.sh all            # every benchmark, plots, this page (prints its length)",
           "scripts/bench.sh all --quick    # under 10 minutes", "scripts/bench.sh NAME           # one benchmark",
           "```", ""]
    with open(a.out, "w") as f:
        f.write("\n".join(md))
    print(f"report: wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
