"""cpus: what the VM gives the function (e2e_node.sh, section 6): its CPUs and RAM as Python sees them."""
import os


def handle(request):
    with open("/proc/meminfo") as f:
        mem_kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    return {"cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)), "mem_total_kib": mem_kib,
            "echo": request}
