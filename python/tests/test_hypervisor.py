# SPDX-License-Identifier: LGPL-2.1-or-later
"""A Python host program's hypervisor object driving the engine: the
policies' balloon and KSM decisions arrive in its methods, statistics come
back through getStatistics(), and a method that is missing, returns None,
raises or blocks only affects what depends on it."""

import logging
import threading
import time
import unittest

import mom
from momtest_support import (GIB, POLICY_DIR, FakeHypervisor, HostTree, LogCapture, Running,
                             fast_config, wait_for, without)

PRESSURE_FREE = 262144      # KiB free of 16 GiB: the host is short of memory
PLENTY_FREE = 12 * GIB


class PolicyEndToEndTest(unittest.TestCase):
    """The policies (POLICY_DIR) against our own hypervisor object."""

    def run_host(self, memfree, ksm_run, seconds_until, hv=None):
        tree = HostTree(memfree, ksm_run)
        self.addCleanup(tree.cleanup)
        hv = hv or FakeHypervisor(2)
        m = mom.MOM(None, fast_config(tree, POLICY_DIR), hypervisor=hv)
        with Running(m):
            assert wait_for(seconds_until(hv, m), 15.0)
            stats = m.getStatistics()
            active = m.getActiveGuests()
        return hv, tree, stats, active

    def test_pressure_shrinks_balloons_and_starts_ksm(self):
        def enough(hv, m):
            return lambda: (len(hv.calls_of("setVmBalloonTarget")) >= 6
                            and hv.calls_of("ksmTune"))
        hv, tree, stats, active = self.run_host(PRESSURE_FREE, 0, enough)
        targets = {}
        for vm_id, target in hv.calls_of("setVmBalloonTarget"):
            assert isinstance(target, int)
            targets.setdefault(vm_id, []).append(target)
        assert sorted(targets) == ["id-1", "id-2"]
        for vm_id, ts in targets.items():
            assert ts[0] < 4 * GIB, ts
            assert all(b < a for a, b in zip(ts, ts[1:])), ts  # keeps shrinking
            assert min(ts) >= GIB, ts                           # never below balloon_min
        tune = hv.calls_of("ksmTune")[0][0]
        # The default KSM policy: boost the host's current pages_to_scan (100
        # in the fake sysfs) by 300, sleep 10 ms for a 16 GiB host.
        assert tune == {"run": 1, "pages_to_scan": 400, "sleep_millisecs": 10}, tune
        # The engine left sysfs alone: the callback did the work.
        assert tree.ksm_file("run") == "0"
        # Statistics as the original returns them.
        assert sorted(active) == ["vm1", "vm2"]
        assert set(stats) == {"host", "guests"}
        assert stats["host"]["mem_available"] == 16777216
        assert stats["host"]["ksm_run"] == 0
        vm1 = stats["guests"]["vm1"]
        assert vm1["balloon_max"] == 4 * GIB
        assert vm1["balloon_cur"] < 4 * GIB
        assert vm1["minor_fault"] == 2000          # "2000" converted like vdsm's values
        assert vm1["swap_total"] is None           # None: absent

    def test_no_pressure_leaves_balloons_and_stops_ksm(self):
        def enough(hv, m):
            return lambda: len(hv.calls_of("ksmTune")) >= 2
        hv, tree, stats, active = self.run_host(PLENTY_FREE, 1, enough)
        assert hv.calls_of("setVmBalloonTarget") == []
        assert all(t == ({"run": 0},) for t in hv.calls_of("ksmTune")), hv.calls_of("ksmTune")
        assert sorted(active) == ["vm1", "vm2"]

    def test_callbacks_run_on_engine_threads(self):
        def enough(hv, m):
            return lambda: hv.calls_of("getVmMemoryStats")
        hv, _, _, _ = self.run_host(PLENTY_FREE, 1, enough)
        assert hv.threads and threading.current_thread().name not in hv.threads
        assert "mom-run" not in hv.threads


