# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""httpd's request variables that change how a request goes to the member
or how its answer comes back (issue 17), side by side with Debian's apache2
on the same configuration, its member one that records every byte it gets:
force-proxy-request-1.0 (HTTP/1.0 to the member, no Connection line, a
chunked body that came whole sent with its length), proxy-nokeepalive
("Connection: close" to the member, the client's connection goes on),
downgrade-1.0 (an HTTP/1.1 request answered as an HTTP/1.0 one: the
connection ends, a chunked answer goes de-chunked), force-response-1.0
("HTTP/1.0" in the status line, the connection ends), proxy-sendchunked
(no change). And a chunked request body as mod_proxy_http's
ap_proxy_http_prefetch() sends it: one that came whole (with extensions
and trailers) goes de-chunked with a Content-Length, one longer than
what it reads ahead (16 KiB) goes chunked. With these lines kbald decides
every request."""

import time
import zlib

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, check, eq, pattern
from recording_member import RecordingMember, stamps

T = 10.0

CONF = PROXY_HEAD + """\
LoadModule setenvif_module modules/mod_setenvif.so
ServerName proxy.example
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass /local !
ProxyPass / balancer://c/
ProxyPreserveHost On
SetEnvIf X-F10 . force-proxy-request-1.0
SetEnvIf X-Nk . proxy-nokeepalive
SetEnvIf X-Dg . downgrade-1.0
SetEnvIf X-R10 . force-response-1.0
SetEnvIf X-Sc . proxy-sendchunked
SetEnvIf X-Scl . proxy-sendcl
"""

BIG = pattern(40000)


def chunked(body, ext=b"", trailer=b""):
    out, i = [], 0
    while i < len(body):
        n = min(1000, len(body) - i)
        out.append(b"%x%s\r\n%s\r\n" % (n, ext, body[i:i + n]))
        i += n
    return b"".join(out) + b"0\r\n" + trailer + b"\r\n"


def answer(head, n):
    path = head.split(b" ")[1]
    if path.startswith(b"/chunked"):
        return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    body = b"member"
    # an HTTP/1.0 request (force-proxy-request-1.0) gets an HTTP/1.0 answer
    vers = b"1.0" if head.split(b"\r\n")[0].endswith(b"HTTP/1.0") else b"1.1"
    return b"HTTP/%s 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (vers, stamps(), len(body),
                                                                    body)


TE = "Transfer-Encoding: chunked\r\n"
# (name, request line, extra head lines, body)
REQUESTS = [
    ("chunked, whole", "POST /a HTTP/1.1", TE, chunked(b"hello world")),
    ("chunked, extensions and trailers", "POST /a HTTP/1.1", TE,
     chunked(b"x" * 3000, b";name=v", b"X-Trailer: t\r\n")),
    ("chunked, longer than the prefetch", "POST /a HTTP/1.1", TE, chunked(BIG)),
    ("chunked, longer, extensions and trailers", "POST /a HTTP/1.1", TE,
     chunked(BIG, b";e=1", b"X-Trailer: t\r\n")),
    ("force-proxy-request-1.0", "GET /a HTTP/1.1", "X-F10: 1\r\n", b""),
    ("force-proxy-request-1.0, keep-alive", "GET /a HTTP/1.1",
     "X-F10: 1\r\nConnection: keep-alive\r\n", b""),
    ("force-proxy-request-1.0, chunked", "POST /a HTTP/1.1", "X-F10: 1\r\n" + TE,
     chunked(b"abc" * 100)),
    ("force-proxy-request-1.0, length", "POST /a HTTP/1.1", "X-F10: 1\r\nContent-Length: 3\r\n",
     b"abc"),
    ("proxy-nokeepalive", "GET /a HTTP/1.1", "X-Nk: 1\r\n", b""),
    ("proxy-nokeepalive, chunked answer", "GET /chunked HTTP/1.1", "X-Nk: 1\r\n", b""),
    ("downgrade-1.0", "GET /a HTTP/1.1", "X-Dg: 1\r\n", b""),
    ("downgrade-1.0, keep-alive", "GET /a HTTP/1.1", "X-Dg: 1\r\nConnection: keep-alive\r\n",
     b""),
    ("downgrade-1.0, chunked answer", "GET /chunked HTTP/1.1",
     "X-Dg: 1\r\nConnection: keep-alive\r\n", b""),
    ("force-response-1.0 alone", "GET /a HTTP/1.1", "X-R10: 1\r\n", b""),
    ("force-response-1.0, downgraded", "GET /a HTTP/1.1", "X-R10: 1\r\nX-Dg: 1\r\n", b""),
    ("force-response-1.0, HTTP/1.0 keep-alive", "GET /a HTTP/1.0",
     "X-R10: 1\r\nConnection: keep-alive\r\n", b""),
    ("force-response-1.0, kbald's own 404", "GET /local HTTP/1.0",
     "X-R10: 1\r\nConnection: keep-alive\r\n", b""),
    ("force-response-1.0, downgraded, kbald's own 404", "GET /local HTTP/1.1",
     "X-R10: 1\r\nX-Dg: 1\r\n", b""),
    ("downgrade-1.0, kbald's own 404, keep-alive", "GET /local HTTP/1.1",
     "X-Dg: 1\r\nConnection: keep-alive\r\n", b""),
    ("force-proxy-request-1.0, long chunked", "POST /a HTTP/1.1", "X-F10: 1\r\n" + TE,
     chunked(BIG, b";e=1", b"X-Trailer: t\r\n")),
    ("proxy-sendcl, long chunked", "POST /a HTTP/1.1", "X-Scl: 1\r\n" + TE, chunked(BIG)),
    ("proxy-sendcl and proxy-sendchunked, long chunked", "POST /a HTTP/1.1",
     "X-Scl: 1\r\nX-Sc: 1\r\n" + TE, chunked(BIG)),
    ("proxy-sendcl, short chunked", "POST /a HTTP/1.1", "X-Scl: 1\r\n" + TE,
     chunked(b"short")),
    ("proxy-sendchunked", "POST /a HTTP/1.1", "X-Sc: 1\r\n" + TE, chunked(b"sc" * 50)),
    ("proxy-sendchunked, length", "POST /a HTTP/1.1", "X-Sc: 1\r\nContent-Length: 2\r\n",
     b"ok"),
]


def dechunk(body):
    out = b""
    while body:
        line, _, body = body.partition(b"\r\n")
        n = int(line.split(b";")[0], 16)
        if n == 0:
            break
        out, body = out + body[:n], body[n + 2:]
    return out


def member_saw(raw):
    """what the member got: its request line, its other lines sorted but for
    the X-Forwarded-* ones (kbald's, on any request) and httpd's
    "Connection: Keep-Alive" (which the requests the kernel carries lack:
    configuration.md), and
    its body: as it came with a length, de-chunked (its chunks are the
    reads of the one that sent it) with its length and CRC"""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    keep = sorted(ln for ln in lines[1:] if ln.lower() != b"connection: keep-alive" and
                  not ln.lower().startswith(b"x-forwarded-"))
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
        return lines[0], keep, "chunked", len(body), zlib.crc32(body)
    return lines[0], keep, body


def read_raw(c):
    """the answer's status line, its lines but Date and Server (their
    values differ) in their order, its body"""
    r = c.read_response()
    heads = [(k.lower(), v) for k, v in r.headers if k.lower() not in ("server", "date")]
    return r.version, r.status, heads, getattr(r, "body", b"") or b""


def exchanges(port, member):
    out = []
    for name, line, extra, body in REQUESTS:
        with Conn(port, timeout=T) as c:
            del member.got[:]
            c.send(("%s\r\nHost: proxy.example\r\n%s\r\n" % (line, extra)).encode() + body)
            r = read_raw(c)
            got = [member_saw(g) for g in member.got]
            ended = c.at_eof(1.0)
            after = None
            if not ended:
                c.send(b"GET /after HTTP/1.1\r\nHost: proxy.example\r\n\r\n")
                after = c.read_response().status
            out.append((name, r, got, ended, after))
    return out


def test_request_variables_as_apache():
    with Env(conf=CONF, backends=()) as env, RecordingMember(env.ports["b1"], answer) as m, \
            apache_beside(env) as aport:
        theirs = exchanges(aport, m)
        ours = exchanges(env.port, m)
        byname = {t[0]: t for t in theirs}
        # the test's expectations of Apache, from its sources
        eq(byname["chunked, whole"][2][0][1:], ([b"Content-Length: 11",
                                                 b"Host: proxy.example"], b"hello world"),
           "Apache: a chunked body that came whole goes with its length")
        eq(byname["chunked, longer than the prefetch"][2][0][1:],
           ([b"Host: proxy.example", b"Transfer-Encoding: chunked"], "chunked", len(BIG),
            zlib.crc32(BIG)), "Apache: a long chunked body goes chunked")
        eq(byname["force-proxy-request-1.0"][2][0][0], b"GET /a HTTP/1.0",
           "Apache: force-proxy-request-1.0")
        eq(byname["proxy-sendcl, long chunked"][2][0][1:],
           ([b"Content-Length: %d" % len(BIG), b"Host: proxy.example", b"X-Scl: 1"], BIG),
           "Apache: proxy-sendcl spools a long body")
        eq(byname["proxy-nokeepalive"][2][0][1], [b"Connection: close", b"Host: proxy.example",
                                                  b"X-Nk: 1"], "Apache: proxy-nokeepalive")
        eq(byname["force-response-1.0, downgraded"][1][0], "HTTP/1.0",
           "Apache: force-response-1.0")
        eq(byname["force-response-1.0 alone"][1][0], "HTTP/1.1",
           "Apache: force-response-1.0 on an HTTP/1.1 request")
        eq(byname["downgrade-1.0"][3], True, "Apache: downgrade-1.0 ends the connection")
        eq(byname["force-response-1.0, kbald's own 404"][1][:2], ("HTTP/1.0", 404),
           "Apache: force-response-1.0 on its own answer")
        eq(byname["force-proxy-request-1.0"][1][0], "HTTP/1.1",
           "Apache: HTTP/1.1 to the client whatever the member's version")
        for t, o in zip(theirs, ours):
            eq(o, t, "%s: kbal as Apache (answer, what the member got, the end, "
                     "what followed)" % t[0])


# Debian's setenvif.conf's lines that set them, and one of the test's that
# sets the member's two on the User-Agent alone: the kernel keeps the
# requests of a connection's own User-Agent, kbald gets the others back
DEBIAN = PROXY_HEAD + """\
LoadModule setenvif_module modules/mod_setenvif.so
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
ProxyPreserveHost On
BrowserMatch "Mozilla/2" nokeepalive
BrowserMatch "MSIE 4\\.0b2;" nokeepalive downgrade-1.0 force-response-1.0
BrowserMatch "RealPlayer 4\\.0" force-response-1.0
BrowserMatch "Java/1\\.0" force-response-1.0
BrowserMatch "^Legacy/" force-proxy-request-1.0 proxy-nokeepalive
"""

UAS = ["curl/8.0"] * 5 + ["Java/1.0", "curl/8.0", "Legacy/1", "curl/8.0", "curl/8.0",
                          "MSIE 4.0b2;"]


def test_user_agent_variables_handed_back_as_apache():
    def answers(port, member):
        out = []
        del member.got[:]
        with Conn(port, timeout=T) as c:
            for i, ua in enumerate(UAS):
                c.send(("GET /u%d HTTP/1.1\r\nHost: proxy.example\r\nUser-Agent: %s\r\n\r\n"
                        % (i, ua)).encode())
                r = c.read_response()
                out.append((ua, r.version, r.status, (r.header("Connection") or "").lower()))
            eq(c.at_eof(3.0), True, "the connection ends after the MSIE 4.0b2 answer")
        # each request's line as the member got it
        return out, sorted(g.split(b"\r\n")[0] for g in member.got)

    with Env(conf=DEBIAN, backends=()) as env, RecordingMember(env.ports["b1"], answer) as m, \
            apache_beside(env) as aport:
        theirs = answers(aport, m)
        eq([a[1] for a in theirs[0]], ["HTTP/1.1"] * 10 + ["HTTP/1.0"],
           "Apache's status lines")
        eq(theirs[1][-1], b"GET /u9 HTTP/1.1", "what Apache's member got (sorted)")
        eq(theirs[1][0], b"GET /u0 HTTP/1.1", "what Apache's member got (sorted)")
        check(b"GET /u7 HTTP/1.0" in theirs[1], "Apache's force-proxy-request-1.0")
        st = env.stats()
        eq(answers(env.port, m), theirs, "kbal's answers and member's requests against Apache's")
        after = env.stats()
        check(after["kept"] - st["kept"] >= 3, "the kernel kept requests: %r" % after)
        check(after["back"] - st["back"] >= 3,
              "the other User-Agents were handed back: %r" % after)


def test_chunked_body_in_pieces_as_apache():
    """a long chunked body that comes in pieces, a request pipelined behind
    it: the member gets it chunked again, without the client's extensions
    and trailer, then the next request, as from Apache; with proxy-sendcl,
    spooled and sent with its length"""
    body = chunked(BIG, b";piece=1", b"X-Trailer: t\r\n")
    nxt = b"GET /after HTTP/1.1\r\nHost: proxy.example\r\n\r\n"

    def run(port, member, extra):
        data = (b"POST /a HTTP/1.1\r\nHost: proxy.example\r\n%sTransfer-Encoding: chunked\r\n"
                b"\r\n" % extra + body + nxt)
        cuts = [0, 70, 5000, 17000, 17001, 30000, len(data) - len(nxt) - 3, len(data)]
        del member.got[:]
        with Conn(port, timeout=T) as c:
            for a, b in zip(cuts, cuts[1:]):
                c.send(data[a:b])
                time.sleep(0.05)
            answers = [read_raw(c)[:2], read_raw(c)[:2]]
        return answers, [member_saw(g) for g in member.got]

    with Env(conf=CONF, backends=()) as env, RecordingMember(env.ports["b1"], answer) as m, \
            apache_beside(env) as aport:
        theirs = run(aport, m, b"")
        eq(theirs[1][0][1:], ([b"Host: proxy.example", b"Transfer-Encoding: chunked"], "chunked",
                              len(BIG), zlib.crc32(BIG)), "what Apache's member got")
        eq(len(theirs[1]), 2, "Apache's member got the next request too")
        eq(run(env.port, m, b""), theirs, "kbal against Apache")
        theirs = run(aport, m, b"X-Scl: 1\r\n")
        eq(theirs[1][0][1:], ([b"Content-Length: %d" % len(BIG), b"Host: proxy.example",
                               b"X-Scl: 1"], BIG), "what Apache's member got with proxy-sendcl")
        eq(run(env.port, m, b"X-Scl: 1\r\n"), theirs, "kbal against Apache, proxy-sendcl")


def test_chunked_body_after_100_continue():
    """Expect: 100-continue: the head goes at once, with Expect, and the
    body once the member said 100 Continue, chunked again, whole or not,
    without extensions or trailer, as Apache sends it (test_expect.py: the
    body held until then)"""
    cont = b"HTTP/1.1 100 Continue\r\n\r\n"
    with Env(conf=CONF, backends=()) as env, \
            RecordingMember(env.ports["b1"], answer, interim=lambda head: cont) as m, \
            apache_beside(env) as aport:
        for body in (b"hello world", BIG):
            outs = []
            for port in (aport, env.port):
                del m.got[:]
                with Conn(port, timeout=T) as c:
                    c.send(b"POST /a HTTP/1.1\r\nHost: proxy.example\r\nExpect: 100-continue\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n")
                    eq(c.read_response(interim=True).status, 100, "the member's 100 Continue")
                    c.send(chunked(body, b";e=1", b"X-Trailer: t\r\n"))
                    eq(read_raw(c)[:2], ("HTTP/1.1", 200), "the answer")
                eq(len(m.got), 1, "the member's requests")
                eq(m.got[0].endswith(b"\r\n0\r\n\r\n"), True, "the last chunk, no trailer")
                eq(b";e=1" in m.got[0], False, "no chunk extension")
                outs.append(member_saw(m.got[0]))
            eq(outs[0][1:], ([b"Expect: 100-continue", b"Host: proxy.example",
                              b"Transfer-Encoding: chunked"], "chunked", len(body),
                             zlib.crc32(body)), "what Apache's member got")
            eq(outs[1], outs[0], "kbal against Apache")


def test_spool_bounded_by_limit_request_body():
    """kbald spools to memory: LimitRequestBody bounds it (a 413, nothing to
    the member), where httpd spools to a file without limit"""
    with Env(conf=CONF + "LimitRequestBody 20000\n", backends=()) as env, \
            RecordingMember(env.ports["b1"], answer) as m:
        for extra, status, got in (("X-Scl: 1\r\n", 413, 0), ("", 200, 1)):
            del m.got[:]
            with Conn(env.port, timeout=T) as c:
                c.send(("POST /a HTTP/1.1\r\nHost: proxy.example\r\n%s%s\r\n"
                        % (extra, TE)).encode() + chunked(BIG))
                eq(read_raw(c)[1], status, "a 40000-byte body, %r" % extra)
            eq(len(m.got), got, "what the member got, %r" % extra)
