# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Who reaches the balancer-manager, beyond addresses and passwords
(test_manager.py): the page on a Listen of its own (<VirtualHost>), the
client's host name (Require host), and access checks that take long
(a host name lookup, a bcrypt hash) made while kbald goes on serving."""

import os
import select
import shutil
import socket
import tempfile
import threading

from kbaltest import EXAMPLE_CONF, Conn, Env, check, eq, run_kbald

MANAGER_LOC = "<Location /balancer-manager>\n    SetHandler balancer-manager\n"
MANAGER_BLOCK = MANAGER_LOC + "</Location>\n"

# the docs' recommendation (configuration.md): the page on an address of
# its own, which the server's listener does not serve
OWN_LISTENER = EXAMPLE_CONF.replace(MANAGER_BLOCK, """\
Listen 127.0.0.1:{b3}
<VirtualHost 127.0.0.1:{b3}>
    ServerName admin.test
    <Location /balancer-manager>
        SetHandler balancer-manager
        Require ip 127.0.0.1
    </Location>
</VirtualHost>
""")


def test_manager_on_a_listener_of_its_own():
    check(MANAGER_BLOCK in EXAMPLE_CONF and "<VirtualHost" in OWN_LISTENER, "config not made")
    with Env(conf=OWN_LISTENER) as env:
        admin = env.ports["b3"]
        rc, out = run_kbald(["-t", "-f", env.conf_path])
        eq((rc, "warn" in out.lower()), (0, False), "kbald -t:\n" + out)
        # the public listener: excluded from proxying, no handler: 404
        with env.connect() as c:
            eq(c.get("/balancer-manager").status, 404, "the manager on the public listener")
            # and on a connection the kernel carried: handed back, the same
            c.get("/k1", cookie="ROUTEID=route.1")
            c.get("/k2", cookie="ROUTEID=route.1")
            eq(c.get("/balancer-manager").status, 404, "on a spliced public connection")
        # its own listener: the page, under its access rules
        with Conn(admin) as c:
            r = c.get("/balancer-manager")
            eq(r.status, 200, "the manager on its listener")
            check("mycluster" in r.text, "the page: %r" % r.text[:200])
            # the server's ProxyPass rules apply there too (httpd inherits them)
            r = c.get("/app")
            check(r.status == 200 and r.header("X-Backend") in ("WAS1", "WAS2"),
                  "a proxied path on the manager's listener: %r" % r)
        with Conn(admin, source="127.0.0.2") as c:
            eq(c.get("/balancer-manager").status, 403, "from 127.0.0.2 on its listener")
        eq([l for l in env.backend_log(1) + env.backend_log(2) if "manager" in l], [],
           "requests for the manager that reached a member")


# ---- the client's name: a resolver of the test's own -------------------------

class Resolver:
    """kbald in a mount namespace of its own whose /etc/hosts,
    /etc/nsswitch.conf and /etc/resolv.conf are the test's: names come
    from hosts, else from a DNS server at 127.0.0.77:53 that answers
    nothing (NXDOMAIN) until release(), so that a lookup can be held."""

    DNS = "127.0.0.77"

    def __init__(self, hosts):
        self.dir = tempfile.mkdtemp(prefix="kbal-resolv-")
        files = {"hosts": hosts, "nsswitch.conf": "hosts: files dns\n",
                 "resolv.conf": "nameserver %s\noptions timeout:20 attempts:1\n" % self.DNS}
        for name, text in files.items():
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.DNS, 53))
        self.released = threading.Event()
        self.stopping = False
        self.queries = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def wrap(self):
        """kbald_wrap: unshare execs sh, which execs kbald (one PID)."""
        script = ('mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/nsswitch.conf && '
                  'mount --bind "$3" /etc/resolv.conf && shift 3 && exec "$@"')
        return (["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script,
                 "sh"] + [os.path.join(self.dir, n) for n in
                          ("hosts", "nsswitch.conf", "resolv.conf")])

    def _serve(self):
        held = []
        while not self.stopping:
            ready, _, _ = select.select([self.sock], [], [], 0.05)
            if ready:
                data, peer = self.sock.recvfrom(4096)
                self.queries.append(data)
                held.append((data, peer))
            if self.released.is_set():
                for data, peer in held:
                    self.sock.sendto(nxdomain(data), peer)
                held = []

    def release(self):
        self.released.set()

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def nxdomain(query):
    """The answer "no such name" to a DNS query: its id and question."""
    i = 12
    while i < len(query) and query[i]:
        i += 1 + query[i]
    question = query[12:i + 5]
    flags = bytes([0x80 | (query[2] & 0x79), 0x83])   # QR, opcode, RD; RA, NXDOMAIN
    return query[:2] + flags + b"\x00\x01\x00\x00\x00\x00\x00\x00" + question


def host_conf(rules):
    return EXAMPLE_CONF.replace(MANAGER_LOC, MANAGER_LOC + rules)


def test_manager_require_host():
    # httpd's Require host: the client's name by a double-reverse lookup,
    # matched whole or as a domain
    res = Resolver("127.0.0.1 localhost\n127.0.0.5 admin.kbal.test\n127.0.0.9 other.example\n")
    res.release()
    try:
        with Env(conf=host_conf("Require host kbal.test\n"), kbald_wrap=res.wrap()) as env:
            for source, want in (("127.0.0.5", 200), ("127.0.0.9", 403), ("127.0.0.1", 403),
                                 ("127.0.0.8", 403)):
                with env.connect(source=source) as c:
                    eq(c.get("/balancer-manager").status, want, "Require host from %s" % source)
            log = env.kbald_stderr()
            for want in ("127.0.0.9 (other.example) refused", "127.0.0.8 (no host name) refused"):
                check(want in log, "kbald's log does not say %r:\n%s" % (want, log))
    finally:
        res.close()


def test_allow_from_host_names():
    # mod_access_compat's Allow/Deny from NAME: the client's name by a
    # double-reverse lookup, as Require host; on the manager and on a
    # proxied path alike (kbald checks each request there: the kernel
    # keeps none of a connection whose rules need a name)
    res = Resolver("127.0.0.1 localhost\n127.0.0.5 admin.kbal.test\n127.0.0.9 other.example\n")
    res.release()
    rules = "Order deny,allow\nDeny from all\nAllow from kbal.test\n"
    conf = host_conf(rules) + "<Location /app>\n" + rules + "</Location>\n"
    try:
        with Env(conf=conf, kbald_wrap=res.wrap()) as env:
            for source, want in (("127.0.0.5", 200), ("127.0.0.9", 403), ("127.0.0.8", 403)):
                with env.connect(source=source) as c:
                    eq(c.get("/balancer-manager").status, want, "the manager from %s" % source)
                    for i in range(3):
                        eq(c.get("/app/%d" % i).status, want, "/app/%d from %s" % (i, source))
                        eq(c.get("/other/%d" % i).status, 200, "/other/%d from %s" % (i, source))
            eq(env.stats()["kept"], 0, "requests the kernel kept")
    finally:
        res.close()


def test_manager_access_check_does_not_stop_kbald():
    # a host name lookup that takes long (here: held by the test's DNS
    # server) is made off kbald's loop: proxied requests go on meanwhile,
    # and the manager's answer comes when the lookup ends
    res = Resolver("127.0.0.1 localhost\n")
    try:
        with Env(conf=host_conf("Require host kbal.test\n").replace(
                 "ProxyRequests Off", "ProxyRequests Off\nTimeout 2"),
                 kbald_wrap=res.wrap()) as env:
            with env.connect(source="127.0.0.8") as waiting:
                waiting.request("GET", "/balancer-manager")
                ok = False
                for _ in range(500):
                    if res.queries:
                        ok = True
                        break
                    select.select([], [], [], 0.01)
                check(ok, "kbald asked no name of the DNS server")
                for i in range(5):
                    with env.connect() as c:
                        r = c.get("/app%d" % i)
                        eq(r.status, 200, "a proxied request while the lookup is out")
                ready, _, _ = select.select([waiting.sock], [], [], 0)
                eq(ready, [], "the manager answered before its lookup ended")
                res.release()
                eq(waiting.read_response().status, 403, "after the lookup found no name")
            # a lookup longer than Timeout: 503, and kbald says why
            res.released.clear()
            with env.connect(source="127.0.0.8", timeout=20) as c:
                eq(c.get("/balancer-manager").status, 503, "a lookup longer than Timeout")
            check("took longer than Timeout" in env.kbald_stderr(), "the log says why")
            res.release()
    finally:
        res.close()
