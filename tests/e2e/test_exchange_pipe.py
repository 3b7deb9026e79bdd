# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Long bodies kbald relays itself (issue 13): a request kbald decides (on
Apache's example, one without the route's cookie: its answer takes one) on
a kept member connection has a Content-Length body of 64 KiB or more, its
own and its answer's, spliced through a pipe of the exchange's own
(user/exchange_pipe.c), not copied through kbald's 16 KiB buffers. What
each side gets must be the other's bytes, whole and in order, with the
next request on the same connection after them; a slow reader holds the
pipe's bytes, not more; a body cut short cuts the connection as before;
and the pipes' descriptors go with the connection, or to another
connection that needs them."""

import os
import socket
import time

from kbaltest import EXAMPLE_CONF, Env, budget_env, check, crc_line, eq, wait_until

T = 10.0


_BLOCK = bytes((7 * j) & 0xff for j in range(8192))


def pattern(n):
    """kbal-backend's /bytes/N body: byte i = (i * 7 + (i >> 13)) & 0xff,
    block by block of 8,192 bytes (7 * 8192 is a multiple of 256: block k
    is block 0 plus k)"""
    out = bytearray()
    for k in range((n + 8191) // 8192):
        out += _BLOCK.translate(bytes((b + k) & 0xff for b in range(256)))
    return bytes(out[:n])


def kbald_fds(env):
    """kbald's descriptors: (all of them, the pipes among them)"""
    d = "/proc/%d/fd" % env.kbald.pid
    links = []
    for name in os.listdir(d):
        try:
            links.append(os.readlink(os.path.join(d, name)))
        except FileNotFoundError:
            pass
    return len(links), sum(1 for l in links if l.startswith("pipe:"))


def kbald_pipes(env):
    """the pipes among kbald's descriptors: {"pipe:[inode]", ...}, one per
    pipe (its two ends name the same inode)"""
    d = "/proc/%d/fd" % env.kbald.pid
    out = set()
    for name in os.listdir(d):
        try:
            l = os.readlink(os.path.join(d, name))
        except FileNotFoundError:
            continue
        if l.startswith("pipe:"):
            out.add(l)
    return out


def member_of(r):
    b = r.header("X-Backend") or ""
    check(b in ("WAS1", "WAS2"), "X-Backend %r" % b)
    return b


def check_answer(r, n, what):
    eq(r.status, 200, what + ": status")
    eq(r.header("Content-Length"), str(n), what + ": Content-Length")
    check(r.header("Set-Cookie") is not None, what + ": no Set-Cookie (kbald did not decide it)")
    body = r.body
    eq(len(body), n, what + ": body length")
    if body != pattern(n):
        at = next(i for i in range(n) if body[i] != pattern(n)[i])
        raise AssertionError("%s: the body differs from the member's at byte %d" % (what, at))


def test_long_answers_spliced_byte_exact():
    """One keep-alive connection without a cookie, answers of several
    lengths about the pipe's bounds (64 KiB and the pipe's 256 KiB), each
    the member's bytes; then no pipe and no descriptor left."""
    with Env(conf=EXAMPLE_CONF) as env:
        base, _ = kbald_fds(env)
        sizes = [65535, 65536 + 1, 262143, 262144 + 2, 1048576, 3000001, 100, 200000]
        with env.connect(timeout=T) as c:
            for i, n in enumerate(sizes):
                r = c.get("/bytes/%d" % n)
                check_answer(r, n, "answer %d (%d bytes)" % (i + 1, n))
            r = c.get("/after")
            eq((r.status, r.text), (200, "backend=%s path=/after\n" % member_of(r)),
               "the request after them")
        wait_until(lambda: kbald_fds(env)[1] == 0, 3.0, "kbald's pipes closed")


