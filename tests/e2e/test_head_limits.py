# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""httpd's limits on a request head (LimitRequestLine, LimitRequestFieldSize,
LimitRequestFields), with its statuses and thresholds, side by side with
Debian's apache2 on the same configuration: a refused request gets its
answer at once, its connection closes, and none of it reaches a member; on
a connection the kernel carries too."""

import socket

from apache import apache_beside
from kbaltest import EXAMPLE_CONF, Conn, Env, check, eq

A = "a" * 80000


def line_of(n, tag):
    """A request whose request line is n bytes long, CRLF aside."""
    path = "/%s-" % tag
    return ("GET %s%s HTTP/1.1" % (path, A[:n - len(path) - 13]))


def head(tag, request_line=None, fields=()):
    rl = request_line or "GET /%s HTTP/1.1" % tag
    lines = [rl, "Host: limits.test"] + list(fields)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def field(n, name="X-Big"):
    """A header line n bytes long, CRLF aside."""
    return "%s: %s" % (name, A[:n - len(name) - 2])


def cases(line_limit, field_limit, fields_limit):
    """(tag, head, status httpd answers) around each limit"""
    out = []
    for n, want in ((line_limit + 1, 200), (line_limit + 2, 414)):
        out.append(("line%d" % n, line_of(n, "line%d" % n), (), want))
    for n, want in ((field_limit + 1, 200), (field_limit + 2, 400)):
        out.append(("field%d" % n, None, (field(n),), want))
    for n, want in ((fields_limit, 200), (fields_limit + 1, 400)):
        # n fields, Host included
        out.append(("fields%d" % n, None, ["X-F%d: y" % i for i in range(n - 1)], want))
    return [(tag, head(tag, rl, fl), want) for tag, rl, fl, want in out]


def answer(port, data):
    """The status of the answer to data on a fresh connection, and whether
    the connection closed after it."""
    with Conn(port, timeout=10) as c:
        c.send(data)
        r = c.read_response()
        closed = None
        if r.status != 200:
            closed = c.what_arrives(timeout=5.0) in ("eof", "reset")
        return r.status, closed


def reached(env, tag):
    return [l for l in env.backend_log(1) + env.backend_log(2) if tag in l]


def test_default_limits_as_apache():
    with Env() as env, apache_beside(env) as aport:
        for tag, data, want in cases(8190, 8190, 100):
            got = {name: answer(port, data) for name, port in (("Apache", aport),
                                                                 ("kbal", env.port))}
            eq(got["Apache"][0], want, "Apache's answer to %s" % tag)
            eq(got["kbal"], got["Apache"], "kbal against Apache for %s" % tag)
        # one 70,000-byte header line: 400 at once from both
        data = head("huge", None, (field(70000),))
        eq(answer(env.port, data), (400, True), "kbal's answer to a 70,000-byte header line")
        eq(answer(aport, data)[0], 400, "Apache's")
        for tag in [t for t, _, w in cases(8190, 8190, 100) if w != 200] + ["huge"]:
            eq(reached(env, tag), [], "a refused request (%s) at a member" % tag)
        for tag in [t for t, _, w in cases(8190, 8190, 100) if w == 200]:
            eq(len(reached(env, tag)), 2, "an accepted request (%s), through both" % tag)


def test_a_head_larger_than_kbals_buffer():
    # within httpd's limits (three 8,000-byte fields), over kbald's 16 KiB:
    # 431 at once and the connection closes, where Apache serves it (the
    # difference docs/configuration.md states)
    data = head("big3", None, [field(8000, "X-B%d" % i) for i in range(3)])
    with Env() as env:
        eq(answer(env.port, data), (431, True), "a 24 KB head")
        eq(reached(env, "big3"), [], "at a member")


LIMITED = EXAMPLE_CONF.replace(
    "ProxyRequests Off",
    "ProxyRequests Off\nLimitRequestLine 100\nLimitRequestFieldSize 100\nLimitRequestFields 10\n"
    "LimitRequestBody 1000")


def test_configured_limits_as_apache_on_the_kernels_connections_too():
    check("LimitRequestFields 10" in LIMITED, "limits not in the configuration")
    with Env(conf=LIMITED) as env, apache_beside(env) as aport:
        for tag, data, want in cases(100, 100, 10):
            got = {name: answer(port, data) for name, port in (("Apache", aport),
                                                                 ("kbal", env.port))}
            eq(got["Apache"][0], want, "Apache's answer to %s" % tag)
            eq(got["kbal"], got["Apache"], "kbal against Apache for %s" % tag)
            # the same request on a keep-alive connection the kernel
            # carries (framed from its second request): kept within the
            # limits, handed back to kbald over them, never at a member
            with env.connect() as c:
                c.get("/ka1", cookie="ROUTEID=route.1")
                c.get("/ka2", cookie="ROUTEID=route.1")
                kept = env.stats()["kept"]
                # its Host as the connection's (the kernel keeps no other),
                # its cookie in place of a field, so that it counts the same
                sticky = data.replace(b"Host: limits.test", b"Host: " + c.host_header.encode())
                cookie = b"Cookie: ROUTEID=route.1"
                sticky = (sticky.replace(b"X-F0: y", cookie) if b"X-F0: y" in sticky else
                          sticky.replace(b"\r\n\r\n", b"\r\n" + cookie + b"\r\n\r\n"))
                c.send(sticky)
                r = c.read_response()
                eq(r.status, want, "%s on a spliced connection" % tag)
                if want == 200:
                    check(env.stats()["kept"] > kept, "%s not kept by the kernel" % tag)
                else:
                    check(c.what_arrives(timeout=5.0) in ("eof", "reset"),
                          "the connection stays after %s" % tag)
        for tag, _, want in cases(100, 100, 10):
            if want != 200:
                eq(reached(env, tag), [], "a refused request (%s) at a member" % tag)


def test_request_body_limit_as_apache():
    # httpd 2.4 applies LimitRequestBody to its handlers (the manager's
    # form), not to proxied requests: both forward a larger body
    with Env(conf=LIMITED) as env, apache_beside(env) as aport:
        body = b"b=" + b"x" * 1998
        for name, port in (("Apache", aport), ("kbal", env.port)):
            with Conn(port) as c:
                c.request("POST", "/upload-%s" % name, body=body)
                eq(c.read_response().status, 200, "%s: a proxied 2000-byte body" % name)
            with Conn(port) as c:
                c.request("POST", "/balancer-manager", body=body, headers=[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("Referer", "http://%s/balancer-manager" % c.host_header)])
                eq(c.read_response().status, 413, "%s: the manager's 2000-byte form" % name)
        eq(len(reached(env, "upload-")), 2, "the proxied bodies at the members")
