# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Which requests the kernel keeps and which kbald decides (decide.h), seen
in kbal_stats (sk_kept, sk_back); test_decide.py checks every request's
route across rules, bodies, pipelines, member changes and the manager.
Each test checks byte for byte what the client got, and from which
member's answer which path it reached."""

import socket
import time

import kbaltest
from test_pool import sockets_to
from kbaltest import (EXAMPLE_CONF, Env, build_request, check, crc_line, eq,
                      kernel_keeps_unrouted)

# two balancers whose rules forward paths as they are (the kernel can keep
# their requests): /api/ to WAS1, everything else to WAS2
TWO = EXAMPLE_CONF.replace("""<Proxy balancer://mycluster>
# WAS1
BalancerMember http://127.0.0.1:{b1} route=1
# WAS2
BalancerMember http://127.0.0.1:{b2} route=2
ProxySet lbmethod=byrequests
ProxySet stickysession=ROUTEID
</Proxy>""", """<Proxy balancer://api>
BalancerMember http://127.0.0.1:{b1} route=1
</Proxy>
<Proxy balancer://app>
BalancerMember http://127.0.0.1:{b2} route=2
</Proxy>""").replace("ProxyPass / balancer://mycluster/\nProxyPassReverse / balancer://mycluster/",
                     "ProxyPass /api/ balancer://api/api/\nProxyPass / balancer://app/")
# no stickysession: the example's Header ... env=BALANCER_ROUTE_CHANGED
# never applies (Apache sets it on sticky balancers only), so the kernel can
# keep requests without a cookie


def answer(member, path):
    return "backend=WAS%d path=%s\n" % (member, path)


def where(path):
    return 1 if path.startswith("/api") else 2


def test_kernel_keeps_requests_of_the_same_rule():
    with Env(conf=TWO) as env, env.connect() as c:
        paths = ["/a1", "/a2", "/a3", "/a4", "/api/x1", "/api/x2", "/a5", "/api/x3", "/a6"]
        for p in paths:
            r = c.get(p)
            eq((r.status, r.text), (200, answer(where(p), p)), "GET %s" % p)
            eq(r.header("Set-Cookie"), None, "Set-Cookie without stickysession (GET %s)" % p)
        st = env.stats()
        check(st["kept"] >= 1, "requests the kernel kept: %r" % st)
        check(st["back"] >= 1, "requests handed back to kbald: %r" % st)
        # what each member got: its requests only, in order
        eq([l.split()[1] for l in env.backend_log(1)], [p for p in paths if where(p) == 1],
           "the api member's requests")
        eq([l.split()[1] for l in env.backend_log(2)], [p for p in paths if where(p) == 2],
           "the app member's requests")


def member_no(r):
    return int(r.header("X-Backend")[-1])


def test_host_change_is_decided_by_kbald():
    with Env(conf=kernel_keeps_unrouted(EXAMPLE_CONF)) as env, env.connect() as c:
        n = member_no(kbaltest.hand_over(c, "/first"))
        eq(c.get("/same").text, answer(n, "/same"), "the same Host")
        r = c.get("/echo-headers", headers=[("Host", "other.example.test")])
        eq(r.status, 200, "another Host")
        check("other.example.test" in r.text.lower(), "the member got the new Host: %r" % r.text)
        check(env.stats()["back"] >= 1, "handed back on another Host: %r" % env.stats())


def test_splice_off_decides_every_request():
    # KbalSplice off: kbald copies, and decides each request on its own,
    # bodies and pipelined ones included
    conf = TWO.replace("ProxyPreserveHost On", "ProxyPreserveHost On\nKbalSplice off")
    with Env(conf=conf) as env, env.connect(timeout=20) as c:
        body = bytes(range(256)) * 300
        for k in range(4):
            p = "/api/o%d" % k if k % 2 else "/o%d" % k
            c.request("POST", p, body=body)
            r = c.read_response()
            eq((r.status, r.text, r.header("X-Backend")), (200, crc_line(body), "WAS%d" % where(p)),
               "POST %s" % p)
        paths = ["/q1", "/api/q2", "/api/q3", "/q4"]
        c.send(b"".join(build_request("GET", p, host=c.host_header) for p in paths))
        for p in paths:
            r = c.read_response()
            eq((r.status, r.text), (200, answer(where(p), p)), "pipelined GET %s" % p)
        eq(env.stats()["redirected_bytes"], 0, "bytes the kernel carried")


