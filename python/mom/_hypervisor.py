# SPDX-License-Identifier: LGPL-2.1-or-later
"""A Python hypervisor object as libmom's table of hypervisor callbacks.

The object has the original Python MOM's method names (its
HypervisorInterface): getVmList, getVmInfo, startVmMemoryStats,
getVmMemoryStats, getVmBalloonInfo, setVmBalloonTarget, getVmCpuTuneInfo,
setVmCpuTune, getVmIoTunePolicy, getVmIoTune, setVmIoTune, ksmTune and
qemuAgentCommand.

- A method the object does not have means the operation is unsupported:
  its slot in the C table stays NULL and the engine disables what depends
  on it, with one warning.
- A getter that returns None means "no data" (-ENODATA).
- An exception is logged (logger "mom.Hypervisor", with the traceback) and
  counts as a failure (-EIO); it never reaches the engine's thread.

The engine calls these from its worker threads, several at once for
different guests; ctypes takes the GIL for each call.
"""

import ctypes
import errno
import logging

from . import _native as N

LOGGER = "mom.Hypervisor"


def _int(value):
    """int() of a statistic as the original's vdsm client does: ints and
    decimal strings (also "12.0") both count."""
    if isinstance(value, str):
        value = value.strip()
        try:
            return int(value)
        except ValueError:
            return int(float(value))
    return int(value)


def _text(value):
    return None if value is None else N.encode(str(value))


def _limits(d):
    """A dict of I/O limits -> IoLimits (keys that are missing or None are
    not present)."""
    lim = N.IoLimits()
    for name, bit in N.IO_FIELDS:
        v = (d or {}).get(name)
        if v is not None:
            setattr(lim, name, _int(v))
            lim.present |= bit
    return lim


def _limits_dict(lim):
    return {name: int(getattr(lim, name)) for name, bit in N.IO_FIELDS if lim.present & bit}


