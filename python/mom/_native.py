# SPDX-License-Identifier: LGPL-2.1-or-later
"""ctypes declarations of libmom's public C API (include/mom/*.h).

Only the standard library is used.  The structures mirror the C headers
field by field; ctypes applies the same alignment rules as the C compiler,
so sizeof() agrees with the library's (each versioned struct starts with
its size, which the library checks).

The shared library is looked up in this order:

1. the path in the environment variable MOM_LIBRARY;
2. libmom.so.0 next to this package (a wheel or a copy may ship it there);
3. build/libmom.so.0 of the source tree this package sits in
   (python/mom/ -> ../../build/);
4. the system's libmom.so.0 (the dynamic linker's search path).
"""

import ctypes
import errno
import os

SONAME = "libmom.so.0"

# Project error codes (include/mom/mom.h).
MOM_E_CONFIG = -1001
MOM_E_POLICY = -1002
MOM_E_STATE = -1003
MOM_E_FATAL = -1004
MOM_E_NOPOLICY = -1005
MOM_E_ABI = -1006

# Log levels, numbered as the original's verbosity.
LOG_CRITICAL, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG = 1, 2, 3, 4, 5

# mom_value_type
(VALUE_NONE, VALUE_BOOL, VALUE_INT, VALUE_REAL, VALUE_STRING, VALUE_LIST,
 VALUE_MAP) = range(7)

# mom_hv_memory_stats.present bits, in the order of the struct's fields.
MEMORY_FIELDS = (
    # (field, bit)
    ("mem_available", 1 << 0),
    ("mem_unused", 1 << 1),
    ("mem_free", 1 << 2),
    ("major_fault", 1 << 3),
    ("minor_fault", 1 << 4),
    ("swap_in", 1 << 5),
    ("swap_out", 1 << 6),
    ("swap_total", 1 << 7),
    ("swap_usage", 1 << 8),
    ("mem_usable", 1 << 9),
)

# mom_hv_io_limits fields and their present bits.
IO_FIELDS = (
    ("total_bytes_sec", 1 << 0),
    ("read_bytes_sec", 1 << 1),
    ("write_bytes_sec", 1 << 2),
    ("total_iops_sec", 1 << 3),
    ("read_iops_sec", 1 << 4),
    ("write_iops_sec", 1 << 5),
)

# mom_hv_ksm_tune fields and their present bits.
KSM_FIELDS = (
    ("run", 1 << 0),
    ("pages_to_scan", 1 << 1),
    ("sleep_millisecs", 1 << 2),
    ("merge_across_nodes", 1 << 3),
)


class ConfigOverride(ctypes.Structure):
    _fields_ = [
        ("section", ctypes.c_char_p),
        ("key", ctypes.c_char_p),
        ("value", ctypes.c_char_p),
    ]


LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
                          ctypes.c_void_p)
CYCLE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


class Config(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("config_file", ctypes.c_char_p),
        ("overrides", ctypes.POINTER(ConfigOverride)),
        ("n_overrides", ctypes.c_size_t),
        ("log_fn", LOG_FN),
        ("log_userdata", ctypes.c_void_p),
        ("log_level", ctypes.c_int),
        ("hv_ops", ctypes.c_void_p),
        ("hv_userdata", ctypes.c_void_p),
        ("cycle_fn", CYCLE_FN),
        ("cycle_userdata", ctypes.c_void_p),
    ]


class GuestInfo(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("name", ctypes.c_char * 256),
        ("uuid", ctypes.c_char * 64),
        ("pid", ctypes.c_int64),
    ]


class MemoryStats(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("present", ctypes.c_uint32)] + [
        (name, ctypes.c_int64) for name, _ in MEMORY_FIELDS
    ]


class BalloonInfo(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("balloon_cur", ctypes.c_int64),
        ("balloon_max", ctypes.c_int64),
        ("balloon_min", ctypes.c_int64),
    ]


class CpuTuneInfo(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_size_t),
        ("vcpu_quota", ctypes.c_int64),
        ("vcpu_period", ctypes.c_int64),
        ("vcpu_user_limit", ctypes.c_int64),
        ("vcpu_count", ctypes.c_int64),
    ]


