#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Integration test of momd's RPC server, driven the way the original MOM's
clients drive it: Python's standard xmlrpc.client over localhost TCP (as the
original mom-rpcclient does) and over HTTP on a unix socket (as oVirt's
vdsm does), plus raw HTTP for malformed input, another user for the
permission checks, and momctl.

Standard library only.  Prints TAP ("ok N - ...", a final "1..N") and exits
non-zero when a test fails.

Environment: BUILD (default "build") holds momd and momctl; MOM_TEST_MOMD
replaces the momd program (same command line: -c CONFIG), MOM_TEST_MOMCTL
the momctl program.
"""
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import xmlrpc.client

BUILD = os.environ.get("BUILD", "build")
MOMD = os.environ.get("MOM_TEST_MOMD", os.path.join(BUILD, "momd"))
MOMCTL = os.environ.get("MOM_TEST_MOMCTL", os.path.join(BUILD, "momctl"))

# ---- TAP --------------------------------------------------------------------

_count = 0
_failed = 0


def ok(cond, desc, diag=None):
    """Print one TAP line; diag is printed as a comment on failure."""
    global _count, _failed
    _count += 1
    if cond:
        print("ok %d - %s" % (_count, desc))
    else:
        _failed += 1
        print("not ok %d - %s" % (_count, desc))
        if diag is not None:
            for line in str(diag).splitlines()[:30]:
                print("#   " + line)
    sys.stdout.flush()
    return cond


def skip(desc, reason):
    global _count
    _count += 1
    print("ok %d - %s # SKIP %s" % (_count, desc, reason))


def check(desc, fn):
    """Run fn(); ok when it returns a true value (or None without raising).
    Exceptions are failures with their traceback as diagnostics."""
    try:
        r = fn()
        return ok(r is None or bool(r), desc, None if (r is None or r) else "returned %r" % (r,))
    except Exception:
        return ok(False, desc, traceback.format_exc())


# ---- clients ----------------------------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix stream socket, as vdsm's unixrpc module does it:
    the URL's host part is the socket path in base16 (so the Host header
    carries it), the connection goes to the path."""

    def __init__(self, host, timeout=2):
        http.client.HTTPConnection.__init__(self, host, timeout=timeout)
        self.socket_path = base64.b16decode(host.encode()).decode()

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.socket_path)
        self.sock = s


class UnixTransport(xmlrpc.client.Transport):
    def __init__(self, timeout=2):
        xmlrpc.client.Transport.__init__(self)
        self.timeout = timeout

    def make_connection(self, host):
        return UnixHTTPConnection(host, self.timeout)


def unix_proxy(path, timeout=5):
    # vdsm's UnixXmlRpcClient: ServerProxy("http://" + base16(path),
    # transport=..., allow_none=True); the handler is the default /RPC2.
    host = base64.b16encode(path.encode()).decode()
    return xmlrpc.client.ServerProxy("http://" + host, transport=UnixTransport(timeout),
                                     allow_none=True)


def tcp_proxy(port):
    # The original mom-rpcclient: ServerProxy('http://localhost:%i' % port).
    # allow_none lets the client send nil too.
    return xmlrpc.client.ServerProxy("http://localhost:%d" % port, allow_none=True)


def raw_connect(addr, timeout=5):
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(addr)
    return s


def raw_request(addr, data, shut=True, timeout=5):
    """Send raw bytes, read until the server closes (or the timeout).
    Returns the bytes read; b"" when the server closed without a reply."""
    s = raw_connect(addr, timeout)
    out = b""
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if shut:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


def status_of(reply):
    """The HTTP status code of a raw reply, or None when there is none."""
    if not reply.startswith(b"HTTP/1."):
        return None
    try:
        return int(reply.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def body_of(reply):
    return reply.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in reply else b""


def post(path, body, extra=b"", host=b"localhost"):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n"
            b"Content-Type: text/xml\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\n" + extra + b"Connection: close\r\n\r\n" + body)


CALL_PING = xmlrpc.client.dumps((), "ping").encode()

# ---- servers ----------------------------------------------------------------

