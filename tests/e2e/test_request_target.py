# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The request-target as httpd takes it (protocol.c, ap_parse_uri(), vhost.c;
HttpProtocolOptions Strict, its default), side by side with Debian's
apache2 on the same configuration and member: a fragment, or a path that
does not start with '/' ("*" but for OPTIONS), is a 400 that no member
sees; "OPTIONS *" is httpd's own 200 with no body; the same on a connection
past the kernel's handover."""

from apache import apache_beside
from kbaltest import Conn, Env, eq
from test_host_header import CONF   # one member behind ProxyPass /, ServerName proxy.example

T = 10.0

TARGETS = [("OPTIONS", "*"), ("GET", "*"), ("GET", "/a#frag"), ("GET", "/a?q=1#f"),
           ("GET", "a/b"), ("GET", "example.test:443"), ("GET", "mailto:x"),
           ("GET", "http:x"), ("GET", "/ok"), ("OPTIONS", "/ok")]


def answers(port, before):
    """each TARGETS request's (status, Content-Length, the member's answer
    or None, whether the connection stayed open): on a connection of its
    own after `before` plain requests"""
    out = []
    for method, target in TARGETS:
        with Conn(port, timeout=T) as c:
            for _ in range(before):
                c.send(b"GET /k HTTP/1.1\r\nHost: proxy.example\r\n\r\n")
                eq(c.read_response().status, 200, "a request before %s %s" % (method, target))
            c.send(("%s %s HTTP/1.1\r\nHost: proxy.example\r\n\r\n" % (method, target)).encode())
            r = c.read_response()
            body = r.text if r.header("X-Backend") else None
            c.send(b"GET /after HTTP/1.1\r\nHost: proxy.example\r\n\r\n")
            try:
                open_after = c.read_response().status == 200
            except (AssertionError, OSError):
                open_after = False
            out.append((r.status, r.header("Content-Length") if body is None else "member",
                        body, open_after))
    return out


def test_request_target_as_apache():
    with Env(conf=CONF, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = answers(aport, 0)
        eq([a[0] for a in theirs], [200, 400, 400, 400, 400, 400, 400, 400, 200, 200],
           "Apache's statuses (the test's expectation)")
        eq(theirs[0], (200, "0", None, True), "Apache's OPTIONS * (the test's expectation)")
        before = len(env.backend_log(1))
        eq(list(zip(TARGETS, answers(env.port, 0))), list(zip(TARGETS, theirs)),
           "kbal against Apache")
        eq(len(env.backend_log(1)) - before, 2 + 3, "requests the member got: the two "
           "good ones and the /after of each connection that stayed open")
        eq(list(zip(TARGETS, answers(env.port, 3))), list(zip(TARGETS, theirs)),
           "kbal against Apache, after three requests on a kept-alive connection")


# absolute-form targets (ap_parse_uri(), vhost.c): an http URL's host
# replaces the Host header's value, lower-cased, one trailing dot gone, its
# port as it came, and picks the virtual host; userinfo, a host httpd
# refuses, or no Host header at all: 400; another scheme leaves the Host as
# it came; the member gets the path in origin-form either way
ABS = [("http://Other.Example:81/echo-headers", "a"),
       ("HTTP://other.example./echo-headers?q=1", "a"),
       ("http://[::1]:81/echo-headers", "proxy.example"),
       ("http:///echo-headers", "a"),
       ("https://other.example/echo-headers", "a"),
       ("http://u:p@other.example/echo-headers", "a"),
       ("http://1.2.3/echo-headers", "a"),
       ("http://other.example/echo-headers", None)]


def absolute(port, before):
    """each ABS request's (status, the Host and X-Forwarded-Host the member
    got), on a connection of its own after `before` plain requests"""
    out = []
    for target, host in ABS:
        with Conn(port, timeout=T) as c:
            for _ in range(before):
                c.send(b"GET /k HTTP/1.1\r\nHost: proxy.example\r\n\r\n")
                eq(c.read_response().status, 200, "a request before %s" % target)
            c.send(("GET %s HTTP/1.1\r\n%s\r\n" % (target, "Host: %s\r\n" % host if host
                                                   is not None else "")).encode())
            r = c.read_response()
            out.append((r.status, [ln for ln in r.text.splitlines()
                                   if ln.lower().startswith(("host:", "x-forwarded-host:"))]))
    return out


def test_absolute_form_target_as_apache():
    for conf in (CONF, CONF + "ProxyPreserveHost On\n"):
        preserve = "Preserve" in conf
        with Env(conf=conf, backends=(1,)) as env, apache_beside(env) as aport:
            theirs = absolute(aport, 0)
            eq([s for s, _ in theirs], [200, 200, 200, 200, 200, 400, 400, 400],
               "Apache's statuses (the test's expectation)")
            eq(theirs[0][1][-1], "X-Forwarded-Host: other.example:81",
               "Apache's X-Forwarded-Host (the test's expectation)")
            eq(theirs[0][1][0] == "Host: other.example:81", preserve,
               "Apache's Host with ProxyPreserveHost %s (the test's expectation)"
               % ("On" if preserve else "Off"))
            eq(list(zip(ABS, absolute(env.port, 0))), list(zip(ABS, theirs)),
               "kbal against Apache, each on a connection of its own")
            eq(list(zip(ABS, absolute(env.port, 3))), list(zip(ABS, theirs)),
               "kbal against Apache, each after three requests on a kept-alive connection")
