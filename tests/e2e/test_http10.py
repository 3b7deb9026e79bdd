# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""HTTP/1.0 clients (issue 17), side by side with Debian's apache2 on the
same configuration, its member one that records every byte it gets:
mod_proxy_http sends the member HTTP/1.1 whatever the client's version,
and makes the answer readable for a 1.0 client. An answer of a known
length keeps a keep-alive client's connection (Keep-Alive lines), ends
another's ("Connection: close"); a chunked answer goes de-chunked,
without Transfer-Encoding, and the connection ends after it (nothing else
would tell where the body ends), a keep-alive client's too; a HEAD's
answer keeps its Transfer-Encoding line and ends the connection. An
HTTP/1.1 client still gets the chunks as they came."""

import zlib

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, eq, pattern
from recording_member import RecordingMember
from test_request_line import normal

T = 10.0

CONF = PROXY_HEAD + """\
ServerName proxy.example
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
"""

BIG = pattern(300000)      # more than kbald's buffers: de-chunked as it comes
SIZES = (1, 7, 100, 4096, 65536, 16384)


def chunks(body):
    out, i, k = [], 0, 0
    while i < len(body):
        n = SIZES[k % len(SIZES)]
        ext = b";x=1" if k % 3 == 1 else b""
        out.append(b"%x%s\r\n%s\r\n" % (min(n, len(body) - i), ext, body[i:i + n]))
        i += n
        k += 1
    return b"".join(out) + b"0\r\nX-Trailer: t\r\n\r\n"


def answer(head, n):
    path = head.split(b" ")[1]
    if path.startswith(b"/chunked"):
        return (b"HTTP/1.1 200 OK\r\nX-N: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % n +
                (b"" if head.startswith(b"HEAD ") else chunks(BIG)))
    body = b"member %d" % n
    return b"HTTP/1.1 200 OK\r\nX-N: %d\r\nContent-Length: %d\r\n\r\n%s" % (n, len(body), body)


KA = "Connection: keep-alive\r\n"
# (method, path, version, extra head lines, body)
REQUESTS = [
    ("GET", "/cl", "1.0", "", None), ("GET", "/cl", "1.0", KA, None),
    ("GET", "/cl", "1.0", "Connection: close\r\n", None), ("POST", "/cl", "1.0", "", b"abc"),
    ("POST", "/cl", "1.0", KA, b"abc"), ("GET", "/chunked", "1.0", "", None),
    ("GET", "/chunked", "1.0", KA, None), ("POST", "/chunked", "1.0", KA, b"abc"),
    ("HEAD", "/chunked", "1.0", "", None), ("HEAD", "/chunked", "1.0", KA, None),
    ("GET", "/chunked", "1.1", "", None), ("GET", "/cl", "1.1", "", None),
]


def seen(r, method):
    """a response as the test compares it: status, its headers but for
    Server and Date (kbal says neither) and X-N (which request of the
    member's it answered), its body's length and CRC"""
    heads = [(k.lower(), v) for k, v in r.headers
             if k.lower() not in ("server", "date", "x-n")]
    body = getattr(r, "body", b"") or b""
    return r.status, heads, len(body), zlib.crc32(body)


def exchanges(port, member, before):
    """each REQUESTS one's (response, what the member got, whether the
    connection ended after it, what a request after it got), on a
    connection of its own after `before` plain HTTP/1.0 keep-alive ones"""
    out = []
    for method, path, version, extra, body in REQUESTS:
        with Conn(port, timeout=T) as c:
            for _ in range(before):
                c.send(("GET /k HTTP/1.0\r\nHost: proxy.example\r\n%s\r\n" % KA).encode())
                eq(c.read_response().status, 200, "a request before %s %s" % (method, path))
            del member.got[:]
            head = "%s %s HTTP/%s\r\nHost: proxy.example\r\n%s" % (method, path, version, extra)
            if body is not None:
                head += "Content-Length: %d\r\n" % len(body)
            c.send(head.encode() + b"\r\n" + (body or b""))
            r = c.read_response(method=method)
            got = [normal(g) for g in member.got]
            ended = c.at_eof(1.0)
            after = None
            if not ended:
                c.send(("GET /cl HTTP/%s\r\nHost: proxy.example\r\n%s\r\n"
                        % (version, extra)).encode())
                after = seen(c.read_response(), "GET")
            out.append((seen(r, method), got, ended, after))
    return out


def test_http10_clients_as_apache():
    with Env(conf=CONF, backends=()) as env, RecordingMember(env.ports["b1"], answer) as m, \
            apache_beside(env) as aport:
        theirs = exchanges(aport, m, 0)
        # the test's expectations of Apache
        eq([t[1][0][0] for t in theirs], [b"%s %s HTTP/1.1" % (meth.encode(), p.encode())
                                          for meth, p, _, _, _ in REQUESTS],
           "Apache's request lines: HTTP/1.1 to the member")
        eq([t[2] for t in theirs], [True, False, True, True, False, True, True, True, True,
                                    False, False, False], "Apache's ends of the connection")
        eq(theirs[9][0], (200, [("transfer-encoding", "chunked"),
                                ("keep-alive", "timeout=5, max=100"),
                                ("connection", "Keep-Alive")], 0, 0),
           "Apache's answer to a 1.0 keep-alive HEAD, chunked at the member")
        eq(theirs[5][0], (200, [("connection", "close")], len(BIG), zlib.crc32(BIG)),
           "Apache's de-chunked answer to a 1.0 client")
        eq(theirs[1][0][1][-2:], [("keep-alive", "timeout=5, max=100"),
                                  ("connection", "Keep-Alive")], "Apache's keep-alive answer")
        for before in (0, 2):
            ours = exchanges(env.port, m, before)
            if before:
                for t in ours:   # the connection's requests before it, counted
                    t[0][1][:] = [(k, v.replace("max=98", "max=100"))
                                  for k, v in t[0][1]]
                    if t[3]:
                        t[3][1][:] = [(k, v.replace("max=97", "max=99"))
                                      for k, v in t[3][1]]
            eq(list(zip(REQUESTS, ours)), list(zip(REQUESTS, theirs)),
               "kbal against Apache, after %d requests on the connection" % before)



# Interim answers (1xx but 101) a member sends before its final one: httpd's
# ap_send_interim_response() passes them to an HTTP/1.1 client, a 100
# Continue only to one that asked for it (Expect: 100-continue), and none
# to an HTTP/1.0 client; each in the final answer's segment ("/i/CODE") or
# 0.2 s before it ("/s/CODE")
def interim_answer(head, n):
    path = head.split(b" ")[1]
    body = b"member %d" % n
    out = [b"HTTP/1.1 %s Interim\r\nLink: </s.css>; rel=preload\r\n\r\n" % path[3:],
           b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)]
    return out if path.startswith(b"/s/") else b"".join(out)


INTERIMS = [(vers, code, expect) for vers in (b"1.0", b"1.1")
            for code, expect in ((b"103", False), (b"102", False), (b"100", False),
                                 (b"100", True))]


def interims(port):
    """the statuses each request's client got"""
    out = []
    for way in (b"i", b"s"):
        for vers, code, expect in INTERIMS:
            with Conn(port, timeout=T) as c:
                # (no body: httpd would wait for the member's 100 Continue
                # to send one, this member for the body to answer)
                c.send(b"GET /%s/%s HTTP/%s\r\nHost: proxy.example\r\nConnection: close\r\n"
                       b"%s\r\n" %
                       (way, code, vers, b"Expect: 100-continue\r\n" if expect else b""))
                r = c.read_response()
                out.append((way, vers, code, expect, [i.status for i in r.interim] + [r.status]))
    return out


