#!/usr/bin/python3
"""Renders the benchmark plots (PNG) from RESULTS/*.json; run by `scripts/bench.sh all`.

  latency_cdf.png        cold (restore, boot) vs warm (request round trip) latency CDFs
  restore_breakdown.png  restore phases (p50) per restore variant, stacked
  density.png            memory per VM and restore latency vs the number of restored VMs
  peer.png               QEMU vs firerunner, boot and restore p50 (emulated KVM host)
  rtt.png                round trip p50 by payload size, rings vs a Unix socket

CDF input, in order of preference, per series:
  * "latency_cdf": {LABEL: {"class": "cold"|"warm", "unit": "ms"|"us", "quantiles": [[q, value], ...]}}
    in any benchmark's JSON (q in 0..1) — the convention every benchmark can adopt;
  * "samples" lists (bench/peer.sh writes them);
  * the percentiles a JSON already holds (p50/p90/p99): drawn as marked points, not a full curve.
Missing JSON files or keys skip that plot or series (the plot says what it lacks); never an error.
Debian's python3-matplotlib only.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLD, WARM = "#c0392b", "#2471a3"


def load(results, name):
    path = os.path.join(results, name + ".json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def to_ms(value, unit):
    return value / 1000.0 if unit == "us" else value


def cdf_series(results):
    """[(label, class, [(q, ms)], full_curve)] from every source described in the module doc."""
    out = []
    for fname in sorted(os.listdir(results)):
        if not fname.endswith(".json") or fname == "run.json":
            continue
        j = load(results, fname[:-5]) or {}
        for label, s in (j.get("latency_cdf") or {}).items():
            pts = [(float(q), to_ms(float(v), s.get("unit", "ms"))) for q, v in s.get("quantiles", [])]
            if pts:
                out.append((label, s.get("class", "cold"), sorted(pts), True))
    have = {label for label, *_ in out}

    def add(label, cls, pts, full=False):
        pts = [(q, v) for q, v in pts if v is not None]
        if label not in have and pts:
            out.append((label, cls, sorted(pts), full))

    peer = load(results, "peer") or {}
    for key, label, cls in (("qemu_restore_ms", "QEMU restore (Linux, emulated host)", "cold"),
                            ("firerunner_restore_ms", "firerunner restore (Linux, emulated host)", "cold"),
                            ("qemu_boot_ms", "QEMU boot (Linux, emulated host)", "cold"),
                            ("firerunner_boot_ms", "firerunner boot (Linux, emulated host)", "cold")):
        s = (peer.get(key) or {}).get("samples")
        if s:
            n = len(s)
            add(label, cls, [((i + 0.5) / n, v) for i, v in enumerate(sorted(s))], True)
    rl = load(results, "restore_linux") or {}
    for mode, label in (("restore", "restore hello (Linux, emulated host)"), ("boot", "boot hello (Linux, emulated host)")):
        s = [r.get("first_response_ms") for r in (rl.get("runs") or {}).get(mode, []) if isinstance(r, dict)]
        s = [x for x in s if isinstance(x, (int, float))]
        if s:
            add(f"fc_wrapper {label}", "cold", [((i + 0.5) / len(s), v) for i, v in enumerate(sorted(s))], True)
    restore = load(results, "restore") or {}
    for variant in ("prespawned_lazy", "fresh_lazy"):
        v = restore.get(variant)
        if isinstance(v, dict):
            add(f"restore {variant} (ring-3, native)", "cold",
                [(0.5, v.get("total_p50_ms")), (0.9, v.get("total_p90_ms")), (0.99, v.get("total_p99_ms"))])
    boot = load(results, "boot") or {}
    b = boot.get("ring3_boot_first_io_ms")
    if isinstance(b, dict):
        add("boot (ring-3, native)", "cold", [(0.0, b.get("min")), (0.5, b.get("p50")), (0.99, b.get("p99")),
                                              (1.0, b.get("max"))])
    sup = load(results, "supervisor") or {}
    add("supervisor cold, pre-spawned", "cold", [(0.5, sup.get("cold_prespawned_p50_ms"))])
    add("supervisor warm", "warm", [(0.5, sup.get("warm_p50_ms")), (0.99, sup.get("warm_p99_ms"))])
    rtt = load(results, "request_rtt") or {}
    for size in ("64B", "64KiB"):
        add(f"request round trip {size} (warm VM, polling)", "warm",
            [(0.5, to_ms(rtt[k], "us")) if (k := f"window_p50_us_{size}") in rtt else (0.5, None),
             (0.99, to_ms(rtt[k], "us")) if (k := f"window_p99_us_{size}") in rtt else (0.99, None)])
    return out


def plot_cdf(results, outdir):
    series = cdf_series(results)
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for i, (label, cls, pts, full) in enumerate(series):
        xs, ys = [p[1] for p in pts], [p[0] for p in pts]
        color = COLD if cls == "cold" else WARM
        style = ["-", "--", ":", "-."][i % 4]
        if full:
            ax.step(xs, ys, where="post", color=color, linestyle=style, label=f"{cls}: {label}")
        else:
            ax.plot(xs, ys, color=color, linestyle=style, marker="o", alpha=0.75,
                    label=f"{cls}: {label} (percentiles only)")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of requests / starts")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("Cold (restore, boot) vs warm (request) latency")
    ax.legend(fontsize=7, loc="lower right")
    return save(fig, outdir, "latency_cdf.png")


PHASES = ("create_vm", "load_validate", "memory_map", "prefetch", "vm_state", "vcpu_state", "first_exit")


def plot_restore(results, outdir):
    r = load(results, "restore")
    if not r:
        return None
    variants = [k for k, v in r.items() if isinstance(v, dict) and "total_p50_ms" in v]
    if not variants:
        return None
    fig, ax = plt.subplots(figsize=(9, 5))
    bottoms = [0.0] * len(variants)
    cmap = plt.get_cmap("tab10")
    for i, phase in enumerate(PHASES):
        vals = [float(r[v].get(f"{phase}_p50_ms") or 0.0) for v in variants]
        if not any(vals):
            continue
        ax.barh(variants, vals, left=bottoms, color=cmap(i), label=phase)
        bottoms = [b + v for b, v in zip(bottoms, vals)]
    totals = [float(r[v]["total_p50_ms"]) for v in variants]
    ax.scatter(totals, variants, marker="|", s=300, color="black", label="measured total p50", zorder=3)
    ax.set_xlabel("ms (p50 of each phase; phases' medians need not add up to the total's median)")
    ax.set_title(f"Restore breakdown, ring-3 guest, {r.get('guest_mem_mib', '?')} MiB (host-side, native)")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)
    return save(fig, outdir, "restore_breakdown.png")


def density_points(d):
    """A list of per-N dicts from density.json: parallel arrays beside "n" (bench_density), or a list
    or dict of per-N objects under a common key."""
    n = d.get("n")
    if isinstance(n, list) and n:
        cols = {k: v for k, v in d.items() if isinstance(v, list) and len(v) == len(n)
                and all(isinstance(x, (int, float)) for x in v)}
        return [{k: cols[k][i] for k in cols} for i in range(len(n))]
    for key in ("points", "by_n", "series", "results", "runs"):
        v = d.get(key)
        if isinstance(v, list) and v and isinstance(v[0], dict):
            return v
        if isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()):
            return [{"n": int(k), **x} for k, x in v.items() if str(k).isdigit()]
    return []


def plot_density(results, outdir):
    d = load(results, "density")
    if not d:
        return None
    pts = density_points(d)
    nkey = next((k for k in ("n", "vms", "N", "count") if pts and k in pts[0]), None)
    if not nkey:
        return None
    pts = sorted(pts, key=lambda p: p[nkey])
    ns = [p[nkey] for p in pts]
    keys = [k for k in pts[0] if k not in (nkey, "runner_n", "runner_threads")
            and all(isinstance(p.get(k), (int, float)) for p in pts)]
    per_vm = [k for k in keys if "per_vm" in k]
    timing = [k for k in keys if k.endswith("_ms") or "latency" in k]
    other = [k for k in keys if k not in per_vm and k not in timing]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.8))
    cmap = plt.get_cmap("tab10")
    for i, key in enumerate(per_vm):
        ax.plot(ns, [p[key] for p in pts], marker="o", color=cmap(i % 10), label=key)
    ax.set_title("memory per VM")
    ax.set_ylabel("MiB per VM")
    bx2 = bx.twinx()
    for i, key in enumerate(other):
        bx.plot(ns, [p[key] for p in pts], marker="o", color=cmap((i + 5) % 10), label=key)
    for i, key in enumerate(timing):
        bx2.plot(ns, [p[key] for p in pts], marker="s", linestyle="--", color=cmap((i + 3) % 10), label=key)
    bx.set_title("host memory (solid) and restore latency (dashed)")
    bx.set_ylabel("MiB")
    bx2.set_ylabel("ms")
    for a in (ax, bx):
        a.set_xscale("log")
        a.set_xlabel("restored VMs (N)")
        a.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    h1, l1 = bx.get_legend_handles_labels()
    h2, l2 = bx2.get_legend_handles_labels()
    bx.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
    fig.suptitle("Density: N restored ring-3 VMs of one function (host-side, native)")
    return save(fig, outdir, "density.png")


def plot_peer(results, outdir):
    p = load(results, "peer")
    if not p:
        return None
    groups = [("boot", p.get("qemu_boot_p50_ms"), p.get("firerunner_boot_p50_ms")),
              ("restore", p.get("qemu_restore_p50_ms"), p.get("firerunner_restore_p50_ms"))]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = range(len(groups))
    q = [g[1] or 0 for g in groups]
    f = [g[2] or 0 for g in groups]
    ax.bar([i - 0.2 for i in x], q, 0.4, label="QEMU -M microvm", color="#7f8c8d")
    ax.bar([i + 0.2 for i in x], f, 0.4, label="firerunner", color=COLD)
    for i, g in enumerate(groups):
        if g[2] is None:
            ax.text(i + 0.2, max(q) * 0.02, "not\nmeasured", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), [g[0] for g in groups])
    ax.set_ylabel("p50 ms (inside the emulated KVM host)")
    ax.set_title("Peer: same guest kernel + rootfs, same run")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return save(fig, outdir, "peer.png")


def plot_rtt(results, outdir):
    ring, req = load(results, "ring_rtt") or {}, load(results, "request_rtt") or {}
    rows = [(ring, "ring", "ring (shm, polling)"), (ring, "ring_parked", "ring (parked)"),
            (req, "window", "guest ring window (polling)"),
            (req, "window_parked_within", "guest ring window (parked, within the spin)"),
            (req, "window_parked_expired", "guest ring window (parked, after the spin)"),
            (ring or req, "unix", "Unix socket")]
    sizes = ("64B", "1KiB", "64KiB")
    rows = [(j, m, lbl) for j, m, lbl in rows if any(f"{m}_p50_us_{s}" in j for s in sizes)]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(rows)
    for i, (j, mode, label) in enumerate(rows):
        ax.bar([k + (i - len(rows) / 2 + 0.5) * width for k in range(len(sizes))],
               [j.get(f"{mode}_p50_us_{s}", 0) for s in sizes], width, label=label)
    ax.set_xticks(range(len(sizes)), sizes)
    ax.set_yscale("log")
    ax.set_ylabel("round trip p50 (µs, log)")
    ax.set_title("Request round trip by payload size (host-side, native)")
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    return save(fig, outdir, "rtt.png")


def save(fig, outdir, name):
    fig.tight_layout()
    path = os.path.join(outdir, name)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return name


def main():
    ap = argparse.ArgumentParser(description="render benchmark plots from JSON")
    ap.add_argument("--results", required=True, help="directory with NAME.json files")
    ap.add_argument("--out", required=True, help="directory for the PNG files")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    made = []
    for fn in (plot_cdf, plot_restore, plot_density, plot_peer, plot_rtt):
        name = fn(a.results, a.out)
        print(f"plots: {fn.__name__[5:]}: " + (f"wrote {os.path.join(a.out, name)}" if name else "no data, skipped"))
        if name:
            made.append(name)
    with open(os.path.join(a.out, "plots.json"), "w") as f:
        json.dump(made, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
