# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Expect: 100-continue as mod_proxy_http handles it, and the pages of
mod_proxy's own errors (issue 17), side by side with Debian's apache2 on the
same configuration and members (expect_member.py: what each member got
before it answered, and after).

httpd (Proxy100Continue On, its default) sends the member the head with
Expect and holds the body, even one that came with the head, until the
member answers: its 100 Continue goes on to the client (one that asked)
and the body follows; a final answer from a member that keeps its
connection gets the body all the same (a client that has yet to send it
and asked for the 100 Continue gets httpd's 500 where that answer is not
a 2xx: its input filter ends the body at that status); from one that
closes, no body. A client that asked for a 100 Continue and got none has
its connection ended with the answer (r->expecting_100 in
ap_set_keepalive()). A member with ping= gets Expect: 100-Continue with
every request that has a body (its 100 not passed to a client that did
not ask), and has ping= to answer: then 503 "Timeout on 100-Continue",
the member in error, and another member of the balancer gets the request
with the body that was held."""

import time

from apache import apache_beside
from expect_member import ExpectMember
from kbaltest import PROXY_HEAD, Conn, Env, balancer, eq, wait_until
from recording_member import RecordingMember, requests_before
from tcp_watch import flow_of
from test_packet import PATH_PACKET, PATH_SOCKMAP

T = 10.0

CONF = (PROXY_HEAD + "ServerName proxy.example\n" + balancer("one", "{b2} ping=1") +
        balancer("two", "{b1} ping=1", "{b2} ping=1") + balancer("three", "{b1} ping=1") +
        balancer("noping", "{b2}") + balancer("dead", "{b4}") + """\
