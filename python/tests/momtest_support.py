# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared pieces of the binding's tests: a scripted hypervisor object with
the original's method names that records every call, a private host tree
(/proc and /sys files) under or without memory pressure, configurations,
and a log capture."""

import configparser
import logging
import os
import shutil
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The policies the end-to-end tests run: MOM's default policy set.
POLICY_DIR = os.environ.get("MOM_EMBED_POLICY_DIR", os.path.join(REPO, "policies"))

GIB = 1048576  # KiB

# The engine's log lines go to the "mom" loggers; tests that look at them
# attach a LogCapture.  Keep the rest off stderr (MOM_TEST_VERBOSE=1 shows
# them).
if os.environ.get("MOM_TEST_VERBOSE"):
    logging.basicConfig(level=logging.DEBUG, format="%(name)s %(levelname)s %(message)s")
else:
    logging.getLogger("mom").addHandler(logging.NullHandler())


def wait_for(cond, timeout=10.0, step=0.05):
    """Poll cond() until it is true or `timeout` seconds passed."""
    end = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() >= end:
            return value
        time.sleep(step)


def native_threads():
    return len(os.listdir("/proc/self/task"))


class Guest(object):
    def __init__(self, n):
        self.id = "id-%d" % n
        self.name = "vm%d" % n
        self.uuid = "00000000-0000-4000-8000-%012d" % n
        self.balloon_max = 4 * GIB
        self.balloon_cur = 4 * GIB
        self.balloon_min = GIB
        self.used = GIB + n * 65536


class FakeHypervisor(object):
    """The original's hypervisor interface over a table of guests.  Calls
    are recorded as (method, args) tuples; `fail`, `none` and `block` make
    a method raise, return None, or sleep for a guest."""

    def __init__(self, n_guests=2):
        self.lock = threading.Lock()
        self.guests = dict((g.id, g) for g in (Guest(i + 1) for i in range(n_guests)))
        self.calls = []
        self.fail = set()     # (method, guest id or None)
        self.none = set()     # (method, guest id)
        self.block = {}       # (method, guest id) -> seconds
        self.threads = set()  # names of the threads that called us

    def _record(self, method, *args):
        with self.lock:
            self.calls.append((method,) + args)
            self.threads.add(threading.current_thread().name)
        key = (method, args[0] if args and isinstance(args[0], str) else None)
        if key in self.block:
            time.sleep(self.block[key])
        if key in self.fail:
            raise RuntimeError("scripted failure of %s(%r)" % (method, args))
        return key in self.none

    def calls_of(self, method):
        with self.lock:
            return [c[1:] for c in self.calls if c[0] == method]

    def getVmList(self):
        if self._record("getVmList"):
            return None
        return sorted(self.guests)

    def getVmInfo(self, vm_id):
        if self._record("getVmInfo", vm_id):
            return None
        g = self.guests[vm_id]
        return {"name": g.name, "uuid": g.uuid, "pid": None}

    def startVmMemoryStats(self, vm_id):
        self._record("startVmMemoryStats", vm_id)

    def getVmMemoryStats(self, vm_id):
        if self._record("getVmMemoryStats", vm_id):
            return None
        g = self.guests[vm_id]
        unused = max(g.balloon_cur - g.used, 0)
        return {"mem_available": g.balloon_cur, "mem_unused": unused,
                "mem_free": unused + unused // 8, "major_fault": 10, "minor_fault": "2000",
                "swap_in": 0, "swap_out": 0, "swap_total": None}

    def getVmBalloonInfo(self, vm_id):
        if self._record("getVmBalloonInfo", vm_id):
            return None
        g = self.guests[vm_id]
        return {"balloon_cur": g.balloon_cur, "balloon_max": g.balloon_max,
                "balloon_min": g.balloon_min}

    def setVmBalloonTarget(self, vm_id, target):
        self._record("setVmBalloonTarget", vm_id, target)
        with self.lock:
            self.guests[vm_id].balloon_cur = target

    def getVmCpuTuneInfo(self, vm_id):
        if self._record("getVmCpuTuneInfo", vm_id):
            return None
        return {"vcpu_quota": -1, "vcpu_period": 100000, "vcpu_user_limit": 100,
                "vcpu_count": 2}

    def setVmCpuTune(self, vm_id, quota, period):
        self._record("setVmCpuTune", vm_id, quota, period)

    def getVmIoTunePolicy(self, vm_id):
        if self._record("getVmIoTunePolicy", vm_id):
            return None
        limits = dict.fromkeys(("total_bytes_sec", "read_bytes_sec", "write_bytes_sec",
                                "total_iops_sec", "read_iops_sec", "write_iops_sec"), 0)
        maximum = dict(limits, total_bytes_sec=100 * 1024 * 1024, total_iops_sec=1000)
        return [{"name": "vda", "path": "/images/%s.img" % vm_id, "guaranteed": limits,
                 "maximum": maximum}]

    def getVmIoTune(self, vm_id):
        if self._record("getVmIoTune", vm_id):
            return None
        return [{"name": "vda", "path": "/images/%s.img" % vm_id,
                 "ioTune": {"total_bytes_sec": 0, "total_iops_sec": 0}}]

    def setVmIoTune(self, vm_id, tunables):
        self._record("setVmIoTune", vm_id, tunables)

    def ksmTune(self, tuningParams):
        self._record("ksmTune", dict(tuningParams))


def without(hv, *methods):
    """A view of `hv` that lacks the given methods (unsupported)."""
    class View(object):
        def __getattr__(self, name):
            if name in methods:
                raise AttributeError(name)
            return getattr(hv, name)
    return View()


class HostTree(object):
    """A private /proc and /sys: 16 GiB, `memfree` KiB free, KSM run=ksm_run."""

    def __init__(self, memfree, ksm_run=0):
        self.root = tempfile.mkdtemp(prefix="mom-pytest-")
        self.proc = os.path.join(self.root, "proc")
        self.sys = os.path.join(self.root, "sys")
        ksm = os.path.join(self.sys, "kernel", "mm", "ksm")
        os.makedirs(self.proc)
        os.makedirs(ksm)
        with open(os.path.join(self.proc, "meminfo"), "w") as f:
            f.write("MemTotal: 16777216 kB\nMemFree: %d kB\nMemAvailable: %d kB\n"
                    "Buffers: 65536 kB\nCached: 131072 kB\nAnonPages: 8388608 kB\n"
                    "SwapTotal: 2097152 kB\nSwapFree: 2097152 kB\n" % (memfree, memfree))
        with open(os.path.join(self.proc, "vmstat"), "w") as f:
            f.write("pswpin 0\npswpout 0\n")
        # Two processes, init and ksmd, as every host has.
        for pid, comm in ((1, "systemd"), (37, "ksmd")):
            d = os.path.join(self.proc, str(pid))
            os.makedirs(d)
            with open(os.path.join(d, "comm"), "w") as f:
                f.write(comm + "\n")
            with open(os.path.join(d, "status"), "w") as f:
                f.write("Name:\t%s\nPid:\t%d\n" % (comm, pid))
            with open(os.path.join(d, "stat"), "w") as f:
                f.write("%d (%s) S 1 1 1 0 -1 4194560 500 0 7 0 11 22 0 0 20 0 1 0 100 0 0 "
                        "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
                        % (pid, comm))
        files = {"run": ksm_run, "pages_to_scan": 100, "sleep_millisecs": 20,
                 "merge_across_nodes": 1, "pages_shared": 0, "pages_sharing": 0,
                 "pages_unshared": 0, "pages_volatile": 0, "full_scans": 0}
        for name, value in files.items():
            with open(os.path.join(ksm, name), "w") as f:
                f.write("%d\n" % value)
        self.ksm_dir = ksm

    def ksm_file(self, name):
        with open(os.path.join(self.ksm_dir, name)) as f:
            return f.read().strip()

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


def fast_config(tree=None, policy_dir=None, controllers=None,
                host_collectors=None, guest_collectors="GuestMemory, GuestBalloon",
                deadline_ms=1000):
    """Overrides for a quick engine: 1-second intervals, the host tree,
    the policy directory."""
    if controllers is None:
        controllers = "Balloon, KSM" if tree is not None else "Balloon"
    c = configparser.ConfigParser()
    c["main"] = {
        "host-monitor-interval": "1",
        "guest-monitor-interval": "1",
        "guest-manager-interval": "1",
        "policy-engine-interval": "1",
        "call-deadline-ms": str(deadline_ms),
        "controllers": controllers,
    }
    if tree is not None:
        c["main"]["proc-root"] = tree.proc
        c["main"]["sysfs-root"] = tree.sys
    if policy_dir is not None:
        c["main"]["policy-dir"] = policy_dir
    if host_collectors is None:
        host_collectors = "HostMemory, HostKSM" if tree is not None else "HostTime"
    c["host"] = {"collectors": host_collectors}
    c["guest"] = {"collectors": guest_collectors}
    return c


class LogCapture(logging.Handler):
    """Collects the records of the "mom" logger tree."""

    def __init__(self):
        logging.Handler.__init__(self, logging.DEBUG)
        self.records = []
        self._lock2 = threading.Lock()
        self.logger = logging.getLogger("mom")

    def emit(self, record):
        with self._lock2:
            self.records.append(record)

    def __enter__(self):
        self._old_level = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.setLevel(self._old_level)

    def matching(self, text, logger=None, level=None):
        with self._lock2:
            return [r for r in self.records
                    if text in r.getMessage()
                    and (logger is None or r.name == logger)
                    and (level is None or r.levelno == level)]


class Running(object):
    """Context manager: MOM.run() in a thread; shutdown, join and close at
    the end (checking that run() returned)."""

    def __init__(self, m):
        self.m = m
        self.thread = threading.Thread(target=m.run, name="mom-run", daemon=True)

    def __enter__(self):
        self.thread.start()
        assert wait_for(self.m.ping, 5.0), "the engine did not start"
        return self.m

    def __exit__(self, *exc):
        self.m.shutdown()
        self.thread.join(10.0)
        assert not self.thread.is_alive(), "run() did not return after shutdown()"
        self.m.close()
