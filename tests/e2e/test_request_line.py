# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The request line as httpd reads it (issue 17; HttpProtocolOptions'
default, Strict LenientMethods), side by side with Debian's apache2 on the
same configuration, its member one that records every byte it gets: any
method token is forwarded ("FOO", "get", "PROPFIND"), with its body framed
as for any method; any HTTP/D.D from HTTP/1.0 up is served (HTTP/1.2,
HTTP/2.0 as HTTP/1.1: the member gets HTTP/1.1); "HTTP/10.0", "HTTP/0.9",
"http/1.1", a method that is no token, a bare LF are 400s no member sees.
The same on a kept-alive connection past the kernel's handover
(ProxyPreserveHost On: the stream parser frames what it knows and hands
the rest back to kbald), where a request after such a one still arrives
whole."""

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, check, eq, wait_until
from recording_member import RecordingMember

T = 10.0

CONF = PROXY_HEAD + """\
ServerName proxy.example
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
"""

# (request line, body or None); each with "Host: proxy.example"
REQUESTS = [
    ("GET /a HTTP/1.2", None), ("GET /a HTTP/2.0", None), ("GET /a HTTP/9.9", None),
    ("FOO /a HTTP/1.1", None), ("get /a HTTP/1.1", None), ("PROPFIND /a HTTP/1.1", None),
    ("M-1.x_~ /a?q HTTP/1.1", None), ("FOO /a HTTP/1.1", b"abc"),
    ("get /b HTTP/2.0", b"hello"), ("FOO /c HTTP/1.1", "chunked"),
    ("GET /a HTTP/10.0", None), ("GET /a HTTP/0.9", None), ("GET /a http/1.1", None),
    ("G@T /a HTTP/1.1", None), ("GET  /a HTTP/1.1", None), ("GET /a HTTP/1.1 ", None),
]


def request(line, body):
    head = line.encode() + b"\r\nHost: proxy.example\r\n"
    if body == "chunked":
        return head + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    if body is not None:
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    return head + b"\r\n"


def normal(raw):
    """what the member got, but for what kbal's docs say differs from
    httpd's (docs/configuration.md): httpd's "Connection: Keep-Alive"
    (on the requests the kernel carries) and where it puts Content-Length; on the
    kernel's path the X-Forwarded-* lines (kbald's only)"""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    keep = sorted(ln for ln in lines[1:] if ln.lower() != b"connection: keep-alive" and
                  not ln.lower().startswith(b"x-forwarded-"))
    return lines[0], keep, body


def answers(port, member, before):
    """each REQUESTS one's (status, body, what the member got of it, the
    connection open after it), on a connection of its own after `before`
    plain requests"""
    out = []
    for line, body in REQUESTS:
        with Conn(port, timeout=T) as c:
            for _ in range(before):
                c.send(b"GET /k HTTP/1.1\r\nHost: proxy.example\r\n\r\n")
                eq(c.read_response().status, 200, "a request before %s" % line)
            del member.got[:]
            c.send(request(line, body))
            r = c.read_response()
            got = [normal(g) for g in member.got]
            c.send(b"GET /after HTTP/1.1\r\nHost: proxy.example\r\n\r\n")
            try:
                after = c.read_response().status == 200
            except (AssertionError, OSError):
                after = False
            if after:
                # the request after it arrived whole, as the next one
                wait_until(lambda: len(member.got) == len(got) + 1, T, "/after at the member, after %s on %d" % (line, port))
                eq(normal(member.got[-1])[0], b"GET /after HTTP/1.1", "after %s" % line)
            out.append((r.status, r.text if got else None, got, after))
    return out


def test_request_line_as_apache():
    for conf in (CONF, CONF + "ProxyPreserveHost On\n"):
        with Env(conf=conf, backends=()) as env, RecordingMember(env.ports["b1"]) as m, \
                apache_beside(env) as aport:
            theirs = answers(aport, m, 0)
            eq([t[0] for t in theirs], [200] * 10 + [400] * 6,
               "Apache's statuses (the test's expectation)")
            eq(theirs[3][2][0][0], b"FOO /a HTTP/1.1", "Apache's FOO (the test's expectation)")
            eq(theirs[1][2][0][0], b"GET /a HTTP/1.1",
               "Apache's HTTP/2.0 request, as the member got it (the test's expectation)")
            eq(theirs[9][2][0][2], b"abc", "Apache's chunked FOO body, de-chunked")
            for before in (0, 3):
                ours = answers(env.port, m, before)
                # a chunked request body that came whole goes de-chunked
                # with its length, as httpd's prefetch sends it
                eq(ours[9][2][0][1:], theirs[9][2][0][1:], "the chunked FOO's head and body")
                eq(list(zip(REQUESTS, ours)), list(zip(REQUESTS, theirs)),
                   "kbal against Apache%s, after %d requests on the connection"
                   % (" (ProxyPreserveHost On)" if "Preserve" in conf else "", before))
            if "Preserve" in conf:
                # the kernel kept requests ("FOO" framed by its length
                # among them) and handed back those it does not know
                st = env.stats()
                check(st["kept"] >= 10 and st["back"] >= 5,
                      "the kernel's path taken: %r" % st)
