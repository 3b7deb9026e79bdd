# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The Keep-Alive answer lines (issue 17), side by side with Debian's
apache2 on the same configuration and members: httpd's ap_set_keepalive()
answers a request whose Connection holds the keep-alive token, on a
connection that stays open, with "Keep-Alive: timeout=T, max=LEFT"
("timeout=T" under MaxKeepAliveRequests 0) and "Connection: Keep-Alive",
last in the head, after dropping the member's own Connection and
Keep-Alive lines; LEFT is the bound less the requests answered before.
An answer that ends the connection (the last one allowed, a 503, a 400)
says "Connection: close" and no Keep-Alive; without the token, nothing.

The heads are compared byte for byte but for Date and Server, which httpd
adds where the member sent none and kbal does not (kbald's own answers
have both, with values of their own: test_own_heads.py; the manager's
page differs from httpd's in its framing: it is compared on the lines
the two add). The kernel's part: the answers it carries
keep none of these lines yet (docs/operating.md); these tests run where
kbald writes the answers."""

import re

from apache import apache_beside
from kbaltest import EXAMPLE_CONF, Conn, Env, check, eq

T = 10.0
KA = ("Connection", "keep-alive")
ROUTE1 = ("Cookie", "ROUTEID=route.1")


def with_lines(conf, *lines):
    return conf.replace("ProxyRequests Off", "ProxyRequests Off\n" + "\n".join(lines))


def exchange(c, path, headers, version="HTTP/1.1", method="GET"):
    """One request on c: its answer's head as sent, Date and Server lines
    taken out, and whether the connection ended after it"""
    c.request(method, path, headers, version=version)
    while b"\r\n\r\n" not in c.buf:
        if not c._fill():
            raise AssertionError("no whole answer head: %r" % bytes(c.buf))
    end = c.buf.find(b"\r\n\r\n") + 4
    head = bytes(c.buf[:end])
    del c.buf[:end]
    m = re.search(rb"(?im)^content-length: *(\d+)\r$", head)
    if method == "HEAD":
        pass
    elif re.search(rb"(?im)^transfer-encoding: *chunked\r$", head):
        c._read_chunked()
    elif m:
        c.read_exact(int(m.group(1)))
    lines = [ln for ln in head.decode("latin-1").split("\r\n")
             if not re.match(r"(?i)(date|server):", ln)]
    return "\r\n".join(lines)


def session(port, requests, version="HTTP/1.1"):
    """requests [(path, headers)] one after the other on one connection:
    each answer's head (exchange()), then "eof" if the server ended the
    connection after the last one answered"""
    out = []
    with Conn(port, timeout=T) as c:
        for path, headers in requests:
            try:
                out.append(exchange(c, path, headers, version))
            except (AssertionError, OSError):
                out.append("unanswered")
                break
            if "connection: close" in out[-1].lower():
                out.append("eof" if c.at_eof(T) else "open")
                break
    return out


def ka_values(heads):
    """each head's Keep-Alive value, None without one"""
    got = []
    for h in heads:
        m = re.search(r"(?im)^Keep-Alive: ([^\r\n]*)", h) if h not in ("eof", "open") else None
        got.append(m.group(1) if m else None)
    return got


def last_lines(head, n=2):
    """a head's last n header lines"""
    return head.split("\r\n")[-2 - n:-2]


def conn_lines(head):
    """a head's Keep-Alive and Connection lines, in order"""
    return [ln for ln in head.split("\r\n")
            if ln.lower().startswith(("keep-alive:", "connection:"))]


def test_kbald_answers_as_apache():
    # KbalSplice off: kbald decides and writes every answer; with the
    # route cookie and without it (Set-Cookie before the Keep-Alive line)
    off = with_lines(EXAMPLE_CONF, "KbalSplice off")
    with Env(conf=off) as env, apache_beside(env) as aport:
        for cookie in ([ROUTE1], []):
            asks = [("/k/%d" % i, [KA] + cookie) for i in range(5)]
            theirs = session(aport, asks)
            eq(ka_values(theirs), ["timeout=5, max=%d" % n for n in (100, 99, 98, 97, 96)],
               "Apache's Keep-Alive lines (the test's expectation)")
            check(all(last_lines(h) == ["Keep-Alive: timeout=5, max=%d" % (100 - i),
                                        "Connection: Keep-Alive"]
                      for i, h in enumerate(theirs)), "Apache writes them last: %r" % theirs)
            eq(session(env.port, asks), theirs, "kbal against Apache, cookie %r" % cookie)
        eq(env.stats()["kept"], 0, "requests the kernel kept")