BIG_SCENARIO = {
    "description": "A host and a guest larger than 2 TiB, so that statistics in KiB pass 2^31.",
    "host": {"memory_mib": 4194304, "swap_mib": 4096, "cpus": 8, "overhead_mib": 1024,
             "ksm_mergeable": 0.1},
    "guests": [
        {"name": "huge", "max_mib": 3145728, "min_mib": 1024, "vcpus": 2,
         "workload": {"type": "constant", "mib": 2048}},
        {"name": "small", "max_mib": 4096, "min_mib": 1024, "vcpus": 2,
         "workload": {"type": "constant", "mib": 1024}},
    ],
}

GOOD_POLICY = "(defvar rpc_test_a 1)"
GOOD_POLICY_2 = "(defvar rpc_test_b 2)"
BAD_POLICY = "(defvar (((  this is not a policy"


class Momd:
    """One momd on the simulated host, serving RPC at rpc_port."""

    def __init__(self, tmp, name, rpc_port, main_extra=""):
        self.tmp = tmp
        self.name = name
        self.rpc_port = rpc_port
        self.conf = os.path.join(tmp, name + ".conf")
        self.logpath = os.path.join(tmp, name + ".log")
        scenario = os.path.join(tmp, "big.json")
        if not os.path.exists(scenario):
            with open(scenario, "w") as f:
                json.dump(BIG_SCENARIO, f)
        with open(self.conf, "w") as f:
            f.write("[main]\nhypervisor-interface: sim\nhost-monitor-interval: 1\n"
                    "guest-monitor-interval: 1\nguest-manager-interval: 1\n"
                    "policy-engine-interval: 1\ncontrollers: Balloon\n"
                    "rpc-port: %s\n%s\n"
                    "[logging]\nlog: stdio\nverbosity: debug\n"
                    "[host]\ncollectors: HostMemory\n"
                    "[guest]\ncollectors: GuestMemory, GuestBalloon\n"
                    "[sim]\nscenario: %s\nseed: 1\nspeed: 1.0\n" % (rpc_port, main_extra, scenario))
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen([MOMD, "-c", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def addr(self):
        return self.rpc_port if isinstance(self.rpc_port, str) else ("127.0.0.1", self.rpc_port)

    def wait_ready(self, timeout=20):
        """Wait until the server accepts connections; False if momd died."""
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                return False
            try:
                raw_connect(self.addr(), 1).close()
                return True
            except OSError:
                time.sleep(0.1)
        return False

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self):
        try:
            with open(self.logpath) as f:
                return "".join(f.readlines()[-20:])
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(fn, timeout=15, interval=0.2):
    end = time.time() + timeout
    while True:
        r = fn()
        if r or time.time() >= end:
            return r
        time.sleep(interval)


# ---- tests ------------------------------------------------------------------


def test_methods(p, transport, srv):
    """The original's methods with their arguments and return shapes."""
    check("%s: ping returns true" % transport, lambda: p.ping() is True)

    def stats_ready():
        s = p.getStatistics()
        return s if s["host"] and len(s["guests"]) == 2 else None

    stats = wait_for(stats_ready)
    ok(stats is not None and set(stats) == {"host", "guests"},
       "%s: getStatistics gives {host, guests} with the host and both guests" % transport,
       srv.log_tail() if stats is None else stats)
    if stats:
        ok(stats["host"].get("mem_available", 0) > 2**31
           and isinstance(stats["host"]["mem_available"], int),
           "%s: host mem_available above 2^31 arrives as an integer (i8)" % transport,
           stats["host"])
        huge = stats["guests"].get("huge", {})
        ok(huge.get("balloon_max") == 3145728 * 1024,
           "%s: guest balloon_max above 2^31 is exact" % transport, huge)
        ok(all(isinstance(k, str) for k in stats["host"]),
           "%s: host fields are named by strings" % transport)
        guests = p.getActiveGuests()
        ok(sorted(guests) == sorted(stats["guests"]),
           "%s: getActiveGuests names the guests of getStatistics" % transport,
           (guests, list(stats["guests"])))
    else:
        for d in ("host mem_available above 2^31", "guest balloon_max above 2^31",
                  "host fields are strings", "getActiveGuests"):
            ok(False, "%s: %s (no statistics)" % (transport, d))

    # Policies: an empty set reads "0"; a bad text is refused and the old
    # policy stays (REFERENCE.md §0); nil clears.
    check("%s: setPolicy(None) empties the set and returns true" % transport,
          lambda: p.setPolicy(None) is True and p.getPolicy() == "0")
    check("%s: setPolicy(good) returns true and getPolicy returns it" % transport,
          lambda: p.setPolicy(GOOD_POLICY) is True and p.getPolicy() == GOOD_POLICY)
    check("%s: setPolicy(bad) returns false and the old policy stays" % transport,
          lambda: p.setPolicy(BAD_POLICY) is False and p.getPolicy() == GOOD_POLICY)
    check("%s: getNamedPolicies holds the policy as 50_main_" % transport,
          lambda: p.getNamedPolicies() == {"50_main_": GOOD_POLICY})

    # Named policies, as vdsm uses them (01-parameters).
    check("%s: setNamedPolicy adds a named policy" % transport,
          lambda: p.setNamedPolicy("01-parameters", GOOD_POLICY_2) is True
          and p.getNamedPolicies() == {"01-parameters": GOOD_POLICY_2, "50_main_": GOOD_POLICY})
    check("%s: getPolicy joins the named policies in name order" % transport,
          lambda: p.getPolicy() == GOOD_POLICY_2 + "\n" + GOOD_POLICY)
    check("%s: setNamedPolicy(bad) returns false and keeps the previous text" % transport,
          lambda: p.setNamedPolicy("01-parameters", BAD_POLICY) is False
          and p.getNamedPolicies()["01-parameters"] == GOOD_POLICY_2)
    check("%s: setNamedPolicy(name, None) deletes it" % transport,
          lambda: p.setNamedPolicy("01-parameters", None) is True
          and p.getNamedPolicies() == {"50_main_": GOOD_POLICY})
    check("%s: setPolicy replaces every named policy" % transport,
          lambda: p.setNamedPolicy("02-x", GOOD_POLICY_2) is True
          and p.setPolicy(GOOD_POLICY) is True
          and p.getNamedPolicies() == {"50_main_": GOOD_POLICY})

    check("%s: setVerbosity returns true" % transport,
          lambda: p.setVerbosity("debug") is True and p.setVerbosity("4") is True)

    methods = p.system.listMethods()
    want = {"ping", "getStatistics", "getActiveGuests", "setPolicy", "setNamedPolicy",
            "getPolicy", "getNamedPolicies", "resetPolicies", "setVerbosity",
            "system.listMethods", "system.methodHelp", "system.methodSignature"}
    ok(want <= set(methods), "%s: system.listMethods lists every method" % transport, methods)
    check("%s: system.methodHelp describes a method" % transport,
          lambda: "polic" in p.system.methodHelp("setPolicy"))

    def fault(fn, words):
        try:
            fn()
        except xmlrpc.client.Fault as f:
            return f.faultCode == 1 and all(w in f.faultString for w in words) or f.faultString
        return "no fault"

    check("%s: unknown method is fault 1, 'not supported'" % transport,
          lambda: fault(lambda: p.noSuchMethod(), ['"noSuchMethod" is not supported']) is True)
    check("%s: too many arguments is a TypeError fault" % transport,
          lambda: fault(lambda: p.ping(1), ["TypeError", "ping()"]) is True)
    check("%s: too few arguments is a TypeError fault" % transport,
          lambda: fault(lambda: p.setNamedPolicy("x"), ["TypeError", "missing"]) is True)
    check("%s: wrong argument type is a TypeError fault" % transport,
          lambda: fault(lambda: p.setPolicy(42), ["TypeError", "int"]) is True
          and fault(lambda: p.setNamedPolicy(1, "x"), ["TypeError"]) is True
          and fault(lambda: p.setVerbosity([1]), ["TypeError", "list"]) is True)


def test_reset(p, transport, expect):
    r = p.resetPolicies()
    ok(r is expect, "%s: resetPolicies returns %r" % (transport, expect), r)


def test_http_errors(srv, transport, path):
    """Malformed HTTP and XML: an HTTP error or a fault, and the server
    lives on."""
    a = srv.addr()
    cases = []

    r = raw_request(a, b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    cases.append(("GET is 501", status_of(r) == 501, r[:200]))
    r = raw_request(a, post(b"/nowhere", CALL_PING))
    cases.append(("a wrong path is 404", status_of(r) == 404, r[:200]))
    if transport == "tcp":
        r = raw_request(a, post(b"/", CALL_PING))
        cases.append(("TCP serves /RPC2 only: / is 404", status_of(r) == 404, r[:200]))
    else:
        r = raw_request(a, post(b"/", CALL_PING))
        cases.append(("the unix socket serves / too", status_of(r) == 200
                      and b"<boolean>1</boolean>" in r, r[:300]))
    r = raw_request(a, b"POST " + path + b" HTTP/1.1\r\nHost: local")
    cases.append(("truncated headers get no 200", status_of(r) != 200, r[:200]))
    r = raw_request(a, b"BLAH\r\n\r\n")
    cases.append(("a garbage request line is refused", status_of(r) in (None, 400, 501, 505),
                  r[:200]))
    r = raw_request(a, b"POST " + path + b" HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000"
                    b"\r\n\r\n<?xml version='1.0'?><methodCall>")
    cases.append(("a truncated body gets no 200", status_of(r) != 200, r[:200]))
    r = raw_request(a, b"POST " + path + b" HTTP/1.1\r\nHost: localhost\r\n"
                    b"Content-Length: 100000000\r\n\r\n" + b"x" * 1000)
    cases.append(("an oversize Content-Length is 413", status_of(r) == 413, r[:200]))

    # A chunked body past the limit: refused (413) or the connection closed.
    chunk = b"x" * 65536
    data = (b"POST " + path + b" HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
            + (b"10000\r\n" + chunk + b"\r\n") * 80 + b"0\r\n\r\n")
    r = raw_request(a, data, timeout=10)
    cases.append(("an oversize chunked body is refused", status_of(r) in (None, 413), r[:200]))

    many = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    r = raw_request(a, post(path, CALL_PING, extra=many))
    cases.append(("200 headers are refused", status_of(r) is None or status_of(r) >= 400,
                  r[:200]))
    r = raw_request(a, post(path, CALL_PING, extra=b"X-Long: " + b"y" * 200000 + b"\r\n"))
    cases.append(("a 200 KB header is refused", status_of(r) is None or status_of(r) >= 400,
                  r[:200]))
    r = raw_request(a, post(path, CALL_PING, extra=b"Content-Encoding: gzip\r\n"))
    cases.append(("an unknown Content-Encoding is 415", status_of(r) == 415, r[:200]))

    def fault_reply(body):
        r = raw_request(a, post(path, body))
        if status_of(r) != 200:
            return r[:200]
        try:
            xmlrpc.client.loads(body_of(r))
        except xmlrpc.client.Fault as f:
            return f.faultCode == 1 or f
        except Exception as e:
            return "unparsable reply: %r %r" % (e, body_of(r)[:200])
        return "no fault: %r" % body_of(r)[:200]

    bad_docs = [
        ("invalid XML", b"<methodCall><methodName>ping</methodName"),
        ("not XML at all", b"\x00\x01\x02 hello"),
        ("an empty body", b""),
        ("a wrong root element", b"<?xml version='1.0'?><methodResponse/>"),
        ("a call without a method name", b"<methodCall><params/></methodCall>"),
        ("a bad int", b"<methodCall><methodName>setVerbosity</methodName><params><param>"
                      b"<value><int>12abc</int></value></param></params></methodCall>"),
        ("an int beyond 64 bits", b"<methodCall><methodName>setVerbosity</methodName><params>"
                                  b"<param><value><i8>99999999999999999999999</i8></value></param>"
                                  b"</params></methodCall>"),
        ("an unknown value type", b"<methodCall><methodName>ping</methodName><params><param>"
                                  b"<value><blob>1</blob></value></param></params></methodCall>"),
        ("a document type with entities",
         b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
         b"<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]>"
         b"<methodCall><methodName>setPolicy</methodName><params><param><value>"
         b"<string>&lol2;</string></value></param></params></methodCall>"),
        ("an external entity", b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM "
                               b"'file:///etc/passwd'>]><methodCall><methodName>&e;</methodName>"
                               b"</methodCall>"),
        ("values nested 5000 deep", b"<methodCall><methodName>setPolicy</methodName><params>"
                                    b"<param>" + b"<value><array><data>" * 5000 +
                                    b"</data></array></value>" * 5000 + b"</param></params>"
                                    b"</methodCall>"),
    ]
    for name, doc in bad_docs:
        r = fault_reply(doc)
        cases.append(("%s is a fault" % name, r is True, r))

    for name, good, diag in cases:
        ok(good, "%s: %s" % (transport, name), diag)
    ok(srv.alive() and tcp_or_unix_ping(srv),
       "%s: the server still answers after the malformed input" % transport, srv.log_tail())


def tcp_or_unix_ping(srv):
    p = unix_proxy(srv.rpc_port) if isinstance(srv.rpc_port, str) else tcp_proxy(srv.rpc_port)
    try:
        return p.ping() is True
    except Exception:
        return False


def test_extension_types(srv, transport, path):
    """Requests with the extension types that clients send: ex:nil, ex:i8,
    i4, base64, bare text."""
    a = srv.addr()

    def call(body):
        r = raw_request(a, post(path, body))
        return xmlrpc.client.loads(body_of(r), use_builtin_types=True)[0][0]

    ex = b' xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions"'
    check("%s: setNamedPolicy with <ex:nil/> deletes" % transport,
          lambda: call(b"<methodCall" + ex + b"><methodName>setNamedPolicy</methodName><params>"
                       b"<param><value>zz</value></param><param><value><ex:nil/></value></param>"
                       b"</params></methodCall>") is True)
    check("%s: setVerbosity with <ex:i8> and <i4> is accepted" % transport,
          lambda: call(b"<methodCall" + ex + b"><methodName>setVerbosity</methodName><params>"
                       b"<param><value><ex:i8>4</ex:i8></value></param></params></methodCall>")
          is True
          and call(b"<methodCall><methodName>setVerbosity</methodName><params><param><value>"
                   b"<i4>4</i4></value></param></params></methodCall>") is True)
    b64 = base64.b64encode(GOOD_POLICY.encode())
    check("%s: setPolicy with <base64> text" % transport,
          lambda: call(b"<methodCall><methodName>setPolicy</methodName><params><param><value>"
                       b"<base64>" + b64 + b"</base64></value></param></params></methodCall>")
          is True and call(xmlrpc.client.dumps((), "getPolicy").encode()) == GOOD_POLICY)


def test_concurrency(srv, transport, make_proxy):
    """Ten clients call getStatistics in a loop while the policy is
    replaced again and again."""
    stop = threading.Event()
    errors = []
    counts = [0] * 10

    def worker(i):
        p = make_proxy()
        while not stop.is_set():
            try:
                s = p.getStatistics()
                if set(s) != {"host", "guests"}:
                    errors.append("bad shape %r" % (s,))
                counts[i] += 1
            except Exception as e:
                errors.append(repr(e))
                return

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    p = make_proxy()
    replaced = 0
    end = time.time() + 3
    try:
        while time.time() < end:
            text = GOOD_POLICY if replaced % 2 else GOOD_POLICY_2
            if p.setPolicy(text) is not True or p.getPolicy() != text:
                errors.append("policy replacement %d failed" % replaced)
            p.setNamedPolicy("01-parameters", BAD_POLICY if replaced % 3 == 0 else None)
            replaced += 1
    except Exception as e:
        errors.append("writer: %r" % e)
    stop.set()
    for t in threads:
        t.join(30)
    ok(not errors and all(c > 0 for c in counts) and replaced > 5,
       "%s: 10 clients read statistics while the policy is replaced %d times (%d reads)"
       % (transport, replaced, sum(counts)), errors[:5] or counts)


def test_slow_client(srv, transport, path, make_proxy):
    """A client that stops in the middle of its headers, and one that
    trickles its body, do not hold up the others."""
    a = srv.addr()
    stuck = raw_connect(a)
    stuck.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: localhost\r\n")
    slow = raw_connect(a)
    slow.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: localhost\r\nContent-Length: 500\r\n\r\n<m")
    try:
        t0 = time.time()
        n = 0
        p = make_proxy()
        while n < 20:
            p.ping()
            n += 1
        dt = time.time() - t0
        ok(dt < 3, "%s: 20 pings take %.2f s while two clients stall" % (transport, dt))
    except Exception:
        ok(False, "%s: pings while two clients stall" % transport, traceback.format_exc())
    finally:
        stuck.close()
        slow.close()


def test_socket_file(srv, group):
    st = os.stat(srv.rpc_port)
    ok(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660,
       "unix: the socket has mode 0660", oct(st.st_mode))
    ok(st.st_gid == group, "unix: the socket belongs to rpc-socket-group %d" % group, st.st_gid)


NOBODY_CLIENT = r"""
import sys, socket, http.client, xmlrpc.client
class C(http.client.HTTPConnection):
    def __init__(self, path):
        http.client.HTTPConnection.__init__(self, "localhost", timeout=5)
        self.p = path
    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.p)
        self.sock = s
class T(xmlrpc.client.Transport):
    def make_connection(self, host):
        return C(sys.argv[1])
try:
    r = xmlrpc.client.ServerProxy("http://localhost", transport=T(), allow_none=True).ping()
    print("ALLOWED %r" % r)
except xmlrpc.client.ProtocolError as e:
    print("REFUSED http %d" % e.errcode)
except OSError as e:
    print("REFUSED %s" % e)
except Exception as e:
    print("REFUSED %r" % e)
"""


def as_nobody(path, groups):
    """Run the vdsm-style client as uid/gid 65534 with the given
    supplementary groups; returns its output line."""
    setpriv = shutil.which("setpriv")
    cmd = [setpriv, "--reuid=65534", "--regid=65534"]
    cmd += ["--groups=" + ",".join(str(g) for g in groups)] if groups else ["--clear-groups"]
    cmd += [sys.executable, "-c", NOBODY_CLIENT, path]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    return r.stdout.decode(errors="replace").strip()


def test_permissions(tmp, group):
    if os.geteuid() != 0:
        for d in ("another user is refused by the socket mode",
                  "another user is refused by the peer check (403)",
                  "a member of rpc-socket-group is let in"):
            skip("unix: " + d, "needs root")
        return
    if not shutil.which("setpriv"):
        for d in ("another user", "peer check", "group member"):
            skip("unix: " + d, "setpriv is missing")
        return
    sock = os.path.join(tmp, "perm.sock")
    srv = Momd(tmp, "perm", sock, "rpc-socket-group: %d\nrpc-allow-uids: 0" % group)
    try:
        if not ok(srv.wait_ready(), "unix: momd with rpc-socket-group %d starts" % group,
                  srv.log_tail()):
            return
        out = as_nobody(sock, [])
        ok(out.startswith("REFUSED"), "unix: another user is refused by the socket mode", out)
        os.chmod(sock, 0o666)
        out = as_nobody(sock, [])
        ok(out.startswith("REFUSED http 403"),
           "unix: another user is refused by the peer check (403)", out)
        os.chmod(sock, 0o660)
        out = as_nobody(sock, [group])
        ok(out == "ALLOWED True", "unix: a member of rpc-socket-group is let in", out)
    finally:
        srv.stop()


def momctl(args, timeout=30):
    r = subprocess.run([MOMCTL] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def test_momctl(unix_srv, tcp_srv, tmp):
    if not os.access(MOMCTL, os.X_OK):
        skip("momctl", "%s is not built" % MOMCTL)
        return
    sock = ["--socket", unix_srv.rpc_port]
    port = ["--port", str(tcp_srv.rpc_port)]
    rc, out, err = momctl(["ping"] + sock)
    ok(rc == 0 and out == "OK\n", "momctl ping --socket prints OK", (rc, out, err))
    rc, out, err = momctl(["ping"] + port)
    ok(rc == 0 and out == "OK\n", "momctl ping --port prints OK", (rc, out, err))
    rc, out, err = momctl(["stats"] + sock)
    lines = out.splitlines()
    ok(rc == 0 and lines and lines[0] == "Host:" and "Guest huge:" in lines
       and any(l.split(":")[0].strip() == "mem_available" for l in lines),
       "momctl stats prints a Host: block and Guest NAME: blocks", (rc, out[:500], err))
    host_lines = []
    for l in lines[1:]:
        if not l.startswith(" "):
            break
        host_lines.append(l)
    cols = {l.index(":") + len(l[l.index(":") + 1:]) - len(l[l.index(":") + 1:].lstrip())
            for l in host_lines if ":" in l}
    ok(len(host_lines) > 3 and len(cols) == 1, "momctl stats aligns the values",
       host_lines[:5])
    rc, out, err = momctl(["stats", "--json"] + port)
    try:
        js = json.loads(out)
        good = rc == 0 and js["host"]["mem_available"] > 2**31 and "huge" in js["guests"]
    except Exception as e:
        good, js = False, (rc, out[:300], err, e)
    ok(good, "momctl stats --json prints the statistics as JSON", None if good else js)
    rc, out, err = momctl(["guests"] + sock)
    ok(rc == 0 and sorted(out.split()) == ["huge", "small"], "momctl guests: one per line",
       (rc, out, err))
    pfile = os.path.join(tmp, "p.policy")
    with open(pfile, "w") as f:
        f.write(GOOD_POLICY_2)
    rc, out, err = momctl(["policy", "set", pfile] + sock)
    rc2, out2, err2 = momctl(["policy", "get"] + sock)
    ok(rc == 0 and rc2 == 0 and out2.rstrip("\n") == GOOD_POLICY_2,
       "momctl policy set FILE, then policy get", (rc, err, rc2, out2, err2))
    with open(pfile, "w") as f:
        f.write(BAD_POLICY)
    rc, out, err = momctl(["policy", "set", pfile] + sock)
    rc2, out2, _ = momctl(["policy", "get"] + sock)
    ok(rc == 1 and "Command 'policy set' failed" in err and out2.rstrip("\n") == GOOD_POLICY_2,
       "momctl policy set with a bad policy fails with exit 1, old policy stays",
       (rc, out, err, out2))
    with open(pfile, "w") as f:
        f.write(GOOD_POLICY)
    rc, out, err = momctl(["policy", "set-named", "01-parameters", pfile] + sock)
    rc2, out2, _ = momctl(["policy", "list", "--json"] + sock)
    try:
        named = json.loads(out2)
    except ValueError:
        named = out2
    ok(rc == 0 and named == {"01-parameters": GOOD_POLICY, "50_main_": GOOD_POLICY_2},
       "momctl policy set-named and policy list --json", (rc, err, named))
    rc, out, err = momctl(["policy", "list"] + sock)
    ok(rc == 0 and out.split() == ["01-parameters", "50_main_"], "momctl policy list: names",
       (rc, out, err))
    rc, out, err = momctl(["policy", "set-named", "01-parameters", "--delete"] + sock)
    rc2, out2, _ = momctl(["policy", "list"] + sock)
    ok(rc == 0 and out2.split() == ["50_main_"], "momctl policy set-named NAME --delete",
       (rc, out, err, out2))
    rc, out, err = momctl(["policy", "reset"] + port)
    ok(rc == 1 and "Command 'policy reset' failed" in err,
       "momctl policy reset without policy or policy-dir fails (nil)", (rc, out, err))
    rc, out, err = momctl(["verbosity", "debug"] + sock)
    ok(rc == 0, "momctl verbosity debug", (rc, out, err))
    rc, out, err = momctl(["verbosity", "loud"] + sock)
    ok(rc == 2, "momctl verbosity with an unknown level is a usage error", (rc, out, err))
    rc, out, err = momctl(["ping", "--socket", os.path.join(tmp, "nothing.sock")])
    ok(rc == 1 and err.startswith("Command 'ping' failed:"),
       "momctl ping on a missing socket: 'Command ... failed', exit 1", (rc, out, err))
    rc, out, err = momctl(["ping", "--port", "x"])
    ok(rc == 2, "momctl ping --port x is a usage error", (rc, out, err))
    rc, out, err = momctl(["ping", "--json"] + sock)
    ok(rc == 0 and out.strip() == "true", "momctl ping --json prints true", (rc, out, err))
    rc, out, err = momctl(["policy", "--help"])
    ok(rc == 0 and "momd" in out and "get" in out and "check" in out,
       "momctl policy --help lists local and momd subcommands", (rc, out, err))


def main():
    if not os.access(MOMD, os.X_OK):
        print("1..0 # SKIP %s is not built" % MOMD)
        return 0
    tmp = tempfile.mkdtemp(prefix="mom-rpc-test-")
    os.chmod(tmp, 0o755)
    servers = []
    try:
        # The unix socket server, vdsm style, with a policy-dir so that
        # resetPolicies has something to reload; a stale socket file is
        # in the way at start-up.
        pdir = os.path.join(tmp, "policies")
        os.mkdir(pdir)
        with open(os.path.join(pdir, "10_base.policy"), "w") as f:
            f.write(GOOD_POLICY + "\n")
        sock = os.path.join(tmp, "mom.sock")
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(sock)
        stale.close()
        group = os.getgid()
        unix_srv = Momd(tmp, "unix", sock, "policy-dir: %s\nrpc-socket-group: %d" % (pdir, group))
        servers.append(unix_srv)
        port = free_port()
        tcp_srv = Momd(tmp, "tcp", port)
        servers.append(tcp_srv)

        u_ready = unix_srv.wait_ready()
        ok(u_ready, "momd serves RPC on a unix socket (a stale socket file replaced)",
           unix_srv.log_tail())
        t_ready = tcp_srv.wait_ready()
        ok(t_ready, "momd serves RPC on 127.0.0.1:%d" % port, tcp_srv.log_tail())

        if t_ready:
            tp = tcp_proxy(port)
            test_methods(tp, "tcp", tcp_srv)
            test_reset(tp, "tcp", None)
            test_extension_types(tcp_srv, "tcp", b"/RPC2")
            test_http_errors(tcp_srv, "tcp", b"/RPC2")
            test_concurrency(tcp_srv, "tcp", lambda: tcp_proxy(port))
            test_slow_client(tcp_srv, "tcp", b"/RPC2", lambda: tcp_proxy(port))
        if u_ready:
            up = unix_proxy(sock)
            test_socket_file(unix_srv, group)
            test_methods(up, "unix", unix_srv)
            check("unix: resetPolicies reloads policy-dir",
                  lambda: up.setPolicy(GOOD_POLICY_2) is True and up.resetPolicies() is True
                  and up.getNamedPolicies() == {"10_base": GOOD_POLICY + "\n"})
            test_extension_types(unix_srv, "unix", b"/")
            test_http_errors(unix_srv, "unix", b"/RPC2")
            test_concurrency(unix_srv, "unix", lambda: unix_proxy(sock))
            test_slow_client(unix_srv, "unix", b"/", lambda: unix_proxy(sock))
        if u_ready and t_ready:
            test_momctl(unix_srv, tcp_srv, tmp)
        test_permissions(tmp, 4242)

        for s in servers:
            alive = s.alive()
            rc = s.stop()
            ok(alive and rc == 0, "%s: momd was alive at the end and stopped cleanly" % s.name,
               (alive, rc, s.log_tail()))
        ok(not os.path.exists(sock), "unix: the socket file is removed at stop")
    finally:
        for s in servers:
            if s.proc.poll() is None:
                s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % _count)
    return 1 if _failed else 0


if __name__ == "__main__":
    sys.exit(main())
