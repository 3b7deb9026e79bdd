# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A member's status line and header lines as httpd writes them on (issue
17): mod_proxy_http's ap_proxy_read_headers() reads each line into
r->headers_out (its name as sent, its value with the white space around it
left out; an obs-fold continuation joined to the line before it), and
httpd writes each again as "Name: value", its status line as "HTTP/1.1 "
and the member's status code and reason ("200 " where it gave none). So
"X-A:1", "X-A:   1  " and "X-A:\\t1" reach the client as "X-A: 1". On the
copy path (kbald writes every head), on the sockmap path (the kernel keeps
a head only where each line is already in that form, hands the others
back) and on the packet path (a decided flow given back at such an
answer), each head byte for byte against what httpd writes, and the copy
path's against Debian's apache2."""

from email.utils import formatdate

from test_member_dates import (copied_as_apache, given_back_each, handed_back_each,
                               member_answering)

NOW = formatdate(usegmt=True).encode()
OK = b"HTTP/1.1 200 OK\r\n"

# by the request's path's first segment: the member's status line and
# lines (after its Date and Server, before X-Backend and Content-Length),
# and httpd's for them. Each case's literal: no model of httpd in the test.
CASES = {
    # what httpd writes as it is: a reason of the member's own, white
    # space within a value, an empty value
    "canon": ((b"HTTP/1.1 200 Okay\r\n", b"X-A: a \t b\r\nX-B: \r\n"),
              (b"HTTP/1.1 200 Okay\r\n", b"X-A: a \t b\r\nX-B: \r\n")),
    "tight": ((OK, b"X-A:1\r\n"), (OK, b"X-A: 1\r\n")),
    "blanks": ((OK, b"X-A:   1  \r\n"), (OK, b"X-A: 1\r\n")),
    "tab": ((OK, b"X-A:\t1\r\n"), (OK, b"X-A: 1\r\n")),
    "trailing": ((OK, b"X-A: 1\t\r\nX-B: b \r\n"), (OK, b"X-A: 1\r\nX-B: b\r\n")),
    "empty": ((OK, b"X-A:\r\nX-B:   \r\nX-C:\t\r\n"), (OK, b"X-A: \r\nX-B: \r\nX-C: \r\n")),
    "server": ((OK, b""), (OK, b"")),
    # obs-fold: httpd joins a line to the one before it, without the CRLF
    "fold": ((OK, b"X-A: a\r\n  b\r\nX-B: c \r\n\td \r\n e\r\n"),
             (OK, b"X-A: a  b\r\nX-B: c \td  e\r\n")),
    # no reason phrase: httpd adds the space the status line needs
    "noreason": ((b"HTTP/1.1 200\r\n", b"X-A: 1\r\n"), (b"HTTP/1.1 200 \r\n", b"X-A: 1\r\n")),
    # an HTTP/1.0 member: httpd answers HTTP/1.1
    "v10": ((b"HTTP/1.0 200 OK\r\n", b"X-A: 1\r\n"), (OK, b"X-A: 1\r\n")),
}
# the member's Server line by case ("server": blanks httpd trims)
SERVER = {"server": b"Server:  m \t\r\n"}


def head(sl, lines, backend, body, server=b"Server: m\r\n"):
    return sl + b"Date: " + NOW + b"\r\n" + server + lines + \
        b"X-Backend: %s\r\nContent-Length: %d\r\n\r\n" % (backend, len(body))


# each path with its CASES head ("canon" for any other path)
member = member_answering(lambda case, backend, body:
                          head(*CASES.get(case, CASES["canon"])[0], backend, body,
                               SERVER.get(case, b"Server: m\r\n")))


def want(path, backend=b"WAS1"):
    """httpd's head for path's answer"""
    sl, lines = CASES[path.split("/")[1]][1]
    return head(sl, lines, backend, b"%s %s\n" % (backend, path.encode()))


def test_member_lines_copied_as_apache():
    """kbald's copies (a connection's first answer), against Debian's
    apache2 on the same configuration and members, and against httpd's
    head as written above"""
    copied_as_apache(member, CASES, want)


def test_member_lines_sockmap():
    """a sticky keep-alive connection on the sockmap path: each answer
    with a line httpd writes otherwise is handed back (kbald writes it),
    one whose every line is httpd's stays the kernel's"""
    handed_back_each(member, [case for case in CASES if case != "canon"], want)


def test_member_lines_packet():
    """a decided joined flow (KbalSplice packet): an answer whose every
    line is httpd's passes, each other one is given back at its first
    byte and written by kbald as httpd writes it"""
    given_back_each(member, [case for case in CASES if case != "canon"], want)