class HypervisorAdapter(object):
    """Builds the C callback table for `hypervisor`.  Keep the adapter alive
    for as long as the engine that uses `ops` exists."""

    # (C slot, Python method, wrapper method of this class)
    _SLOTS = (
        ("get_vm_list", "getVmList", "_get_vm_list"),
        ("get_vm_info", "getVmInfo", "_get_vm_info"),
        ("start_vm_memory_stats", "startVmMemoryStats", "_start_vm_memory_stats"),
        ("get_vm_memory_stats", "getVmMemoryStats", "_get_vm_memory_stats"),
        ("get_vm_balloon_info", "getVmBalloonInfo", "_get_vm_balloon_info"),
        ("set_vm_balloon_target", "setVmBalloonTarget", "_set_vm_balloon_target"),
        ("get_vm_cpu_tune_info", "getVmCpuTuneInfo", "_get_vm_cpu_tune_info"),
        ("set_vm_cpu_tune", "setVmCpuTune", "_set_vm_cpu_tune"),
        ("get_vm_io_tune_policy", "getVmIoTunePolicy", "_get_vm_io_tune_policy"),
        ("get_vm_io_tune", "getVmIoTune", "_get_vm_io_tune"),
        ("set_vm_io_tune", "setVmIoTune", "_set_vm_io_tune"),
        ("ksm_tune", "ksmTune", "_ksm_tune"),
        ("qemu_agent_command", "qemuAgentCommand", "_qemu_agent_command"),
    )

    def __init__(self, hypervisor):
        self._hv = hypervisor
        self._log = logging.getLogger(LOGGER)
        self._methods = {}
        self._keep = []  # the CFUNCTYPE objects must outlive the engine
        self.ops = N.HvOps()
        self.ops.size = ctypes.sizeof(N.HvOps)
        self.supported = []
        for slot, method, wrapper in self._SLOTS:
            fn = getattr(hypervisor, method, None)
            if fn is None or not callable(fn):
                continue
            self._methods[method] = fn
            self._install(slot, self._guard(method, getattr(self, wrapper)))
            self.supported.append(method)
        if "qemuAgentCommand" in self._methods:
            self._install("free_reply", self._free_reply)

    def _install(self, slot, pyfunc):
        cb = N.HV_CALLBACK_TYPES[slot](pyfunc)
        self._keep.append(cb)
        setattr(self.ops, slot, cb)

    def _guard(self, method, wrapper):
        """Run `wrapper`, turning any exception into a logged -EIO."""
        log = self._log

        def guarded(*args):
            try:
                return wrapper(*args)
            except BaseException:  # nothing may escape into the C thread
                try:
                    log.exception("%s failed", method)
                except BaseException:
                    pass
                return -errno.EIO
        return guarded

    def _call(self, method, *args):
        return self._methods[method](*args)

    @staticmethod
    def _id(raw):
        return raw.decode("utf-8", "surrogateescape")

    # ---- the callbacks (arguments as the C table passes them) ----

    def _get_vm_list(self, out, userdata):
        ids = self._call("getVmList")
        if ids is None:
            return -errno.ENODATA
        for vm_id in ids:
            rc = N.lib.mom_hv_list_add(out, N.encode(str(vm_id)))
            if rc < 0:
                return rc
        return 0

    def _get_vm_info(self, vm_id, ret, userdata):
        info = self._call("getVmInfo", self._id(vm_id))
        if not info or info.get("name") is None or info.get("uuid") is None:
            return -errno.ENODATA
        out = ret.contents
        out.name = N.encode(str(info["name"]))[:255]
        out.uuid = N.encode(str(info["uuid"]))[:63]
        pid = info.get("pid")
        out.pid = _int(pid) if pid not in (None, "") else 0
        return 0

    def _start_vm_memory_stats(self, vm_id, period_s, userdata):
        self._call("startVmMemoryStats", self._id(vm_id))
        return 0

    def _get_vm_memory_stats(self, vm_id, ret, userdata):
        stats = self._call("getVmMemoryStats", self._id(vm_id))
        if not stats:
            return -errno.ENODATA
        out = ret.contents
        for name, bit in N.MEMORY_FIELDS:
            v = stats.get(name)
            if v is not None:
                setattr(out, name, _int(v))
                out.present |= bit
        return 0 if out.present else -errno.ENODATA

    def _get_vm_balloon_info(self, vm_id, ret, userdata):
        info = self._call("getVmBalloonInfo", self._id(vm_id))
        if not info or info.get("balloon_cur") is None or info.get("balloon_max") is None:
            return -errno.ENODATA
        out = ret.contents
        out.balloon_cur = _int(info["balloon_cur"])
        out.balloon_max = _int(info["balloon_max"])
        out.balloon_min = _int(info.get("balloon_min") or 0)
        return 0

    def _set_vm_balloon_target(self, vm_id, target, userdata):
        self._call("setVmBalloonTarget", self._id(vm_id), int(target))
        return 0

    def _get_vm_cpu_tune_info(self, vm_id, ret, userdata):
        info = self._call("getVmCpuTuneInfo", self._id(vm_id))
        if not info or info.get("vcpu_count") is None:
            return -errno.ENODATA
        out = ret.contents
        out.vcpu_quota = _int(info.get("vcpu_quota") or 0)
        out.vcpu_period = _int(info.get("vcpu_period") or 0)
        limit = info.get("vcpu_user_limit")
        out.vcpu_user_limit = 100 if limit is None else _int(limit)
        out.vcpu_count = _int(info["vcpu_count"])
        return 0

    def _set_vm_cpu_tune(self, vm_id, quota, period, userdata):
        self._call("setVmCpuTune", self._id(vm_id), int(quota), int(period))
        return 0

    def _get_vm_io_tune_policy(self, vm_id, out, userdata):
        disks = self._call("getVmIoTunePolicy", self._id(vm_id))
        if disks is None:
            return -errno.ENODATA
        for d in disks:
            g, m = _limits(d.get("guaranteed")), _limits(d.get("maximum"))
            rc = N.lib.mom_hv_disk_list_add_policy(out, _text(d.get("name")),
                                                   _text(d.get("path")),
                                                   ctypes.byref(g), ctypes.byref(m))
            if rc < 0:
                return rc
        return 0

    def _get_vm_io_tune(self, vm_id, out, userdata):
        disks = self._call("getVmIoTune", self._id(vm_id))
        if disks is None:
            return -errno.ENODATA
        for d in disks:
            cur = _limits(d.get("ioTune"))
            rc = N.lib.mom_hv_disk_list_add_tune(out, _text(d.get("name")),
                                                 _text(d.get("path")), ctypes.byref(cur))
            if rc < 0:
                return rc
        return 0

    def _set_vm_io_tune(self, vm_id, disks, n, userdata):
        tunables = []
        for i in range(n):
            d = disks[i]
            tunables.append({
                "name": d.name.decode("utf-8", "surrogateescape") if d.name else None,
                "path": d.path.decode("utf-8", "surrogateescape") if d.path else None,
                "ioTune": _limits_dict(d.io_tune),
            })
        self._call("setVmIoTune", self._id(vm_id), tunables)
        return 0

    def _ksm_tune(self, tune, userdata):
        t = tune.contents
        params = {name: int(getattr(t, name)) for name, bit in N.KSM_FIELDS if t.present & bit}
        self._call("ksmTune", params)
        return 0

    def _qemu_agent_command(self, vm_id, command, timeout_s, ret_reply, userdata):
        reply = self._call("qemuAgentCommand", self._id(vm_id),
                           command.decode("utf-8", "surrogateescape"), int(timeout_s))
        if reply is None:
            return -errno.ENODATA
        data = N.encode(reply)
        buf = N.libc.malloc(len(data) + 1)
        if not buf:
            return -errno.ENOMEM
        ctypes.memmove(buf, data + b"\0", len(data) + 1)
        ret_reply[0] = buf
        return 0

    def _free_reply(self, reply, userdata):
        if reply:
            N.libc.free(reply)
