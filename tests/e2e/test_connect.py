# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""CONNECT without mod_proxy_connect (issue 17), side by side with Debian's
apache2 on the same configuration, its member one that records every byte
it gets: httpd takes "host:port" as an absolute-form target's authority
(the Host header's value, lower-cased, one trailing dot gone, the port as
it came) and "/" for the path, so the "/" rule's member gets "CONNECT /"
and answers it, with no tunnel; a target without a port, with a path,
userinfo or a bad port is a 400 no member sees. The same after the
kernel's handover (ProxyPreserveHost On), whose stream parser hands
CONNECT back to kbald."""

from apache import apache_beside
from kbaltest import Conn, Env, eq
from recording_member import RecordingMember, requests_before
from test_request_line import CONF

T = 10.0

TARGETS = ["example.com:443", "Example.COM.:443", "[::1]:443", "a:0", "a:+1", ":443",
           "example.com", "a:", "a:b:c", "a:443/x", "u@a:443", "/x", "http://a/b", "*"]


def answers(port, member, before, version="1.1", host="Host: proxy.example\r\n"):
    """each TARGETS one's (status, what the member got of it, the connection
    open after it), on a connection of its own after `before` requests"""
    out = []
    for target in TARGETS:
        with Conn(port, timeout=T) as c:
            requests_before(c, before, member, "CONNECT %s" % target)
            c.send(("CONNECT %s HTTP/%s\r\n%sContent-Length: 3\r\n\r\nabc"
                    % (target, version, host)).encode())
            r = c.read_response()
            got = [g.split(b"\r\n") for g in member.got]
            got = [[ln for ln in g if ln.lower() not in (b"connection: keep-alive",
                                                          b"content-length: 3")] for g in got]
            c.send(b"GET /after HTTP/1.1\r\nHost: proxy.example\r\n\r\n")
            try:
                after = c.read_response().status == 200
            except (AssertionError, OSError):
                after = False
            out.append((r.status, got, after))
    return out


def test_connect_as_apache():
    for conf in (CONF, CONF + "ProxyPreserveHost On\n"):
        with Env(conf=conf, backends=()) as env, RecordingMember(env.ports["b1"]) as m, \
                apache_beside(env) as aport:
            theirs = answers(aport, m, 0)
            eq([t[0] for t in theirs], [200] * 6 + [400] * 8,
               "Apache's statuses (the test's expectation)")
            eq(theirs[1][1][0][0], b"CONNECT / HTTP/1.1", "Apache's request line")
            check_host = [ln for ln in theirs[1][1][0] if ln.startswith(b"X-Forwarded-Host")]
            eq(check_host, [b"X-Forwarded-Host: example.com:443"], "Apache's X-Forwarded-Host")
            for before in (0, 3):
                eq(list(zip(TARGETS, answers(env.port, m, before))), list(zip(TARGETS, theirs)),
                   "kbal against Apache (%s), after %d requests" % (conf[-25:], before))
            # HTTP/1.0 with no Host: no X-Forwarded-Host; HTTP/1.1: a 400
            eq(answers(env.port, m, 0, "1.0", "")[:1], answers(aport, m, 0, "1.0", "")[:1],
               "HTTP/1.0 without Host, kbal against Apache")
            eq(answers(env.port, m, 0, "1.1", "")[:1], [(400, [], False)],
               "HTTP/1.1 without Host, kbal")
            eq(answers(aport, m, 0, "1.1", "")[:1], [(400, [], False)],
               "HTTP/1.1 without Host, Apache (the test's expectation)")
