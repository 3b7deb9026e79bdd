# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Spike (branch unswitch, docs/unswitch.md): a joined flow taken back by
offsets. kbald (KBAL_UNSWITCH=1) keeps its client-side socket at the
switch; at SIGRTMIN+1 (sigqueue's value: the client's port) it turns the
flow's four entries into SHIFT entries on its own 4-tuples, thaws its
member-side socket and splices the two live sockets with sockmap. The
client's next requests must then go through kbald, byte-exact, to the same
member, and the connection end cleanly: no RST, no retransmission, no
timeout (a capture of lo, and the TCP counters)."""

import collections
import ctypes
import os
import signal
import socket
import struct
import threading
import time

import kbaltest
from kbaltest import Env, check, check_pattern, crc_line, eq, wait_until
from test_packet import CONF, PATH_PACKET, PATH_SOCKMAP, pkt_entries, pkt_live

WHY_UNSWITCHED = 17        # KBAL_WHY_UNSWITCHED (include/kbal_shared.h)
SIG_UNSWITCH = signal.SIGRTMIN + 1
_libc = ctypes.CDLL(None, use_errno=True)


class _sigval(ctypes.Union):
    _fields_ = [("sival_int", ctypes.c_int), ("sival_ptr", ctypes.c_void_p)]


_libc.sigqueue.argtypes = (ctypes.c_int, ctypes.c_int, _sigval)


def ask_unswitch(env, port):
    if _libc.sigqueue(env.kbald.pid, SIG_UNSWITCH, _sigval(sival_int=port)):
        raise OSError(ctypes.get_errno(), "sigqueue")


def flow_of(env, port):
    for k, v in env.flows():
        if socket.ntohs(k["client_port"]) == port:
            return v
    return None


class Capture:
    """Every TCP packet on lo to or from the given ports (AF_PACKET; on lo
    each packet is seen leaving, after tc egress, and arriving)."""

    def __init__(self, ports, dev="lo"):
        self.ports = set(ports)
        self.times = []
        self.pkts = []          # (outgoing, saddr, sport, daddr, dport, seq, ack, flags, len)
        self.stop = False
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)   # SO_RCVBUFFORCE
        self.sock.bind((dev, 0))
        self.sock.settimeout(0.2)
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        while not self.stop:
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(data) < 14 + 20 or data[12:14] != b"\x08\x00" or data[14 + 9] != 6:
                continue
            ihl = (data[14] & 15) * 4
            tot = struct.unpack("!H", data[16:18])[0]
            t = 14 + ihl
            sport, dport, seq, ack, off, flags = struct.unpack("!HHIIBB", data[t:t + 14])
            if sport not in self.ports and dport not in self.ports:
                continue
            plen = tot - ihl - (off >> 4) * 4
            self.pkts.append((addr[2] == socket.PACKET_OUTGOING, data[14 + 12:14 + 16], sport,
                              data[14 + 16:14 + 20], dport, seq, ack, flags, plen))
            self.times.append((time.monotonic(), data[t + 14:t + 16], data[t + 20:t + 60]))

    def close(self):
        self.stop = True
        self.th.join(2)
        # PACKET_STATISTICS: packets the socket dropped (the capture fell behind)
        self.dropped = struct.unpack("II", self.sock.getsockopt(263, 6, 8))[1]
        self.sock.close()

    def dump_around(self, p, before=30, after=10):
        i = self.pkts.index(p)
        t0 = self.times[i][0]
        for j in range(max(0, i - before), min(len(self.pkts), i + after)):
            q = self.pkts[j]
            if not q[0]:
                continue
            win = struct.unpack("!H", self.times[j][1])[0]
            print("%+.6f %d->%d seq %u ack %u fl %02x len %d win %d opt %s" % (
                self.times[j][0] - t0, q[2], q[4], q[5], q[6], q[7], q[8], win,
                self.times[j][2].hex()))

    def resets(self):
        return [p for p in self.pkts if p[0] and p[7] & 0x04]

    def retransmissions(self):
        """data segments (or FINs) that left twice with the same sequence
        number on the same 4-tuple"""
        seen, again = set(), []
        for p in self.pkts:
            if not p[0] or (p[8] <= 0 and not p[7] & 0x01):
                continue
            k = (p[1], p[2], p[3], p[4], p[5])
            if k in seen:
                again.append(p)
            seen.add(k)
        return again


COUNTERS = ("TCPTimeouts", "RetransSegs", "BeyondWindow", "PAWSEstab", "EstabResets",
            "TCPLossProbes", "OutRsts", "TCPAbortOnData", "TCPChallengeACK")
MORE = ("TCPFastRetrans", "TCPSackRecovery", "TCPDSACKRecv", "TCPDSACKOldSent", "TCPRcvQDrop",
        "PruneCalled", "TCPOFODrop", "TCPZeroWindowDrop", "TCPBacklogDrop", "TCPOFOQueue",
        "TCPSACKReorder", "TCPLostRetransmit", "TCPSpuriousRtxHostQueues", "TCPDSACKIgnoredDubious",
        "TCPDSACKRecvSegs", "TCPSlowStartRetrans")


def tcp_counters():
    text = ""
    for path in ("/proc/net/snmp", "/proc/net/netstat"):
        with open(path) as f:
            text += f.read()
    out, heads = {}, {}
    for line in text.splitlines():
        prefix, _, rest = line.partition(":")
        if prefix not in ("Tcp", "TcpExt"):
            continue
        if prefix not in heads:
            heads[prefix] = rest.split()
        else:
            out.update(zip(heads.pop(prefix), (int(v) for v in rest.split())))
    return out


def client(env, nreq_joined, nreq_after, errors, tag, big=False, control=False, idle=0.05,
           upload_first=0, rcvbuf=None, joined_up=0, joined_down=0, at_quiet=None):
    try:
        with env.connect(timeout=30, rcvbuf=rcvbuf) as c:
            port = c.sock.getsockname()[1]
            n = int(kbaltest.hand_over(c, "/%s" % tag).header("X-Backend")[-1])
            wait_until(lambda: (flow_of(env, port) or {}).get("path") ==
                       (PATH_SOCKMAP if control else PATH_PACKET), 3.0,
                       "%s: the flow on its path" % tag)
            for i in range(nreq_joined):
                r = c.get("/%s/j%d" % (tag, i))
                eq((r.status, r.text), (200, "backend=WAS%d path=/%s/j%d\n" % (n, tag, i)),
                   "%s: joined request %d" % (tag, i))
            if joined_up:
                # while joined: the member's receive window grows
                body = os.urandom(joined_up)
                c.request("POST", "/up", body=body)
                r = c.read_response()
                eq((r.status, r.text), (200, crc_line(body)), "%s: upload while joined" % tag)
            if joined_down:
                r = c.get("/bytes/%d" % joined_down)
                check_pattern(r.body, "%s: download while joined" % tag)
            # a quiet moment: the client has its answer; the last ACKs pass
            time.sleep(idle)
            if at_quiet:
                at_quiet()
            deadline = time.monotonic() + 5
            while not control:
                ask_unswitch(env, port)
                try:
                    wait_until(lambda: (flow_of(env, port) or {}).get("why") == WHY_UNSWITCHED,
                               0.3, "taken back")
                    break
                except AssertionError:
                    check(time.monotonic() < deadline, "%s: flow never taken back: %r"
                          % (tag, flow_of(env, port)))
            eq(flow_of(env, port)["path"], PATH_SOCKMAP, "%s: the flow's path after" % tag)
            if upload_first:
                # the client's first bytes after the take-back: more than
                # kbald's kept socket may have announced
                body = os.urandom(upload_first)
                print("%s: the upload starts %.0f ms after the quiet moment's counters" %
                      (tag, (time.monotonic() - getattr(at_quiet, "at", 0)) * 1000))
                c.request("POST", "/up", body=body)
                r = c.read_response()
                eq((r.status, r.text), (200, crc_line(body)), "%s: upload first after" % tag)
            for i in range(nreq_after):
                r = c.get("/%s/a%d" % (tag, i))
                eq((r.status, r.text), (200, "backend=WAS%d path=/%s/a%d\n" % (n, tag, i)),
                   "%s: request %d after the take-back" % (tag, i))
            if big:
                r = c.get("/bytes/%d" % (4 << 20))
                eq(len(r.body), 4 << 20, "%s: 4 MiB after the take-back" % tag)
                check_pattern(r.body, "%s: 4 MiB after the take-back" % tag)
                body = os.urandom((1 << 20) + 7)
                c.request("POST", "/up", body=body)
                r = c.read_response()
                eq((r.status, r.text), (200, crc_line(body)), "%s: 1 MiB up after" % tag)
    except BaseException as e:        # noqa: B902 (reported by the main thread)
        errors.append("%s: %r" % (tag, e))


def run_clients(env, nconns, nreq_joined, nreq_after, big=False, control=False):
    errors = []
    ths = [threading.Thread(target=client, args=(env, nreq_joined, nreq_after, errors,
                                                  "c%d" % i, big, control))
           for i in range(nconns)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(120)
    eq(errors, [], "client errors")


def clean_end(env, cap, before, what, control=False):
    if control:
        wait_until(lambda: env.flows() == [], 8.0, "no flow after " + what)
    else:
        wait_until(lambda: env.flows() == [] and pkt_entries(env) == [], 8.0,
                   "no flow and no kbal_pkt entry after " + what)
        eq(pkt_live(env), 0, "kbal_pkt_live after " + what)
    time.sleep(0.3)
    cap.close()
    after = tcp_counters()
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in COUNTERS}
    print("counter deltas (the whole namespace):", delta)
    print("packets captured:", len(cap.pkts), "dropped by the capture:", cap.dropped)
    eq(cap.resets(), [], "RSTs on lo for the test's ports")
    for p in cap.retransmissions()[:2]:
        cap.dump_around(p)
    # on lo a slow reader's delayed ACK makes a sender's tail loss probe
    # fire now and then (PTO: 2 srtt + 2 ms), with or without the spike
    # (test_unswitch_control_sockmap): those are the only retransmissions
    # allowed; no retransmission timeout, no segment beyond a window, no
    # PAWS drop, no reset
    check(len(cap.retransmissions()) <= delta["TCPLossProbes"],
          "segments sent twice on lo beyond the loss probes: %r, %r"
          % (cap.retransmissions(), delta))
    check(delta["RetransSegs"] <= delta["TCPLossProbes"], "retransmissions other than loss "
          "probes: %r" % delta)
    eq((delta["TCPTimeouts"], delta["BeyondWindow"], delta["PAWSEstab"], delta["EstabResets"],
        delta["OutRsts"], delta["TCPAbortOnData"]), (0, 0, 0, 0, 0, 0),
       "timeouts, beyond window, PAWS, resets: %r" % delta)
    check("unswitch: the kept client socket" not in env.kbald_stderr() and
          "no ACK for the kept socket" not in env.kbald_stderr(),
          "a kept socket with bytes unacknowledged: %s" % env.kbald_stderr()[-2000:])


def test_unswitch_one_flow():
    """One keep-alive client: joined, taken back at a quiet moment, then
    50 requests, 4 MiB down and 1 MiB up through kbald, byte-exact."""
    with Env(conf=CONF, kbald_wrap=["env", "KBAL_UNSWITCH=1"],
             kbald_args=["-v"] if os.environ.get("UNSWITCH_DEBUG") else []) as env:
        cap = Capture([env.port, env.ports["b1"], env.ports["b2"]])
        before = tcp_counters()
        run_clients(env, 1, 5, 50, big=True)
        st = env.stats()
        check(st["pkt_rewritten"] > 0, "packets rewritten: %r" % st)
        check(st["redirected_bytes"] >= (5 << 20), "bytes through sockmap after: %r" % st)
        eq(st["pkt_unparsed"], 0, "packets not understood")
        clean_end(env, cap, before, "the client closed")


def test_unswitch_one_flow_host_id():
    """test_unswitch_one_flow with KbalHost (this host id 1, another
    known), across veths: the client's TSvals carry the id times 8 after
    the take-back too, its echoes map back to kbald's socket's clock (the
    balancer's counters: no PAWS drop, no timeout)."""
    # a host's id must be one of its addresses, not a loopback one: the
    # balancer's in a Topo (another host named, never reached)
    conf = CONF + "\nKbalHost 1 {listen_addr}\nKbalHost 2 10.77.1.3\n"
    with kbaltest.Topo(csum_offload=False) as topo, \
            Env(topo=topo, conf=conf, kbald_wrap=["env", "KBAL_UNSWITCH=1"]) as env:
        # what leaves the balancer towards the client, after tc egress
        cap = Capture([env.port], dev=topo.bal_dev["client"])
        before = tcp_counters()
        before_c = topo.tcp_counters("client")
        errors, mark = [], []
        client(env, 5, 50, errors, "hid", big=True, at_quiet=lambda: mark.append(len(cap.pkts)))
        eq(errors, [], "client errors")
        # every TSval kbald's side sent the client from the quiet moment on
        # (the take-back, kbald's socket's after it) carries id 1
        ids = [struct.unpack("!I", t[2][4:8])[0] & 7
               for p, t in list(zip(cap.pkts, cap.times))[mark[0]:]
               if p[0] and p[2] == env.port and t[2][:4] == b"\x01\x01\x08\x0a"]
        check(len(ids) > 100 and set(ids) == {1}, "host ids in the TSvals to the client: %r"
              % collections.Counter(ids))
        print([l for l in env.kbald_stderr().splitlines() if "unswitch:" in l])
        after_c = topo.tcp_counters("client")
        d = {k: after_c.get(k, 0) - before_c.get(k, 0) for k in COUNTERS}
        print("client", d)
        eq((d["PAWSEstab"], d["TCPTimeouts"], d["EstabResets"], d["RetransSegs"]), (0, 0, 0, 0),
           "the client's PAWS drops, timeouts, resets, retransmissions: %r" % d)
        clean_end(env, cap, before, "the client closed")


def test_unswitch_under_load():
    """Six keep-alive clients at once, each joined, taken back by offsets
    at its own quiet moment while the others run, then on through kbald:
    600 requests in all, every answer byte-exact."""
    with Env(conf=CONF, kbald_wrap=["env", "KBAL_UNSWITCH=1"]) as env:
        cap = Capture([env.port, env.ports["b1"], env.ports["b2"]])
        before = tcp_counters()
        for rnd in range(2):
            run_clients(env, 6, 20, 30)
        eq(env.stats()["pkt_unparsed"], 0, "packets not understood")
        clean_end(env, cap, before, "the clients closed")


def test_unswitch_control_sockmap():
    """The same exchanges on the sockmap path from the start (KbalSplice
    sockmap, no take-back): what the capture and counters show without
    the spike (the retransmissions the others count, if any, are lo's)."""
    with Env(conf=CONF.replace("KbalSplice packet", "KbalSplice sockmap")) as env:
        cap = Capture([env.port, env.ports["b1"], env.ports["b2"]])
        before = tcp_counters()
        run_clients(env, 1, 5, 50, big=True, control=True)
        clean_end(env, cap, before, "the client closed", control=True)


def test_unswitch_after_a_long_idle_join_upload_first():
    """Joined, then idle 3 s (past the kept sockets' RTO and the idle
    restart), taken back; the first request after it a 2 MiB upload (more
    than any window kbald's kept client socket announced), then requests
    and a download."""
    with Env(conf=CONF, kbald_wrap=["env", "KBAL_UNSWITCH=1"]) as env:
        cap = Capture([env.port, env.ports["b1"], env.ports["b2"]])
        before = tcp_counters()
        errors = []
        client(env, 5, 20, errors, "idle", big=True, idle=3.0, upload_first=2 << 20)
        eq(errors, [], "client errors")
        clean_end(env, cap, before, "the client closed")


def test_unswitch_small_client_window():
    """A client with an 8 KiB receive buffer (window scale 0, kbald's
    sockets 7 or more): taken back, then 4 MiB down and 1 MiB up."""
    with Env(conf=CONF, kbald_wrap=["env", "KBAL_UNSWITCH=1"]) as env:
        cap = Capture([env.port, env.ports["b1"], env.ports["b2"]])
        before = tcp_counters()
        errors = []
        client(env, 5, 20, errors, "small", big=True, rcvbuf=8192)
        eq(errors, [], "client errors")
        clean_end(env, cap, before, "the client closed")


def test_unswitch_netns():
    """Across veths (kbaltest.Topo: client, members and the balancer in
    namespaces of their own, full checksums): the SHIFT entries act at the
    balancer's ingress (the peers' packets) and egress (kbald's sockets');
    kbald's ACK to its kept client socket goes by lo with the client's
    address as its source. Three clients taken back, then on through
    kbald; every host's counters: no timeout, no reset, no PAWS drop, no
    checksum error."""
    netns_run(control=False)


def test_unswitch_netns_control_sockmap():
    """test_unswitch_netns's exchanges on the sockmap path from the start:
    the loss probes kbald's sockets send to a slow reader without the
    spike."""
    netns_run(control=True)


def netns_run(control):
    hosts = ("client", "member1", "balancer")
    conf = CONF.replace("KbalSplice packet", "KbalSplice sockmap") if control else CONF
    with kbaltest.Topo(csum_offload=False) as topo, \
            Env(topo=topo, conf=conf, kbald_wrap=["env", "KBAL_UNSWITCH=1"]) as env:
        before = {h: topo.tcp_counters(h) for h in hosts}
        run_clients(env, 3, 10, 30, big=True, control=control)
        wait_until(lambda: env.flows() == [] and (control or pkt_entries(env) == []), 8.0,
                   "no flow and no kbal_pkt entry after the clients closed")
        for h in hosts:
            after = topo.tcp_counters(h)
            d = {k: after.get(k, 0) - before[h].get(k, 0)
                 for k in COUNTERS + ("InCsumErrors",)}
            print(h, d)
            check(d["RetransSegs"] <= d["TCPLossProbes"], "%s: retransmissions: %r" % (h, d))
            eq((d["TCPTimeouts"], d["BeyondWindow"], d["PAWSEstab"], d["EstabResets"],
                d["InCsumErrors"], d["TCPAbortOnData"]), (0, 0, 0, 0, 0, 0),
               "%s: timeouts, beyond window, PAWS, resets, checksum errors: %r" % (h, d))
        check("unswitch: the kept client socket" not in env.kbald_stderr() and
              "no ACK for the kept socket" not in env.kbald_stderr(),
              "a kept socket with bytes unacknowledged: %s" % env.kbald_stderr()[-2000:])


def test_unswitch_windows_grown_while_joined():
    """16 MiB each way while joined (the member's and the client's
    receive windows autotuned, kbald's sockets' not), taken back, then
    8 MiB up within the RTO of the quiet moment and 4 MiB down: whatever
    the peers believe of the other's window, kbald's sockets must take it
    (counted from the quiet moment on)."""
    windows_grown()


def windows_grown(loss=None, control=False):
    """16 MiB each way while joined (the member's and the client's
    receive windows autotuned, kbald's sockets' not), taken back, then
    8 MiB up at once and 16 MiB down: whatever the peers believe of the
    other's window, kbald's sockets must take it."""
    conf = CONF.replace("KbalSplice packet", "KbalSplice sockmap") if control else CONF
    with kbaltest.Topo(csum_offload=False) as topo, \
            Env(topo=topo, conf=conf, kbald_wrap=["env", "KBAL_UNSWITCH=1"]) as env:
        hosts = ("client", "member1", "balancer")
        before = {}
        errors = []

        def quiet():
            # the counters from the quiet moment on: what the take-back
            # and the exchanges after it cost (the joined transfers'
            # own are the packet path's, test_netns.py)
            before.update({h: topo.tcp_counters(h) for h in hosts})
            if os.environ.get("UNSWITCH_SS"):
                for h in ("client", "member1"):
                    print(h, "at the quiet moment:", " ".join(
                        topo.sh(h, "ss", "-tni", "state", "established").split()[5:]))
            if loss:
                topo.netem("client", loss)
            quiet.at = time.monotonic()

        client(env, 3, 5, errors, "win", big=True, joined_up=16 << 20, joined_down=16 << 20,
               upload_first=8 << 20, at_quiet=quiet, idle=0.01, control=control)
        if loss:
            print(topo.netem_stats("client"))
        print([l for l in env.kbald_stderr().splitlines() if "unswitch:" in l])
        eq(errors, [], "client errors")
        for h in hosts:
            after = topo.tcp_counters(h)
            d = {k: after.get(k, 0) - before[h].get(k, 0) for k in COUNTERS + MORE}
            print(h, {k: v for k, v in d.items() if v})
        for h in hosts:
            after = topo.tcp_counters(h)
            d = {k: after.get(k, 0) - before[h].get(k, 0) for k in COUNTERS}
            eq((d["TCPTimeouts"], d["BeyondWindow"], d["PAWSEstab"]), (0, 0, 0),
               "%s: timeouts, beyond window, PAWS: %r" % (h, d))



def test_unswitch_asked_while_busy():
    """Take-backs asked again and again during a 32 MiB download on the
    packet path: kbald's check (each side acknowledged all the other sent)
    refuses while segments are in flight. Where it does not (the member
    between two writes, everything acknowledged), the flow is taken back in
    the middle of the answer: what then? (the check knows acknowledgements,
    not message boundaries)"""
    with Env(conf=CONF, kbald_wrap=["env", "KBAL_UNSWITCH=1"], kbald_args=["-v"]) as env:
        with env.connect(timeout=30) as c:
            port = c.sock.getsockname()[1]
            kbaltest.hand_over(c)
            wait_until(lambda: (flow_of(env, port) or {}).get("path") == PATH_PACKET, 3.0,
                       "the flow on the packet path")
            out = {}

            def download():
                try:
                    out["r"] = c.get("/bytes/%d" % (32 << 20))
                except BaseException as e:     # noqa: B902
                    out["e"] = e

            th = threading.Thread(target=download)
            th.start()
            time.sleep(0.02)      # the answer under way
            asked = 0
            while th.is_alive() and asked < 2000:
                ask_unswitch(env, port)
                asked += 1
                time.sleep(0.002)
            th.join(30)
            log = env.kbald_stderr()
            refused = log.count("not quiet")
            taken = log.count("flow taken back")
            print("asked %d, refused (not quiet) %d, taken back %d" % (asked, refused, taken))
            lines = [l for l in log.splitlines() if "unswitch" in l or "taken back" in l]
            print("\n".join(l for l in lines if "flow taken back" in l or "windows" in l))
            print("\n".join(lines[:3] + ["..."] + lines[-2:]))
            check("e" not in out, "the download: %r" % out.get("e"))
            eq(len(out["r"].body), 32 << 20, "the download's length")
            check_pattern(out["r"].body, "the download, take-backs asked all along")
