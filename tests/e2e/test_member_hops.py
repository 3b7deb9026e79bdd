# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A member's final head without its hop-by-hop lines and with its
Set-Cookie lines last, as httpd passes it (issue 17). mod_proxy_http's
ap_proxy_http_process_response() drops from what the member sent its
Connection line and the lines it names (ap_proxy_clear_connection()),
Keep-Alive, Proxy-Authenticate, TE, Trailer and Upgrade (a 101 aside),
and moves the Set-Cookie lines after the others (it tucks them away and
overlays them again: apr_table_overlay()). So a member's "Connection:
keep-alive" never reaches the client (the kernel passed it, kbald's copy
dropped it), nor its Upgrade or Trailer. On the copy path against Debian's
apache2, on the sockmap path (the kernel hands such a head back, keeps a
head whose Set-Cookie lines are already last) and on the packet path (a
decided flow given back at such an answer)."""

from email.utils import formatdate

from test_member_dates import (copied_as_apache, given_back_each, handed_back_each,
                               member_answering)

STAMPS = b"Date: %s\r\nServer: m\r\n" % formatdate(usegmt=True).encode()
HOPS = (b"Connection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5, max=100\r\nX-Hop: 1\r\n"
        b"TE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\n"
        b"Proxy-Authenticate: Basic realm=\"r\"\r\n")

# by the request's path's first segment: the member's lines before its
# X-Backend and Content-Length and after them, and httpd's. Each case's
# literal: no model of httpd in the test. "canon" (every path of no case)
# is as httpd writes it: a Set-Cookie last stays the kernel's.
CASES = {
    "canon": ((b"X-A: 1\r\n", b"Set-Cookie: s=1\r\n"), (b"X-A: 1\r\n", b"Set-Cookie: s=1\r\n")),
    "keepalive": ((b"Connection: keep-alive\r\nX-A: 1\r\n", b""), (b"X-A: 1\r\n", b"")),
    "cookie": ((b"Set-Cookie: a=1\r\nX-C: c\r\nSet-Cookie: b=2\r\n", b""),
               (b"X-C: c\r\n", b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n")),
    "hops": ((HOPS + b"X-A: 1\r\n", b""), (b"X-A: 1\r\n", b"")),
    "upgrade": ((b"X-A: 1\r\nUpgrade: h2c\r\n", b""), (b"X-A: 1\r\n", b"")),
    "trailer": ((b"Trailer: X-T\r\nTE: trailers\r\n", b""), (b"", b"")),
    "named": ((b"X-Hop: 1\r\nConnection: X-Hop\r\nX-A: 1\r\n", b""), (b"X-A: 1\r\n", b"")),
    "cookiehop": ((b"Set-Cookie: a=1\r\nConnection: keep-alive\r\n", b"Set-Cookie: b=2\r\n"),
                  (b"", b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n")),
    # nginx's and Node.js's keep-alive answers
    "nodeka": ((b"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-A: 1\r\n", b""),
               (b"X-A: 1\r\n", b"")),
}
# what the kernel paths pass as the member sent it (hop_lines_back()): a
# lone "Connection: keep-alive" and Keep-Alive lines, which httpd drops; the
# answers the kernel carries lack httpd's own Keep-Alive lines anyway
# (operating.md), and handing these back would give every answer of such a
# member to kbald (test_proxy_protocol.py's nginx member: kept 2 of 6)
KERNEL_PASSES = ("keepalive", "nodeka")


def head(lines, backend, body):
    before, after = lines
    return b"HTTP/1.1 200 OK\r\n" + STAMPS + before + \
        b"X-Backend: %s\r\nContent-Length: %d\r\n" % (backend, len(body)) + after + b"\r\n"


member = member_answering(lambda case, backend, body:
                          head(CASES.get(case, CASES["canon"])[0], backend, body))


def want(path, backend=b"WAS1"):
    """httpd's head for path's answer"""
    return head(CASES.get(path.split("/")[1], CASES["canon"])[1], backend,
                b"%s %s\n" % (backend, path.encode()))


def want_kernel(path, backend=b"WAS1"):
    """the head a kernel path passes for path's answer: httpd's, but
    KERNEL_PASSES' as the member sent them"""
    case = path.split("/")[1]
    return head(CASES[case][0] if case in KERNEL_PASSES else
                CASES.get(case, CASES["canon"])[1], backend, b"%s %s\n" % (backend, path.encode()))


HANDED = [case for case in CASES if case != "canon" and case not in KERNEL_PASSES]


def test_member_hops_copied_as_apache():
    """kbald's copies (a connection's first answer), against Debian's
    apache2 on the same configuration and members, and against httpd's
    head as written above"""
    copied_as_apache(member, CASES, want)


def test_member_hops_sockmap():
    """a sticky keep-alive connection on the sockmap path: each answer
    with a hop-by-hop line or a Set-Cookie before another line is handed
    back (kbald writes it), a canonical one (its Set-Cookie last) stays
    the kernel's, and so do KERNEL_PASSES' as the member sent them"""
    handed_back_each(member, HANDED, want)
    handed_back_each(member, [], want_kernel, kept=["/%s/1" % c for c in KERNEL_PASSES])


def test_member_hops_packet():
    """a decided joined flow (the default path): a canonical answer (its
    Set-Cookie last) passes, each other one is given back at its first
    byte and written by kbald as httpd writes it; KERNEL_PASSES' pass as
    the member sent them"""
    given_back_each(member, HANDED, want)
    given_back_each(member, [], want_kernel, kept=["/%s/1" % c for c in KERNEL_PASSES])