ProxyPass /s/ balancer://two/s/
ProxyPass /n/ balancer://noping/n/
ProxyPass /s3/ balancer://three/s/
ProxyPass /h/ http://127.0.0.1:{b1}/h/ timeout=1
ProxyPass /g/ http://127.0.0.1:{b1}/g/
ProxyPass /r/ http://127.0.0.1:{b1}/r/
ProxyPass /refused/ http://127.0.0.1:{b3}/
ProxyPass /dead/ balancer://dead/
ProxyPass / balancer://one/
""")

BODY = b"hello"


def ask(port, path, eager=True, expect=True, chunked=False, version=b"1.1"):
    """one request; eager: its body sent with the head, "late": 0.3 s
    after it, not waiting, else (as curl) once a 100 Continue came or a
    second passed. The answers' statuses, the final one's Connection and
    body, whether the connection ended"""
    frame = (b"Transfer-Encoding: chunked\r\n\r\n" if chunked else
             b"Content-Length: %d\r\n\r\n" % len(BODY))
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY) if chunked else BODY
    with Conn(port, timeout=T) as c:
        c.send(b"POST %s HTTP/%s\r\nHost: proxy.example\r\n%s%s"
               % (path.encode(), version, b"Expect: 100-continue\r\n" if expect else b"",
                  frame) +
               (body if eager is True else b""))
        statuses = []
        if eager == "late":
            time.sleep(0.3)
            c.send(body)
            r = c.read_response(interim=True)
            statuses.append(r.status)
        elif not eager:
            c.settimeout(1.0)
            try:
                r = c.read_response(interim=True)
            except OSError:
                r = None
            c.settimeout(T)
            c.send(body)
            if r is not None:
                statuses.append(r.status)
                if r.status == 100:
                    r = c.read_response()
                    statuses.append(r.status)
            else:
                r = c.read_response(interim=True)
                statuses.append(r.status)
        else:
            r = c.read_response(interim=True)
            statuses.append(r.status)
        while r.status == 100:
            r = c.read_response()
            statuses.append(r.status)
        return (path, statuses, r.reason, r.header("Connection"), r.body, c.at_eof(1.0))


# (path, body: with the head / after / "late", Expect, chunked[, version])
CASES = [("/c1", True, True, False), ("/c2", False, True, False), ("/c3", True, True, True),
         ("/c4", True, False, False), ("/c5", "late", True, False),
         ("/n/1", True, True, False, b"1.0"), ("/n/2", True, True, False),
         ("/k1", True, True, False), ("/k2", False, True, False),
         ("/x1", True, True, False), ("/x2", False, True, False),
         ("/s/1", True, True, False), ("/s/2", True, True, False)]


def run_all(port, members):
    out = []
    for m in members:
        del m.got[:]
    for case in CASES:
        out.append(ask(port, *case))
        time.sleep(0.2)
    got = sorted(tuple(g) for m in members for g in m.got)
    return out, got


def test_expect_100_continue_as_apache():
    with Env(conf=CONF, backends=()) as env, \
            ExpectMember(env.ports["b1"], "m1", silent=True) as m1, \
            ExpectMember(env.ports["b2"], "m2") as m2, \
            apache_beside(env) as aport:
        theirs = run_all(aport, (m1, m2))
        out = {o[0]: o[1:] for o in theirs[0]}
        # the test's reading of Apache's
        eq(out["/c1"][:1] + out["/c1"][-1:], ([100, 200], False), "Apache: the member's 100")
        eq(out["/c4"][0], [200], "Apache: ping='s 100 Continue not passed on")
        eq((out["/k1"][0], out["/k1"][2], out["/k1"][-1]), ([417], "close", True),
           "Apache: no 100 Continue to the client: its connection ends")
        eq(out["/k2"][0], [500], "Apache: a 417 before the body it waits for")
        eq(out["/s/1"][0], [100, 200], "Apache: another member after the timeout")
        eq(out["/n/1"][0], [200], "Apache: no 100 Continue to an HTTP/1.0 client")
        got = {(g[0], g[1]): g[2:] for g in theirs[1]}
        # each member's record (expect_member.py): its Expect line, the body
        # bytes it had before it answered, the body it read after
        for at, expect, body, what in (
                (("m2", "/c1"), b"100-continue", b"hello",
                 "the body held until the member's 100 Continue"),
                (("m2", "/c4"), b"100-Continue", b"hello", "ping= adds the Expect"),
                (("m2", "/n/1"), b"100-continue", b"hello",
                 "an HTTP/1.0 client's Expect honoured too"),
                (("m2", "/n/2"), b"100-continue", b"hello", "the body held without ping= too"),
                (("m2", "/k1"), b"100-continue", b"hello",
                 "a final answer that keeps the connection still gets the body"),
                (("m2", "/x1"), b"100-continue", b"", "no body to a member that closes")):
            eq(got[at], ([b"Expect: " + expect], b"", body), "Apache: " + what)
        eq((got[("m1", "/s/1")], got[("m2", "/s/1")]),
           (([b"Expect: 100-continue"], b"", b""), ([b"Expect: 100-continue"], b"", b"hello")),
           "Apache: the held body to the next member")
        eq(("m1", "/s/2") in got, False, "Apache: the silent member in error")
        ours = run_all(env.port, (m1, m2))
        for a, k in zip(theirs[0], ours[0]):
            eq(k, a, "kbal's answers to %s against Apache's" % a[0])
        for a, k in zip(theirs[1], ours[1]):
            eq(k, a, "what %s got of %s from kbal against from Apache" % a[:2])
        eq(len(ours[1]), len(theirs[1]), "requests the members got")


# (two balancers: the packet path's program frames each request)
KERNEL_CONF = (PROXY_HEAD + "ServerName proxy.example\nProxyPreserveHost On\n" +
               balancer("one", "{b2}") + balancer("other", "{b3}") + """\
