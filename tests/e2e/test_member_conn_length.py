# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A member's head whose Connection line names Content-Length (issue 17).
mod_proxy_http's ap_proxy_http_process_response() drops the Connection
line and each line it names (ap_proxy_clear_connection()) before it frames
the body from the head that is left (backend->r->headers_in, a copy of
it): without Content-Length, the body ends at the member's close, and
httpd sends it to an HTTP/1.1 client chunked, the client's connection
kept; to a HEAD, a head without Content-Length. kbald passed the member's
Content-Length on and framed the body by it (the rest of what the member
sent was lost, or taken for the next answer); it now drops it and frames
the body as httpd does (on_headers_complete(), then exch_eof_plan()). On
the copy path against Debian's apache2 (head and body, GET and HEAD), on
the sockmap path (a head with a Connection line is handed back: kbald's)
and on the packet path (a decided flow given back at its first byte)."""

from email.utils import formatdate

from apache import apache_beside
from kbaltest import EXAMPLE_CONF, Conn, Env, check, eq
from test_member_dates import given_back_each, handed_back_each, members
from test_member_heads import raw_answer

STAMPS = b"Date: %s\r\nServer: m\r\n" % formatdate(usegmt=True).encode()
OK = b"HTTP/1.1 200 OK\r\n"

# by the request's path's first segment: the member's Connection line
# (its Content-Length says 5, its body is longer and ends at its close)
CASES = {
    "close": b"Connection: close, Content-Length\r\n",
    "named": b"Connection: Content-Length\r\n",
}


def member(backend):
    """/CASE/...: CASES' head, Content-Length: 5, a longer body, then the
    close (a HEAD's head alone); any other path a canonical answer"""
    def answer(h, n):
        path = h.split(b" ")[1]
        body = b"%s %s\n" % (backend, path)
        case = path.split(b"/")[1].decode()
        if case not in CASES:
            return OK + STAMPS + b"X-Backend: %s\r\nContent-Length: %d\r\n\r\n" % (
                backend, len(body)) + body
        head = OK + STAMPS + CASES[case] + b"X-Backend: %s\r\nContent-Length: 5\r\n\r\n" % backend
        return [head + (b"" if h.startswith(b"HEAD ") else body), None]
    return answer


def want(path, backend=b"WAS1", head=False):
    """httpd's head for path's answer (a GET of an HTTP/1.1 client: chunked)"""
    if path.split("/")[1] not in CASES:
        return OK + STAMPS + b"X-Backend: %s\r\nContent-Length: %d\r\n\r\n" % (
            backend, len(b"%s %s\n" % (backend, path.encode())))
    return OK + STAMPS + b"X-Backend: %s\r\n%s\r\n" % (
        backend, b"" if head else b"Transfer-Encoding: chunked\r\n")


def test_member_conn_length_copied_as_apache():
    """kbald's copies (KbalSplice off), GET and HEAD, on a connection
    that goes on, against Debian's apache2 and against httpd's head as
    written above: the body the member sent to its close, whole"""
    conf = EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                                "ProxySet lbmethod=byrequests\nKbalSplice off")
    with Env(conf=conf, backends=()) as env:
        m1, m2 = members(env, member)
        with m1, m2, apache_beside(env) as aport:
            for case in CASES:
                path = "/%s/1" % case
                for port, who in ((aport, "Apache"), (env.port, "kbal")):
                    what = "%s's %s" % (who, path)
                    with Conn(port, timeout=10) as c:
                        c.request("GET", path, headers=[("Cookie", "ROUTEID=route.1")])
                        eq(raw_answer(c), (want(path), b"WAS1 %s\n" % path.encode()), what)
                        c.request("HEAD", path, headers=[("Cookie", "ROUTEID=route.1")])
                        while b"\r\n\r\n" not in c.buf:
                            check(c._fill(), what + ": EOF within the HEAD's answer")
                        n = c.buf.index(b"\r\n\r\n") + 4
                        eq(bytes(c.buf[:n]), want(path, head=True), what + ", HEAD")
                        del c.buf[:n]
                        c.request("GET", "/canon/1", headers=[("Cookie", "ROUTEID=route.1")])
                        eq(raw_answer(c)[0], want("/canon/1"), what + ": the request after")


def test_member_conn_length_sockmap():
    """a sticky keep-alive connection on the sockmap path: the head is
    handed back, written and framed as httpd does; the connection goes on"""
    handed_back_each(member, list(CASES), want)


def test_member_conn_length_packet():
    """a decided joined flow (the default path): given back at its first
    byte, written and framed as httpd does; the connection goes on"""
    given_back_each(member, list(CASES), want)
