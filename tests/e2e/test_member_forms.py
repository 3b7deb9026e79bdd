# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A member's head in a form llhttp refuses but httpd reads (issue 17):
mod_proxy_http's ap_proxy_read_headers() reads each line with
ap_rgetline(), which ends a line at its LF and drops a CR before it (a
bare LF ends a line too, a CR before a line's CRLF stays in the value),
trims the value of what apr_isspace() holds (VT and FF, and that CR,
besides SP and HT), and skips IIS's stray status line among the lines;
httpd then writes each line as "Name: value". kbald answered 502 to VT or
FF about a value and to a CR before CRLF, and 500 to a bare LF (its reading
again took the next line for the value's); it now writes such a head as
httpd read it (kbal_http_lines_write()) and parses that. A CR within a
value is refused by httpd's check_headers() (500) and by kbald alike
(test_member_refused.py's cases). On the copy path against Debian's
apache2, on the sockmap path (the stream parser hands such a head back:
kbald's) and on the packet path (a decided flow given back at its first
byte)."""

from email.utils import formatdate

from test_member_dates import (copied_as_apache, given_back_each, handed_back_each,
                               member_answering)

STAMPS = b"Date: %s\r\nServer: m\r\n" % formatdate(usegmt=True).encode()

# by the request's path's first segment: the member's lines between its
# Date and Server lines and its X-Backend and Content-Length, and httpd's
# (each case's literal: no model of httpd in the test). "canon" (every
# path of no case) is as httpd writes it.
CASES = {
    "canon": (b"X-A: v\r\n", b"X-A: v\r\n"),
    "vt": (b"X-A: \x0bv\x0b\r\n", b"X-A: v\r\n"),
    "ff": (b"X-A:\x0cv \x0c\r\n", b"X-A: v\r\n"),
    "crcr": (b"X-A: v\r\r\n", b"X-A: v\r\n"),
    "lf": (b"X-A: v\nX-B: w\n", b"X-A: v\r\nX-B: w\r\n"),
    "iis": (b"HTTP/1.0 200 OK\r\nX-A: v\r\n", b"X-A: v\r\n"),
}


def head(lines, backend, body):
    return b"HTTP/1.1 200 OK\r\n" + STAMPS + lines + \
        b"X-Backend: %s\r\nContent-Length: %d\r\n\r\n" % (backend, len(body))


member = member_answering(lambda case, backend, body:
                          head(CASES.get(case, CASES["canon"])[0], backend, body))


def want(path, backend=b"WAS1"):
    """httpd's head for path's answer"""
    return head(CASES.get(path.split("/")[1], CASES["canon"])[1], backend,
                b"%s %s\n" % (backend, path.encode()))


ODD = [case for case in CASES if case != "canon"]


def test_member_forms_copied_as_apache():
    """kbald's copies (a connection's first answer) against Debian's
    apache2 and against httpd's head as written above"""
    copied_as_apache(member, CASES, want)


def test_member_forms_sockmap():
    """a sticky keep-alive connection on the sockmap path: each such head
    is handed back and written as httpd read it, the connection the
    kernel's again after it"""
    handed_back_each(member, ODD, want)


def test_member_forms_packet():
    """a decided joined flow (the default path): each such head is given
    back at its first byte and written as httpd read it"""
    given_back_each(member, ODD, want)
