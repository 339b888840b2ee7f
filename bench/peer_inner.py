#!/usr/bin/python3
"""Inner half of the `peer` benchmark (bench/peer.sh), run where Linux guests boot with KVM: inside the
emulated KVM host (scripts/kvm-host.sh) here, natively on a host with VT-x/AMD-V.

Same guest kernel, rootfs, RAM size and kernel command line for both VMMs, runs interleaved:
  boot      QEMU -M microvm and firerunner: process start -> the guest init's snfaas.cmd prints a marker.
  restore   process start -> the restored guest answers its first request; both guests sit in CPython
            when snapshotted.
            QEMU: the guest runs python3 that says "ready" and blocks reading a line from its serial
            port; QMP `migrate exec:cat > FILE` saves it; `-incoming "exec:cat FILE"` restores it, and
            the line written once QMP reports the VM running is answered on the console.
            firerunner: fc_wrapper --dump_dir builds the python3 base (agent's base point) and the
            `hello` function's diff (handler imported, first WAIT); fc_wrapper --load_dir base,diff
            with one request on stdin, answered on stdout. Null with the reason when fc_wrapper has
            no --load_dir.
Writes one JSON object (all times in ms, each series with its samples) to --out.
"""
import argparse
import base64
import ctypes
import json
import mmap
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BOOT_MARKER = "snapfaas-peer-booted"
READY_MARKER = "snapfaas-peer-ready"
ANSWER_MARKER = "snapfaas-peer-answer-"
# firerunner's defaults (runner/vmm_config.h) except reboot=t, which ends QEMU -M microvm -no-reboot.
QEMU_ARGS = ("console=ttyS0 reboot=t panic=1 pci=off nomodules i8042.noaux i8042.nomux i8042.nopnp "
             "i8042.dumbkbd root=/dev/vda ro loglevel=1")


def make_clock():
    """(seconds function, description). CLOCK_MONOTONIC when it resolves 1 µs (the emulated host's L1
    keeps time on the TSC: tsc=reliable, scripts/kvm-host.sh); else (a kernel on jiffies) the TSC,
    which under QEMU TCG ticks at the host's rate given as tsc_early_khz= on L1's command line
    (scripts/kvm-host.sh), read by a 10-byte rdtsc stub."""
    res = time.get_clock_info("monotonic").resolution
    if res <= 1e-6:
        return time.monotonic, "CLOCK_MONOTONIC"
    khz = 0
    with open("/proc/cmdline") as f:
        for word in f.read().split():
            if word.startswith("tsc_early_khz="):
                khz = int(word.split("=", 1)[1])
    if khz <= 0:
        return time.monotonic, f"CLOCK_MONOTONIC ({res * 1e3:g} ms resolution)"
    global _rdtsc_page
    # rdtsc; shl rdx, 32; or rax, rdx; ret
    _rdtsc_page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    _rdtsc_page.write(bytes([0x0F, 0x31, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0xC3]))
    rdtsc = ctypes.CFUNCTYPE(ctypes.c_uint64)(ctypes.addressof(ctypes.c_char.from_buffer(_rdtsc_page)))
    return (lambda: rdtsc() / (khz * 1e3)), f"TSC at {khz} kHz (CLOCK_MONOTONIC resolves only {res * 1e3:g} ms)"


now, CLOCK = make_clock()


def cmd_arg(shell_text):
    return "snapfaas.cmd=" + base64.b64encode(shell_text.encode()).decode()


