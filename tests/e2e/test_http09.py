# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""HTTP/0.9 requests ("GET /path" and no version; issue 17) as httpd's
default HttpProtocolOptions (Strict LenientMethods Allow0.9) takes them,
side by side with Debian's apache2 on the same configuration, its member
one that records every byte it gets: a GET alone, its CRLF required, at
most one SP after the target; the line is the whole request (nothing after
it is read: no header, no next request); the member gets HTTP/1.1 as for
an HTTP/1.0 request without Host; the answer is its body alone (no status
line, no header: de-chunked when the member chunks it; kbald's own pages
too), and the connection ends after it. HEAD, another method, a bare LF,
two SPs are 400s with a head, as httpd's."""

import os
import shutil
import tempfile

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, check, eq, wait_until
from recording_member import RecordingMember
from test_proxy_env import member_saw

T = 10.0

CONF = PROXY_HEAD + """\
ServerName proxy.example
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass /p/ balancer://c/p/
"""


def answer(head, n):
    if head.split(b" ")[1].startswith(b"/p/chunked"):
        return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    body = b"member %d" % n
    return b"HTTP/1.1 200 OK\r\nX-N: %d\r\nContent-Length: %d\r\n\r\n%s" % (n, len(body), body)


SERVED = [b"GET /p/a\r\n", b"GET /p/a \r\n", b"GET /p/a\r\nHost: other\r\n\r\n",
          b"GET /p/chunked\r\n", b"GET /x\r\n", b"\r\nGET /p/a?q=1\r\n",
          b"GET /p/a\r\nGET /p/b HTTP/1.1\r\nHost: proxy.example\r\n\r\n"]
REFUSED = [b"HEAD /p/a\r\n", b"get /p/a\r\n", b"POST /p/a\r\n", b"GET /p/a\n",
           b"GET /p/a#f\r\n", b"GET p/a\r\n", b"GET /p/a  \r\n"]


def exchanges(port, member, before, requests=SERVED + REFUSED):
    """each request's (what the client got, what the member got), on a
    connection of its own after `before` HTTP/1.1 ones"""
    out = []
    for req in requests:
        with Conn(port, timeout=T) as c:
            for _ in range(before):
                c.send(b"GET /p/k HTTP/1.1\r\nHost: proxy.example\r\n\r\n")
                eq(c.read_response().status, 200, "a request before %r" % req)
            del member.got[:]
            c.send(req)
            got = c.read_until_eof()
            if req in REFUSED:
                # the status line and the connection's end (Date's and
                # Server's values differ)
                got = got.split(b"\r\n")[0]
            out.append((req, got, [member_saw(g) for g in member.got]))
    return out


def test_http09_as_apache():
    for conf in (CONF, CONF + "ProxyPreserveHost On\n"):
        with Env(conf=conf, backends=()) as env, RecordingMember(env.ports["b1"], answer) as m, \
                apache_beside(env) as aport:
            theirs = exchanges(aport, m, 0)
            # the test's expectations of Apache
            eq(theirs[0][1], b"member 1", "Apache's answer: the body alone")
            eq(theirs[3][1], b"hello world", "Apache's chunked answer, de-chunked")
            eq(theirs[4][1][:15], b"<!DOCTYPE HTML ", "Apache's 404: its page alone")
            eq(theirs[0][2][0][0], b"GET /p/a HTTP/1.1", "what Apache's member got")
            eq(len(theirs[6][2]), 1, "Apache reads nothing after the line")
            eq([t[1] for t in theirs[len(SERVED):]], [b"HTTP/1.1 400 Bad Request"] * len(REFUSED),
               "Apache's 400s")
            eq(exchanges(env.port, m, 0), theirs, "kbal against Apache%s"
               % (" (ProxyPreserveHost On)" if "Preserve" in conf else ""))
            # after requests the kernel framed (ProxyPreserveHost On: it
            # keeps them), the line comes to the stream parser, which ends
            # a head at an empty line only (docs/configuration.md): those
            # with one behind them go back to kbald, answered as Apache's
            later = [r for r in SERVED if b"\r\n\r\n" in r]
            eq(exchanges(env.port, m, 3, later), [t for t in theirs if t[0] in later],
               "kbal against Apache%s, after 3 requests on the connection"
               % (" (ProxyPreserveHost On)" if "Preserve" in conf else ""))
            if "Preserve" in conf:
                st = env.stats()
                check(st["kept"] >= 2 and st["back"] >= 2,
                      "the kernel kept requests, and gave the HTTP/0.9 ones back: %r" % st)


def test_http09_logged_as_apache():
    """%r is the line without a protocol (httpd's the_request), %H HTTP/0.9"""
    d = tempfile.mkdtemp(prefix="kbal-http09-")
    os.chmod(d, 0o755)
    try:
        conf = CONF + 'CustomLog %s/access.log "%%{local}p %%r|%%H|%%>s"\n' % d
        with Env(conf=conf, backends=()) as env, RecordingMember(env.ports["b1"], answer), \
                apache_beside(env) as aport:
            for port in (aport, env.port):
                for req in (b"GET /p/a \r\n", b"GET /x\r\n"):
                    with Conn(port, timeout=T) as c:
                        c.send(req)
                        c.read_until_eof()

            def lines(port):
                with open(os.path.join(d, "access.log")) as f:
                    return [ln.split(" ", 1)[1] for ln in f.read().splitlines()
                            if ln.startswith("%d " % port)]
            wait_until(lambda: len(lines(env.port)) == 2 and len(lines(aport)) == 2, 5.0,
                       "both logs written")
            eq(lines(aport), ["GET /p/a|HTTP/0.9|200", "GET /x|HTTP/0.9|404"],
               "Apache's lines (the test's expectation)")
            eq(lines(env.port), lines(aport), "kbal's lines against Apache's")
    finally:
        shutil.rmtree(d, ignore_errors=True)



# A HEAD has no body in its answer (httpd's header_only, set as the line's
# method is read, before the line is refused): kbald's own error pages go
# as their head alone, without Content-Length (ap_send_error_response()
# makes no page), the HTTP/0.9 form's 400 too.
HEADS = [b"HEAD /p/a\r\n", b"HEAD /p/a  \r\n", b"HEAD /p/a HTTP/1.1\r\n\r\n",
         b"HEAD /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
         b"HEAD /p/%2e%2e/%2e%2e/x HTTP/1.0\r\n\r\n",
         b"HEAD /p/a HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n"]


def head_answers(port):
    out = []
    for req in HEADS:
        with Conn(port, timeout=T) as c:
            c.send(req)
            head, _, body = c.read_until_eof().partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            # the lines in their order (Date's and Server's values differ)
            out.append((lines[0], [ln for ln in lines[1:]
                                   if not ln.startswith((b"Date:", b"Server:"))], body))
    return out


def test_head_refused_as_apache():
    with Env(conf=CONF, backends=()) as env, RecordingMember(env.ports["b1"], answer), \
            apache_beside(env) as aport:
        theirs = head_answers(aport)
        eq(theirs[0], (b"HTTP/1.1 400 Bad Request", [b"Connection: close",
                       b"Content-Type: text/html; charset=iso-8859-1"], b""),
           "Apache's 400 to an HTTP/0.9 HEAD (the test's reading)")
        eq(head_answers(env.port), theirs, "kbal against Apache")