class TypesTest(unittest.TestCase):
    """Every getter's result crosses the C structs intact."""

    def test_cpu_and_io_tune_reach_the_statistics(self):
        hv = FakeHypervisor(1)
        conf = fast_config(guest_collectors="GuestMemory, GuestBalloon, GuestCpuTune, "
                                            "GuestIoTune")
        with Running(mom.MOM(None, conf, hypervisor=hv)) as m:
            assert wait_for(lambda: m.getActiveGuests() == ["vm1"], 10.0)
            g = m.getStatistics()["guests"]["vm1"]
        assert g["vcpu_count"] == 2
        assert g["vcpu_period"] == 100000
        assert g["vcpu_user_limit"] == 100
        disks = g["io_tune"]
        assert isinstance(disks, list) and len(disks) == 1, disks
        assert disks[0]["name"] == "vda"
        assert disks[0]["path"] == "/images/id-1.img"
        assert disks[0]["maximum"]["total_bytes_sec"] == 100 * 1024 * 1024
        assert disks[0]["maximum"]["total_iops_sec"] == 1000
        assert disks[0]["guaranteed"]["total_iops_sec"] == 0
        assert ("startVmMemoryStats", "id-1") in [("startVmMemoryStats",) + c
                                                  for c in hv.calls_of("startVmMemoryStats")]


class FakeAgent(object):
    """qemuAgentCommand of a guest whose agent serves two files."""

    FILES = {
        "/proc/meminfo": "MemTotal: 2097152 kB\nMemFree: 524288 kB\nBuffers: 1024 kB\n"
                         "Cached: 31744 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
        "/proc/vmstat": "pgfault 5000\npgmajfault 7\npswpin 0\npswpout 0\n",
    }

    def __init__(self):
        self.commands = []
        self.handles = {}

    def qemuAgentCommand(self, uuid, command, timeout=10):
        import base64
        import json
        req = json.loads(command)
        self.commands.append(req["execute"])
        args = req.get("arguments", {})
        if req["execute"] == "guest-ping":
            return json.dumps({"return": {}})
        if req["execute"] == "guest-file-open":
            h = len(self.handles) + 1
            self.handles[h] = [self.FILES[args["path"]].encode(), False]
            return json.dumps({"return": h})
        if req["execute"] == "guest-file-read":
            data, done = self.handles[args["handle"]]
            self.handles[args["handle"]][1] = True
            body = b"" if done else data
            return json.dumps({"return": {"count": len(body), "eof": True,
                                          "buf-b64": base64.b64encode(body).decode()}})
        if req["execute"] == "guest-file-close":
            return json.dumps({"return": {}})
        return json.dumps({"error": {"class": "CommandNotFound", "desc": req["execute"]}})


class AgentTest(unittest.TestCase):
    def test_agent_commands_and_replies_cross_the_binding(self):
        hv = FakeHypervisor(1)
        agent = FakeAgent()
        hv.qemuAgentCommand = agent.qemuAgentCommand
        conf = fast_config(guest_collectors="GuestQemuAgent, GuestBalloon")
        with Running(mom.MOM(None, conf, hypervisor=hv)) as m:
            assert wait_for(lambda: m.getActiveGuests() == ["vm1"], 10.0)
            g = m.getStatistics()["guests"]["vm1"]
        assert "guest-ping" in agent.commands and "guest-file-read" in agent.commands
        assert g["mem_available"] == 2097152
        assert g["mem_unused"] == 524288
        assert g["mem_free"] == 524288 + 1024 + 31744
        assert g["major_fault"] == 7