def test_pipes_kept_for_the_next_long_bodies():
    """A connection's pipe goes on from one long body to the next: the
    same pipe (the same inode, its two ends) for each answer, and while
    the client waits between them; a long request body takes a second one,
    kept too; both close with the connection. A short answer between them
    leaves them as they are."""
    with Env(conf=EXAMPLE_CONF) as env:
        pipes0 = kbald_pipes(env)
        with env.connect(timeout=T) as c:
            eq(c.get("/warm").status, 200, "the first request")
            down = None
            for i, n in enumerate((1048576, 100, 262144 + 2, 3000001)):
                r = c.get("/bytes/%d" % n)
                check_answer(r, n, "answer %d (%d bytes)" % (i + 1, n))
                time.sleep(0.1)                 # the client between two requests
                now = kbald_pipes(env) - pipes0
                eq(len(now), 1, "kbald's pipes after answer %d (%d bytes): %r" % (i + 1, n, now))
                if down is None:
                    down = now
                eq(now, down, "the pipe after answer %d: the first answer's" % (i + 1))
            body = pattern(500000)[::-1]
            c.request("POST", "/up", [], body)
            r = c.read_response()
            eq((r.status, r.text), (200, crc_line(body)), "the long POST")
            now = kbald_pipes(env) - pipes0
            eq((len(now), down <= now), (2, True), "kbald's pipes after the POST: %r" % now)
            r = c.get("/bytes/1048576")
            check_answer(r, 1048576, "the answer after the POST")
            eq(kbald_pipes(env) - pipes0, now, "the pipes after the answer after the POST")
        wait_until(lambda: kbald_pipes(env) == pipes0, 3.0, "kbald's pipes closed with the "
                   "connection")