class IoLimits(ctypes.Structure):
    _fields_ = [("present", ctypes.c_uint32)] + [
        (name, ctypes.c_int64) for name, _ in IO_FIELDS
    ]


class DiskTune(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("path", ctypes.c_char_p),
        ("io_tune", IoLimits),
    ]


class KsmTune(ctypes.Structure):
    _fields_ = [("present", ctypes.c_uint32)] + [
        (name, ctypes.c_int64) for name, _ in KSM_FIELDS
    ]


_c_int = ctypes.c_int
_vp = ctypes.c_void_p
_str = ctypes.c_char_p

# Callback types of struct mom_hv_ops, in the struct's order.
HV_CALLBACKS = (
    ("get_vm_list", ctypes.CFUNCTYPE(_c_int, _vp, _vp)),
    ("get_vm_info", ctypes.CFUNCTYPE(_c_int, _str, ctypes.POINTER(GuestInfo), _vp)),
    ("start_vm_memory_stats", ctypes.CFUNCTYPE(_c_int, _str, _c_int, _vp)),
    ("get_vm_memory_stats", ctypes.CFUNCTYPE(_c_int, _str, ctypes.POINTER(MemoryStats), _vp)),
    ("get_vm_balloon_info", ctypes.CFUNCTYPE(_c_int, _str, ctypes.POINTER(BalloonInfo), _vp)),
    ("set_vm_balloon_target", ctypes.CFUNCTYPE(_c_int, _str, ctypes.c_int64, _vp)),
    ("get_vm_cpu_tune_info", ctypes.CFUNCTYPE(_c_int, _str, ctypes.POINTER(CpuTuneInfo), _vp)),
    ("set_vm_cpu_tune", ctypes.CFUNCTYPE(_c_int, _str, ctypes.c_int64, ctypes.c_int64, _vp)),
    ("get_vm_io_tune_policy", ctypes.CFUNCTYPE(_c_int, _str, _vp, _vp)),
    ("get_vm_io_tune", ctypes.CFUNCTYPE(_c_int, _str, _vp, _vp)),
    ("set_vm_io_tune", ctypes.CFUNCTYPE(_c_int, _str, ctypes.POINTER(DiskTune),
                                        ctypes.c_size_t, _vp)),
    ("ksm_tune", ctypes.CFUNCTYPE(_c_int, ctypes.POINTER(KsmTune), _vp)),
    ("qemu_agent_command", ctypes.CFUNCTYPE(_c_int, _str, _str, _c_int,
                                            ctypes.POINTER(ctypes.c_void_p), _vp)),
    ("free_reply", ctypes.CFUNCTYPE(None, ctypes.c_void_p, _vp)),
)
HV_CALLBACK_TYPES = dict(HV_CALLBACKS)


class HvOps(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t)] + list(HV_CALLBACKS)


def _candidates():
    env = os.environ.get("MOM_LIBRARY")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, SONAME)
    yield os.path.join(os.path.dirname(os.path.dirname(here)), "build", SONAME)
    yield SONAME


