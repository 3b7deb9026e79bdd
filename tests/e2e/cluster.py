# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""cluster - several kbal hosts behind one address, in network namespaces
(docs/scale-out.md): a router that learns the service address over BGP from
each host and spreads flows over them by equal-cost multipath.

    client  10.90.0.2, sources 100.64.1.1-N and 100.64.2.1-N
       |
    router  10.90.0.1 ... BIRD 2 (BGP, AS 65000); kbal-nhsync
       |    10.90.1.1 on a bridge: one segment with the kbal hosts, as
       |    behind a top-of-rack switch (the second chance sends a packet
       |    from host to host on it)
    ---+-------------+-------------+-----
    kbal1 10.90.1.11  kbal2 .1.12   kbal3 .1.13  (AS 65001 each; VIP 10.99.0.1 on lo)
       kbald (one configuration for all, KbalHost 1..3 naming them) + ExaBGP,
       its healthcheck running `kbalctl host check`: announces
       10.99.0.1/32 while the check passes
       |
    member1 10.91.1.2:8080 (route=1), member2 10.91.2.2:8080 (route=2),
    behind the router too: kbald reaches them from its host's own address

The router has two views of the same BGP routes:
  table 100   BIRD's kernel protocol exports the multipath route there
              (RTA_MULTIPATH, hash threshold): sources 100.64.2.0/24 use it
              (`ip rule from 100.64.2.0/24 lookup 100`): "plain"
  main        kbal-nhsync mirrors table 100's next hops into a resilient
              next-hop group (`nhid 100`): sources 100.64.1.0/24: "resilient"
Flows hash on their 4-tuple (fib_multipath_hash_policy 1) in both.

Every process (bird, kbal-nhsync, kbald, exabgp and its healthcheck,
kbal-backend) is stopped by PID and every namespace deleted by close(),
which the with block runs on any exit, and the runner's reap_leftovers()
after a test that forgot (a Cluster is one of kbaltest.LIVE_TOPOS).
"""

import contextlib
import ctypes
import itertools
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import kbaltest
from kbaltest import (BACKEND, BPFFS, EXAMPLE_CONF, KBALCTL, KBALD, NETNS_DIR, Conn, check,
                      stop_proc)

VIP = "10.99.0.1"
PORT = 80
ROUTER = "10.90.1.1"     # the router on the hosts' segment
TABLE_PLAIN = 100
GROUP = 100
NHSYNC = os.path.join(kbaltest.ROOT, "tools", "cluster", "kbal-nhsync")
BIRD = "/usr/sbin/bird"
EXABGP = "/usr/sbin/exabgp"
_seq = itertools.count()

# Apache's example, served on the VIP, its members behind the router: the
# same text on every host, so route.N names the same member everywhere
# (KeepAliveTimeout: the tests hold connections idle across route changes)
CONF = EXAMPLE_CONF.replace("Listen 127.0.0.1:{listen}",
                            "Listen %s:%d\nKeepAliveTimeout 60" % (VIP, PORT)) \
    .replace("http://127.0.0.1:{b1}", "http://10.91.1.2:8080") \
    .replace("http://127.0.0.1:{b2}", "http://10.91.2.2:8080")
# the same with KbalSplice packet and one member (route=1), so that
# keep-alive connections join (kbaltest.packet_alike()), and the hosts
# named by id (KbalHost): joined flows carry their host's id to the client
PACKET_CONF = kbaltest.packet_alike(CONF)

BIRD_CONF = """\
log "{log}" all;
router id 10.90.0.1;
protocol device {{ scan time 1; }}
# the multipath route, as BIRD installs it, into table {table}
protocol kernel kplain {{
	ipv4 {{ import none; export all; }};
	kernel table {table};
	merge paths yes;
}}
template bgp kbalhost {{
	local as 65000;
	hold time {hold};
	keepalive time 1;
	connect retry time 1;
	error wait time 1, 2;
	ipv4 {{ import all; export none; }};
}}
"""

EXABGP_CONF = """\
process kbal-health {{
	run {python} -m exabgp healthcheck --no-syslog --name kbal{i} --cmd "{kbalctl} --pin-dir {pin} host check" --interval {interval} --fast-interval {interval} --rise 1 --fall 1 --timeout 2 --withdraw-on-down --no-ip-setup --ip {vip}/32;
	encoder text;
}}
neighbor {router} {{
	router-id {addr};
	local-address {addr};
	local-as 65001;
	peer-as 65000;
	hold-time {hold};
	api {{ processes [ kbal-health ]; }}
}}
"""


def host_addr(i):
    return "10.90.1.%d" % (10 + i)


def host_of(addr):
    """The kbal host number of a host's address (10.90.1.11: 1)."""
    return int(addr.split(".")[3]) - 10