def test_interim_answers_as_apache():
    with Env(conf=CONF, backends=()) as env, RecordingMember(env.ports["b1"], interim_answer), \
            apache_beside(env) as aport:
        theirs = interims(aport)
        # the test's reading of Apache's
        for way, vers, code, expect, lines in theirs:
            eq(len(lines), 2 if vers == b"1.1" and (code != b"100" or expect) else 1,
               "Apache: %s %s %s %s: %r" % (way, vers, code, expect, lines))
        eq(interims(env.port), theirs, "kbal against Apache")




# What the member gets of a request's Connection: mod_proxy_http's
# terminate_headers() says "Connection: Keep-Alive" to a member connection
# it may reuse, whatever the client said, after dropping the client's
# Connection, the lines it names (ap_proxy_clear_connection()) and
# Keep-Alive; kbald too on the requests it writes (not on a one-request
# client's with a body, whose "Connection: close" goes on: configuration.md)
CONN_RUNS = [
    [b"GET /a HTTP/1.1\r\nHost: proxy.example\r\n\r\n",
     b"GET /b HTTP/1.1\r\nHost: proxy.example\r\nConnection: keep-alive\r\n\r\n"],
    [b"GET /c HTTP/1.1\r\nHost: proxy.example\r\nConnection: close\r\n\r\n"],
    [b"GET /d HTTP/1.0\r\n\r\n"],
    [b"GET /e HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
     b"GET /f HTTP/1.0\r\nConnection: keep-alive\r\nKeep-Alive: 300\r\n\r\n"],
    [b"POST /g HTTP/1.1\r\nHost: proxy.example\r\nContent-Length: 2\r\n\r\nab",
     b"GET /h HTTP/1.1\r\nHost: proxy.example\r\n\r\n"],
    [b"GET /i HTTP/1.1\r\nHost: proxy.example\r\nConnection: keep-alive, X-Foo\r\n"
     b"X-Foo: 1\r\nX-Bar: 2\r\nKeep-Alive: 300\r\n\r\n"]]