def test_bad_request_on_a_spliced_connection():
    # what the kernel does not parse goes to kbald, which answers as on a
    # fresh connection: its 4xx, and nothing reaches a member
    bad = {
        "bare LF": b"GET /bad-lf HTTP/1.1\nHost: x\n\n",
        "obs-fold": b"GET /bad-fold HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n b\r\n\r\n",
        "two Content-Length": b"POST /bad-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                              b"Content-Length: 2\r\n\r\nab",
        "head over 16 KiB": b"GET /bad-big HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 +
                            b"\r\n\r\n",
    }
    with Env(conf=TWO) as env:
        for what, req in bad.items():
            with env.connect() as fresh:
                fresh.send(req)
                want = fresh.read_response().status
            check(400 <= want < 500, "%s on a fresh connection: %d" % (what, want))
            with env.connect() as c:
                for p in ("/k1", "/k2", "/k3", "/k4"):
                    eq(c.get(p).text, answer(2, p), "GET %s before the %s" % (p, what))
                c.send(req)
                eq(c.read_response().status, want, "%s on a spliced connection" % what)
        check(env.stats()["kept"] >= 4, "the requests before were the kernel's: %r" % env.stats())
        for n in (1, 2):
            check(not [l for l in env.backend_log(n) if "/bad-" in l],
                  "a bad request reached member %d: %r" % (n, env.backend_log(n)))


def exchange(c, p, body=None):
    """GET p, or POST body to it, on c; the answer checked against p's
    member. Returns (method, p), as the members log it."""
    if body is None:
        r = c.get(p)
        eq((r.status, r.text), (200, answer(where(p), p)), "GET %s" % p)
        return ("GET", p)
    c.request("POST", p, body=body)
    r = c.read_response()
    eq((r.status, r.text, r.header("X-Backend")), (200, crc_line(body), "WAS%d" % where(p)),
       "POST %s" % p)
    return ("POST", p)


def test_kernel_takes_a_connection_again_after_a_switch():
    # kbald decides the request that switches balancer; from the second of
    # a run on one balancer, the kernel carries the connection again, on
    # that balancer's member: what it keeps shows in sk_kept
    with Env(conf=TWO) as env, env.connect(timeout=20) as c:
        runs = [["/a1", "/a2", "/a3"], ["/api/x1", "/api/x2", "/api/x3", "/api/x4"],
                ["/a4", "/a5", "/a6", "/a7"], ["/api/x5"], ["/a8", "/a9", "/a10"]]
        body = bytes(range(256)) * 64
        sent = []
        kept_before = None
        for run in runs:
            for k, p in enumerate(run):
                # a body on a connection the kernel took again
                sent.append(exchange(c, p, body if k == 3 else None))
                if k == 1:
                    kept_before = env.stats()["kept"]
                if k == 3:
                    # the run's third and fourth were the kernel's again
                    kept = env.stats()["kept"] - kept_before
                    check(kept >= 2, "requests the kernel kept after the switch to %s: %d"
                          % (run[0], kept))
        for n in (1, 2):
            eq([tuple(l.split()[:2]) for l in env.backend_log(n)],
               [s for s in sent if where(s[1]) == n], "member %d's requests, in order" % n)


def test_disablereuse_decides_every_request():
    # disablereuse=On: each member connection is one exchange's. A
    # connection kbald decides request by request (here: alternating
    # balancers) opens one per request and closes it after the answer, as
    # Apache does; none of its requests follows an earlier one's member
    conf = TWO.replace("route=1", "route=1 disablereuse=On").replace(
        "route=2", "route=2 disablereuse=On")
    with Env(conf=conf) as env, env.connect(timeout=10) as c:
        paths = ["/a1", "/a2", "/a3", "/api/x1", "/a4", "/api/x2", "/api/x3", "/a5", "/a6"]
        body = b"disablereuse" * 500
        sent = []
        for k, p in enumerate(paths):
            sent.append(exchange(c, p, body if k % 3 == 2 else None))
        for n in (1, 2):
            eq([tuple(l.split()[:2]) for l in env.backend_log(n)],
               [s for s in sent if where(s[1]) == n], "member %d's requests, in order" % n)
            eq(env.member(n)["idle"], 0, "member %d: connections kept" % n)


def test_member_closing_as_the_next_request_comes():
    """The member closes its connection right after an answer the kernel
    carried (/then-close) and the client's next request comes at once:
    the request, kept before the member's end reached the kernel, is lost
    with that connection, and the client's connection ends with no answer
    (httpd closes it so, for the client to retry); else, handed back or
    arriving after it, it is answered. Never neither: kbald used to wait
    for the member's answer twice over when the member's FIN and the
    hand-back came together (the client waited for KeepAliveTimeout, about
    1 try in 30), and to end the client's connection though its request
    had been handed back. The race is timing's: 40 tries. On both kernel
    paths: on the packet path the member's FIN used to reach the client as
    the proxy's and end its connection every time (none answered); now the
    program gives it back to kbald as an answer nobody asked for (the
    member's connection closed, the client's kept)."""
    cookie = [("Cookie", "ROUTEID=route.1")]
    for splice in ("sockmap", "packet"):
        member_closing_tries(EXAMPLE_CONF + "KbalSplice %s\n" % splice, cookie, splice)