class Proc:
    """A child with stdin as a pipe and stdout+stderr merged into one pipe, read line by line."""

    def __init__(self, argv):
        self.argv = argv
        self.start = now()
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, bufsize=0)
        self.buf = b""
        self.log = []

    def wait_line(self, needle, timeout):
        """Returns the time (monotonic) a line containing `needle` arrived; raises on EOF/timeout."""
        deadline = now() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                text = line.decode(errors="replace").rstrip("\r")
                self.log.append(text)
                if needle in text:
                    return now()
            left = deadline - now()
            if left <= 0:
                raise RuntimeError(f"no '{needle}' within {timeout} s from {self.argv[0]}; last output:\n"
                                   + "\n".join(self.log[-15:]))
            ready, _, _ = select.select([self.p.stdout], [], [], left)
            if ready:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                if not chunk:
                    raise RuntimeError(f"{self.argv[0]} exited (status {self.p.wait()}) before '{needle}'; "
                                       "last output:\n" + "\n".join(self.log[-15:] + [self.buf.decode(errors='replace')]))
                self.buf += chunk

    def send(self, text):
        self.p.stdin.write(text.encode())

    def finish(self, timeout=60):
        """Waits for the process to end (the guest reboots after its command); kills it on timeout."""
        try:
            self.p.stdin.close()
        except OSError:
            pass
        deadline = now() + timeout
        while self.p.poll() is None and now() < deadline:
            ready, _, _ = select.select([self.p.stdout], [], [], 0.2)
            if ready and not os.read(self.p.stdout.fileno(), 65536):
                break
        try:
            return self.p.wait(max(0.1, deadline - now()))
        except subprocess.TimeoutExpired:
            self.p.kill()
            return self.p.wait()


class Qmp:
    """A minimal QMP client on a Unix socket (QEMU's JSON machine protocol)."""

    def __init__(self, path, timeout=60):
        deadline = now() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if now() > deadline:
                    raise RuntimeError(f"QMP socket {path} did not appear")
                time.sleep(0.002)
        self.buf = b""
        self.events = []
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise RuntimeError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.s.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise RuntimeError(f"QMP {name}: {reply['error']}")
            return reply.get("return")

    def wait_event(self, name, timeout):
        deadline = now() + timeout
        while not any(e["event"] == name for e in self.events):
            self.s.settimeout(max(0.001, deadline - now()))
            try:
                self.events.append(self._read())
            except socket.timeout:
                raise RuntimeError(f"no QMP event {name} within {timeout} s")
            finally:
                self.s.settimeout(None)

    def close(self):
        self.s.close()