def test_without_the_token_no_line():
    # HTTP/1.1 keeps the connection without asking: no Keep-Alive, no
    # Connection line, from either; the token among others counts
    off = with_lines(EXAMPLE_CONF, "KbalSplice off")
    with Env(conf=off) as env, apache_beside(env) as aport:
        # a Connection naming other options too: kbald forwards the first
        # request on a member connection of the client's own and copies
        # what follows (operating.md): its first answer is compared
        for ask, n in (([ROUTE1], 3), ([ROUTE1, ("Connection", "TE")], 1),
                       ([ROUTE1, ("Connection", "te, Keep-Alive")], 1)):
            asks = [("/n/%d" % i, ask) for i in range(n)]
            theirs = session(aport, asks)
            eq(session(env.port, asks), theirs, "kbal against Apache, %r" % ask)
        eq(ka_values(session(aport, [("/n/x", [ROUTE1])])), [None], "Apache: none")
        eq(ka_values(session(aport, [("/n/y", [ROUTE1, ("Connection", "te, Keep-Alive")])])),
           ["timeout=5, max=100"], "Apache: the token among others")


def test_no_bound_timeout_only():
    # MaxKeepAliveRequests 0: "timeout=T" alone; KeepAliveTimeout 7
    conf = with_lines(EXAMPLE_CONF, "KbalSplice off", "MaxKeepAliveRequests 0",
                      "KeepAliveTimeout 7")
    with Env(conf=conf) as env, apache_beside(env) as aport:
        asks = [("/z/%d" % i, [KA, ROUTE1]) for i in range(4)]
        theirs = session(aport, asks)
        eq(ka_values(theirs), ["timeout=7"] * 4, "Apache's (the test's expectation)")
        eq(session(env.port, asks), theirs, "kbal against Apache")


def test_last_request_says_close():
    # MaxKeepAliveRequests 3: max=3, 2, 1, then the fourth says
    # "Connection: close", no Keep-Alive, and the connection ends; the
    # kernel carries the connection (it hands the last one back) and the
    # answers kbald writes match Apache's
    for conf, what in ((with_lines(EXAMPLE_CONF, "MaxKeepAliveRequests 3", "KbalSplice off"),
                        "KbalSplice off"),
                       (with_lines(EXAMPLE_CONF, "MaxKeepAliveRequests 2"), "spliced")):
        with Env(conf=conf) as env, apache_beside(env) as aport:
            asks = [("/l/%d" % i, [KA, ROUTE1]) for i in range(6)]
            theirs = session(aport, asks)
            bound = 3 if "off" in what else 2
            eq(ka_values(theirs), ["timeout=5, max=%d" % n for n in range(bound, 0, -1)] +
               [None, None], "Apache's (the test's expectation), %s" % what)
            eq(last_lines(theirs[bound], 1), ["Connection: close"], "Apache's last answer")
            eq(theirs[-1], "eof", "Apache ends the connection")
            eq(session(env.port, asks), theirs, "kbal against Apache, %s" % what)


def test_status_that_ends_the_connection():
    # a member's 503 (ap_status_drops_connection()): Connection: close, no
    # Keep-Alive, the connection ends; a 404 of the member's keeps it
    off = with_lines(EXAMPLE_CONF, "KbalSplice off")
    with Env(conf=off) as env, apache_beside(env) as aport:
        asks = [("/a", [KA, ROUTE1]), ("/status/404", [KA, ROUTE1]),
                ("/status/503", [KA, ROUTE1]), ("/b", [KA, ROUTE1])]
        theirs = session(aport, asks)
        eq(ka_values(theirs), ["timeout=5, max=100", "timeout=5, max=99", None, None],
           "Apache's (the test's expectation)")
        eq(theirs[-1], "eof", "Apache ends the connection after the 503")
        eq(session(env.port, asks), theirs, "kbal against Apache")
    # kbald's own 400 (a bad request) ends it too: the lines kbald's page
    # ends with, against httpd's
    with Env() as env, apache_beside(env) as aport:
        got = {}
        for name, port in (("Apache", aport), ("kbal", env.port)):
            with Conn(port, timeout=T) as c:
                first = exchange(c, "/a", [KA, ROUTE1])
                c.send(b"GET /bad HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n"
                       b"Bad Header\r\n\r\n")
                while b"\r\n\r\n" not in c.buf and c._fill():
                    pass
                head = bytes(c.buf[:c.buf.find(b"\r\n\r\n") + 4]).decode("latin-1")
                got[name] = (ka_values([first]), head.split("\r\n")[0],
                             "Keep-Alive" in head, "Connection: close" in head)
        eq(got["Apache"], (["timeout=5, max=100"], "HTTP/1.1 400 Bad Request", False, True),
           "Apache's (the test's expectation)")
        eq(got["kbal"], got["Apache"], "kbal against Apache")