def member_closing_tries(conf, cookie, what):
    with Env(conf=conf) as env:
        got = {"answered": 0, "closed": 0}
        for i in range(40):
            with env.connect(timeout=10) as c:
                kbaltest.hand_over(c, "/a", cookie="ROUTEID=route.1")
                eq(c.get("/b", cookie="ROUTEID=route.1").status, 200,
                   "a request the kernel carries")
                eq(c.get("/then-close", cookie="ROUTEID=route.1").status, 200, "/then-close")
                c.request("GET", "/next-%d" % i, cookie)
                c.sock.settimeout(3.0)
                try:
                    r = c.read_response()
                except (AssertionError, ConnectionResetError) as e:
                    check(not isinstance(e, AssertionError) or
                          "(got b'')" in str(e), "try %d: %s" % (i, e))
                    got["closed"] += 1
                    continue
                except socket.timeout:
                    raise AssertionError("try %d: neither an answer nor an end in 3 s "
                                         "(%r)" % (i, got))
                eq((r.status, r.text), (200, answer(1, "/next-%d" % i)), "try %d" % i)
                got["answered"] += 1
        print("%s: the next request at once after the member's close: %r" % (what, got))
        check(got["answered"] > 0, "%s: none answered: %r" % (what, got))


def test_member_closing_between_requests_keeps_the_client():
    # the member closes its connection after an answer without saying so
    # (kbal-backend's /then-close: what its keep-alive timeout does): as
    # with Apache, the client's connection goes on, its next request on
    # another member connection, decided by kbald, and the kernel takes the
    # connection again after it; a client that then ends its connection
    # gets its end
    # member 2 keeps no connection for later (disablereuse=On): once its
    # answer to /then-close is out, kbald has no connection to it open both
    # ways, whoever carried the request
    for splice in ("sockmap", "packet"):
        member_closing_between(TWO.replace("route=2", "route=2 disablereuse=On") +
                               "KbalSplice %s\n" % splice)


def member_closing_between(conf):
    with Env(conf=conf) as env:
        with env.connect(timeout=10) as c:
            sent, kept = [], []
            for p in ("/a1", "/a2", "/a3", "/then-close", "/a4", "/a5", "/a6", "/a7",
                      "/then-close", "/api/x1", "/api/x2", "/then-close", "/a8"):
                r = c.get(p)
                eq((r.status, r.text), (200, answer(where(p), p)), "GET %s" % p)
                eq(r.header("Connection"), None, "Connection header of %s" % p)
                sent.append(p)
                if p == "/then-close":
                    kept.append(env.stats()["kept"])
                    # the member's FIN reached kbald's socket before the
                    # next request (else that request could reach the
                    # closed connection: a race Apache has too)
                    kbaltest.wait_until(lambda: sockets_to(env.ports["b2"]) == 0, 3.0,
                                        "the member's end of /then-close's connection")
            st = env.stats()
            check(st["back"] >= 3, "handed back after each close: %r" % st)
            # /a6, /a7 and the second /then-close: the kernel's again
            check(kept[1] - kept[0] >= 3, "kept by the kernel between the closes: %r" % kept)
            c.sock.shutdown(socket.SHUT_WR)
            check(c.at_eof(3.0), "no end after the client's own")
        for n in (1, 2):
            eq([l.split()[1] for l in env.backend_log(n)], [p for p in sent if where(p) == n],
               "member %d's requests" % n)
        # kbald writes its flow entries at the end of a loop turn: the
        # client's end may come a moment before its flow's removal
        kbaltest.wait_until(lambda: env.flows() == [], 2.0, "no flow left")


def conf_on(splice, conf):
    """conf on a kernel path: the packet path joins no connection whose
    answers a Header rule may change (the example's Set-Cookie rule), so
    there it goes"""
    if splice == "packet":
        conf = "\n".join(l for l in conf.split("\n") if not l.startswith("Header add Set-Cookie"))
    return conf + "KbalSplice %s\n" % splice


