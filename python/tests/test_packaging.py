# SPDX-License-Identifier: LGPL-2.1-or-later
"""The binding installs with pip into a virtual environment, offline and
without setuptools (its build backend is python/build_backend), and the
installed package finds libmom through MOM_LIBRARY."""

import base64
import hashlib
import importlib
import os
import subprocess
import sys
import tempfile
import unittest
import zipfile

from momtest_support import REPO

PYDIR = os.path.join(REPO, "python")


def _backend():
    sys.path.insert(0, os.path.join(PYDIR, "build_backend"))
    try:
        return importlib.import_module("mom_build_backend")
    finally:
        sys.path.pop(0)


class WheelTest(unittest.TestCase):
    def test_wheel_contents_and_record(self):
        backend = _backend()
        with tempfile.TemporaryDirectory() as d:
            name = backend.build_wheel(d)
            assert name.startswith("mom-") and name.endswith("-py3-none-any.whl")
            with zipfile.ZipFile(os.path.join(d, name)) as z:
                names = set(z.namelist())
                assert {"mom/__init__.py", "mom/_native.py", "mom/_hypervisor.py"} <= names
                di = [n for n in names if n.endswith(".dist-info/RECORD")][0].split("/")[0]
                meta = z.read(di + "/METADATA").decode()
                assert "Name: mom\n" in meta
                import mom
                assert "Version: %s\n" % mom.version in meta
                # Every RECORD line matches the file's hash and size.
                for line in z.read(di + "/RECORD").decode().splitlines():
                    path, digest, size = line.rsplit(",", 2)
                    if path.endswith("RECORD"):
                        continue
                    data = z.read(path)
                    want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                    assert digest == "sha256=" + want.decode(), path
                    assert int(size) == len(data), path

    def test_sdist(self):
        backend = _backend()
        import tarfile
        with tempfile.TemporaryDirectory() as d:
            name = backend.build_sdist(d)
            with tarfile.open(os.path.join(d, name)) as t:
                names = t.getnames()
            base = name[:-len(".tar.gz")]
            assert base + "/pyproject.toml" in names
            assert base + "/mom/__init__.py" in names
            assert base + "/PKG-INFO" in names


class VenvInstallTest(unittest.TestCase):
    def test_pip_install_into_a_venv(self):
        lib = os.environ.get("MOM_LIBRARY") or os.path.join(REPO, "build", "libmom.so.0")
        if not os.path.exists(lib):
            self.skipTest("libmom.so.0 is not built")
        try:
            import ensurepip  # noqa: F401  (Debian: python3-venv)
            import venv  # noqa: F401
        except ImportError:
            self.skipTest("venv/ensurepip not installed")
        with tempfile.TemporaryDirectory() as d:
            env_dir = os.path.join(d, "venv")
            r = subprocess.run([sys.executable, "-m", "venv", env_dir],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if r.returncode != 0:
                self.skipTest("cannot create a venv: %s" % r.stdout.decode()[-300:])
            py = os.path.join(env_dir, "bin", "python")
            env = dict(os.environ, PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
            env.pop("PYTHONPATH", None)
            r = subprocess.run([py, "-m", "pip", "install", "--no-index", PYDIR],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                               cwd=d)
            assert r.returncode == 0, r.stdout.decode()[-2000:]
            env["MOM_LIBRARY"] = os.path.abspath(lib)
            code = ("import mom, os; m = mom.MOM(None); "
                    "print(mom.version, os.path.dirname(mom.__file__), m.getPolicy()); "
                    "m.close()")
            r = subprocess.run([py, "-c", code], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=env, cwd=d)
            out = r.stdout.decode()
            assert r.returncode == 0, out
            import mom
            version, where, policy = out.split()
            assert version == mom.version
            assert where.startswith(env_dir), where   # the installed copy, not python/
            assert policy == "0"
