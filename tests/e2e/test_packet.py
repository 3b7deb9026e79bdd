# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""KbalSplice packet on loopback: after the first exchange the two TCP
connections are joined packet by packet by bpf/packet.bpf.c, kbald's
sockets frozen; every later byte must arrive exactly once, in order."""

import json
import os
import re
import socket
import subprocess
import struct
import time

import kbaltest
from kbaltest import EXAMPLE_CONF, Env, check, check_pattern, crc_line, eq, wait_until

MiB = 1 << 20
PATH_SOCKMAP, PATH_PACKET = 1, 3
# the packet path frames no request: it joins keep-alive connections only
# where every later request is decided alike (one member: kbaltest.packet_alike)
CONF = kbaltest.packet_alike(EXAMPLE_CONF)


def pkt_entries(env):
    return env.bpftool_dump("kbal_pkt")


def joined(env, c):
    """The connection's flow took the packet path, and the kernel's sockmap
    carried nothing."""
    wait_until(lambda: [f for _, f in env.flows() if f["path"] == PATH_PACKET], 2.0,
               "a flow on the packet path")
    eq(len(pkt_entries(env)), 4, "kbal_pkt entries of one joined flow")
    eq(pkt_live(env), 1, "kbal_pkt_live with one joined flow")


def pkt_live(env):
    """kbal_pkt_live: the flows kbald counts as having entries."""
    return [e["formatted"]["value"] for e in env.bpftool_dump("kbal_pkt_live")][0]


def all_gone(env, what):
    wait_until(lambda: env.flows() == [] and pkt_entries(env) == [], 4.0,
               "no flow and no kbal_pkt entry after " + what)
    eq(pkt_live(env), 0, "kbal_pkt_live after " + what)


def test_packet_keepalive_byte_exact():
    with Env(conf=CONF) as env:
        with env.connect(timeout=30) as c:
            n = int(kbaltest.hand_over(c).header("X-Backend")[-1])
            joined(env, c)
            for i in range(30):
                r = c.get("/ka%d" % i)
                eq((r.status, r.text), (200, "backend=WAS%d path=/ka%d\n" % (n, i)), "request %d" % i)
            r = c.get("/bytes/%d" % (16 * MiB))
            eq(len(r.body), 16 * MiB, "16 MiB download")
            check_pattern(r.body, "16 MiB download on the packet path")
            body = os.urandom(8 * MiB + 3)
            c.request("POST", "/up", body=body)
            r = c.read_response()
            eq((r.status, r.text), (200, crc_line(body)), "8 MiB upload on the packet path")
            st = env.stats()
            check(st["pkt_rewritten"] > 100, "packets rewritten: %r" % st)
            eq(st["redirected_bytes"], 0, "bytes through sockmap")
            eq(st["pkt_unparsed"], 0, "packets not understood")
            # the first request, served by kbald itself, may have gone to
            # either member; from the second on, all to n
            eq(len(env.backend_log(n)) + len(env.backend_log(3 - n)), 34, "requests in all")
            check(len(env.backend_log(3 - n)) <= 1, "requests at the other member")
        all_gone(env, "the client closed")
        # the joined bytes count in the member's traffic (bytraffic, manager)
        m = env.member(n)
        check(16 * MiB <= int(m["bytes_from"]) < 17 * MiB and
              8 * MiB <= int(m["bytes_to"]) < 9 * MiB,
              "member counters after 16 MiB down, 8 MiB up: %r" % m)


def frame_of(env, slot):
    """kbal_pkt_frame's entry at slot (bpf/pkt_frame.bpf.h): one
    direction's HTTP framing."""
    p = subprocess.run(["bpftool", "-j", "map", "lookup", "pinned",
                        os.path.join(env.pin_dir, "kbal_pkt_frame"), "key"] +
                       [str(b) for b in struct.pack("<I", slot)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
    check(p.returncode == 0, "bpftool lookup kbal_pkt_frame: %s" % p.stderr.decode().strip())
    return json.loads(p.stdout)["formatted"]["value"]


def test_packet_frames_each_message():
    """The program frames a joined flow's requests and responses (its
    framing does not change what it forwards): requests one by one and
    pipelined, a 1 MiB upload, a 4 MiB download, each counted once in each
    direction, both directions at a message boundary at the end, none
    lost (real skbs: GSO packets, paged payloads)."""
    with Env(conf=CONF) as env:
        with env.connect(timeout=30) as c:
            n = int(kbaltest.hand_over(c).header("X-Backend")[-1])
            joined(env, c)
            for i in range(20):
                r = c.get("/f%d" % i)
                eq((r.status, r.text), (200, "backend=WAS%d path=/f%d\n" % (n, i)), "request %d" % i)
            c.send(b"".join(b"GET /p%d HTTP/1.1\r\nHost: %s\r\n\r\n" % (i, c.host_header.encode())
                            for i in range(3)))
            for i in range(3):
                eq(c.read_response().status, 200, "pipelined %d" % i)
            body = os.urandom(MiB + 7)
            c.request("POST", "/up", body=body)
            r = c.read_response()
            eq((r.status, r.text), (200, crc_line(body)), "1 MiB upload")
            r = c.get("/bytes/%d" % (4 * MiB))
            eq(len(r.body), 4 * MiB, "4 MiB download")
            ents = [e["formatted"]["value"] for e in pkt_entries(env)]
            up = [v for v in ents if v["fr_flags"] and v["slot"] % 2 == 0]
            down = [v for v in ents if v["fr_flags"] and v["slot"] % 2 == 1]
            eq((len(up), len(down)), (1, 1), "one framed entry each way")
            for what, rw in (("requests", up[0]), ("responses", down[0])):
                f = frame_of(env, rw["slot"])
                eq(f["gen"], rw["gen"], what + ": the flow's frame entry")
                eq((f["flags"], f["why"]), (0, 0), what + ": framing not lost")
                eq(rw["fr_flags"], 1, what + ": framing on, not lost (kbal_pkt)")
                eq(f["messages"], 25, what + " framed")
                eq(rw["fr_state"], 0, what + ": a head next")
                eq(f["boundary"], rw["fr_seq"], what + ": the next message's boundary")
                eq(rw["fr_seq"], rw["switch_seq"], what + ": framed up to the last byte seen")
            eq(env.stats()["pkt_frame_lost"], 0, "no framing lost")
        all_gone(env, "the client closed")


def test_packet_named_frames_where_requests_differ():
    """KbalSplice packet on Apache's example itself (two members, the
    manager beside the balancer): the packet path joins its keep-alive
    connections, its program deciding each request (no word from kbald -t;
    test_packet_decided.py): a sticky route naming the other member
    reaches it, the manager comes up on the same connection."""
    conf = EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                                "ProxySet lbmethod=byrequests\nKbalSplice packet")
    with Env(conf=conf) as env:
        check("KbalSplice packet joins no keep-alive" not in env.kbald_stderr(),
              env.kbald_stderr())
        with env.connect() as c:
            for i in range(6):
                r = c.get("/r%d" % i, cookie="ROUTEID=route.%d" % (1 + i % 2))
                eq((r.status, r.header("X-Backend")), (200, "WAS%d" % (1 + i % 2)),
                   "request %d, sticky to route.%d" % (i, 1 + i % 2))
            eq([f for _, f in env.flows() if f["path"] == PATH_PACKET], [], "packet flows")
            r = c.get("/balancer-manager")
            eq(r.status, 200, "the manager on the same connection")
            check("balancer://mycluster" in r.text, "the manager's page: %r" % r.text[:300])
        # (a flow given back keeps its entries 3 s after its end)
        wait_until(lambda: pkt_entries(env) == [], 6.0, "no kbal_pkt entry after the close")


def test_packet_small_client_window_other_scale():
    """A client with an 8 KiB receive buffer: window scale 0 where kbald's
    sockets have 10, and a window smaller than a segment. The member-side
    socket's windows (autotuned by the response before the handover, or
    just its SYN's) must not outlive the switch: segments beyond the
    client's window are dropped (Linux 6.17+) and found lost at a
    retransmission timeout; a segment larger than any window of the
    client's only goes out when the member's persist timer fires. 64 MiB
    each way, with neither. The client and the members in namespaces of
    their own, so that their counters are this test's alone."""
    peers = ("client", "member1", "member2")
    with kbaltest.Topo() as topo, Env(topo=topo, conf=CONF) as env:
        before = {h: topo.tcp_counters(h) for h in peers}
        with env.connect(timeout=60, rcvbuf=8192) as c:
            # kbald serves the first request itself; the second, on a
            # member connection of the client's own, is handed over
            eq(c.get("/").status, 200, "the first request")
            r = c.get("/bytes/%d" % MiB)
            check_pattern(r.body, "1 MiB response at the handover")
            joined(env, c)
            t0 = time.time()
            body = os.urandom(64 * MiB)
            c.request("POST", "/up", body=body)
            r = c.read_response()
            eq((r.status, r.text), (200, crc_line(body)), "64 MiB upload on the packet path")
            r = c.get("/bytes/%d" % (64 * MiB))
            eq(len(r.body), 64 * MiB, "64 MiB download")
            check_pattern(r.body, "64 MiB download on the packet path")
            took = time.time() - t0
            eq(env.stats()["redirected_bytes"], 0, "bytes through sockmap")
        for h in peers:
            after = topo.tcp_counters(h)
            d = {k: after.get(k, 0) - before[h].get(k, 0) for k in ("TCPTimeouts", "BeyondWindow")}
            eq(d, {"TCPTimeouts": 0, "BeyondWindow": 0},
               "%s: timeouts, segments beyond a window" % h)
        # a crawl at the persist timer (32 KiB every 200 ms) would take
        # some 400 s; it takes a few
        check(took < 45, "64 MiB each way in %.1f s" % took)
        all_gone(env, "the client closed")


def test_packet_member_closes_first():
    with Env(conf=CONF) as env:
        with env.connect() as c:
            n = int(kbaltest.hand_over(c, "/").header("X-Backend")[-1])
            joined(env, c)
            r = c.get("/close")
            eq((r.status, r.text), (200, "backend=WAS%d path=/close\n" % n), "/close")
            check(c.at_eof(2.0), "no EOF after the member closed")
        all_gone(env, "the member closed")


def test_packet_client_reset():
    with Env(conf=CONF) as env:
        c = env.connect()
        kbaltest.hand_over(c, "/")
        joined(env, c)
        c.get("/two")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        all_gone(env, "the client's RST")
        eq(env.get("/after").status, 200, "a request after the reset")


def test_packet_many_connections():
    with Env(conf=CONF) as env:
        conns = []
        for i in range(60):
            c = env.connect()
            eq(kbaltest.hand_over(c, "/c%d" % i).status, 200,
               "first requests of connection %d" % i)
            conns.append(c)
        wait_until(lambda: len([f for _, f in env.flows() if f["path"] == PATH_PACKET]) == 60,
                   5.0, "60 flows on the packet path")
        for rnd in range(3):
            for i, c in enumerate(conns):
                r = c.get("/r%d-%d" % (rnd, i))
                eq(r.status, 200, "request %d of connection %d" % (rnd, i))
                check(r.text.endswith("path=/r%d-%d\n" % (rnd, i)), "body %r" % r.text)
        for c in conns:
            c.close()
        all_gone(env, "60 clients closed")


def test_packet_path_not_for_busy_flows():
    # pipelined requests and a first request with a body stay on sockmap
    with Env(conf=CONF) as env:
        with env.connect() as c:
            c.send(b"GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\n")
            eq(c.read_response().status, 200, "pipelined 1")
            eq(c.read_response().status, 200, "pipelined 2")
            wait_until(lambda: [f["path"] for _, f in env.flows()] == [PATH_SOCKMAP], 2.0,
                       "the pipelined flow on sockmap")
        with env.connect(timeout=30) as c:
            # a first body longer than kbald copies before a join
            body = os.urandom(MiB + 1)
            c.request("POST", "/up", body=body)
            r = c.read_response()
            eq((r.status, r.text), (200, crc_line(body)), "POST first, 1 MiB + 1")
            eq(c.get("/after").status, 200, "request after POST")
            eq([f["path"] for _, f in env.flows()], [PATH_SOCKMAP], "the long POST flow's path")
        all_gone(env, "the sockmap flows closed")


def test_packet_joins_after_a_first_request_body():
    # a first request with a body (Content-Length, up to 1 MiB): kbald
    # copies it to its end, then the flow joins; later uploads go joined
    with Env(conf=CONF) as env:
        with env.connect(timeout=30) as c:
            body = os.urandom(MiB)
            c.request("POST", "/up", body=body)
            r = c.read_response()
            eq((r.status, r.text), (200, crc_line(body)), "1 MiB POST first")
            wait_until(lambda: [f["path"] for _, f in env.flows()] == [PATH_PACKET], 2.0,
                       "the flow joined after its first body")
            for i in range(3):
                body = os.urandom(2 * MiB + i)
                c.request("POST", "/up%d" % i, body=body)
                r = c.read_response()
                eq((r.status, r.text), (200, crc_line(body)), "joined upload %d" % i)
            eq(env.stats()["redirected_bytes"], 0, "bytes through sockmap")
        all_gone(env, "the first client closed")
        with env.connect(timeout=30) as c:
            # the body in the same segment as the head
            c.send(b"POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            r = c.read_response()
            eq((r.status, r.text), (200, crc_line(b"hello")), "small POST first")
            wait_until(lambda: [f["path"] for _, f in env.flows()] == [PATH_PACKET], 2.0,
                       "the small POST's flow joined")
            eq(c.get("/after").status, 200, "a request on it")
        all_gone(env, "the clients closed")


def test_packet_after_a_large_first_response():
    # a first response bigger than kbald's buffer is still followed to its
    # end, and the flow joined after it
    with Env(conf=CONF) as env:
        with env.connect(timeout=30) as c:
            r = c.get("/bytes/%d" % MiB)
            eq(len(r.body), MiB, "1 MiB first response")
            check_pattern(r.body, "1 MiB first response")
            joined(env, c)
            r = c.get("/bytes/%d" % (4 * MiB))
            check_pattern(r.body, "4 MiB on the packet path")
            eq(env.stats()["redirected_bytes"], 0, "bytes through sockmap")
        all_gone(env, "the client closed")


def _bpftool(*args):
    p = subprocess.run(["bpftool", "-j"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    check(p.returncode == 0, "bpftool %s: %s" % (" ".join(args), p.stderr.decode()))
    return json.loads(p.stdout or b"[]")


def _kbal_progs(after_id):
    """{id: name} of the packet programs loaded since after_id (ids only
    grow: programs of other tests or processes are older)."""
    return {p["id"]: p.get("name", "") for p in _bpftool("prog", "show")
            if p["id"] > after_id and p.get("name", "").startswith("kbal_pkt_")}


def _progs_of(pid):
    """The ids of the BPF programs a process holds (its program and link
    descriptors' fdinfo), so that a test waits for its own kbald's and not
    for those another test on the host loads meanwhile (ids are global)."""
    ids = set()
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                for l in f:
                    if l.startswith("prog_id:"):
                        ids.add(int(l.split()[1]))
        except OSError:
            pass
    return ids


def _has_socket(lport, rport):
    """A TCP socket of 127.0.0.1:lport <-> 127.0.0.1:rport in this netns."""
    want = "0100007F:%04X 0100007F:%04X" % (lport, rport)
    with open("/proc/net/tcp") as f:
        return any(" ".join(l.split()[1:3]) == want for l in f)


def test_packet_program_dies_with_kbald():
    """The program hangs on tcx links held by kbald's descriptors: a kbald
    killed outright leaves nothing that rewrites into ports nobody holds,
    its joined flows end at their next packet, and a new kbald on the same
    pins tells the peers of those still open (an idle client is reset
    without sending, its member's connection goes) and starts clean."""
    before = max([p["id"] for p in _bpftool("prog", "show")] or [0])
    with Env(conf=CONF) as env:
        progs = _kbal_progs(before)
        mine = {i for i in _progs_of(env.kbald.pid) if i in progs}
        check(mine, "kbald's own packet programs: %r" % progs)
        check("kbal_pkt_splice" in progs.values(), "packet program loaded: %r" % progs)
        links = [l for l in _bpftool("link", "show") if l.get("prog_id") in progs]
        check(links and all(l["type"] in (11, "tcx") for l in links),
              "attached by tcx links: %r" % links)
        eq(subprocess.run(["tc", "qdisc", "show", "dev", "lo"], stdout=subprocess.PIPE)
           .stdout.decode().count("clsact"), 0, "no clsact qdisc made on lo")
        c = env.connect(timeout=5)
        n = int(kbaltest.hand_over(c, "/").header("X-Backend")[-1])
        joined(env, c)
        eq(c.get("/two").status, 200, "a request on the joined flow")
        # switched: kbald keeps its client-side socket (the flow may be
        # given back at a request, docs/packet.md), which closes with a
        # RST when kbald dies (SO_LINGER 0), not a FIN and an orphan
        check(_has_socket(env.port, c.sock.getsockname()[1]),
              "kbald's client-side socket kept after the switch")
        # a second joined flow that stays idle across the crash
        idle = env.connect(timeout=5)
        n_idle = int(kbaltest.hand_over(idle, "/").header("X-Backend")[-1])
        wait_until(lambda: len(pkt_entries(env)) == 8, 2.0, "two joined flows")
        eq(idle.get("/two").status, 200, "a request on the idle flow")
        # switched, as kbald saw it: its client-side socket acknowledged
        # (kbal_packet_ack_kept()) and kept
        check(_has_socket(env.port, idle.sock.getsockname()[1]),
              "kbald's client-side socket of the idle flow kept")
        lport = [f["member_lport"] for k, f in env.flows()
                 if k["client_port"] == socket.htons(idle.sock.getsockname()[1])][0]
        mport = env.ports["b%d" % n_idle]
        check(_has_socket(mport, lport), "the idle flow's member connection")
        # quiet: the last delayed ACKs are out, else one sent after the
        # kill would meet no socket and reset the flow by itself
        time.sleep(0.5)
        env.kbald.kill()
        env.kbald.wait(5)
        kbaltest.LIVE_PROCS.remove(env.kbald)
        wait_until(lambda: not mine & set(_kbal_progs(before)), 3.0,
                   "the packet programs to go")
        # nothing rewrites the flow now: the next request meets no socket
        try:
            c.request("GET", "/after-the-crash")
            r = c.read_response()
            got = r.status
        except (OSError, AssertionError) as e:   # reset or EOF
            got = type(e).__name__
        check(got != 200, "a request after kbald died was still joined (%r)" % (got,))
        # reset or closed at once, not left waiting on an orphan of the
        # kept socket (pkt_kept_linger())
        check(got not in ("timeout", "TimeoutError"), "the request after the crash: %r" % got)
        c.close()
        eq(len([l for l in env.backend_log(n) if "after-the-crash" in l]), 0,
           "the request after the crash reached the member")
        # a new kbald on the same pins tells the idle flow's peers, starts
        # from nothing and joins again
        env._start_kbald()
        eq(idle.what_arrives(3.0), "reset", "what the idle client got from the new kbald")
        idle.close()
        wait_until(lambda: not _has_socket(mport, lport), 3.0,
                   "the idle flow's member connection to end")
        check("previous kbald left" in env.kbald_stderr(), "the log says so")
        eq(env.flows(), [], "flows of the dead kbald")
        eq(pkt_entries(env), [], "kbal_pkt entries of the dead kbald")
        with env.connect(timeout=10) as c2:
            kbaltest.hand_over(c2, "/")
            joined(env, c2)
            r = c2.get("/bytes/%d" % MiB)
            check_pattern(r.body, "1 MiB after the restart")
        all_gone(env, "the client closed")


def churn(env, conns, duration=3, requests=3):
    """kbal-load's connections of a few requests (three: kbald serves the
    first itself, hands the connection over at the second, the third goes
    joined); its figures, checked clean: no connection stalled, no read,
    status or connect error."""
    load = os.path.join(kbaltest.BUILD, "kbal-load")
    p = subprocess.run([load, "127.0.0.1:%d" % env.port, "--conns", str(conns),
                        "--requests", str(requests),
                        "--duration", str(duration)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30 + duration)
    out = p.stdout.decode()
    m = json.loads(out.split("KBAL_BENCH ", 1)[1])
    check(p.returncode == 0 and m["connections"] > 0, "connections done: %s" % out.strip())
    eq((m["stalled"], m["err_read"], m["err_status"], m["err_connect"]), (0, 0, 0, 0),
       "stalled connections, read, status and connect errors (%d connections)" % m["connections"])
    return m


def test_packet_connection_churn():
    """Connections of two requests each, the second sent the moment the
    first response is in. The handover comes before kbald writes that
    response, so the second request cannot race it: every flow joins (none
    refused for bytes that came during the handover, none taken back); none
    may stall, and the ports that clients reuse at once (the member closes
    first) must not meet the old flows' entries."""
    with Env(conf=CONF, kbald_args=["-v"]) as env:
        m = churn(env, 20)
        check(m["connections"] > 100, "connections done: %r" % m)
        st = env.stats()
        check(st["pkt_rewritten"] > 0, "no flow joined: %r" % st)
        eq(st["pkt_unparsed"], 0, "packets not understood")
        all_gone(env, "the load stopped")
        log = env.kbald_stderr()
        refused = re.findall(r"packet path refused \(([a-z-]+)\)", log)
        eq(sorted(set(refused)), [], "reasons the packet path was refused (%d flows)" % len(refused))
        eq(log.count("handover taken back"), 0, "flows taken back to sockmap")
        check(log.count("joined packet by packet") >= m["connections"],
              "joined flows: %d of %d connections" % (log.count("joined packet by packet"),
                                                     m["connections"]))


def test_packet_churn_under_a_low_descriptor_limit():
    """The same churn with kbald's RLIMIT_NOFILE at 1024 (a common default),
    then so low that the connections do not all fit (80: about 17 of two
    descriptors): a flow's descriptors go within a moment of its end, not
    after a poll and a linger (which held some 20,000 on a host twice as
    fast, and answered 503 under 1024), and past its budget kbald accepts
    more slowly rather than failing anyone: no error, no stall."""
    for limit, conns in ((1024, 20), (80, 40)):
        with Env(conf=CONF, kbald_wrap=["prlimit", "--nofile=%d:%d" % (limit, limit), "--"]) as env:
            churn(env, conns)
            all_gone(env, "the load under RLIMIT_NOFILE %d" % limit)
            log = env.kbald_stderr()
            check("503" not in log and "Too many open files" not in log,
                  "kbald ran out of descriptors under %d: %s" % (limit, log[-2000:]))
            if limit == 80:
                check("hold the descriptor budget" in log,
                      "%d connections never filled the budget: the pause was not tried" % conns)


def test_packet_flow_released_when_it_ends():
    """A joined flow whose two FINs are acknowledged is over by TCP's rules:
    its frozen socket, entries and flow entry go at once, woken by the
    program's event (the once-a-second look and its one-second linger kept
    them 1 to 2 s). The bound below is under that old floor and hundreds of
    times what an event takes."""
    with Env(conf=CONF) as env:
        pid = env.kbald.pid
        base = len(os.listdir("/proc/%d/fd" % pid))
        conns = [env.connect(timeout=5) for _ in range(10)]
        for c in conns:
            eq(kbaltest.hand_over(c, "/one").status, 200, "first requests")
            eq(c.get("/three").status, 200, "a request joined")
        # the member connections kbald keeps for reuse (the first
        # requests went on them) are its own, not the flows'
        base += sum(int(m["idle"]) for m in env.members().values())
        wait_until(lambda: len([f for _, f in env.flows() if f["path"] == PATH_PACKET]) == 10,
                   3.0, "ten joined flows")
        time.sleep(1.2)   # past a once-a-second look
        t0 = time.monotonic()
        for c in conns:
            c.close()
        wait_until(lambda: len(os.listdir("/proc/%d/fd" % pid)) <= base and
                   env.flows() == [] and pkt_entries(env) == [], 0.9,
                   "the ended flows' descriptors and entries released")
        check(time.monotonic() - t0 < 0.9, "released in %.2f s" % (time.monotonic() - t0))
        eq(pkt_live(env), 0, "kbal_pkt_live")


def test_packet_stop_resets_both_peers():
    """kbald stopping with a joined flow open tells both peers at once (a
    probe each, whose answer the stack resets): the client sees its
    connection reset without sending anything, and the member's connection
    is gone rather than left open to its idle timeout."""
    with Env(conf=CONF) as env:
        c = env.connect(timeout=5)
        n = int(kbaltest.hand_over(c, "/").header("X-Backend")[-1])
        joined(env, c)
        eq(c.get("/two").status, 200, "a request on the joined flow")
        lport = env.flows()[0][1]["member_lport"]
        mport = env.ports["b%d" % n]
        check(_has_socket(mport, lport), "the member's connection before the stop")
        time.sleep(0.5)   # quiet: no delayed ACK left to meet no socket after the stop
        env.stop_kbald()
        eq(c.what_arrives(3.0), "reset", "what the idle client got when kbald stopped")
        c.close()
        wait_until(lambda: not _has_socket(mport, lport), 3.0,
                   "the member's connection to end")
        env._start_kbald()   # for the Env's own stop


def test_packet_default_falls_back_to_sockmap():
    """With no KbalSplice in the configuration (the packet path by default),
    a packet program that cannot be loaded leaves kbald on sockmap with a
    warning; with an explicit KbalSplice packet it is an error. (A directory
    where kbal_pkt must be pinned makes the load fail.)"""
    with Env(kbald=False) as env:
        blocker = os.path.join(env.pin_dir, "kbal_pkt")
        os.makedirs(blocker)
        try:
            env._start_kbald()
            check("packet splice unavailable" in env.kbald_stderr(),
                  "the warning: %s" % env.kbald_stderr())
            with env.connect() as c:
                # with the route's cookie: a request without it is kbald's
                # (its answer takes the cookie), handed over to no path
                eq(c.get("/one", cookie="ROUTEID=route.1").status, 200, "first request")
                eq(c.get("/two", cookie="ROUTEID=route.1").status, 200, "second request")
                eq([f["path"] for _, f in env.flows()], [PATH_SOCKMAP], "the flow's path")
        finally:
            os.rmdir(blocker)
    with Env(conf=CONF, kbald=False) as env:
        os.makedirs(os.path.join(env.pin_dir, "kbal_pkt"))
        try:
            p = subprocess.run([kbaltest.KBALD, "-f", env.conf_path, "--pin-dir", env.pin_dir],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
            eq(p.returncode, 1, "kbald's status with KbalSplice packet and no program")
            check("packet splice" in p.stderr.decode(), "the error: %s" % p.stderr.decode())
        finally:
            os.rmdir(os.path.join(env.pin_dir, "kbal_pkt"))
            if os.path.isdir(env.pin_dir):
                os.rmdir(env.pin_dir)


def test_packet_flow_clocks_as_httpd():
    """httpd's clocks on joined flows, by what the program's framing says is
    under way (packet_clocks.c): a flow idle between requests ends after
    KeepAliveTimeout (was: the longer of it and Timeout), one waiting for
    an answer the member never sends after Timeout, one whose client sends
    a request's head a byte at a time after RequestReadTimeout's header
    bound although bytes keep coming (was: never), one that carries a
    request now and then goes on. The idle one ends with an EOF, as httpd
    closes a keep-alive connection (until 2026-12-06: both peers reset);
    the other two get httpd's answer, 502 and 408, then EOF: kbald takes
    the client's leg back onto its kept socket and writes it there, or
    nothing for the idle one (until 2026-12-06 they were reset too;
    test_packet_answers.py compares the bytes with kbald's other paths')."""
    conf = CONF.replace("ProxyPreserveHost On", "ProxyPreserveHost On\nTimeout 4\nKeepAliveTimeout 1\n"
                        "RequestReadTimeout header=2 body=2")
    check(conf != CONF, "the example has ProxyPreserveHost On")
    with Env(conf=conf) as env:
        names = ("busy", "idle", "hang", "slow")
        conns = {k: env.connect(timeout=10) for k in names}
        for c in conns.values():
            kbaltest.hand_over(c, "/")
        wait_until(lambda: len([f for _, f in env.flows() if f["path"] == PATH_PACKET]) == 4,
                   2.0, "four flows on the packet path")
        eq(conns["idle"].get("/then-idle").status, 200, "the idle flow's last request")
        conns["hang"].request("GET", "/fault-hang")
        conns["slow"].sock.sendall(b"GET /slow HTTP/1.1\r\n")
        t0 = time.monotonic()
        ended, got = {}, {"hang": b"", "slow": b""}
        next_busy = next_slow = 0.0
        while time.monotonic() - t0 < 7.0 and len(ended) < 3:
            t = time.monotonic() - t0
            if t >= next_busy:
                eq(conns["busy"].get("/busy").status, 200, "a request on the busy flow at %.1f s" % t)
                next_busy = t + 0.5
            if t >= next_slow and not got["slow"] and "slow" not in ended:
                try:
                    conns["slow"].sock.sendall(b"X")
                except OSError:
                    ended["slow"] = ("reset", t)
                next_slow = t + 0.3
            for k in ("idle", "hang", "slow"):
                if k in ended:
                    continue
                c = conns[k]
                c.sock.settimeout(0.05)
                try:
                    d = c.sock.recv(65536)
                    if not d:
                        ended[k] = ("eof", time.monotonic() - t0)
                    elif k == "idle":
                        raise AssertionError("idle got %r" % d)
                    else:
                        got[k] += d
                except ConnectionResetError:
                    ended[k] = ("reset", time.monotonic() - t0)
                except OSError:
                    pass
        eq(sorted(ended), ["hang", "idle", "slow"], "the flows ended: %r" % ended)
        eq(ended["idle"][0], "eof", "the idle flow ended as httpd ends it: a FIN, no answer")
        first = {k: got[k].split(b"\r\n")[0] for k in got}
        eq((ended["hang"][0], first["hang"]), ("eof", b"HTTP/1.1 502 Proxy Error"),
           "the answer owed: kbald's 502, then EOF")
        eq((ended["slow"][0], first["slow"]), ("eof", b"HTTP/1.1 408 Request Timeout"),
           "the slow head: kbald's 408, then EOF")
        # each by its own clock, looked at once a second: never early, at
        # most about a second late (s since the hang's request)
        check(0.9 <= ended["idle"][1] < 3.0, "idle ended after KeepAliveTimeout: %r" % ended)
        check(1.9 <= ended["slow"][1] < 4.0, "slow head ended after RequestReadTimeout: %r" % ended)
        check(3.9 <= ended["hang"][1] < 6.5, "answer owed ended after Timeout: %r" % ended)
        eq(len([f for _, f in env.flows() if f["path"] == PATH_PACKET]), 1, "the busy flow still joined")
        eq(conns["busy"].get("/still").status, 200, "the busy flow goes on")
        for c in conns.values():
            c.close()
        all_gone(env, "all closed")
