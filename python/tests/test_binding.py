# SPDX-License-Identifier: LGPL-2.1-or-later
"""The binding's surface without a running engine: version, methods that
work as soon as the object exists, policies, configuration overrides and
files, errors, close()."""

import configparser
import os
import re
import tempfile
import threading
import unittest

import mom
from momtest_support import REPO, FakeHypervisor, fast_config

BALLOON_POLICY = '(with Guests guest (guest.Control "balloon_target" guest.balloon_min))'


class VersionTest(unittest.TestCase):
    def test_version_matches_the_header(self):
        with open(os.path.join(REPO, "include", "mom", "mom.h")) as f:
            m = re.search(r'#define MOM_VERSION_STRING "([^"]+)"', f.read())
        assert m is not None
        assert mom.version == m.group(1)
        assert mom.__version__ == mom.version


class BeforeRunTest(unittest.TestCase):
    def setUp(self):
        self.m = mom.MOM(None, fast_config(), hypervisor=FakeHypervisor())

    def tearDown(self):
        self.m.close()

    def test_methods_work_before_run(self):
        assert self.m.getStatistics() == {"host": {}, "guests": {}}
        assert self.m.getActiveGuests() == []
        assert self.m.getPolicy() == "0"
        assert self.m.getNamedPolicies() == {}
        assert self.m.ping() is False
        assert self.m.setVerbosity("debug") is True
        assert self.m.setVerbosity(3) is True
        # Neither policy nor policy-dir is configured.
        assert self.m.resetPolicies() is None

    def test_set_policy(self):
        assert self.m.setPolicy(BALLOON_POLICY) is True
        assert self.m.getPolicy() == BALLOON_POLICY
        assert self.m.getNamedPolicies() == {"50_main_": BALLOON_POLICY}
        # A bad text is refused and the running set stays.
        assert self.m.setPolicy("(((") is False
        assert self.m.getPolicy() == BALLOON_POLICY
        # None leaves the set empty.
        assert self.m.setPolicy(None) is True
        assert self.m.getPolicy() == "0"
        assert self.m.getNamedPolicies() == {}

    def test_named_policies(self):
        assert self.m.setNamedPolicy("20-b", "(defvar b 2)") is True
        assert self.m.setNamedPolicy("10-a", "(defvar a 1)") is True
        assert self.m.getNamedPolicies() == {"10-a": "(defvar a 1)", "20-b": "(defvar b 2)"}
        # Joined in name order.
        assert self.m.getPolicy() == "(defvar a 1)\n(defvar b 2)"
        assert self.m.setNamedPolicy("20-b", "(defvar") is False
        assert self.m.getNamedPolicies()["20-b"] == "(defvar b 2)"
        assert self.m.setNamedPolicy("10-a", None) is True
        assert self.m.getNamedPolicies() == {"20-b": "(defvar b 2)"}
        # setPolicy clears every named policy.
        assert self.m.setPolicy("(defvar c 3)") is True
        assert self.m.getNamedPolicies() == {"50_main_": "(defvar c 3)"}

    def test_shutdown_before_run(self):
        self.m.shutdown()
        t = threading.Thread(target=self.m.run)
        t.start()
        t.join(5)
        assert not t.is_alive()
        assert self.m.ping() is False


class ConfigTest(unittest.TestCase):
    def test_overrides_are_applied(self):
        c = fast_config()
        c["main"]["policy-engine-interval"] = "7"
        m = mom.MOM(None, c, hypervisor=FakeHypervisor())
        try:
            assert m.getConfig("main", "policy-engine-interval") == "7"
            assert m.getConfig("host", "collectors") == "HostTime"
        finally:
            m.close()

    def test_default_section_of_the_overrides(self):
        c = configparser.ConfigParser()
        c["DEFAULT"] = {"sample-history-length": "4"}
        c["main"] = {"controllers": "Balloon"}
        c["guest"] = {"collectors": "GuestMemory, GuestBalloon"}
        m = mom.MOM(None, c, hypervisor=FakeHypervisor())
        try:
            assert m.getConfig("main", "sample-history-length") == "4"
        finally:
            m.close()

    def test_file_and_overrides(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write("[main]\npolicy-engine-interval = 12\nguest-manager-interval: 9\n"
                    "controllers = Balloon\n[guest]\ncollectors = GuestMemory, GuestBalloon\n")
            path = f.name
        try:
            over = configparser.ConfigParser()
            over["main"] = {"guest-manager-interval": "3"}
            m = mom.MOM(path, over, hypervisor=FakeHypervisor())
            try:
                assert m.getConfig("main", "policy-engine-interval") == "12"
                assert m.getConfig("main", "guest-manager-interval") == "3"
            finally:
                m.close()
        finally:
            os.unlink(path)

    def test_bad_configuration_raises(self):
        c = fast_config()
        c["main"]["no-such-key"] = "1"
        with self.assertRaises(mom.ConfigError) as cm:
            mom.MOM(None, c, hypervisor=FakeHypervisor())
        assert cm.exception.rc == -1001
        c = fast_config(guest_collectors="GuestMemory, NoSuchCollector")
        with self.assertRaises(mom.ConfigError):
            mom.MOM(None, c, hypervisor=FakeHypervisor())

    def test_overrides_must_be_a_configparser(self):
        with self.assertRaises(TypeError):
            mom.MOM(None, {"main": {"controllers": "Balloon"}}, hypervisor=FakeHypervisor())


class CloseTest(unittest.TestCase):
    def test_methods_after_close_raise(self):
        m = mom.MOM(None, fast_config(), hypervisor=FakeHypervisor())
        m.close()
        m.close()  # idempotent
        m.shutdown()  # harmless
        with self.assertRaises(RuntimeError):
            m.getStatistics()
        with self.assertRaises(RuntimeError):
            m.run()

    def test_context_manager(self):
        with mom.MOM(None, fast_config(), hypervisor=FakeHypervisor()) as m:
            assert m.getPolicy() == "0"
        with self.assertRaises(RuntimeError):
            m.getPolicy()


if __name__ == "__main__":
    unittest.main()