def test_http10_keepalive_client():
    # HTTP/1.0 keeps the connection only with the token: each answer says
    # so; the member's own "Connection: keep-alive" (the test member
    # answers an HTTP/1.0 keep-alive request with one) is not passed on.
    # kbald decides every request of such a client (the kernel frames
    # HTTP/1.1 only), spliced by default or not: every answer is kbald's
    # (until 2026-12-05 the second and later went on unparsed, the
    # member's own lines with them)
    off = with_lines(EXAMPLE_CONF, "KbalSplice off")
    for conf in (off, EXAMPLE_CONF):
        with Env(conf=conf) as env, apache_beside(env) as aport:
            asks = [("/o/%d" % i, [KA, ROUTE1]) for i in range(4)]
            theirs = session(aport, asks, version="HTTP/1.0")
            eq(ka_values(theirs), ["timeout=5, max=%d" % n for n in (100, 99, 98, 97)],
               "Apache's (the test's expectation)")
            eq(session(env.port, asks, version="HTTP/1.0"), theirs, "kbal against Apache")
            # without the token: the connection ends after the first answer
            theirs = session(aport, [("/o/x", [ROUTE1])] * 2, version="HTTP/1.0")
            ours = session(env.port, [("/o/x", [ROUTE1])] * 2, version="HTTP/1.0")
            eq(ka_values(ours[:1]), ka_values(theirs[:1]), "no Keep-Alive without the token")
            eq(env.stats()["kept"], 0, "HTTP/1.0 requests the kernel kept")


def test_lines_after_a_request_body():
    # the token is read at the request's head: a body larger than kbald's
    # buffer (it moves the head out) still gets the lines (it did not
    # before 2026-12-05), HTTP/1.1 and HTTP/1.0 alike
    body = bytes(range(256)) * 400
    for version in ("HTTP/1.1", "HTTP/1.0"):
        with Env(conf=with_lines(EXAMPLE_CONF, "KbalSplice off")) as env, \
                Conn(env.port, timeout=T) as c:
            for i in range(3):
                c.request("POST", "/b/%d" % i, [KA, ROUTE1], body=body, version=version)
                r = c.read_response()
                eq((r.status, r.header("Keep-Alive"), r.header("Connection")),
                   (200, "timeout=5, max=%d" % (100 - i), "Keep-Alive"),
                   "%s POST of %d bytes, request %d" % (version, len(body), i + 1))


def test_kbald_own_answers():
    # the manager's page and kbald's 404 (ProxyPass ... !, nothing there)
    # keep the connection: the same two lines, counting on, before the
    # page's Content-Type (httpd's header filter sets it after them); the
    # 404's whole head as httpd's (the manager's page is framed otherwise)
    conf = with_lines(EXAMPLE_CONF, "ProxyPass /nothing !")
    with Env(conf=conf) as env, apache_beside(env) as aport:
        got, heads = {}, {}
        for name, port in (("Apache", aport), ("kbal", env.port)):
            with Conn(port, timeout=T) as c:
                heads[name] = [exchange(c, path, [KA, ROUTE1])
                               for path in ("/balancer-manager", "/nothing/here", "/p",
                                            "/balancer-manager")]
            got[name] = [conn_lines(h) for h in heads[name]]
        eq(got["Apache"], [["Keep-Alive: timeout=5, max=%d" % n, "Connection: Keep-Alive"]
                           for n in (100, 99, 98, 97)], "Apache's (the test's expectation)")
        eq(got["kbal"], got["Apache"], "kbal against Apache")
        eq(heads["kbal"][1], heads["Apache"][1], "kbal's 404 against Apache's")