def test_pipelined_request_behind_a_spliced_answer():
    """A request sent before the long answer was read waits in the client's
    socket; its answer comes after the long one's last byte."""
    with Env(conf=EXAMPLE_CONF) as env, env.connect(timeout=T) as c:
        c.send(b"GET /bytes/1048576 HTTP/1.1\r\nHost: x\r\n\r\n"
               b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        check_answer(c.read_response(), 1048576, "the long answer")
        r = c.read_response()
        eq((r.status, r.text), (200, "backend=%s path=/next\n" % member_of(r)),
           "the pipelined request's answer")


def test_long_answer_to_a_slow_reader():
    """A client with a small receive buffer that stops reading: once its
    socket's send queue is full (up to tcp_wmem's 4 MiB), kbald holds the
    answer's bytes in the exchange's pipe (no more: the member's side
    waits), and writes them as the client reads on; the next request on
    the connection is answered after the last byte."""
    n = (16 << 20) + 3
    with Env(conf=EXAMPLE_CONF) as env:
        _, pipes0 = kbald_fds(env)
        with env.connect(timeout=T, rcvbuf=4096) as c:
            c.get("/warm")                      # a kept member connection
            c.request("GET", "/bytes/%d" % n)
            head = c.read_head()
            eq((head.status, head.header("Content-Length")), (200, str(n)), "the head")
            time.sleep(0.3)                     # the client reads nothing
            _, pipes = kbald_fds(env)
            eq(pipes - pipes0, 2, "the pipe's two ends while the client stalls")
            got = bytearray()
            while len(got) < n:                 # then on, in 64 KiB reads
                got += c.read_exact(min(65536, n - len(got)))
            check(bytes(got) == pattern(n), "the slow reader's body differs from the member's")
            r = c.get("/after")
            eq((r.status, r.text), (200, "backend=%s path=/after\n" % member_of(r)),
               "the next request")
        wait_until(lambda: kbald_fds(env)[1] == pipes0, 3.0, "kbald's pipes closed")


def test_member_cuts_a_spliced_body():
    """A member that closes after 1,000 of 100,000 body bytes
    (kbal-backend's /fault-mid), on a keep-alive connection kbald decides:
    the client gets the head and those bytes, then its connection ends;
    kbald's descriptors are back where they were."""
    with Env(conf=EXAMPLE_CONF) as env:
        with env.connect(timeout=T) as c:
            eq(c.get("/first").status, 200, "the first request")
            base, _ = kbald_fds(env)
            c.request("GET", "/fault-mid")
            head = c.read_head()
            eq((head.status, head.header("Content-Length")), (200, "100000"), "the cut answer's head")
            try:
                got = c.read_until_eof()
            except ConnectionResetError:
                got = None
            check(got is None or len(got) < 100000, "the cut body came whole (%d bytes)"
                  % len(got))
        wait_until(lambda: kbald_fds(env)[0] < base and kbald_fds(env)[1] == 0, 5.0,
                   "kbald's descriptors after the cut (%d before)" % base)


def test_long_request_bodies_spliced_byte_exact():
    """POST bodies about the bounds on one keep-alive connection, the last
    pipelined behind a request; the member's CRC of each is the client's."""
    with Env(conf=EXAMPLE_CONF) as env:
        with env.connect(timeout=T) as c:
            for i, n in enumerate((65535, 65537, 262145, 1048576, 3000001, 10)):
                body = pattern(n)[::-1]
                c.request("POST", "/up%d" % i, [], body)
                r = c.read_response()
                eq((r.status, r.text), (200, crc_line(body)), "POST %d (%d bytes)" % (i + 1, n))
            body = pattern(500000)
            c.send(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) +
                   body + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            eq((r.status, r.text), (200, crc_line(body)), "the POST with a request behind it")
            r = c.read_response()
            eq((r.status, r.text), (200, "backend=%s path=/next\n" % member_of(r)),
               "the request behind the POST")
        wait_until(lambda: kbald_fds(env)[1] == 0, 3.0, "kbald's pipes closed")


def test_request_body_cut_short():
    """A client that sends 100,000 of a 1,000,000-byte body and ends its
    side (shutdown SHUT_WR) on a keep-alive connection kbald decides: as
    httpd (ap_proxy_read_input() meets APR_INCOMPLETE: 400), a 400 and the
    end of the connection, the member's connection, which had part of the
    body, gone; kbald's descriptors back where they were. Before, the
    member waited for the rest until Timeout (the same on the copied path,
    KbalSplice off)."""
    for splice in (None, "off"):
        conf = EXAMPLE_CONF if splice is None else EXAMPLE_CONF.replace(
            "ProxySet lbmethod=byrequests", "ProxySet lbmethod=byrequests\nKbalSplice off")
        what = "KbalSplice %s" % (splice or "default")
        with Env(conf=conf) as env:
            with env.connect(timeout=T) as c:
                eq(c.get("/first").status, 200, what + ": the first request")
                eq(c.get("/second").status, 200, what + ": the second request")
                base, _ = kbald_fds(env)
                c.send(b"POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" +
                       pattern(100000))
                c.sock.shutdown(socket.SHUT_WR)
                r = c.read_response()
                eq(r.status, 400, what + ": the answer to the cut body")
                check(c.at_eof(3.0), what + ": no end of the connection after the 400")
            wait_until(lambda: kbald_fds(env)[0] < base and kbald_fds(env)[1] == 0, 5.0,
                       what + ": kbald's descriptors after the cut (%d before)" % base)
            r = env.get("/after")
            eq(r.status, 200, what + ": a request after the cut")


def test_no_pipe_past_the_descriptor_budget():
    """Under an RLIMIT_NOFILE that leaves a budget of 3 (one connection's
    two descriptors, not a pipe's two more), a long answer is copied
    through kbald's buffer, whole, and the connection goes on: the pipe is
    no descriptor the budget did not count."""
    n = (16 << 20) + 5
    with budget_env(3) as env, env.connect(timeout=T, rcvbuf=4096) as c:
        c.get("/warm")
        c.request("GET", "/bytes/%d" % n)
        head = c.read_head()
        eq((head.status, head.header("Content-Length")), (200, str(n)), "the head")
        time.sleep(0.3)                 # the client reads nothing
        eq(kbald_fds(env)[1], 0, "kbald's pipes with a budget of 3")
        got = bytearray()
        while len(got) < n:
            got += c.read_exact(min(65536, n - len(got)))
        check(bytes(got) == pattern(n), "the copied body differs from the member's")
        r = c.get("/after")
        eq(r.status, 200, "the next request")


def test_idle_pipe_gives_way_to_a_connection():
    """Under an RLIMIT_NOFILE that leaves a budget of 5: a client's two
    descriptors and its kept member connection, and a pipe its long answer
    took and keeps for the next, fill it. A second client's connection
    (two more) is accepted and answered at once, the first client's idle
    pipe closed for it (not held back until the first one ends); the first
    one's next long answer, with no room for a pipe now, is copied, whole."""
    n = 1048576
    with budget_env(5) as env:
        pipes0 = kbald_pipes(env)
        with env.connect(timeout=T) as a:
            eq(a.get("/warm").status, 200, "client A's first request")
            check_answer(a.get("/bytes/%d" % n), n, "client A's long answer")
            eq(len(kbald_pipes(env) - pipes0), 1, "the pipe client A keeps")
            with env.connect(timeout=T) as b:
                r = b.get("/b")
                eq((r.status, r.text), (200, "backend=%s path=/b\n" % member_of(r)),
                   "client B's request, client A idle with its pipe")
                eq(kbald_pipes(env), pipes0, "kbald's pipes once client B came")
                check_answer(a.get("/bytes/%d" % n), n, "client A's next long answer")
                eq(kbald_pipes(env), pipes0, "kbald's pipes after it (copied)")