ProxyPass /other/ balancer://other/
ProxyPass / balancer://one/
""")


def later_expects(port, env=None, path=None):
    """on one keep-alive connection: two GETs (kbal hands it over at the
    second), then requests with Expect: 100-continue and their bodies sent
    with their heads, each after a GET the kernel keeps; what the client
    got of each (statuses, the connection kept)"""
    out = []
    with Conn(port, timeout=T) as c:
        for p in ("/c0", "/c0/2"):
            eq(c.get(p).status, 200, "GET %s" % p)
        if env is not None:
            lport = c.sock.getsockname()[1]
            wait_until(lambda: (flow_of(env, lport) or {}).get("path") == path, 3.0,
                       "the connection in the kernel's hands")
        for p, chunked in (("/c5", False), ("/c6", True)):
            eq(c.get(p + "/get").status, 200, "GET %s/get" % p)
            body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY) if chunked else BODY
            c.send(b"POST %s HTTP/1.1\r\nHost: proxy.example\r\nExpect: 100-continue\r\n%s"
                   % (p.encode(), b"Transfer-Encoding: chunked\r\n\r\n" if chunked else
                      b"Content-Length: %d\r\n\r\n" % len(BODY)) + body)
            statuses = [c.read_response(interim=True).status]
            while statuses[-1] == 100:
                statuses.append(c.read_response().status)
            out.append((p, statuses))
        out.append(("after", c.get("/c7").status, c.at_eof(0.3)))
    return out


def test_expect_on_connections_the_kernel_carries():
    """A later request with Expect: 100-continue on a connection the
    kernel carries (sockmap: its stream parser; packet: the program's
    framing) comes back to kbald at its head, which holds its body for the
    member's 100 Continue as httpd does (before, kbald sent the body that
    came with the head at once)."""
    with Env(conf=KERNEL_CONF, backends=()) as env, \
            ExpectMember(env.ports["b2"], "m2") as m2, \
            apache_beside(env) as aport:
        theirs = later_expects(aport)
        eq(theirs, [("/c5", [100, 200]), ("/c6", [100, 200]), ("after", 200, False)],
           "Apache's answers")
        want = sorted(g for g in map(tuple, m2.got) if g[1] in ("/c5", "/c6"))
        eq(want, [("m2", "/c5", [b"Expect: 100-continue"], b"", b"hello"),
                  ("m2", "/c6", [b"Expect: 100-continue"], b"", b"hello")],
           "Apache: the bodies held for the member's 100 Continue")
    for splice, path in (("sockmap", PATH_SOCKMAP), ("packet", PATH_PACKET)):
        conf = KERNEL_CONF.replace("ProxyRequests Off", "ProxyRequests Off\nKbalSplice " + splice)
        with Env(conf=conf, backends=()) as env, ExpectMember(env.ports["b2"], "m2") as m2:
            eq(later_expects(env.port, env, path), theirs, "kbal (%s) against Apache" % splice)
            ours = sorted(g for g in map(tuple, m2.got) if g[1] in ("/c5", "/c6"))
            eq(ours, want, "what the member got through kbal (%s) against Apache" % splice)


PAGES = ("/s3/x", "/h/x", "/g/x", "/r/x", "/refused/x", "/dead/x", "/dead/y")


def page(port, path):
    """a request's answer: status line, Content-Type, page, Connection,
    whether the connection ended (else: the next request's status)"""
    with Conn(port, timeout=T) as c:
        c.send(b"POST %s HTTP/1.1\r\nHost: proxy.example\r\nExpect: 100-continue\r\n"
               b"Content-Length: 5\r\n\r\nhello" % path.encode() if path.startswith("/s3")
               else b"GET %s HTTP/1.1\r\nHost: proxy.example\r\n\r\n" % path.encode())
        r = c.read_response()
        ended = c.at_eof(1.0)
        if not ended:
            ended = c.get("/c9").status
        return (path, r.status, r.reason, r.header("Content-Type"), r.body,
                r.header("Connection"), ended)


def test_proxy_error_pages_as_apache():
    """kbald's own 502 and 503 answers as httpd's: mod_proxy's
    ap_proxyerror() makes the status line "502 Proxy Error" (a member that
    times out, closes, or answers garbage: "Error reading from remote
    server" on the page) and "503 Proxy Error" (Timeout on 100-Continue,
    whose page shows no reason); a member that refuses the connection, a
    balancer with no usable member: "503 Service Unavailable". httpd's 502
    text has CRLFs; the client keeps its connection after a 502, not after
    a 503. With ErrorDocument, its text under the same status lines."""
    for extra in ("", 'ErrorDocument 502 "own 502"\nErrorDocument 503 "own 503"\n'):
        conf = CONF.replace("ServerName proxy.example\n", "ServerName proxy.example\n" + extra)
        with Env(conf=conf, backends=()) as env, \
                ExpectMember(env.ports["b1"], "m1", silent=True), \
                ExpectMember(env.ports["b2"], "m2"), \
                apache_beside(env) as aport:
            theirs = [page(aport, p) for p in PAGES]
            eq([t[1:3] + t[5:] for t in theirs],
               [(503, "Proxy Error", "close", True), (502, "Proxy Error", None, 200),
                (502, "Proxy Error", None, 200), (502, "Proxy Error", None, 200),
                (503, "Service Unavailable", "close", True),
                (503, "Service Unavailable", "close", True),
                (503, "Service Unavailable", "close", True)], "Apache's status lines")
            ours = [page(env.port, p) for p in PAGES]
            for a, k in zip(theirs, ours):
                eq(k, a, "kbal's answer to %s against Apache's (%r)" % (a[0], extra))


# (HTTP version, Expect lines, body): the first two not 100-continue
EXPECTS = [("1.1", ["foo"], b""), ("1.1", ["foo, 100-continue"], b"abc"),
           ("1.0", ["<b>&\"x\""], b""), ("1.1", ["100-continue", "x"], b""),
           ("1.1", ["", "100-continue"], b""), ("1.1", ["a" * 1500], b""),
           ("1.1", ["100-CONTINUE"], b""), ("1.1", [""], b"")]


def expectations(port, member, before):
    """each EXPECTS request's answer (status, reason, its head but Date and
    Server, body), what the member got of it, whether a request after it
    on the connection was answered; on a connection of its own after
    `before` requests (the later ones a kernel's to carry)"""
    out = []
    for version, lines, body in EXPECTS:
        with Conn(port, timeout=T) as c:
            requests_before(c, before, member, "Expect %r" % lines)
            c.send(("POST /x HTTP/%s\r\nHost: proxy.example\r\n%sContent-Length: %d\r\n\r\n"
                    % (version, "".join("Expect: %s\r\n" % v for v in lines), len(body))
                    ).encode() + body)
            r = c.read_response()
            # the lines in their order (Date's and Server's values differ)
            head = [h for h in r.headers if h[0] not in ("Date", "Server")]
            got = [g.split(b"\r\n\r\n")[0].split(b"\r\n")[0] for g in member.got]
            c.send(b"GET /after HTTP/1.1\r\nHost: proxy.example\r\n\r\n")
            try:
                after = c.read_response().status
            except (AssertionError, OSError):
                after = None
            out.append((version, lines[0][:20], r.status, r.reason, head, r.body, got, after))
    return out


def test_unknown_expectation_as_apache():
    """An Expect other than 100-continue (in any case; repeated lines
    joined as httpd's table joins them, an empty one included) is httpd's
    417 with its page naming the Expect sent (HTML-escaped), the request
    unseen by any member, and the connection ended after it, though the
    head has no "Connection: close" on a keep-alive request (httpd's
    ap_read_request() fails after ap_set_keepalive() spoke). The same on a
    connection a kernel carries (both hand an Expect back at its head)."""
    conf = (PROXY_HEAD + "ServerName proxy.example\n" + balancer("c", "{b1}") +
            "ProxyPass / balancer://c/\n")
    with Env(conf=conf, backends=()) as env, RecordingMember(env.ports["b1"]) as m, \
            apache_beside(env) as aport:
        theirs = expectations(aport, m, 0)
        eq([t[2] for t in theirs], [417, 417, 417, 417, 417, 417, 200, 200],
           "Apache's statuses (the test's expectation)")
        eq([t[7] for t in theirs], [None] * 7 + [200],
           "Apache: the connection ends after a 417, and after a 100-continue unanswered "
           "(the test's expectation)")
        eq(theirs[2][5].count(b"Expect: &lt;b&gt;&amp;&quot;x&quot;"), 1,
           "Apache's page names the Expect sent, escaped (the test's expectation)")
        for before in (0, 2):
            eq(expectations(env.port, m, before), theirs,
               "kbal against Apache, after %d requests" % before)
    for splice in ("sockmap", "packet"):
        with Env(conf=conf.replace("ProxyRequests Off", "ProxyRequests Off\nKbalSplice " + splice),
                 backends=()) as env, RecordingMember(env.ports["b1"]) as m:
            eq(expectations(env.port, m, 2), theirs, "kbal (%s) against Apache" % splice)
