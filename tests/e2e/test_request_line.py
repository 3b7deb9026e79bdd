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

import select
import socket
import threading

from apache import apache_beside
from kbaltest import HOST, PROXY_HEAD, Conn, Env, eq, wait_until

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


def end_of(buf, sep):
    """where buf's first sep ends, None without one"""
    i = buf.find(sep)
    return None if i < 0 else i + len(sep)


class RecordingMember:
    """A member on 127.0.0.1:port that keeps each request's bytes as it
    got them (head, then its body by Content-Length or chunked) and
    answers each with a 200 of its own length."""

    def __init__(self, port):
        self.got = []
        self.stop = False
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((HOST, port))
        self.ls.listen(64)
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.ls.close()
        for t in self.threads:
            t.join(5)
        return False

    def _accept(self):
        while not self.stop:
            try:
                if not select.select([self.ls], [], [], 0.1)[0]:
                    continue
                s, _ = self.ls.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(s,), daemon=True)
            self.threads.append(t)
            t.start()

    def _recv(self, s, buf, need):
        """buf grown until need(buf) is not None; None at EOF or stop"""
        while (n := need(buf)) is None:
            if self.stop:
                return None, buf
            if not select.select([s], [], [], 0.1)[0]:
                continue
            data = s.recv(65536)
            if not data:
                return None, buf
            buf += data
        return n, buf

    def _serve(self, s):
        buf = b""
        try:
            while True:
                n, buf = self._recv(s, buf, lambda b: end_of(b, b"\r\n\r\n"))
                if n is None:
                    return
                head, buf = buf[:n], buf[n:]
                low = head.lower()
                if b"transfer-encoding: chunked" in low:
                    body = b""
                    while True:
                        n, buf = self._recv(s, buf, lambda b: end_of(b, b"\r\n"))
                        if n is None:
                            return
                        size = int(buf[:n].split(b";")[0], 16)
                        n2, buf = self._recv(s, buf, lambda b, k=n + size + 2:
                                             k if len(b) >= k else None)
                        if n2 is None:
                            return
                        body, buf = body + buf[:n2], buf[n2:]
                        if size == 0:
                            break
                else:
                    cl = [int(ln.split(b":")[1]) for ln in low.split(b"\r\n")
                          if ln.startswith(b"content-length:")]
                    n, buf = self._recv(s, buf, lambda b, k=(cl or [0])[0]:
                                        k if len(b) >= k else None)
                    if n is None:
                        return
                    body, buf = buf[:n], buf[n:]
                self.got.append(head + body)
                answer = b"member %d" % len(self.got)
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                          % (len(answer), answer))
        except OSError:
            pass
        finally:
            s.close()


def normal(raw):
    """what the member got, but for what kbal's docs say differs from
    httpd's on any request (docs/configuration.md): httpd's
    "Connection: Keep-Alive" and where it puts Content-Length; on the
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
                # httpd spools a chunked request body and sends its length;
                # kbal passes it on chunked (docs/configuration.md)
                eq(ours[9][2][0][0], theirs[9][2][0][0], "the chunked FOO's request line")
                eq(ours[9][2][0][2], b"3\r\nabc\r\n0\r\n\r\n", "the chunked FOO's body")
                ours[9] = theirs[9]
                eq(list(zip(REQUESTS, ours)), list(zip(REQUESTS, theirs)),
                   "kbal against Apache%s, after %d requests on the connection"
                   % (" (ProxyPreserveHost On)" if "Preserve" in conf else "", before))