def _declare(lib):
    """Set argtypes and restype of every function the binding calls."""
    P = ctypes.POINTER
    vp = ctypes.c_void_p
    decls = {
        "mom_version": (ctypes.c_char_p, []),
        "mom_strerror": (ctypes.c_char_p, [ctypes.c_int]),
        "mom_free": (None, [vp]),
        "mom_config_init": (None, [P(Config)]),
        "mom_config_check": (ctypes.c_int, [P(Config)]),
        "mom_engine_new": (ctypes.c_int, [P(Config), P(vp)]),
        "mom_engine_start": (ctypes.c_int, [vp]),
        "mom_engine_stop": (ctypes.c_int, [vp]),
        "mom_engine_free": (None, [vp]),
        "mom_engine_wait": (ctypes.c_int, [vp]),
        "mom_engine_reload": (ctypes.c_int, [vp]),
        "mom_engine_ping": (ctypes.c_bool, [vp]),
        "mom_engine_set_verbosity": (ctypes.c_int, [vp, ctypes.c_char_p]),
        "mom_engine_set_policy": (ctypes.c_int, [vp, ctypes.c_char_p, P(vp)]),
        "mom_engine_set_named_policy": (ctypes.c_int,
                                        [vp, ctypes.c_char_p, ctypes.c_char_p, P(vp)]),
        "mom_engine_get_policy": (ctypes.c_int, [vp, P(vp)]),
        "mom_engine_get_named_policies": (ctypes.c_int, [vp, P(vp)]),
        "mom_engine_reset_policies": (ctypes.c_int, [vp, P(vp)]),
        "mom_engine_get_statistics": (ctypes.c_int, [vp, P(vp)]),
        "mom_engine_get_active_guests": (ctypes.c_int, [vp, P(vp)]),
        "mom_engine_config_get": (ctypes.c_int,
                                  [vp, ctypes.c_char_p, ctypes.c_char_p, P(vp)]),
        "mom_value_type_of": (ctypes.c_int, [vp]),
        "mom_value_bool": (ctypes.c_bool, [vp]),
        "mom_value_int": (ctypes.c_int64, [vp]),
        "mom_value_real": (ctypes.c_double, [vp]),
        "mom_value_string": (vp, [vp]),
        "mom_value_len": (ctypes.c_size_t, [vp]),
        "mom_value_at": (vp, [vp, ctypes.c_size_t]),
        "mom_value_key_at": (vp, [vp, ctypes.c_size_t]),
        "mom_value_unref": (None, [vp]),
        "mom_hv_list_add": (ctypes.c_int, [vp, ctypes.c_char_p]),
        "mom_hv_disk_list_add_policy": (ctypes.c_int, [vp, ctypes.c_char_p, ctypes.c_char_p,
                                                       P(IoLimits), P(IoLimits)]),
        "mom_hv_disk_list_add_tune": (ctypes.c_int, [vp, ctypes.c_char_p, ctypes.c_char_p,
                                                     P(IoLimits)]),
    }
    for name, (restype, argtypes) in decls.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def load_library():
    """Load libmom (see the module's docstring for the search order)."""
    errors = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            errors.append("%s: %s" % (path, exc))
            continue
        _declare(lib)
        return lib
    raise ImportError("cannot load libmom (%s); set MOM_LIBRARY to its path"
                      % ("; ".join(errors) or SONAME + " not found"))


lib = load_library()

# The C library's allocator, for reply strings the engine releases through
# free_reply.
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.restype = None
libc.free.argtypes = [ctypes.c_void_p]


def strerror(rc):
    text = lib.mom_strerror(rc)
    return text.decode("utf-8", "replace") if text else "error %d" % rc


def encode(text):
    """str (or bytes) -> bytes for a const char * argument; None stays None."""
    if text is None or isinstance(text, bytes):
        return text
    return str(text).encode("utf-8")


def decode(ptr):
    """A borrowed C string (void pointer) -> str."""
    if not ptr:
        return None
    return ctypes.string_at(ptr).decode("utf-8", "surrogateescape")


def take_string(ptr):
    """A C string the library handed over -> str; frees it with mom_free."""
    try:
        return decode(ptr)
    finally:
        if ptr:
            lib.mom_free(ptr)


def value_to_python(v):
    """A borrowed mom_value pointer -> the equivalent Python object."""
    if not v:
        return None
    t = lib.mom_value_type_of(v)
    if t == VALUE_NONE:
        return None
    if t == VALUE_BOOL:
        return bool(lib.mom_value_bool(v))
    if t == VALUE_INT:
        return int(lib.mom_value_int(v))
    if t == VALUE_REAL:
        return float(lib.mom_value_real(v))
    if t == VALUE_STRING:
        return decode(lib.mom_value_string(v))
    n = lib.mom_value_len(v)
    if t == VALUE_LIST:
        return [value_to_python(lib.mom_value_at(v, i)) for i in range(n)]
    if t == VALUE_MAP:
        return {decode(lib.mom_value_key_at(v, i)): value_to_python(lib.mom_value_at(v, i))
                for i in range(n)}
    raise ValueError("unknown mom_value type %d" % t)


def take_value(ptr):
    """A mom_value reference the library handed over -> Python; unrefs it."""
    try:
        return value_to_python(ptr)
    finally:
        if ptr:
            lib.mom_value_unref(ptr)


def errno_name(rc):
    return errno.errorcode.get(-rc, str(rc))
