# SPDX-License-Identifier: LGPL-2.1-or-later
"""Engines created, run, shut down and closed in a loop (no thread left,
no stuck run()), two engines in one process, objects dropped without
close(), and logging through the logging module."""

import gc
import logging
import threading
import time
import unittest

import mom
from momtest_support import (FakeHypervisor, LogCapture, Running, fast_config, native_threads,
                             wait_for)


class LifecycleTest(unittest.TestCase):
    def test_start_stop_restart_loop(self):
        # An engine of an earlier test may still be reaping a blocked call:
        # start from a quiet process (only Python's own threads).
        gc.collect()
        wait_for(lambda: native_threads() == threading.active_count(), 10.0)
        before = native_threads()
        py_before = threading.active_count()
        hv = FakeHypervisor(2)
        for i in range(10):
            m = mom.MOM(None, fast_config(), hypervisor=hv)
            t = threading.Thread(target=m.run, daemon=True)
            t.start()
            assert wait_for(m.ping, 5.0)
            if i % 3 == 0:
                assert wait_for(lambda: len(m.getActiveGuests()) == 2, 10.0)
            else:
                time.sleep(0.02 * i)
            m.shutdown()
            t.join(5.0)
            assert not t.is_alive(), "run() is stuck after shutdown()"
            assert m.ping() is False
            m.close()
            # Thread.join() returns when the Python function has ended; the
            # OS thread may take a moment more to disappear.
            assert wait_for(lambda: native_threads() <= before, 2.0), (native_threads(), before)
        assert wait_for(lambda: threading.active_count() <= py_before, 5.0)

    def test_two_engines_in_one_process(self):
        a, b = FakeHypervisor(1), FakeHypervisor(3)
        b.guests.pop("id-1")
        ma = mom.MOM(None, fast_config(), hypervisor=a)
        mb = mom.MOM(None, fast_config(), hypervisor=b)
        with Running(ma), Running(mb):
            assert ma.setPolicy('(with Guests guest (guest.Control "balloon_target" 3000000))')
            assert wait_for(lambda: ma.getActiveGuests() == ["vm1"], 10.0)
            assert wait_for(lambda: sorted(mb.getActiveGuests()) == ["vm2", "vm3"], 10.0)
            assert wait_for(lambda: a.calls_of("setVmBalloonTarget"), 10.0)
            assert mb.getPolicy() == "0"
            time.sleep(1.2)
            # Each engine talks to its own hypervisor only.
            assert b.calls_of("setVmBalloonTarget") == []
            assert {c[0] for c in a.calls_of("getVmMemoryStats")} == {"id-1"}
            assert {c[0] for c in b.calls_of("getVmMemoryStats")} == {"id-2", "id-3"}

    def test_dropped_object_is_released(self):
        gc.collect()
        wait_for(lambda: native_threads() == threading.active_count(), 10.0)
        before = native_threads()
        m = mom.MOM(None, fast_config(), hypervisor=FakeHypervisor(1))
        t = threading.Thread(target=m.run, daemon=True)
        t.start()
        assert wait_for(m.ping, 5.0)
        m.shutdown()
        t.join(5.0)
        del m, t
        gc.collect()
        assert wait_for(lambda: native_threads() <= before, 5.0)

    def test_run_twice_is_refused(self):
        m = mom.MOM(None, fast_config(), hypervisor=FakeHypervisor(1))
        with Running(m):
            with self.assertRaises(RuntimeError):
                m.run()

    def test_log_lines_reach_logging_with_engine_logger_names(self):
        with LogCapture() as log:
            with Running(mom.MOM(None, fast_config(), hypervisor=FakeHypervisor(1))) as m:
                assert wait_for(lambda: m.getActiveGuests() == ["vm1"], 10.0)
                m.setVerbosity("error")
                n = len(log.records)
                time.sleep(1.5)
                quiet = [r for r in log.records[n:] if r.levelno < logging.ERROR]
        names = {r.name for r in log.records}
        assert "mom.GuestMonitor(vm1)" in names, names
        assert "mom.HostMonitor" in names, names
        started = log.matching("MOM engine started", logger="mom", level=logging.INFO)
        assert started, names
        assert quiet == [], [r.getMessage() for r in quiet]


if __name__ == "__main__":
    unittest.main()
