# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A malformed Host header (issue 17), side by side with Debian's apache2
on the same configuration and member: httpd's vhost.c (fix_hostname(),
strict by default) answers 400 to a Host with a space, a comma, an
unclosed IPv6 literal, a second colon, a bad port, a number alone, "..",
a dotted address with leading zeroes or not four parts; two Host lines
are a 400 too, and an empty Host in HTTP/1.1 (none, to protocol.c); in
HTTP/1.0 it passes. Nothing of a
refused request reaches the member; a refused Host on the second request
of a kept-alive connection (the kernel's or kbald's) is refused alike."""

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, eq

T = 10.0

CONF = PROXY_HEAD + """\
ServerName proxy.example
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
"""

BAD = ["a b", "a,b", "[::1", "host:port:x", "a:b", "a:", ":80", "a:0", "a:70000", "8080",
       "a..b", "a/b", "1.2.3", "01.2.3.4", "foo.1bar", "[::1]x", "[1::2::3]", ""]
GOOD = ["proxy.example", "Proxy.Example.", "a_b-c:8080", "127.0.0.1", "[::1]:80",
        "[::ffff:1.2.3.4]"]


def status(port, heads, version="HTTP/1.1"):
    """the status each request gets on a connection of its own; heads: the
    Host lines each request sends"""
    out = []
    for lines in heads:
        with Conn(port, timeout=T) as c:
            c.send(("GET /h HTTP/1.1\r\n" if version == "HTTP/1.1" else "GET /h %s\r\n" % version)
                   .encode() + b"".join(b"Host: %s\r\n" % h.encode() for h in lines) +
                   b"Connection: close\r\n\r\n")
            out.append(c.read_response().status)
    return out


def test_malformed_host_is_400_as_apache():
    heads = [[h] for h in BAD + GOOD] + [["a", "a"], ["a", "b"], ["", ""]]
    with Env(conf=CONF, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = status(aport, heads)
        before = len(env.backend_log(1))
        ours = status(env.port, heads)
        eq(list(zip(heads, ours)), list(zip(heads, theirs)), "kbal against Apache")
        eq(theirs, [400] * len(BAD) + [200] * len(GOOD) + [400] * 3,
           "Apache's (the test's expectation)")
        eq(len(env.backend_log(1)) - before, len(GOOD), "requests the member got")
        eq(status(env.port, [[""]], "HTTP/1.0"), status(aport, [[""]], "HTTP/1.0"),
           "an empty Host in HTTP/1.0, kbal against Apache")
        eq(status(aport, [[""]], "HTTP/1.0"), [200], "Apache's (the test's expectation)")


def test_malformed_host_after_handover():
    """the third request of a kept-alive connection (past the kernel's
    handover) with a bad Host: 400 and the connection closed, the member
    never sees it"""
    with Env(conf=CONF, backends=(1,)) as env, apache_beside(env) as aport:
        res = []
        for port in (aport, env.port):
            got = []
            with Conn(port, timeout=T) as c:
                for host in ("proxy.example", "proxy.example", "proxy.example", "a b"):
                    c.send(b"GET /k HTTP/1.1\r\nHost: %s\r\n\r\n" % host.encode())
                    got.append(c.read_response().status)
                got.append(c.at_eof())
            res.append(got)
        eq(res[1], res[0], "kbal against Apache")
        eq(res[0], [200, 200, 200, 400, True], "Apache's (the test's expectation)")
        eq(len([ln for ln in env.backend_log(1) if ln.endswith("/k")]), 6,
           "the member's requests: three each")