def test_client_end_after_member_ends_and_takes_again():
    # the client's end reaches it (and the member) however the connection
    # went before: handed back and spliced again, after the kernel carried
    # requests (kbald counts those bytes as the client's when it waits for
    # the end), after a member that closed (FIN) or reset (RST) its
    # connection between two answers; on both kernel paths (on the packet
    # path the member's reset used to reach the client as its own)
    dr = TWO.replace("route=2", "route=2 disablereuse=On")
    for splice, conf, paths in (
            (s, conf_on(s, c), p) for s in ("sockmap", "packet") for c, p in (
                (TWO, ["/a1", "/a2", "/api/x1", "/api/x2", "/api/x3"]),
                (dr, ["/a1", "/a2", "/then-close", "/a3"]),
                (dr, ["/a1", "/a2", "/a3", "/then-close", "/a4", "/a5", "/a6", "/a7"]),
                (dr, ["/a1", "/api/x1", "/api/x2", "/then-close", "/a8"]),
                (dr, ["/a1", "/a2", "/a3", "/then-reset", "/a4", "/a5", "/a6"]),
                (dr, ["/a1", "/a2", "/a3", "/then-close-at-once", "/a4", "/a5"]),
                (dr, ["/a1", "/a2", "/a3", "/then-reset"]))):
        with Env(conf=conf) as env, env.connect(timeout=10) as c:
            for p in paths:
                r = c.get(p)
                eq((r.status, r.text), (200, answer(where(p), p)), "%s: GET %s" % (splice, p))
                if p.startswith("/then-"):
                    # no kept connections to member 2: none open both ways
                    # once it ended this one. The next request waits for
                    # that: sent before the member's end reached kbald's
                    # socket, the kernel could pass it to the closing
                    # connection (the race Apache has with a member's
                    # keep-alive timeout; operating.md). On the packet
                    # path kbald's socket is frozen meanwhile, the flow
                    # joined: the member's own end is what the client's
                    # next request may not meet before
                    kbaltest.wait_until(
                        lambda: sockets_to(env.ports["b2"], side="dport" if splice == "sockmap"
                                           else "sport") == 0, 3.0,
                        "%s: the member's end of %s's connection" % (splice, p))
            c.sock.shutdown(socket.SHUT_WR)
            check(c.at_eof(3.0), "%s: no end after the client's own, after %s" %
                  (splice, " ".join(paths)))
            for n in (1, 2):
                eq([l.split()[1] for l in env.backend_log(n)],
                   [p for p in paths if where(p) == n], "%s: member %d's requests" % (splice, n))


def test_member_closing_with_its_answer_keeps_the_client():
    """The member writes its answer and closes at once (kbal-backend's
    /then-close-at-once: the FIN in the segment of the answer's last
    bytes, an application's write() and close()) on a flow the packet
    program carries. As with httpd, the client gets the answer and keeps
    its connection; its next request, sent at once, is decided by kbald and
    answered on another member connection, with no retransmission
    timeout's wait; a client that ends its connection instead gets its
    end, and one that sends its last request with its FIN in the same
    segment gets that request's answer, then its end. The FIN used to reach the client with the answer and end its
    connection. Likewise an answer with "Connection: close"
    (/close-at-once), whose head kbald writes: given back at it, FIN and
    all (it used to pass as it was). The packet path only: there the FIN
    is seen before the answer reaches the client, so no request can cross
    it (on the sockmap path one can, as in httpd:
    test_member_closing_as_the_next_request_comes)."""
    conf = conf_on("packet", TWO.replace("route=2", "route=2 disablereuse=On"))
    with Env(conf=conf) as env:
        sent = []
        for i in range(6):
            with env.connect(timeout=10) as c:
                last = "/close-at-once" if i % 3 == 2 else "/then-close-at-once"
                paths = ["/a1", "/a2", "/a3", last] + (
                    ["/a4-%d" % i, "/api/x-%d" % i, "/a5-%d" % i] if i % 3 else [])
                kept0 = env.stats()["pkt_kept"]
                for p in paths:
                    t0 = time.monotonic()
                    r = c.get(p)
                    took = time.monotonic() - t0
                    eq((r.status, r.text), (200, answer(where(p), p)), "%d: GET %s" % (i, p))
                    eq(r.header("Connection"), None, "%d: Connection header of %s" % (i, p))
                    if p == last:
                        check(env.stats()["pkt_kept"] - kept0 >= 2,
                              "%d: the packet program carried the flow" % i)
                    elif p.startswith("/a4"):
                        # a retransmission timeout is 200 ms at least
                        check(took < 0.15, "%d: the request after the member's close "
                              "waited %.3f s" % (i, took))
                sent += paths
                if i == 3:
                    # the last request and the FIN in one segment (corked
                    # until the shutdown, which sends them together)
                    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                    c.request("GET", "/a9-%d" % i)
                    sent.append("/a9-%d" % i)
                c.sock.shutdown(socket.SHUT_WR)
                if i == 3:
                    r = c.read_response()
                    eq((r.status, r.text), (200, answer(2, "/a9-3")), "the request with the FIN")
                check(c.at_eof(3.0), "%d: no end after the client's own" % i)
        check(env.stats()["pkt_back"] >= 4, "given back at the next request: %r" % env.stats())
        for n in (1, 2):
            eq([l.split()[1] for l in env.backend_log(n)], [p for p in sent if where(p) == n],
               "member %d's requests" % n)
        kbaltest.wait_until(lambda: env.flows() == [], 2.0, "no flow left")