def member_connection(port, member):
    """each request's line and its Connection, Keep-Alive and X-* lines, as
    the member got them"""
    del member.got[:]
    for run in CONN_RUNS:
        with Conn(port, timeout=T) as c:
            for rq in run:
                c.send(rq)
                eq(c.read_response().status, 200, "%r" % rq)
    out = []
    for g in member.got:
        lines = g.split(b"\r\n\r\n")[0].split(b"\r\n")
        out.append((lines[0], sorted(ln for ln in lines[1:] if ln.lower().startswith(
            (b"connection", b"keep-alive", b"x-foo", b"x-bar")))))
    return out


def test_connection_to_the_member_as_apache():
    with Env(conf=CONF, backends=()) as env, RecordingMember(env.ports["b1"]) as m, \
            apache_beside(env) as aport:
        theirs = member_connection(aport, m)
        eq([t[1] for t in theirs], [[b"Connection: Keep-Alive"]] * 8 +
           [[b"Connection: Keep-Alive", b"X-Bar: 2"]],
           "Apache's (the test's reading): Keep-Alive always, X-Foo dropped")
        eq(member_connection(env.port, m), theirs, "kbal against Apache")




# Expect: 100-continue (Proxy100Continue On, httpd's default): httpd sends
# the member the head with Expect, and the body once the member says 100
# Continue, which goes on to the client; a member's final answer instead
# still gets the body where the member keeps its connection (do_send_body),
# read with a blocking read at which httpd's HTTP_IN filter says 100
# Continue to the client first; from a member that closes, no body: the
# client's connection ends with the answer ("Connection: close")
def expect_member(head):
    """the member's 100 Continue, on /c paths, before it reads the body"""
    return b"HTTP/1.1 100 Continue\r\n\r\n" if head.startswith(b"POST /c") else None


def expect_answer(head, n):
    if head.startswith(b"POST /x"):
        return b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    return b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nmember"


EXPECTS = [(b"/c", b"Content-Length: 5\r\n\r\n", b"hello"),
           (b"/c1", b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", b""),
           (b"/c2", b"Transfer-Encoding: chunked\r\n\r\n", b"5\r\nhello\r\n0\r\n\r\n"),
           (b"/n", b"Content-Length: 5\r\n\r\n", b"hello"),
           (b"/x", b"Content-Length: 5\r\n\r\n", b"hello")]


def expects(port, member):
    """each request's statuses, the final answer's Connection, whether the
    connection ended, and what the member got (line, framing, body)"""
    out = []
    del member.got[:]
    for path, head, body in EXPECTS:
        with Conn(port, timeout=T) as c:
            c.send(b"POST %s HTTP/1.1\r\nHost: proxy.example\r\nExpect: 100-continue\r\n%s"
                   % (path, head))
            r = c.read_response(interim=True)
            statuses = [r.status]
            if r.status == 100:
                c.send(body)   # as curl: the body once the 100 came
                r = c.read_response()
                statuses.append(r.status)
            out.append((path, statuses, r.header("Connection"), c.at_eof(1.0)))
    got = []
    for g in member.got:
        h, _, b = g.partition(b"\r\n\r\n")
        lines = h.split(b"\r\n")
        got.append((lines[0], sorted(ln for ln in lines if ln.lower().startswith(
            (b"content-length", b"transfer-encoding", b"expect"))), b))
    return out + sorted(got)   # (a body the member reads after its answer: any order)


def test_expect_100_continue_as_apache():
    with Env(conf=CONF, backends=()) as env, \
            RecordingMember(env.ports["b1"], expect_answer, interim=expect_member) as m, \
            apache_beside(env) as aport:
        theirs = expects(aport, m)
        # the test's reading of Apache's
        eq(theirs[:5], [(b"/c", [100, 200], None, False), (b"/c1", [100, 200], None, False),
                        (b"/c2", [100, 200], None, False), (b"/n", [100, 200], None, False),
                        (b"/x", [417], "close", True)], "Apache's answers")
        eq(expects(env.port, m), theirs, "kbal against Apache")

