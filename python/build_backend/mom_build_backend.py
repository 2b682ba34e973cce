# SPDX-License-Identifier: LGPL-2.1-or-later
"""A PEP 517 / PEP 660 build backend for the pure-Python package `mom`,
written with the standard library only (zipfile, tarfile, hashlib), so that
installing the binding needs neither setuptools nor network access.

It packs python/mom/*.py into a py3-none-any wheel with the metadata of
pyproject.toml's [project] table (name, version, description,
requires-python, license), and python/ itself into an sdist.
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import time
import zipfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # python/
PACKAGE = "mom"


def _project():
    """The few [project] keys we use, read from pyproject.toml (tomllib is
    not in every supported Python)."""
    with open(os.path.join(HERE, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("[project]", 1)[1].split("\n[", 1)[0]
    meta = {}
    for key in ("name", "version", "description", "requires-python"):
        m = re.search(r'^%s\s*=\s*"([^"]*)"' % re.escape(key), section, re.M)
        if m:
            meta[key] = m.group(1)
    m = re.search(r'^license\s*=\s*\{\s*text\s*=\s*"([^"]*)"', section, re.M)
    if m:
        meta["license"] = m.group(1)
    return meta


def _metadata():
    p = _project()
    lines = [
        "Metadata-Version: 2.1",
        "Name: %s" % p["name"],
        "Version: %s" % p["version"],
        "Summary: %s" % p.get("description", ""),
    ]
    if "license" in p:
        lines.append("License: %s" % p["license"])
    if "requires-python" in p:
        lines.append("Requires-Python: %s" % p["requires-python"])
    readme = os.path.join(HERE, "README.md")
    body = ""
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme, encoding="utf-8") as f:
            body = "\n" + f.read()
    return "\n".join(lines) + "\n" + body


def _dist_info():
    p = _project()
    return "%s-%s.dist-info" % (p["name"], p["version"])


def _wheel_name(tag="py3-none-any"):
    p = _project()
    return "%s-%s-%s.whl" % (p["name"], p["version"], tag)


def _package_files():
    pkg = os.path.join(HERE, PACKAGE)
    for name in sorted(os.listdir(pkg)):
        if name.endswith(".py"):
            yield "%s/%s" % (PACKAGE, name), os.path.join(pkg, name)


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "%s,sha256=%s,%d" % (arcname, digest.decode("ascii"), len(data))


def _write_wheel(path, entries):
    """entries: (arcname, bytes).  Adds WHEEL, METADATA and RECORD."""
    di = _dist_info()
    entries = list(entries) + [
        ("%s/METADATA" % di, _metadata().encode("utf-8")),
        ("%s/WHEEL" % di, ("Wheel-Version: 1.0\nGenerator: mom_build_backend\n"
                           "Root-Is-Purelib: true\nTag: py3-none-any\n").encode("ascii")),
    ]
    record = [_record_line(a, d) for a, d in entries] + ["%s/RECORD,," % di]
    entries.append(("%s/RECORD" % di, ("\n".join(record) + "\n").encode("utf-8")))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, data in entries:
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    di = _dist_info()
    os.makedirs(os.path.join(metadata_directory, di), exist_ok=True)
    with open(os.path.join(metadata_directory, di, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    return di


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    entries = []
    for arcname, path in _package_files():
        with open(path, "rb") as f:
            entries.append((arcname, f.read()))
    name = _wheel_name()
    _write_wheel(os.path.join(wheel_directory, name), entries)
    return name


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """An editable install: a .pth file that puts python/ on sys.path."""
    name = _wheel_name()
    _write_wheel(os.path.join(wheel_directory, name),
                 [("mom_editable.pth", (HERE + "\n").encode("utf-8"))])
    return name


def build_sdist(sdist_directory, config_settings=None):
    p = _project()
    base = "%s-%s" % (p["name"], p["version"])
    name = base + ".tar.gz"
    files = ["pyproject.toml", "README.md", "build_backend/mom_build_backend.py"]
    files += [arc for arc, _ in _package_files()]
    pkg_info = _metadata().encode("utf-8")
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz",
                      format=tarfile.PAX_FORMAT) as tar:
        for rel in files:
            path = os.path.join(HERE, rel)
            if os.path.exists(path):
                tar.add(path, arcname="%s/%s" % (base, rel), recursive=False)
        info = tarfile.TarInfo("%s/PKG-INFO" % base)
        info.size = len(pkg_info)
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(pkg_info))
    return name
