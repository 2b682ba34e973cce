# SPDX-License-Identifier: LGPL-2.1-or-later
"""MOM, the Memory Overcommitment Manager, for Python host programs.

A ctypes binding of libmom (standard library only) with the surface of the
original Python MOM, so host code written for it keeps working::

    import threading
    import mom

    m = mom.MOM("/etc/vdsm/mom.conf", hypervisor=MyHypervisor())
    threading.Thread(target=m.run, name="mom").start()
    ...
    m.getStatistics()
    m.setNamedPolicy("01-parameters", "(set balloonEnabled True)")
    ...
    m.shutdown()

The engine is created in the constructor, so every method works as soon as
the object exists; run() starts the engine and blocks until shutdown().
Log lines of the engine go to Python's logging module under the names the
engine gives them ("mom", "mom.HostMonitor", "mom.GuestMonitor(vm1)",
"mom.Policy", ...).

Threads: every method may be called from any thread.  The hypervisor
object's methods are called from the engine's worker threads, several at
once for different guests; they must not call back into this object.
"""

import atexit
import configparser
import contextlib
import ctypes
import errno
import logging
import threading
import weakref

from . import _native as _N
from ._hypervisor import HypervisorAdapter

__all__ = ["MOM", "MOMError", "ConfigError", "version", "__version__"]

version = _N.lib.mom_version().decode("ascii")
__version__ = version


class MOMError(Exception):
    """A libmom call failed; `rc` is its negative error code."""

    def __init__(self, rc, message):
        Exception.__init__(self, "%s: %s" % (message, _N.strerror(rc)))
        self.rc = rc


class ConfigError(MOMError, ValueError):
    """The configuration (file or overrides) is invalid; the reasons were
    logged to the "mom.Config" logger."""


# Engine log levels -> logging levels.
_LEVELS = {
    _N.LOG_CRITICAL: logging.CRITICAL,
    _N.LOG_ERROR: logging.ERROR,
    _N.LOG_WARN: logging.WARNING,
    _N.LOG_INFO: logging.INFO,
    _N.LOG_DEBUG: logging.DEBUG,
}


def _on_log(level, logger, msg, userdata):
    # Runs on engine threads: never let an exception escape.
    try:
        name = logger.decode("utf-8", "replace") if logger else "mom"
        text = msg.decode("utf-8", "replace") if msg else ""
        logging.getLogger(name).log(_LEVELS.get(level, logging.DEBUG), "%s", text)
    except BaseException:
        pass


# One C callback for every engine: it holds no reference to any MOM object.
_LOG_CB = _N.LOG_FN(_on_log)

# Engines still alive, stopped at interpreter exit so that no engine thread
# calls into a finalising interpreter.
_live = weakref.WeakSet()


@atexit.register
def _shutdown_all():
    for m in list(_live):
        try:
            m.close()
        except Exception:
            pass


def _overrides(parser):
    """(section, key, value) triples of a ConfigParser: its [DEFAULT] keys
    under "DEFAULT", then each section's own keys."""
    if parser is None:
        return []
    if not isinstance(parser, configparser.RawConfigParser):
        raise TypeError("conf_overrides must be a configparser.ConfigParser")
    defaults = parser.defaults()
    out = [("DEFAULT", k, v) for k, v in defaults.items()]
    for section in parser.sections():
        for key, value in parser.items(section, raw=True):
            if key in defaults and defaults[key] == value:
                continue
            out.append((section, key, value))
    return out