class Peer:
    def __init__(self, a):
        self.a = a
        self.qemu = shutil.which("qemu-system-x86_64") or "qemu-system-x86_64"
        self.tmp = tempfile.mkdtemp(prefix="snapfaas-peer-")

    def qemu_argv(self, kernel_args, extra=()):
        return [self.qemu, "-enable-kvm", "-cpu", "host", "-M", "microvm,acpi=off", "-smp", "1",
                "-m", str(self.a.mem), "-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
                "-serial", "stdio", "-kernel", self.a.kernel, "-append", QEMU_ARGS + " " + kernel_args,
                "-drive", f"id=rootfs,file={self.a.rootfs},format=raw,if=none,readonly=on",
                "-device", "virtio-blk-device,drive=rootfs", *extra]

    def firerunner_argv(self, kernel_args, extra=()):
        return [self.a.firerunner, "--kernel", self.a.kernel, "--rootfs", self.a.rootfs,
                "--mem_size", str(self.a.mem), "--kernel_args", "loglevel=1 " + kernel_args, *extra]

    def boot(self, argv):
        p = Proc(argv)
        t = p.wait_line(BOOT_MARKER, self.a.timeout)
        p.finish()
        return (t - p.start) * 1e3

    def qemu_boot(self):
        return self.boot(self.qemu_argv(cmd_arg(f"echo {BOOT_MARKER}")))

    def firerunner_boot(self):
        return self.boot(self.firerunner_argv(cmd_arg(f"echo {BOOT_MARKER}")))

    # --- QEMU snapshot: save once, restore `runs` times ---------------------------------------------
    def qemu_guest_args(self):
        # CPython says it is ready, then blocks reading one line from the serial port and answers it.
        script = (f"print('{READY_MARKER}', flush=True)\n"
                  "line = open('/dev/ttyS0').readline().strip()\n"
                  f"print('{ANSWER_MARKER}' + line, flush=True)\n")
        return cmd_arg("exec python3 -c \"$(echo " + base64.b64encode(script.encode()).decode()
                       + " | base64 -d)\"")

    def qemu_save(self):
        path = os.path.join(self.tmp, "qemu-vm.migration")
        sock = os.path.join(self.tmp, "qmp-save.sock")
        p = Proc(self.qemu_argv(self.qemu_guest_args(), ["-qmp", f"unix:{sock},server=on,wait=off"]))
        p.wait_line(READY_MARKER, self.a.timeout)
        time.sleep(0.5)  # let the shell reach its blocking read
        qmp = Qmp(sock)
        qmp.cmd("migrate-set-parameters", **{"max-bandwidth": 1 << 40})
        t0 = now()
        qmp.cmd("migrate", uri=f"exec:cat > {path}")
        while True:
            status = qmp.cmd("query-migrate").get("status")
            if status == "completed":
                break
            if status in ("failed", "cancelled"):
                raise RuntimeError(f"QEMU migration to file {status}")
            time.sleep(0.005)
        save_ms = (now() - t0) * 1e3
        qmp.cmd("quit")
        qmp.close()
        p.finish()
        return path, save_ms

    def qemu_restore(self, path, i):
        sock = os.path.join(self.tmp, f"qmp-restore-{i}.sock")
        p = Proc(self.qemu_argv(self.qemu_guest_args(),
                                ["-qmp", f"unix:{sock},server=on,wait=off", "-incoming", f"exec:cat {path}"]))
        qmp = Qmp(sock, self.a.timeout)
        # Events reach a client only after qmp_capabilities: a RESUME before it shows as status running.
        if qmp.cmd("query-status").get("status") != "running":
            qmp.wait_event("RESUME", self.a.timeout)
        t_running = now()
        p.send("ping\n")
        t_answer = p.wait_line(ANSWER_MARKER + "ping", self.a.timeout)
        qmp.close()
        p.finish()
        if os.path.exists(sock):
            os.unlink(sock)
        return (t_running - p.start) * 1e3, (t_answer - p.start) * 1e3

    # --- firerunner snapshot: fc_wrapper --dump_dir base + diff, --load_dir base,diff ----------------
    def firerunner_linux_snapshot(self):
        """Reason string when fc_wrapper cannot snapshot+restore a Linux guest here, else None."""
        if not self.a.wrapper or not os.path.exists(self.a.wrapper):
            return "fc_wrapper not built"
        if not self.a.appfs or not os.path.exists(self.a.appfs):
            return "the hello app image is missing (scripts/build-images.sh)"
        help_text = subprocess.run([self.a.wrapper, "--help"], capture_output=True, text=True).stdout
        if "--load_dir" not in help_text or "--dump_dir" not in help_text:
            return "fc_wrapper has no --dump_dir/--load_dir: firerunner Linux restore is unavailable"
        return None

    def wrapper_argv(self, vm_id, extra):
        return [self.a.wrapper, "--kernel", self.a.kernel, "--rootfs", self.a.rootfs, "--appfs", self.a.appfs,
                "--mem_size", str(self.a.mem), "--firerunner", self.a.firerunner, "--id", vm_id,
                "--boot_timeout_ms", str(int(self.a.timeout * 1000)), *extra]

    def firerunner_save(self):
        base, diff = os.path.join(self.tmp, "fr-python3"), os.path.join(self.tmp, "fr-hello")
        for vm_id, extra in (("peer-base", ["--dump_dir", base]),
                             ("peer-diff", ["--load_dir", base, "--dump_dir", diff])):
            t0 = now()
            p = Proc(self.wrapper_argv(vm_id, extra))
            status = p.finish(self.a.timeout * 4)
            if status != 0:
                raise RuntimeError(f"fc_wrapper {' '.join(extra)} exited {status}:\n"
                                   + "\n".join(p.log[-15:] + [p.buf.decode(errors='replace')[-2000:]]))
            print(f"peer: firerunner snapshot {os.path.basename(extra[-1])} in {(now() - t0):.1f} s", flush=True)
        return f"{base},{diff}", {os.path.basename(d): disk_mib(d) for d in (base, diff)}

    def firerunner_restore(self, dirs, i):
        p = Proc(self.wrapper_argv(f"peer-restore-{i}", ["--load_dir", dirs]))
        p.send(json.dumps({"time": 1, "user_id": 1, "function": "hello", "payload": {"peer": i}}) + "\n")
        t = p.wait_line('"ok"', self.a.timeout)
        status = p.finish()
        if status != 0:
            raise RuntimeError(f"fc_wrapper --load_dir exited {status}: " + "\n".join(p.log[-15:]))
        # fc_wrapper's own figures: "fc_wrapper: vm_creation_ms=X", "restore_to_first_wait_ms=X".
        phases = {}
        for line in p.log + p.buf.decode(errors="replace").splitlines():
            if line.startswith("fc_wrapper: ") and "_ms=" in line:
                key, _, value = line[len("fc_wrapper: "):].partition("=")
                try:
                    phases[key] = float(value)
                except ValueError:
                    pass
        return (t - p.start) * 1e3, phases


