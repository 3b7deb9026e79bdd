# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Each request of a joined flow decided by the packet path's program as
kbald would decide it (docs/packet.md, "Each request decided"): on a
configuration whose later requests may be decided differently (a sticky
session over two members, a manager, two balancers), `KbalSplice packet`
joins the keep-alive connection all the same, the program keeps each
request whose decision is the flow's (bpf/req_decide.bpf.h, the sockmap
path's verdict's rules) and gives the flow back to kbald at the first byte
of any other; a request that must go to kbald while an answer is still
under way waits for the flow to be quiet (its segments dropped, the client
sends them again). Every answer is checked against the member Apache
would pick, byte for byte."""

import socket
import time

import kbaltest
from kbaltest import EXAMPLE_CONF, Env, check, check_pattern, eq, wait_until
from test_packet import PATH_PACKET
from tcp_watch import Capture, clean_end, flow_of, tcp_counters

MiB = 1 << 20


def decided_conf(conf):
    """Apache's example (two members, sticky ROUTEID, the Set-Cookie Header
    for a changed route, the manager) without ProxyPassReverse (the program
    hands no response head back yet), with KbalSplice packet."""
    out = []
    for line in conf.split("\n"):
        if line.startswith("ProxyPassReverse"):
            continue
        out.append(line)
        if line.startswith("ProxySet lbmethod="):
            out.append("KbalSplice packet")
    return "\n".join(out)


CONF = decided_conf(EXAMPLE_CONF)


def joined_with_route(env, c):
    """The connection's first requests (kbald's: the route's cookie set),
    then the flow joined; returns (the member's name, its route cookie)."""
    r = c.get("/first")
    eq(r.status, 200, "the first request")
    backend = r.header("X-Backend")
    cookie = "ROUTEID=route.%s" % backend[-1]
    check(any(k.lower() == "set-cookie" and "ROUTEID=route." in v for k, v in r.headers),
          "the first answer sets the route's cookie: %r" % r.headers)
    r = c.get("/first/2", cookie=cookie)
    eq(r.header("X-Backend"), backend, "the sticky second request")
    port = c.sock.getsockname()[1]
    wait_until(lambda: (flow_of(env, port) or {}).get("path") == PATH_PACKET, 3.0,
               "the flow on the packet path")
    return backend, cookie


def other(backend):
    return "WAS2" if backend == "WAS1" else "WAS1"


def test_decided_sticky_requests_kept_another_route_given_back():
    """Sticky requests naming the flow's member stay joined (counted kept
    by the program, none seen by kbald); one whose cookie names the other
    member is given back at its first byte and answered by that member;
    the connection goes on, every answer from the member its cookie names.
    No RST, no retransmission timeout."""
    with Env(conf=CONF, kbald_args=["-v"]) as env:
        cap = Capture([env.port, env.ports["b1"], env.ports["b2"]])
        before = tcp_counters()
        with env.connect(timeout=30) as c:
            port = c.sock.getsockname()[1]
            backend, cookie = joined_with_route(env, c)
            st0 = env.stats()
            for i in range(20):
                r = c.get("/k%d" % i, cookie=cookie)
                eq((r.status, r.text), (200, "backend=%s path=/k%d\n" % (backend, i)),
                   "kept request %d" % i)
                check(r.header("Set-Cookie") is None, "a kept answer with a cookie")
            r = c.get("/bytes/%d" % MiB, cookie=cookie)
            check_pattern(r.body, "1 MiB while joined")
            st1 = env.stats()
            eq(st1["pkt_kept"] - st0["pkt_kept"], 21, "requests the program kept")
            eq(st1["pkt_back"] - st0["pkt_back"], 0, "flows given back")
            check(st1["pkt_rewritten"] > st0["pkt_rewritten"], "no packet joined")
            eq((flow_of(env, port) or {}).get("path"), PATH_PACKET, "still joined")
            # the other member's route: Apache sends it there
            them = other(backend)
            r = c.get("/moved", cookie="ROUTEID=route.%s" % them[-1])
            eq((r.status, r.text), (200, "backend=%s path=/moved\n" % them),
               "a request naming the other member's route")
            eq(env.stats()["pkt_back"] - st1["pkt_back"], 1, "the flow given back")
            check(flow_of(env, port)["path"] != PATH_PACKET, "the flow's path after")
            check("joined flow given back at a request" in env.kbald_stderr(),
                  "kbald's log: no flow given back")
            # kbald's (and the stream parser's) from here: each request
            # still decided
            for i in range(6):
                who = backend if i % 2 else them
                r = c.get("/a%d" % i, cookie="ROUTEID=route.%s" % who[-1])
                eq((r.status, r.text), (200, "backend=%s path=/a%d\n" % (who, i)),
                   "request %d after" % i)
        clean_end(env, cap, before, "the client closed")


def test_decided_manager_reached_on_a_joined_flow():
    """The balancer-manager (`ProxyPass /balancer-manager !` and its
    `<Location>`) asked for on a connection the program carries: given
    back, kbald's page, not the member's 404; a request with no route
    cookie after it gets the cookie from kbald."""
    with Env(conf=CONF) as env:
        with env.connect(timeout=30) as c:
            backend, cookie = joined_with_route(env, c)
            r = c.get("/x", cookie=cookie)
            eq(r.header("X-Backend"), backend, "a kept request")
            r = c.get("/balancer-manager", cookie=cookie)
            eq(r.status, 200, "the manager's status")
            check(b"Load Balancer Manager" in r.body, "not the manager's page: %r" % r.body[:200])
            check(r.header("X-Backend") is None, "the manager answered by a member")
            r = c.get("/y")
            eq(r.status, 200, "a request without the cookie")
            check("ROUTEID=route." in (r.header("Set-Cookie") or ""),
                  "no route cookie for a request without one: %r" % r.headers)


def test_decided_pipelined_behind_an_answer_waits_until_quiet():
    """A request for the other member sent while the answer to a kept one
    (1 MiB) is still under way: the program cannot give the flow back in
    the middle of an answer and must not pass the request to this member;
    its segment is dropped until the answer is through (pkt_held), then
    the flow is given back at it. The client reads the 1 MiB answer, then
    the other member's, in order, byte-exact."""
    with Env(conf=CONF) as env:
        with env.connect(timeout=30) as c:
            backend, cookie = joined_with_route(env, c)
            them = other(backend)
            st0 = env.stats()
            c.request("GET", "/bytes/%d" % MiB, headers=[("Cookie", cookie)])
            time.sleep(0.05)   # its own segment, with the answer under way
            c.request("GET", "/there", headers=[("Cookie", "ROUTEID=route.%s" % them[-1])])
            r = c.read_response()
            eq(r.status, 200, "the 1 MiB answer")
            eq(r.header("X-Backend"), backend, "the 1 MiB answer's member")
            check_pattern(r.body, "the 1 MiB answer")
            r = c.read_response()
            eq((r.status, r.text), (200, "backend=%s path=/there\n" % them),
               "the request behind it")
            st1 = env.stats()
            check(st1["pkt_held"] > st0["pkt_held"],
                  "the request was not held: %r" % {k: st1[k] - st0[k] for k in st1})
            eq(st1["pkt_back"] - st0["pkt_back"], 1, "the flow given back")
            r = c.get("/after", cookie=cookie)
            eq((r.status, r.text), (200, "backend=%s path=/after\n" % backend), "after")


def test_decided_two_requests_in_one_segment_go_to_kbald():
    """Two requests in one segment on a joined flow (the program gives a
    flow back only at a segment's first byte, so it keeps a request only
    when it is all the segment holds): given back at the first, both
    answered in order by the members their cookies name."""
    with Env(conf=CONF) as env:
        with env.connect(timeout=30) as c:
            backend, cookie = joined_with_route(env, c)
            them = other(backend)
            c.send(kbaltest.build_request("GET", "/one", [("Cookie", cookie)], None,
                                          c.host_header, "HTTP/1.1") +
                   kbaltest.build_request("GET", "/two",
                                          [("Cookie", "ROUTEID=route.%s" % them[-1])],
                                          None, c.host_header, "HTTP/1.1"))
            r = c.read_response()
            eq((r.status, r.text), (200, "backend=%s path=/one\n" % backend), "the first")
            r = c.read_response()
            eq((r.status, r.text), (200, "backend=%s path=/two\n" % them), "the second")


TWO_BALANCERS = kbaltest.PROXY_HEAD + """\
<Proxy balancer://api>
BalancerMember http://127.0.0.1:{b1} route=1
KbalSplice packet
</Proxy>
<Proxy balancer://app>
BalancerMember http://127.0.0.1:{b2} route=2
KbalSplice packet
</Proxy>
ProxyPass /api/ balancer://api/api/
ProxyPass / balancer://app/
ProxyPreserveHost On
"""


def test_decided_two_balancers_each_request_on_its_own():
    """Two balancers by path (issue 15's case): a connection joined on
    `/api/` keeps its `/api/` requests in the kernel and gives the flow back
    at the first `/` request, which reaches the app balancer's member; then
    alternating paths, each request on its balancer's member."""
    with Env(conf=TWO_BALANCERS) as env:
        with env.connect(timeout=30) as c:
            port = c.sock.getsockname()[1]
            r = kbaltest.hand_over(c, "/api/first")
            eq(r.header("X-Backend"), "WAS1", "the handover's member")
            wait_until(lambda: (flow_of(env, port) or {}).get("path") == PATH_PACKET, 3.0,
                       "the flow on the packet path")
            st0 = env.stats()
            for i in range(5):
                r = c.get("/api/k%d" % i)
                eq((r.status, r.text), (200, "backend=WAS1 path=/api/k%d\n" % i),
                   "kept /api/ request %d" % i)
            eq(env.stats()["pkt_kept"] - st0["pkt_kept"], 5, "kept by the program")
            for i in range(8):
                path = "/api/x%d" % i if i % 2 else "/x%d" % i
                who = "WAS1" if i % 2 else "WAS2"
                r = c.get(path)
                eq((r.status, r.text), (200, "backend=%s path=%s\n" % (who, path)),
                   "alternating request %d" % i)


def test_decided_flow_across_a_restart_in_place():
    """A decided flow taken over by the next image (SIGHUP): the next image
    arms it again with the decision the image before wrote (kbal_pkt_decide
    is pinned), so a request of the flow's route is still the program's
    (kept, counted); one naming the other route is given back and kbald
    decides it; the connection goes on, every answer from the member its
    cookie names."""
    from test_restart import _restart
    with Env(conf=CONF, kbald_args=["-v"]) as env:
        with env.connect(timeout=30) as c:
            port = c.sock.getsockname()[1]
            backend, cookie = joined_with_route(env, c)
            them = other(backend)
            r = c.get("/before", cookie=cookie)
            eq((r.status, r.text), (200, "backend=%s path=/before\n" % backend), "before")
            _restart(env)
            st0 = env.stats()
            for i in range(3):
                r = c.get("/after%d" % i, cookie=cookie)
                eq((r.status, r.text), (200, "backend=%s path=/after%d\n" % (backend, i)),
                   "the flow's route after the restart")
            st1 = env.stats()
            eq((st1["pkt_kept"] - st0["pkt_kept"], st1["pkt_back"] - st0["pkt_back"]), (3, 0),
               "requests the next image's program kept, flows given back")
            eq((flow_of(env, port) or {}).get("path"), PATH_PACKET, "still joined")
            check(env.kbald_stderr().count("(each request decided)") >= 2,
                  "kbald's log: the flow not armed again after the restart")
            r = c.get("/moved", cookie="ROUTEID=route.%s" % them[-1])
            eq((r.status, r.text), (200, "backend=%s path=/moved\n" % them),
               "the other route after the restart")
            check((flow_of(env, port) or {}).get("path") != PATH_PACKET, "given back")
            for i in range(4):
                who = backend if i % 2 else them
                r = c.get("/a%d" % i, cookie="ROUTEID=route.%s" % who[-1])
                eq((r.status, r.text), (200, "backend=%s path=/a%d\n" % (who, i)),
                   "request %d after" % i)


def test_decided_requests_with_bodies():
    """Bodies on a decided flow (two balancers by path): a small POST whole
    in its segment is kept by the program; a chunked one, one with `Expect:
    100-continue` and one larger than a segment go to kbald at their first
    byte (the program keeps a request only whole in its segment, and hands
    those to kbald as the sockmap path's framing does); each reaches the
    member of its path, its body byte-exact (the member's CRC)."""
    import os
    from kbaltest import crc_line
    with Env(conf=TWO_BALANCERS) as env:
        def joined():
            c = env.connect(timeout=30)
            port = c.sock.getsockname()[1]
            r = kbaltest.hand_over(c, "/api/first")
            eq(r.header("X-Backend"), "WAS1", "the handover's member")
            wait_until(lambda: (flow_of(env, port) or {}).get("path") == PATH_PACKET, 3.0,
                       "the flow on the packet path")
            return c
        with joined() as c:
            st0 = env.stats()
            body = os.urandom(300)
            c.request("POST", "/api/up", body=body)
            r = c.read_response()
            eq((r.status, r.text, r.header("X-Backend")), (200, crc_line(body), "WAS1"),
               "a small POST, kept")
            eq(env.stats()["pkt_kept"] - st0["pkt_kept"], 1, "kept by the program")
            c.send(b"POST /up HTTP/1.1\r\nHost: " + c.host_header.encode() +
                   b"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            r = c.read_response()
            eq((r.status, r.text, r.header("X-Backend")), (200, crc_line(b"hello"), "WAS2"),
               "a chunked POST to the other balancer, through kbald")
        with joined() as c:
            c.send(b"POST /api/up HTTP/1.1\r\nHost: " + c.host_header.encode() +
                   b"\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            r = c.read_response(interim=True)
            eq(r.status, 100, "100 Continue")
            c.send(b"howdy")
            r = c.read_response()
            eq((r.status, r.text, r.header("X-Backend")), (200, crc_line(b"howdy"), "WAS1"),
               "Expect: 100-continue, through kbald")
        with joined() as c:
            body = os.urandom(3 * MiB + 11)
            c.request("POST", "/api/up", body=body)
            r = c.read_response()
            eq((r.status, r.text, r.header("X-Backend")), (200, crc_line(body), "WAS1"),
               "3 MiB up, through kbald")
            r = c.get("/x")
            eq((r.status, r.text), (200, "backend=WAS2 path=/x\n"), "then the other balancer")


def test_decided_first_request_with_a_long_body_then_the_next():
    """A keep-alive connection's first request, which kbald decides, with a
    Content-Length body longer than kbald's buffer: kbald reads it to its
    end and no further (what comes behind it is the program's to frame), so
    whether the client sent more is for its socket's queue to say. Until
    2026-12-06 the flow waited for a read that would find the socket dry,
    which no read made: the client's next request was never read, its
    connection hung (the upload benchmark: 3 requests a second, one per
    connection). Each next request, sent after the answer or pipelined
    behind the body, with the route's cookie or without, is answered byte
    for byte by the member Apache picks."""
    import os
    from kbaltest import crc_line
    with Env(conf=CONF) as env:
        for size in (17 * 1024, MiB + 5):
            for pipelined in (False, True):
                for sticky in (False, True):
                    what = "%d bytes, %s, %s" % (size, "pipelined" if pipelined else "after the answer",
                                                 "sticky" if sticky else "no cookie")
                    body = os.urandom(size)
                    with env.connect(timeout=10) as c:
                        first = kbaltest.build_request("POST", "/up", [], body, c.host_header, "HTTP/1.1")
                        if pipelined:
                            c.send(first + kbaltest.build_request("GET", "/next", [], None, c.host_header,
                                                                  "HTTP/1.1"))
                        else:
                            c.send(first)
                        r = c.read_response()
                        eq((r.status, r.text), (200, crc_line(body)), "the first request: " + what)
                        backend = r.header("X-Backend")
                        cookie = "ROUTEID=route.%s" % backend[-1]
                        if pipelined:
                            r = c.read_response()
                            eq(r.status, 200, "the pipelined next request: " + what)
                            check(r.text in ("backend=WAS1 path=/next\n", "backend=WAS2 path=/next\n"),
                                  "its answer: %r (%s)" % (r.text, what))
                        r = c.get("/then", cookie=cookie if sticky else None)
                        eq(r.status, 200, "the request after: " + what)
                        if sticky:
                            eq((r.text, r.header("X-Backend")), ("backend=%s path=/then\n" % backend, backend),
                               "the sticky request after: " + what)
                        if sticky:
                            c.request("POST", "/more", [("Cookie", cookie)], body=body[:1000])
                            r = c.read_response()
                            eq((r.status, r.text, r.header("X-Backend")), (200, crc_line(body[:1000]), backend),
                               "a sticky POST after: " + what)


def test_decided_netns():
    """Across veths (kbaltest.Topo, full checksums: the program's SHIFT
    entries at the balancer's ingress and egress): sticky requests kept,
    1 MiB down, then one naming the other route given back and answered by
    that member, the connection going on; every host's counters: no
    timeout, reset, PAWS drop or checksum error, retransmissions no more
    than loss probes and those the receiver reported as duplicates."""
    hosts = ("client", "member1", "member2", "balancer")
    with kbaltest.Topo(csum_offload=False) as topo, Env(topo=topo, conf=CONF) as env:
        before = {h: topo.tcp_counters(h) for h in hosts}
        with env.connect(timeout=30) as c:
            backend, cookie = joined_with_route(env, c)
            them = other(backend)
            st0 = env.stats()
            for i in range(10):
                r = c.get("/k%d" % i, cookie=cookie)
                eq((r.status, r.text), (200, "backend=%s path=/k%d\n" % (backend, i)),
                   "kept request %d" % i)
            r = c.get("/bytes/%d" % MiB, cookie=cookie)
            check_pattern(r.body, "1 MiB while joined")
            eq(env.stats()["pkt_kept"] - st0["pkt_kept"], 11, "kept by the program")
            r = c.get("/moved", cookie="ROUTEID=route.%s" % them[-1])
            eq((r.status, r.text), (200, "backend=%s path=/moved\n" % them), "the other route")
            eq(env.stats()["pkt_back"] - st0["pkt_back"], 1, "given back")
            for i in range(4):
                r = c.get("/a%d" % i, cookie=cookie)
                eq((r.status, r.text), (200, "backend=%s path=/a%d\n" % (backend, i)),
                   "request %d after" % i)
            st1 = env.stats()
            print("held %d, dropped %d" % (st1["pkt_held"] - st0["pkt_held"],
                                           st1["pkt_dropped"] - st0["pkt_dropped"]))
        wait_until(lambda: env.flows() == [], 8.0, "no flow after the client closed")
        counters_clean(topo, before)


def counters_clean(topo, before):
    """every host's TCP counters since before (by host): no timeout,
    reset, PAWS drop or checksum error, retransmissions no more than loss
    probes and those the receiver reported as duplicates"""
    from tcp_watch import COUNTERS, sent_again_allowed
    for h in before:
        after = topo.tcp_counters(h)
        d = {k: after.get(k, 0) - before[h].get(k, 0) for k in COUNTERS + ("InCsumErrors",)}
        full = {k: v - before[h].get(k, 0) for k, v in after.items()
                if v != before[h].get(k, 0)}
        print(h, full)
        # nothing lost (measured here: 2 of 10 runs beside two busy
        # loops, RetransSegs 2, TCPDSACKRecvSegs 2)
        check(d["RetransSegs"] <= sent_again_allowed(d),
              "%s: retransmissions: %r" % (h, full))
        eq((d["TCPTimeouts"], d["BeyondWindow"], d["PAWSEstab"], d["EstabResets"],
            d["InCsumErrors"], d["TCPAbortOnData"]), (0, 0, 0, 0, 0, 0),
           "%s: timeouts, beyond window, PAWS, resets, checksum errors: %r" % (h, d))


def test_decided_netns_member_closing_with_its_answer():
    """Across veths (full checksums): the member writes its answer and
    closes at once (/then-close-at-once, its FIN in the answer's segment,
    which the program takes off at the balancer's ingress: the checksum
    right for the client's stack): the client keeps its connection, its
    next request, sent at once, is answered by the member the route names
    on a new connection, and kbal carries the connection on. The client's
    and the balancer's counters clean (the member's own FIN is sent again
    after its timeout: the program never acknowledges it)."""
    hosts = ("client", "balancer")
    with kbaltest.Topo(csum_offload=False) as topo, Env(topo=topo, conf=CONF) as env:
        before = {h: topo.tcp_counters(h) for h in hosts}
        with env.connect(timeout=30) as c:
            backend, cookie = joined_with_route(env, c)
            st0 = env.stats()
            for p in ("/k0", "/k1", "/then-close-at-once", "/a0", "/a1", "/a2"):
                r = c.get(p, cookie=cookie)
                eq((r.status, r.text), (200, "backend=%s path=%s\n" % (backend, p)), p)
                eq(r.header("Connection"), None, "Connection header of %s" % p)
            st1 = env.stats()
            eq(st1["pkt_kept"] - st0["pkt_kept"], 3, "kept by the program")
            eq(st1["pkt_back"] - st0["pkt_back"], 1, "given back at the next request")
        wait_until(lambda: env.flows() == [], 8.0, "no flow after the client closed")
        counters_clean(topo, before)


def test_decided_max_keepalive_requests_counts_the_kept_ones():
    """MaxKeepAliveRequests 8 on a decided flow: the requests the program
    keeps count as the connection's own, also once the flow is given back
    (kbald counts on from the program's count): the 9th answer says
    Connection: close and the connection ends, as httpd's does (its
    keepalives count the requests before: test_max_keepalive.py)."""
    conf = CONF.replace("ProxyPreserveHost On", "ProxyPreserveHost On\nMaxKeepAliveRequests 8")
    check("MaxKeepAliveRequests 8" in conf, "the configuration")
    with Env(conf=conf) as env:
        with env.connect(timeout=30) as c:
            backend, cookie = joined_with_route(env, c)          # requests 1, 2
            them = other(backend)
            st0 = env.stats()
            for i in range(3):                                   # 3, 4, 5: kept
                r = c.get("/k%d" % i, cookie=cookie)
                eq((r.status, r.header("Connection")), (200, None), "kept request %d" % i)
            eq(env.stats()["pkt_kept"] - st0["pkt_kept"], 3, "kept by the program")
            r = c.get("/moved", cookie="ROUTEID=route.%s" % them[-1])   # 6: given back
            eq((r.status, r.header("X-Backend"), r.header("Connection")), (200, them, None),
               "the 6th, given back")
            r = c.get("/7", cookie=cookie)
            eq((r.status, r.header("Connection")), (200, None), "the 7th")
            r = c.get("/8", cookie=cookie)
            eq((r.status, r.header("Connection")), (200, None), "the 8th")
            r = c.get("/9", cookie=cookie)
            eq((r.status, (r.header("Connection") or "").lower()), (200, "close"),
               "the 9th: the connection's last")
            c.sock.settimeout(5)
            eq(c.sock.recv(1), b"", "the connection ended after the 9th")


EXAMPLE_PACKET = EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                                      "ProxySet lbmethod=byrequests\nKbalSplice packet")


def test_decided_answer_given_back_where_kbald_writes_it():
    """Apache's example itself (ProxyPassReverse included), KbalSplice
    packet: sticky requests kept; a member's 302 whose Location names the
    member is given back at its first byte and written by kbald with the
    Location mapped as on a fresh connection (ProxyPassReverse); a member's
    Connection: close is written without it, the client's connection going
    on, as httpd does; a 503 from the member ends the client's connection
    after it, as httpd's does. Every answer byte-exact where it passes."""
    with Env(conf=EXAMPLE_PACKET) as env:
        check("KbalSplice packet joins no keep-alive" not in env.kbald_stderr(),
              "kbald -t: %s" % env.kbald_stderr())
        fresh = env.get("/redirect", cookie="ROUTEID=route.1")
        eq(fresh.status, 302, "a fresh connection's /redirect")
        with env.connect(timeout=30) as c:
            port = c.sock.getsockname()[1]
            backend, cookie = joined_with_route(env, c)
            st0 = env.stats()
            for i in range(5):
                r = c.get("/k%d" % i, cookie=cookie)
                eq((r.status, r.text), (200, "backend=%s path=/k%d\n" % (backend, i)),
                   "kept request %d" % i)
            r = c.get("/redirect", cookie=cookie)
            want = fresh.header("Location").replace("WAS1", backend)
            eq((r.status, r.header("Location")), (302, want),
               "the 302's Location mapped by kbald")
            st1 = env.stats()
            eq(st1["pkt_kept"] - st0["pkt_kept"], 6, "requests the program kept")
            eq(st1["pkt_back"] - st0["pkt_back"], 1, "given back at the answer")
            check(flow_of(env, port)["path"] != PATH_PACKET, "the flow's path after")
            for i in range(3):
                r = c.get("/a%d" % i, cookie=cookie)
                eq((r.status, r.text), (200, "backend=%s path=/a%d\n" % (backend, i)),
                   "request %d after" % i)
        with env.connect(timeout=30) as c:
            backend, cookie = joined_with_route(env, c)
            r = c.get("/k", cookie=cookie)
            eq(r.status, 200, "a kept request")
            r = c.get("/close", cookie=cookie)
            eq((r.status, r.header("Connection")), (200, None),
               "the member's Connection: close, written without it")
            r = c.get("/after-close", cookie=cookie)
            eq((r.status, r.text), (200, "backend=%s path=/after-close\n" % backend),
               "the client's connection goes on")
        with env.connect(timeout=30) as c:
            backend, cookie = joined_with_route(env, c)
            r = c.get("/status/503", cookie=cookie)
            eq((r.status, (r.header("Connection") or "").lower()), (503, "close"),
               "a member's 503: the client's connection ends after it, as httpd's")
            c.sock.settimeout(5)
            eq(c.sock.recv(1), b"", "closed after the 503")


def test_decided_long_first_answer_armed_at_once():
    """A connection whose first answer is long (1 MiB, served on a kept
    member connection, which becomes the client's) joins while kbald's
    client socket still has that answer to send: the flow is armed at the
    join all the same (the socket's numbers read without its send queue),
    so that every later request is the program's. Before, each request
    came back to kbald and was joined again (1m-sticky: half the requests
    left to sockmap)."""
    with Env(conf=CONF, kbald_args=["-v"]) as env:
        with env.connect(timeout=30, rcvbuf=65536) as c:
            port = c.sock.getsockname()[1]
            c.request("GET", "/bytes/%d" % MiB, [("Cookie", "ROUTEID=route.1")])
            # the client reads nothing for a while: the answer's end
            # still unsent in kbald's socket when the flow joins
            wait_until(lambda: (flow_of(env, port) or {}).get("path") == PATH_PACKET, 3.0,
                       "the flow on the packet path")
            time.sleep(0.2)
            r = c.read_response()
            eq((r.status, r.header("X-Backend")), (200, "WAS1"), "the long first answer")
            check_pattern(r.body, "the long first answer")
            st0 = env.stats()
            for i in range(10):
                r = c.get("/k%d" % i, cookie="ROUTEID=route.1")
                eq((r.status, r.text), (200, "backend=WAS1 path=/k%d\n" % i), "request %d" % i)
            st1 = env.stats()
        log = env.kbald_stderr()
        check("decided flow's request reached kbald" not in log,
              "a request came back to kbald:\n%s" % "\n".join(
                  l for l in log.splitlines() if "armed" in l or "reached kbald" in l))
        eq(st1["pkt_kept"] - st0["pkt_kept"], 10, "requests the program kept")


def test_decided_unasked_answer_goes_with_its_member_connection():
    """A member of a decided joined flow sends an answer nobody asked for,
    0.2 s after its answer (a segment of its own): the program gives the
    flow back at its first byte with nothing owed, and kbald closes that
    member connection with it, as httpd does not reuse a member connection
    with data waiting on it; the client's connection goes on and its next
    request gets its own answer, never the stray one. Before, the stray
    answer was held until the next request was sent on, then passed as its
    answer (kbal-backend's /fault-smuggle sends both in one segment: the
    sockmap path's case, test_member_faults.py)."""
    from recording_member import RecordingMember, stamps

    def answer(name):
        def a(head, n):
            path = head.split(b" ")[1]
            body = b"%s %s" % (name, path)
            ok = b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (stamps(), len(body),
                                                                          body)
            if path == b"/stray":
                return [ok, b"HTTP/1.1 200 OK\r\nX-Smuggled: yes\r\nContent-Length: 9\r\n\r\n"
                            b"smuggled\n"]
            return ok
        return a

    with Env(conf=CONF, backends=(), kbald_args=["-v"]) as env, \
            RecordingMember(env.ports["b1"], answer(b"WAS1")) as m1, \
            RecordingMember(env.ports["b2"], answer(b"WAS2")) as m2:
        with env.connect(timeout=10) as c:
            port = c.sock.getsockname()[1]
            r = c.get("/first")
            name = r.body.split()[0]
            cookie = (r.header("Set-Cookie") or "").split(";")[0]
            check(cookie.startswith("ROUTEID=route."), "the first answer's cookie: %r" % r.headers)
            eq(c.get("/second", cookie=cookie).body, name + b" /second", "the second request")
            wait_until(lambda: (flow_of(env, port) or {}).get("path") == PATH_PACKET, 3.0,
                       "the flow on the packet path")
            st0 = env.stats()
            eq(c.get("/stray", cookie=cookie).body, name + b" /stray", "the answer")
            wait_until(lambda: m1.late_sent + m2.late_sent, 3.0, "the stray answer sent")
            # the stray answer reaches the balancer before the next request
            # (one that comes after it answers that request, in httpd too)
            time.sleep(0.05)
            r = c.get("/next", cookie=cookie)
            eq((r.status, r.body, r.header("X-Smuggled")), (200, name + b" /next", None),
               "the next request's own answer")
            eq(env.stats()["pkt_back"] - st0["pkt_back"], 1, "the flow given back")
            eq(c.get("/after", cookie=cookie).body, name + b" /after", "the connection goes on")
        check("the member sent what no request asked for" in env.kbald_stderr(),
              "kbald's log: no stray answer")


def test_decided_answer_it_cannot_follow_ends_the_flow():
    """A member of a decided joined flow answers with a second response in
    the same segment as its answer (kbal-backend's /fault-smuggle, one
    write): the program finds a head no request asked for in the segment's
    middle and can no longer frame the flow, so it passes nothing more of
    it, that segment included, and kbald ends the connection, both peers
    reset: the client never gets a byte of the stray answer (nor anything
    undecided after it). Before, the framing was lost and the segment, and
    every later request undecided, went on. (httpd gives the client its
    answer and drops the member connection; the sockmap path does:
    test_member_faults.py. Here the stray bytes cannot be cut from the
    segment that carries the answer's end.)"""
    with Env(conf=CONF, kbald_args=["-v"]) as env:
        with env.connect(timeout=10) as c:
            backend, cookie = joined_with_route(env, c)
            c.request("GET", "/fault-smuggle", [("Cookie", cookie)])
            got, ended = b"", None
            deadline = time.monotonic() + 5
            while ended is None and time.monotonic() < deadline:
                try:
                    data = c.sock.recv(65536)
                except ConnectionResetError:
                    ended = "reset"
                    break
                except socket.timeout:
                    continue
                if not data:
                    ended = "closed"
                got += data
            check(ended is not None, "the client's connection did not end (got %r)" % got)
            check(b"smuggled" not in got, "the stray answer reached the client: %r" % got)
        wait_until(lambda: env.flows() == [], 3.0, "the flow gone")
        check("framing lost (answer: a head no request asked for)" in env.kbald_stderr(),
              "kbald's log: the flow not ended for its framing")



def _joined_on_a_kept_connection(env):
    """Another client's exchange (1 MB answered, counted when it ended)
    leaves a member connection kept; a keep-alive client's long first
    answer (1 MiB, read only once joined) takes it and joins, where the
    program saw the member's packets after kbald asked it to (a race on
    loopback: a kept connection's answer may be all in before; then it
    goes to sockmap: None). Returns (the client's connection, the
    member's figures before it), or None."""
    eq(env.get("/bytes/1000000", cookie="ROUTEID=route.1",
               headers=[("Connection", "close")]).status, 200, "the other client's answer")
    wait_until(lambda: env.member(1)["idle"] == 1, 3.0, "its member connection kept")
    m0 = env.member(1)
    c = env.connect(timeout=30, rcvbuf=65536)
    port = c.sock.getsockname()[1]
    c.request("GET", "/bytes/%d" % MiB, [("Cookie", "ROUTEID=route.1")])
    try:
        wait_until(lambda: (flow_of(env, port) or {}).get("path") == PATH_PACKET, 2.0,
                   "the flow on the packet path")
    except AssertionError:
        c.close()
        return None
    r = c.read_response()
    eq((r.status, len(r.body)), (200, MiB), "the long first answer")
    eq(env.member(1)["reused"] - m0["reused"], 1, "served on the kept connection")
    return c, m0


def test_decided_answer_given_back_on_a_kept_connection_counts_its_bytes_once():
    """A keep-alive client whose long first answer kbald serves on a member
    connection kept from another client's exchange, which becomes the
    client's and joins (_joined_on_a_kept_connection(), a kbald of its own
    for each try); then a member's Connection: close, given back at its
    first byte, written by kbald, the member's connection closed after it:
    the member's Read (kbal_members bytes_from: the manager's figure and
    /metrics') grows by this client's bytes only. Before, that
    connection's socket counters, which its close counts, brought the other
    client's 1 MB in again (decide_owed_answer())."""
    for _ in range(8):
        with Env(conf=CONF) as env:
            joined = _joined_on_a_kept_connection(env)
            if not joined:
                continue
            c, m0 = joined
            with c:
                st0 = env.stats()
                eq(c.get("/k", cookie="ROUTEID=route.1").status, 200, "a kept request")
                r = c.get("/close", cookie="ROUTEID=route.1")
                eq((r.status, r.header("Connection")), (200, None),
                   "the member's Connection: close")
                eq(env.stats()["pkt_back"] - st0["pkt_back"], 1, "given back at the answer")
            wait_until(lambda: env.flows() == [] and env.member(1)["busy"] == 0, 5.0,
                       "no flow after the client closed")
            read = env.member(1)["bytes_from"] - m0["bytes_from"]
            check(MiB < read < MiB + 2000, "the member's Read grew by %d bytes: this "
                  "client's answers are 1 MiB and 3 short ones" % read)
            return
    check(False, "no long first answer on a kept connection joined in 8 tries")


def send_with_fin(c, method, path, headers=()):
    """A client that writes its last request and shuts its write side down
    at once (`printf ... | nc -q0`): the request and the FIN in one
    segment (corked until the shutdown, which sends them together; Nagle
    off: Conn's TCP_NODELAY). Returns the request's bytes."""
    req = kbaltest.build_request(method, path, list(headers), None, c.host_header, "HTTP/1.1")
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    c.send(req)
    c.sock.shutdown(socket.SHUT_WR)
    return req


def last_answer(c, what):
    """Everything the client gets after its request with the FIN, up to
    the connection's end: the answer's head and body, nothing after them,
    the end with no wait for a retransmission (200 ms at least). Returns
    the answer (its body byte for byte)."""
    t0 = time.monotonic()
    r = c.read_response()
    check(c.at_eof(3.0), "%s: more than the answer, or no end after it" % what)
    took = time.monotonic() - t0
    print("%s: the answer and the end in %.4f s" % (what, took))
    check(took < 0.15, "%s: the answer and the end took %.3f s" % (what, took))
    return r


def fin_rode_with(cap, port, req, what):
    """The capture has the client's segment of req with its FIN in it (a
    segment leaving on lo: rewritten by the program where it was, to the
    member or to kbald's kept socket, the client's port still its source
    where it reached the kept socket)"""
    def seen():
        return [p for p in cap.pkts if p[0] and p[7] & 0x01 and p[8] == len(req)]
    wait_until(lambda: seen(), 2.0, "%s: a segment of %d bytes with a FIN on lo (client port "
               "%d)" % (what, len(req), port))


def test_decided_request_with_the_clients_fin():
    """A client's last request with its FIN in the same segment (a client
    that writes it and shuts down its write side at once) on a joined
    flow: decided as any request. One kbald would send elsewhere (the other
    member's route, the manager, the other balancer) is given back at its
    first byte with the FIN: kbald answers it as httpd does a request
    followed by the client's half-close, the answer, then the end. One the
    flow's member would get anyway is kept, the FIN passing with it, and
    the member's answer then its end reach the client. Before, every such
    request went on to the flow's member undecided (the program judged no
    segment with a FIN), which answered it (a 404 for the manager) and
    closed. What each member got, and what the client got, byte for byte;
    the capture shows the FIN in the request's segment."""
    sent = {1: [], 2: []}

    def member_logs(env):
        for n in (1, 2):
            eq(env.backend_log(n), sent[n], "member %d's requests" % n)

    with Env(conf=CONF) as env:
        cap = Capture([env.port, env.ports["b1"], env.ports["b2"]])
        try:
            for case in ("other route", "manager", "kept", "kept, the member closing at once"):
                with env.connect(timeout=10) as c:
                    port = c.sock.getsockname()[1]
                    backend, cookie = joined_with_route(env, c)
                    n = int(backend[-1])
                    sent[n] += ["GET /first", "GET /first/2"]
                    r = c.get("/k", cookie=cookie)
                    eq((r.status, r.text), (200, "backend=%s path=/k\n" % backend), "kept")
                    sent[n].append("GET /k")
                    st0 = env.stats()
                    if case == "other route":
                        them = other(backend)
                        req = send_with_fin(c, "GET", "/moved",
                                            [("Cookie", "ROUTEID=route.%s" % them[-1])])
                        r = last_answer(c, case)
                        eq((r.status, r.text, r.header("X-Backend")),
                           (200, "backend=%s path=/moved\n" % them, them), case)
                        sent[int(them[-1])].append("GET /moved")
                        want = (0, 1)
                    elif case == "manager":
                        req = send_with_fin(c, "GET", "/balancer-manager", [("Cookie", cookie)])
                        r = last_answer(c, case)
                        eq((r.status, r.header("X-Backend")), (200, None), case)
                        check(b"Load Balancer Manager" in r.body,
                              "not the manager's page: %r" % r.body[:200])
                        want = (0, 1)
                    else:
                        # the flow's member's: kept, the FIN with it; the
                        # member's answer then its end (at once: its FIN
                        # in the answer's segment, which the client, having
                        # ended, gets as it is: the member's answer to it)
                        p = "/last" if case == "kept" else "/then-close-at-once"
                        req = send_with_fin(c, "GET", p, [("Cookie", cookie)])
                        r = last_answer(c, case)
                        eq((r.status, r.text), (200, "backend=%s path=%s\n" % (backend, p)), case)
                        sent[n].append("GET " + p)
                        want = (1, 0)
                    # (httpd answers before it reads the client's end)
                    eq((r.header("Set-Cookie"), r.header("Connection")), (None, None),
                       "%s: Set-Cookie, Connection: %r" % (case, r.headers))
                    fin_rode_with(cap, port, req, case)
                    st1 = env.stats()
                    eq((st1["pkt_kept"] - st0["pkt_kept"], st1["pkt_back"] - st0["pkt_back"]),
                       want, "%s: kept by the program, given back" % case)
                wait_until(lambda: env.flows() == [], 3.0, "%s: no flow left" % case)
                member_logs(env)
            eq(cap.resets(), [], "RSTs on lo for the test's ports")
        finally:
            cap.close()
    sent = {1: [], 2: []}
    with Env(conf=TWO_BALANCERS) as env:
        with env.connect(timeout=10) as c:
            port = c.sock.getsockname()[1]
            r = kbaltest.hand_over(c, "/api/first")
            eq(r.header("X-Backend"), "WAS1", "the handover's member")
            wait_until(lambda: (flow_of(env, port) or {}).get("path") == PATH_PACKET, 3.0,
                       "the flow on the packet path")
            eq(c.get("/api/k").text, "backend=WAS1 path=/api/k\n", "a kept /api/ request")
            sent[1] += ["GET /api/first", "GET /api/first/2", "GET /api/k"]
            st0 = env.stats()
            send_with_fin(c, "GET", "/x")
            r = last_answer(c, "the other balancer")
            eq((r.status, r.text, r.header("Connection")), (200, "backend=WAS2 path=/x\n", None),
               "the other balancer")
            sent[2].append("GET /x")
            eq(env.stats()["pkt_back"] - st0["pkt_back"], 1, "given back")
        wait_until(lambda: env.flows() == [], 3.0, "no flow left")
        member_logs(env)