class MOM(object):
    """One MOM engine.

    conf_file       path of mom.conf (None: built-in defaults)
    conf_overrides  a configparser.ConfigParser whose values win over the
                    file's
    hypervisor      an object with the original's hypervisor-interface
                    methods (see mom._hypervisor); None: the configured
                    `hypervisor-interface` is used

    Raises ConfigError when the configuration is invalid and MOMError when
    the configured policies do not load.
    """

    def __init__(self, conf_file, conf_overrides=None, hypervisor=None):
        self._engine = None
        self._cond = threading.Condition(threading.Lock())
        self._users = 0
        self._started = False
        self._shutdown = False
        self._adapter = HypervisorAdapter(hypervisor) if hypervisor is not None else None

        triples = [(_N.encode(s), _N.encode(k), _N.encode(v))
                   for s, k, v in _overrides(conf_overrides)]
        arr = (_N.ConfigOverride * max(len(triples), 1))()
        for i, (s, k, v) in enumerate(triples):
            arr[i].section, arr[i].key, arr[i].value = s, k, v

        cfg = _N.Config()
        _N.lib.mom_config_init(ctypes.byref(cfg))
        cfg.config_file = _N.encode(conf_file) if conf_file else None
        cfg.overrides = arr if triples else None
        cfg.n_overrides = len(triples)
        cfg.log_fn = _LOG_CB
        cfg.log_level = 0
        if self._adapter is not None:
            cfg.hv_ops = ctypes.addressof(self._adapter.ops)
        engine = ctypes.c_void_p()
        rc = _N.lib.mom_engine_new(ctypes.byref(cfg), ctypes.byref(engine))
        if rc == _N.MOM_E_CONFIG:
            raise ConfigError(rc, "invalid MOM configuration")
        if rc < 0:
            raise MOMError(rc, "cannot create the MOM engine")
        self._engine = engine.value
        _live.add(self)

    # ---- lifetime ----

    @contextlib.contextmanager
    def _use(self):
        """The engine pointer, kept valid (not freed by close()) while the
        block runs."""
        with self._cond:
            if self._engine is None:
                raise RuntimeError("this MOM object is closed")
            self._users += 1
            e = self._engine
        try:
            yield e
        finally:
            with self._cond:
                self._users -= 1
                if self._users == 0:
                    self._cond.notify_all()

    def run(self):
        """Start the engine and block until shutdown() (hosts call this in
        a thread of their own).  Returns at once when shutdown() came first.
        """
        with self._use() as e:
            with self._cond:
                if self._shutdown:
                    return
                if self._started:
                    raise RuntimeError("MOM.run() was called already")
                rc = _N.lib.mom_engine_start(e)
                if rc < 0:
                    raise MOMError(rc, "cannot start the MOM engine")
                self._started = True
            rc = _N.lib.mom_engine_wait(e)  # ctypes releases the GIL here
            if rc < 0:
                logging.getLogger("mom").error("MOM engine ended: %s", _N.strerror(rc))

    def shutdown(self):
        """Stop the engine; run() then returns.  Safe to call before run(),
        twice, or after close().  Must not be called from a hypervisor
        callback."""
        with self._cond:
            self._shutdown = True
            if self._engine is None:
                return
        with self._use() as e:
            _N.lib.mom_engine_stop(e)

    def close(self):
        """Stop the engine, wait for run() and every method in progress to
        return, and release the engine.  Later calls raise RuntimeError."""
        with self._cond:
            e = self._engine
            if e is None:
                return
            self._shutdown = True
        _N.lib.mom_engine_stop(e)
        with self._cond:
            self._engine = None
            while self._users:
                self._cond.wait()
        _N.lib.mom_engine_free(e)
        _live.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ---- the original's API ----

    def ping(self):
        """True while the engine is running."""
        with self._use() as e:
            return bool(_N.lib.mom_engine_ping(e))

    def getStatistics(self):
        """{"host": {field: value}, "guests": {name: {field: value}}}: the
        latest sample of the host and of each ready guest;
        {"host": {}, "guests": {}} before the first host sample."""
        with self._use() as e:
            out = ctypes.c_void_p()
            rc = _N.lib.mom_engine_get_statistics(e, ctypes.byref(out))
            if rc < 0:
                raise MOMError(rc, "getStatistics")
            return _N.take_value(out.value)

    def getActiveGuests(self):
        """Names of the ready guests."""
        with self._use() as e:
            out = ctypes.c_void_p()
            rc = _N.lib.mom_engine_get_active_guests(e, ctypes.byref(out))
            if rc < 0:
                raise MOMError(rc, "getActiveGuests")
            return _N.take_value(out.value)

    def _policy_call(self, fn, *args, **kw):
        quiet = kw.get("quiet", ())
        with self._use() as e:
            err = ctypes.c_void_p()
            rc = fn(e, *(args + (ctypes.byref(err),)))
            message = _N.take_string(err.value)
            if rc < 0 and rc != _N.MOM_E_POLICY and rc not in quiet:
                # The policy errors were logged by the engine already.
                logging.getLogger("mom.PolicyEngine").error(
                    "%s", message or _N.strerror(rc))
            return rc

    def setPolicy(self, policy):
        """Replace every policy by `policy` (None: no policy).  False when
        it does not load; the running set then stays."""
        return self._policy_call(_N.lib.mom_engine_set_policy, _N.encode(policy)) == 0

    def setNamedPolicy(self, name, policy):
        """Store `policy` under `name` (None deletes it).  False when the
        set does not load with it; the previous text then stays."""
        return self._policy_call(_N.lib.mom_engine_set_named_policy, _N.encode(name),
                                 _N.encode(policy)) == 0

    def getPolicy(self):
        """The named policies joined by newlines in name order, "0" for an
        empty set."""
        with self._use() as e:
            out = ctypes.c_void_p()
            rc = _N.lib.mom_engine_get_policy(e, ctypes.byref(out))
            if rc < 0:
                raise MOMError(rc, "getPolicy")
            return _N.take_string(out.value)

    def getNamedPolicies(self):
        """{name: policy text}."""
        with self._use() as e:
            out = ctypes.c_void_p()
            rc = _N.lib.mom_engine_get_named_policies(e, ctypes.byref(out))
            if rc < 0:
                raise MOMError(rc, "getNamedPolicies")
            return _N.take_value(out.value)

    def resetPolicies(self):
        """Reload the policies from `policy` or `policy-dir`: True when they
        load, False when not (the running set stays), None when neither key
        is set."""
        rc = self._policy_call(_N.lib.mom_engine_reset_policies, quiet=(-errno.ENOENT,))
        if rc == -errno.ENOENT:
            return None
        return rc == 0

    def setVerbosity(self, level):
        """Change the log verbosity: 1-5 or debug, info, warn, error,
        critical (anything else means debug, as in the original)."""
        with self._use() as e:
            rc = _N.lib.mom_engine_set_verbosity(e, _N.encode(str(level)))
            if rc < 0:
                raise MOMError(rc, "setVerbosity")
            return True

    # ---- additions ----

    def getConfig(self, section, key):
        """The effective value of a configuration key, or None."""
        with self._use() as e:
            out = ctypes.c_void_p()
            rc = _N.lib.mom_engine_config_get(e, _N.encode(section), _N.encode(key),
                                              ctypes.byref(out))
            if rc == -errno.ENOENT:
                return None
            if rc < 0:
                raise MOMError(rc, "getConfig")
            return _N.take_string(out.value)

    def reload(self):
        """Reload the policy files on the engine thread (as on SIGHUP)."""
        with self._use() as e:
            return _N.lib.mom_engine_reload(e) == 0