def disk_mib(path):
    """MiB a file or directory tree occupies on disk (sparse holes excluded)."""
    if os.path.isfile(path):
        return os.stat(path).st_blocks * 512 / (1 << 20)
    return sum(os.stat(os.path.join(d, f)).st_blocks * 512 for d, _, fs in os.walk(path) for f in fs) / (1 << 20)


def series(samples):
    s = sorted(samples)
    if not s:
        return None

    def pct(p):
        return s[min(len(s) - 1, int(p / 100 * (len(s) - 1) + 0.5))]
    return {"p50": statistics.median(s), "p90": pct(90), "min": s[0], "max": s[-1], "runs": len(s),
            "samples": [round(x, 3) for x in samples]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--firerunner", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--rootfs", required=True)
    ap.add_argument("--mem", type=int, default=128)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--no-warmup", action="store_true", help="skip the untimed first boot/restore of each VMM")
    ap.add_argument("--wrapper", default="", help="fc_wrapper (firerunner snapshots)")
    ap.add_argument("--appfs", default="", help="app image of the restored function (hello)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    peer = Peer(a)
    r = {"runs": a.runs, "warmup": not a.no_warmup, "mem_mib": a.mem, "clock": CLOCK, "qemu": subprocess.run([peer.qemu, "--version"], capture_output=True,
                                                                    text=True).stdout.splitlines()[0]}
    try:
        # One untimed boot each warms the page cache (kernel, rootfs blocks) for both alike.
        if not a.no_warmup:
            peer.qemu_boot()
            peer.firerunner_boot()
        qb, fb = [], []
        for _ in range(a.runs):  # interleaved, so load changes hit both alike
            qb.append(peer.qemu_boot())
            fb.append(peer.firerunner_boot())
            print(f"peer: boot qemu {qb[-1]:.1f} ms, firerunner {fb[-1]:.1f} ms", flush=True)
        r["qemu_boot_ms"] = series(qb)
        r["firerunner_boot_ms"] = series(fb)

        path, save_ms = peer.qemu_save()
        r["qemu_snapshot_save_ms"] = save_ms
        r["qemu_snapshot_file_mib"] = disk_mib(path)
        reason = peer.firerunner_linux_snapshot()
        fr_dir = None
        if reason is None:
            fr_dir, r["firerunner_snapshot_disk_mib"] = peer.firerunner_save()
        if not a.no_warmup:
            peer.qemu_restore(path, "warm")  # untimed: the migration file into the page cache
            if fr_dir:
                peer.firerunner_restore(fr_dir, "warm")
        qr, qa, fr, fr_phases = [], [], [], {}
        for i in range(a.runs):
            running, answer = peer.qemu_restore(path, i)
            qr.append(running)
            qa.append(answer)
            if fr_dir:
                ms, phases = peer.firerunner_restore(fr_dir, i)
                fr.append(ms)
                for k, v in phases.items():
                    fr_phases.setdefault(k, []).append(v)
            print(f"peer: restore qemu {answer:.1f} ms (running at {running:.1f} ms)"
                  + (f", firerunner {fr[-1]:.1f} ms" if fr else ""), flush=True)
        r["qemu_restore_ms"] = series(qa)
        r["qemu_restore_to_running_ms"] = series(qr)
        r["firerunner_restore_ms"] = series(fr)
        # fc_wrapper's phases (its own clock: CLOCK_MONOTONIC)
        r["firerunner_restore_fc_wrapper_p50_ms"] = {k: statistics.median(v) for k, v in fr_phases.items()}
        if reason:
            r["firerunner_restore_reason"] = reason
    finally:
        shutil.rmtree(peer.tmp, ignore_errors=True)
    with open(a.out, "w") as f:
        json.dump(r, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