class MisbehavingHypervisorTest(unittest.TestCase):
    def test_missing_method_disables_with_one_warning(self):
        tree = HostTree(PRESSURE_FREE, 0)
        self.addCleanup(tree.cleanup)
        hv = FakeHypervisor(2)
        with LogCapture() as log:
            m = mom.MOM(None, fast_config(tree, POLICY_DIR),
                        hypervisor=without(hv, "setVmBalloonTarget"))
            with Running(m):
                assert wait_for(lambda: len(hv.calls_of("ksmTune")) >= 2, 15.0)
        warnings = log.matching("has no set_vm_balloon_target", level=logging.WARNING)
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert "Balloon is disabled" in warnings[0].getMessage()
        assert hv.calls_of("setVmBalloonTarget") == []

    def test_missing_guest_info_warns_once(self):
        hv = FakeHypervisor(1)
        with LogCapture() as log:
            with Running(mom.MOM(None, fast_config(), hypervisor=without(hv, "getVmInfo"))) as m:
                assert wait_for(lambda: len(hv.calls_of("getVmList")) >= 2, 10.0)
                assert m.getActiveGuests() == []
        warnings = log.matching("has no get_vm_info", level=logging.WARNING)
        assert len(warnings) == 1, [r.getMessage() for r in warnings]

    def test_raising_method_is_logged_and_isolated(self):
        hv = FakeHypervisor(2)
        hv.fail.add(("getVmMemoryStats", "id-2"))
        with LogCapture() as log:
            with Running(mom.MOM(None, fast_config(), hypervisor=hv)) as m:
                assert wait_for(lambda: m.getActiveGuests() == ["vm1"], 10.0)
                assert wait_for(lambda: log.matching("getVmMemoryStats failed"), 5.0)
                time.sleep(1.5)
                assert m.getActiveGuests() == ["vm1"]
                # Healing the guest brings it in.
                hv.fail.clear()
                assert wait_for(lambda: sorted(m.getActiveGuests()) == ["vm1", "vm2"], 10.0)
        recs = log.matching("getVmMemoryStats failed", logger="mom.Hypervisor",
                            level=logging.ERROR)
        assert recs, "the exception was not logged"
        assert recs[0].exc_info is not None
        assert "scripted failure" in str(recs[0].exc_info[1])

    def test_none_means_no_data(self):
        hv = FakeHypervisor(2)
        hv.none.add(("getVmBalloonInfo", "id-2"))
        with Running(mom.MOM(None, fast_config(), hypervisor=hv)) as m:
            assert wait_for(lambda: m.getActiveGuests() == ["vm1"], 10.0)
            time.sleep(1.5)
            assert m.getActiveGuests() == ["vm1"]
            assert "vm2" not in m.getStatistics()["guests"]

    def test_failing_guest_list_does_not_stop_the_engine(self):
        hv = FakeHypervisor(1)
        with LogCapture() as log:
            with Running(mom.MOM(None, fast_config(), hypervisor=hv)) as m:
                assert wait_for(lambda: m.getActiveGuests() == ["vm1"], 10.0)
                hv.fail.add(("getVmList", None))
                assert wait_for(lambda: log.matching("getVmList failed"), 5.0)
                assert m.ping()
                assert m.getActiveGuests() == ["vm1"]  # known guests are kept

    def test_blocking_method_holds_up_only_its_guest(self):
        hv = FakeHypervisor(2)
        hv.block[("getVmMemoryStats", "id-2")] = 3.0
        conf = fast_config(deadline_ms=500)
        m = mom.MOM(None, conf, hypervisor=hv)
        t = threading.Thread(target=m.run, daemon=True)
        t.start()
        try:
            assert wait_for(lambda: "vm1" in m.getActiveGuests(), 10.0)
            assert "vm2" not in m.getActiveGuests()
            assert wait_for(lambda: hv.calls_of("getVmMemoryStats").count(("id-2",)) >= 1, 5.0)
        finally:
            started = time.monotonic()
            m.shutdown()
            t.join(10.0)
            stopped = time.monotonic() - started
            assert not t.is_alive()
            # shutdown() does not wait for the blocked call beyond the deadline ...
            assert stopped < 2.5, stopped
            # ... close() reaps it.
            m.close()


if __name__ == "__main__":
    unittest.main()