def host_lines(n):
    """KbalHost lines naming hosts 1..n, as every host's configuration has them."""
    return "".join("KbalHost %d %s\n" % (i, host_addr(i)) for i in range(1, n + 1))


def _tcp_tsecr(frame):
    """((source address, port), TSecr) of a data packet to VIP:PORT in an
    Ethernet frame, else (None, None)."""
    ip = frame[14:]
    if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
        return None, None
    ihl = (ip[0] & 15) * 4
    tcp = ip[ihl:]
    if socket.inet_ntoa(ip[16:20]) != VIP or len(tcp) < 20 or \
            int.from_bytes(tcp[2:4], "big") != PORT:
        return None, None
    doff = (tcp[12] >> 4) * 4
    if int.from_bytes(ip[2:4], "big") - ihl - doff <= 0:
        return None, None
    i, ecr = 20, None
    while i < doff and tcp[i] != 0:
        if tcp[i] == 1:
            i += 1
            continue
        if tcp[i] == 8 and i + 10 <= doff:
            ecr = int.from_bytes(tcp[i + 6:i + 10], "big")
        i += max(tcp[i + 1], 2)
    return (socket.inet_ntoa(ip[12:16]), int.from_bytes(tcp[0:2], "big")), ecr


class Cluster(kbaltest.Built):
    """hosts kbal hosts, two members, a router and a client (above).
    hold: the BGP hold time (s); interval: the healthcheck's (s);
    idle_timer, buckets: the resilient group's; nsrc: client addresses
    per kind; drained: hosts whose kbald starts drained (not announced)."""
    what = "cluster"


    def __init__(self, hosts=3, hold=3, interval=0.5, idle_timer=10, buckets=64, nsrc=16,
                 drained=(), timeout=10.0, conf=CONF):
        self.nhosts = hosts
        self.hold = hold
        self.interval = interval
        self.idle_timer = idle_timer
        self.buckets = buckets
        self.nsrc = nsrc
        self.start_drained = set(drained)
        self.timeout = timeout
        self.conf = conf
        seq = next(_seq)
        self.tag = "kbt%d-%dk" % (os.getpid(), seq)      # Topo.stray_namespaces' prefix
        self.devtag = "kc%x%d" % (os.getpid() & 0xffff, seq % 10)
        self.made_ns = []
        self.procs = {}           # name -> Popen
        self.pin = {i: "%s/kbal-c%d-%d-h%d" % (BPFFS, os.getpid(), seq, i)
                    for i in range(1, hosts + 1)}
        self.dir = None
        self.killed = set()       # hosts whose kbald was SIGKILLed: its pins stay

    # -- names --

    def ns(self, name):
        """client, router, kbal1.., member1, member2"""
        return self.tag + name

    def ns_path(self, name):
        return os.path.join(NETNS_DIR, self.ns(name))

    def namespaces(self):
        return list(self.made_ns)

    def sources(self, kind):
        """The client's addresses whose flows the router hashes with the
        resilient group ("resilient") or BIRD's own route ("plain")."""
        net = 1 if kind == "resilient" else 2
        return ["100.64.%d.%d" % (net, n) for n in range(1, self.nsrc + 1)]

    # -- commands --

    def _argv(self, name, argv):
        return ["nsenter", "--net=" + self.ns_path(name), "--"] + [str(a) for a in argv]

    def sh(self, name, *argv, check_rc=True):
        return kbaltest._run_cmd(self._argv(name, argv), self.timeout, check_rc=check_rc)

    def _spawn(self, key, name, argv, env=None, log=None):
        out = open(os.path.join(self.dir, (log or key) + ".log"), "ab")
        proc = subprocess.Popen(self._argv(name, argv), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
        out.close()
        kbaltest.LIVE_PROCS.append(proc)
        self.procs[key] = proc
        return proc

    def log(self, key):
        try:
            with open(os.path.join(self.dir, key + ".log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def kbalctl(self, i, *args, check_rc=True):
        p = subprocess.run([KBALCTL, "--pin-dir", self.pin[i]] + [str(a) for a in args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        if check_rc:
            check(p.returncode == 0, "kbalctl (kbal%d) %s: status %d: %s%s" % (
                i, " ".join(map(str, args)), p.returncode, p.stdout.decode(),
                p.stderr.decode().strip()))
        return p.returncode, p.stdout.decode()

    # -- set up (kbaltest.Built) --

    def _link(self, a, b, a_addr, b_addr, dev_a, dev_b):
        """A veth pair between namespaces a and b, addresses /24."""
        kbaltest._run_cmd(["ip", "link", "add", dev_a, "netns", self.ns(a), "type", "veth",
                           "peer", "name", dev_b, "netns", self.ns(b)], self.timeout)
        self.sh(a, "ip", "addr", "add", a_addr + "/24", "dev", dev_a)
        self.sh(b, "ip", "addr", "add", b_addr + "/24", "dev", dev_b)
        self.sh(a, "ip", "link", "set", dev_a, "up")
        self.sh(b, "ip", "link", "set", dev_b, "up")

    def _sysctl(self, name, key, value):
        self.sh(name, "sysctl", "-q", "-w", "%s=%s" % (key, value))

    def _start(self):
        check(os.environ.get("KBAL_E2E_NETNS") == "1", "Cluster runs only in run.py's namespaces")
        for p in (BIRD, EXABGP, KBALD, KBALCTL, BACKEND):
            check(os.access(p, os.X_OK), "%s missing (tools/deps.sh installs bird2 and exabgp; "
                  "make builds kbal)" % p)
        kbaltest.LIVE_TOPOS.append(self)
        self.dir = tempfile.mkdtemp(prefix="kbal-cluster-")
        names = ["router", "client", "member1", "member2"] + \
            ["kbal%d" % i for i in range(1, self.nhosts + 1)]
        for n in names:
            kbaltest._run_cmd(["ip", "netns", "add", self.ns(n)], self.timeout)
            self.made_ns.append(self.ns(n))
            self.sh(n, "ip", "link", "set", "lo", "up")
        d = self.devtag
        self._link("router", "client", "10.90.0.1", "10.90.0.2", d + "rc", d + "c")
        for n in (1, 2):
            self._link("router", "member%d" % n, "10.91.%d.1" % n, "10.91.%d.2" % n,
                       "%srm%d" % (d, n), "%sm%d" % (d, n))
            self.sh("member%d" % n, "ip", "route", "add", "default", "via", "10.91.%d.1" % n)
        # the hosts' segment: a bridge in the router's namespace, the
        # router's address on it
        br = d + "br"
        self.sh("router", "ip", "link", "add", br, "type", "bridge")
        self.sh("router", "ip", "addr", "add", ROUTER + "/24", "dev", br)
        self.sh("router", "ip", "link", "set", br, "up")
        for i in range(1, self.nhosts + 1):
            h = "kbal%d" % i
            kbaltest._run_cmd(["ip", "link", "add", "%srh%d" % (d, i), "netns", self.ns("router"),
                               "type", "veth", "peer", "name", "%sh%d" % (d, i), "netns",
                               self.ns(h)], self.timeout)
            self.sh("router", "ip", "link", "set", "%srh%d" % (d, i), "master", br, "up")
            self.sh(h, "ip", "addr", "add", host_addr(i) + "/24", "dev", "%sh%d" % (d, i))
            self.sh(h, "ip", "link", "set", "%sh%d" % (d, i), "up")
            self.sh(h, "ip", "route", "add", "default", "via", ROUTER)
            # the service address on lo: the kernel delivers the VIP's
            # packets locally; kbald's member connections leave from the
            # host's own address (the route's source)
            self.sh(h, "ip", "addr", "add", VIP + "/32", "dev", "lo")
        for kind in ("resilient", "plain"):
            for a in self.sources(kind):
                self.sh("client", "ip", "addr", "add", a + "/32", "dev", d + "c")
        self.sh("client", "ip", "route", "add", "default", "via", "10.90.0.1")
        self._sysctl("router", "net.ipv4.ip_forward", 1)
        self._sysctl("router", "net.ipv4.fib_multipath_hash_policy", 1)
        for k in ("all", "default"):
            self._sysctl("router", "net.ipv4.conf.%s.rp_filter" % k, 0)
        self.sh("router", "ip", "route", "add", "100.64.0.0/16", "via", "10.90.0.2")
        self.sh("router", "ip", "rule", "add", "from", "100.64.2.0/24", "lookup",
                TABLE_PLAIN, "pref", 100)
        for n in (1, 2):
            self.start_member(n)
        self.start_router()
        for i in range(1, self.nhosts + 1):
            self.start_host(i)
        want = [i for i in range(1, self.nhosts + 1) if i not in self.start_drained]
        self.wait_hops(want, 30, "the first announcements")

    def start_member(self, n):
        addr = "10.91.%d.2:8080" % n
        p = self._spawn("member%d" % n, "member%d" % n,
                        [BACKEND, "--listen", addr, "--name", "WAS%d" % n])
        self._wait_listen(p, 8080, "member%d" % n)

    def start_router(self):
        conf = BIRD_CONF.format(log=os.path.join(self.dir, "bird.messages"), table=TABLE_PLAIN,
                                hold=self.hold)
        for i in range(1, self.nhosts + 1):
            conf += "protocol bgp h%d from kbalhost { neighbor %s as 65001; " \
                    "source address %s; }\n" % (i, host_addr(i), ROUTER)
        path = os.path.join(self.dir, "bird.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.bird_sock = os.path.join(self.dir, "bird.ctl")
        self._spawn("bird", "router", [BIRD, "-f", "-c", path, "-s", self.bird_sock])
        self._spawn("nhsync", "router", [NHSYNC, "--prefix", VIP + "/32", "--from-table",
                                         TABLE_PLAIN, "--group-id", GROUP, "--buckets",
                                         self.buckets, "--idle-timer", self.idle_timer,
                                         "--interval", "0.05"])

    def start_host(self, i):
        """kbald, then ExaBGP with its healthcheck, on kbal<i>."""
        h = "kbal%d" % i
        conf = os.path.join(self.dir, "kbald.conf")     # one file for all hosts
        if not os.path.exists(conf):
            with open(conf, "w") as f:
                f.write(self.conf)
        kbaltest.LIVE_PIN_DIRS.append(self.pin[i])
        p = self._spawn("kbald%d" % i, h, [KBALD, "-f", conf, "--pin-dir", self.pin[i]])
        self._wait_listen(p, PORT, "kbald on kbal%d" % i)
        if i in self.start_drained:
            self.kbalctl(i, "host", "drain")
        self.start_exabgp(i)

    def start_exabgp(self, i):
        econf = os.path.join(self.dir, "exabgp%d.conf" % i)
        with open(econf, "w") as f:
            f.write(EXABGP_CONF.format(python="/usr/bin/python3", i=i, kbalctl=KBALCTL,
                                       pin=self.pin[i], interval=self.interval, vip=VIP,
                                       addr=host_addr(i), hold=self.hold, router=ROUTER))
        env = dict(os.environ, exabgp_daemon_user="root", exabgp_daemon_drop="false",
                   exabgp_api_cli="false", exabgp_log_destination="stdout",
                   exabgp_daemon_daemonize="false")
        self._spawn("exabgp%d" % i, "kbal%d" % i, [EXABGP, econf], env=env)

    def _wait_listen(self, proc, port, what):
        want = ":%04X" % port
        deadline = time.monotonic() + 10
        while True:
            check(proc.poll() is None, "%s exited with status %s" % (what, proc.returncode))
            try:
                with open("/proc/%d/net/tcp" % proc.pid) as f:
                    if any(l.split()[1].endswith(want) and l.split()[3] == "0A"
                           for l in list(f)[1:]):
                        return
            except OSError:
                pass
            check(time.monotonic() < deadline, "%s not listening after 10 s" % what)
            time.sleep(0.02)

    # -- the router's view --

    def hops(self, table="main"):
        """The kbal hosts (numbers) the router's route to the VIP goes to:
        "main", the resilient group's; "plain", BIRD's own in table 100."""
        if table == "main":
            # every object in one read: the group and its members alike
            try:
                objs = {o["id"]: o for o in json.loads(
                    self.sh("router", "ip", "-j", "nexthop", "show") or "[]")}
            except ValueError:
                return []
            # a dump taken while BIRD changes the route can come out as
            # JSON that does not parse ("[,{...}]" seen): a state in flux,
            # read as none (every caller polls)
            try:
                route = json.loads(self.sh("router", "ip", "-j", "route", "show", "exact",
                                           VIP + "/32") or "[]")
            except ValueError:
                return []
            if GROUP not in objs or not route:
                return []
            hops = [objs.get(g["id"], {}).get("gateway") for g in objs[GROUP]["group"]]
        else:
            # the table exists from BIRD's first route on: none yet, []
            try:
                out = json.loads(self.sh("router", "ip", "-j", "route", "show", "table",
                                         TABLE_PLAIN, "exact", VIP + "/32",
                                         check_rc=False) or "[]")
            except ValueError:
                return []
            hops = [nh.get("gateway") for r in out for nh in r.get("nexthops", [r])]
        return sorted(host_of(g) for g in hops if g)

    def watch_hops(self, want, timeout, what):
        """wait_hops(), keeping the distinct sets of next hops the resilient
        group had on the way (the router's states between two changes)."""
        t0, seen = time.monotonic(), [self.hops("main")]
        while seen[-1] != sorted(want) and time.monotonic() - t0 < timeout:
            now = self.hops("main")
            if now != seen[-1]:
                seen.append(now)
            time.sleep(0.01)
        self.wait_hops(want, max(timeout - (time.monotonic() - t0), 1), what)
        return time.monotonic() - t0, seen

    def wait_hops(self, want, timeout, what):
        """Until both views name exactly the hosts want; the seconds it took."""
        t0 = time.monotonic()
        want = sorted(want)
        while True:
            got = (self.hops("main"), self.hops("plain"))
            if got == (want, want):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise AssertionError("%s: the router's next hops are %s (resilient) and %s "
                                     "(plain), not %s after %.0f s; bird: %s" % (
                                         what, got[0], got[1], want, timeout, self.birdc(
                                             "show protocols")))
            time.sleep(0.02)

    def birdc(self, cmd):
        p = subprocess.run(self._argv("router", ["birdc", "-s", self.bird_sock] + cmd.split()),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        return p.stdout.decode(errors="replace")

    # -- the client's side --

    def in_client(self):
        return self.in_ns("client")

    @contextlib.contextmanager
    def in_ns(self, name):
        orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            target = os.open(self.ns_path(name), os.O_RDONLY | os.O_CLOEXEC)
            try:
                kbaltest._setns(target)
            finally:
                os.close(target)
            yield
        finally:
            try:
                kbaltest._setns(orig)
            finally:
                os.close(orig)

    def connect(self, source, timeout=5.0, rcvbuf=None):
        return Conn(PORT, host=VIP, timeout=timeout, netns=self.in_client(), source=source,
                    rcvbuf=rcvbuf)

    @contextlib.contextmanager
    def capture(self):
        """What the client sends to the VIP, as it leaves: a packet socket
        on the client's link; yields a function (source address, port) ->
        the TSecr of that connection's first data packet since, or None."""
        with self.in_client():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        try:
            s.bind((self.devtag + "c", 0))
            s.setblocking(False)
            seen = {}

            def tsecr(addr, port):
                while True:
                    try:
                        frame, where = s.recvfrom(1 << 16)
                    except BlockingIOError:
                        break
                    if where[2] != socket.PACKET_OUTGOING:
                        continue
                    key, ecr = _tcp_tsecr(frame)
                    if key and key not in seen:
                        seen[key] = ecr
                return seen.get((addr, port))
            yield tsecr
        finally:
            s.close()

    @contextlib.contextmanager
    def arrivals(self):
        """Which host the client's packets to VIP:PORT reach: a packet
        socket on each host's link (ETH_P_ALL: it sees them before tc's
        ingress, where the second chance sends them on), a filter keeping
        those (their first 64 bytes); yields a function -> {host: {(client address, port)}} of
        what arrived since (from the router, or sent on by another host)."""
        vip = int.from_bytes(socket.inet_aton(VIP), "big")
        # ethertype IPv4, destination VIP, TCP destination port PORT
        code = [(0x28, 0, 0, 12), (0x15, 0, 6, 0x0800), (0x20, 0, 0, 30), (0x15, 0, 4, vip),
                (0xb1, 0, 0, 14), (0x48, 0, 0, 16), (0x15, 0, 1, PORT), (0x06, 0, 0, 64),
                (0x06, 0, 0, 0)]
        insns = (ctypes.c_ubyte * (8 * len(code)))()
        for k, (op, jt, jf, v) in enumerate(code):
            struct.pack_into("HBBI", insns, 8 * k, op, jt, jf, v)
        prog = struct.pack("HL", len(code), ctypes.addressof(insns))
        socks = {}
        try:
            for i in range(1, self.nhosts + 1):
                with self.in_ns("kbal%d" % i):
                    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
                socks[i] = s
                s.setsockopt(socket.SOL_SOCKET, 26, prog)               # SO_ATTACH_FILTER
                s.setsockopt(socket.SOL_SOCKET, 33, 32 << 20)           # SO_RCVBUFFORCE
                s.bind(("%sh%d" % (self.devtag, i), 0))
                s.setblocking(False)
                while True:      # what the socket took before its filter
                    try:
                        s.recv(64)
                    except BlockingIOError:
                        break
            seen = {i: set() for i in socks}

            def arrived():
                for i, s in socks.items():
                    # PACKET_STATISTICS: frames lost to a full buffer
                    check(struct.unpack("II", s.getsockopt(263, 6, 8))[1] == 0,
                          "the capture on kbal%d lost frames" % i)
                    while True:
                        try:
                            frame, where = s.recvfrom(64)
                        except BlockingIOError:
                            break
                        if where[2] == socket.PACKET_OUTGOING:
                            continue
                        ip = frame[14:]
                        ihl = (ip[0] & 15) * 4
                        seen[i].add((socket.inet_ntoa(ip[12:16]),
                                     int.from_bytes(ip[ihl:ihl + 2], "big")))
                return seen
            yield arrived
        finally:
            for s in socks.values():
                s.close()

    def flows(self, i):
        """kbal<i>'s flows (kbalctl flows): {(client addr, port): (path, why)}."""
        out = {}
        paths = ("none", "sockmap", "copy", "packet")
        for line in self.kbalctl(i, "flows")[1].splitlines()[1:]:
            f = line.split()
            path = [x for x in f[1:] if x in paths]
            if ":" in f[0] and path:
                addr, port = f[0].rsplit(":", 1)
                out[(addr, int(port))] = (path[0], f[-1])
        return out

    def stats(self, i):
        """kbal<i>'s kbalctl stats, by name."""
        return {l.split()[0]: int(l.split()[1])
                for l in self.kbalctl(i, "stats")[1].splitlines() if len(l.split()) == 2}

    @staticmethod
    def ask(conn, cookie=None):
        """GET /peer on conn: (kbal host number, member number, response)."""
        r = conn.get("/peer", cookie=cookie)
        check(r.status == 200, "GET /peer: %d" % r.status)
        peer = r.text.strip()
        check(peer.startswith("peer=10.90.1."), "the member saw %r, not a kbal host's own "
              "address" % peer)
        return host_of(peer[5:].split(":")[0]), int(r.header("X-Backend")[-1]), r

    # -- failures --

    def freeze(self, i):
        """kbal<i> vanishes as a powered-off host would: everything it
        sends is blackholed (routes: this kernel has no tc drop action nor
        nf_tables), then its processes are killed (SIGKILL), so that no FIN
        of ExaBGP's session reaches the router, whose BGP hold timer must
        find out."""
        h = "kbal%d" % i
        self.sh(h, "ip", "route", "add", "blackhole", ROUTER + "/32")
        self.sh(h, "ip", "route", "replace", "blackhole", "default")
        for key in ("exabgp%d" % i, "kbald%d" % i):
            self._kill(key, signal.SIGKILL)
        self.killed.add(i)

    def kill_kbald(self, i):
        """SIGKILL to kbal<i>'s kbald alone (its pins stay, as a crash
        leaves them): its health check must withdraw the route."""
        self._kill("kbald%d" % i, signal.SIGKILL)
        self.killed.add(i)

    def stop_host(self, i):
        """exabgp (its route withdrawn at its end) and kbald of kbal<i>, by PID."""
        problems = []
        for key in ("exabgp%d" % i, "kbald%d" % i):
            problems += self._kill(key, signal.SIGTERM)
        return problems

    def _children(self, pid):
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                return [int(c) for c in f.read().split()]
        except OSError:
            return []

    def _kill(self, key, sig):
        """Stop procs[key] by its PID, and its children (ExaBGP's
        healthcheck) by theirs; problems found."""
        proc = self.procs.pop(key, None)
        if proc is None:
            return []
        kids = self._children(proc.pid)
        problems = []
        if proc.poll() is not None and sig != signal.SIGKILL:
            problems.append("%s exited early with status %s" % (key, proc.returncode))
        if sig == signal.SIGKILL:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc in kbaltest.LIVE_PROCS:
                kbaltest.LIVE_PROCS.remove(proc)
        else:
            rc, killed = stop_proc(proc)
            if key.startswith("kbald") and (killed or rc != 0):
                problems.append("%s: status %s%s" % (key, rc, " (killed)" if killed else ""))
        for k in kids:
            deadline = time.monotonic() + 2
            while os.path.exists("/proc/%d" % k) and time.monotonic() < deadline:
                time.sleep(0.02)
            try:
                # our child's child: it has not been reaped by anyone we
                # do not know; still ours if its parent was
                with open("/proc/%d/stat" % k) as f:
                    if f.read().split()[2] != "Z":
                        os.kill(k, signal.SIGKILL)
            except (OSError, IndexError):
                pass
        return problems

    # -- tear down --

    def close(self):
        problems = []
        for key in [k for k in self.procs if k.startswith("exabgp")]:
            problems += self._kill(key, signal.SIGTERM)
        for key in list(self.procs):
            problems += self._kill(key, signal.SIGTERM)
        for i, pin in self.pin.items():
            if os.path.exists(pin):
                if i not in self.killed:
                    problems.append("kbald of kbal%d left its pin dir" % i)
                kbaltest.remove_pin_dir(pin)
            if pin in kbaltest.LIVE_PIN_DIRS:
                kbaltest.LIVE_PIN_DIRS.remove(pin)
            kbaltest.remove_host_state(pin)
        for ns in list(self.made_ns):
            try:
                kbaltest._run_cmd(["ip", "netns", "del", ns], self.timeout)
            except AssertionError as e:
                problems.append(str(e))
            self.made_ns.remove(ns)
        if self in kbaltest.LIVE_TOPOS:
            kbaltest.LIVE_TOPOS.remove(self)
        if self.dir:
            if os.environ.get("KBAL_E2E_KEEP") and problems:
                print("  kept %s" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        return problems
