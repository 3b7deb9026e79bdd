# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A connection kbald ends after its own answer while its client is still
sending (a refused request's body, requests pipelined behind the last one)
ends as httpd ends it, side by side with Debian's apache2: a lingering close
(httpd's event MPM, process_lingering_close(); kbald's linger.c). The answer
is written, then the FIN, then what the client sends is read and dropped
until its EOF, 30 s at most (MAX_SECS_TO_LINGER), 2 s after a
RequestReadTimeout (mod_reqtimeout's short-lingering-close). A plain close()
with the client's bytes unread would send a reset: the client would lose
what it had not read of the answer, and get ECONNRESET, not the EOF.
Also the silent ends at httpd's clocks (KeepAliveTimeout, Timeout, a member
that stops mid-answer), on kbald's own connections and on those the
kernel carries (sockmap, and packet: the client's leg taken back), and
kbald's 408 and 502 on a flow the packet path joined, whose member's
connection then closes with a FIN, as httpd closes its backend's."""

import os
import signal
import socket
import threading
import time

from apache import apache_beside
import kbaltest
from kbaltest import EXAMPLE_CONF, Conn, Env, check, eq, wait_until
from tcp_watch import Capture, tcp_counters
from test_max_keepalive import LAST_BACK
from test_packet import PATH_SOCKMAP, _has_socket, pkt_entries

BODY = 512 * 1024            # what a client sends behind a refused head
PIECE = 16384

LIMITED = EXAMPLE_CONF.replace("ProxyRequests Off",
                               "ProxyRequests Off\nLimitRequestBody 1000\nMaxKeepAliveRequests 1")
MANAGER_FORM = ("POST /balancer-manager HTTP/1.1\r\nHost: {host}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                "Content-Length: 10000000\r\n\r\n")

# (what, the head sent, the statuses of its answers): each followed by
# BODY bytes
REFUSED = [
    # over LimitRequestBody: httpd's 413, its body never read
    ("413 for a body over LimitRequestBody", MANAGER_FORM, [413]),
    # an expectation no one meets: 417, the body behind it unread (within
    # LimitRequestBody, which httpd checks first)
    ("417 for an unknown Expect", "POST /x HTTP/1.1\r\nHost: {host}\r\nExpect: foo\r\n"
     "Content-Length: 900\r\n\r\n", [417]),
    # a bad head with more bytes behind it
    ("400 for a bad head", "POST /x HTTP/1.1\r\nHost : {host}\r\nContent-Length: 10\r\n\r\n",
     [400]),
    # MaxKeepAliveRequests 1: the second answer says Connection: close;
    # what was pipelined behind is never answered
    ("the last request's answer (MaxKeepAliveRequests) with more pipelined",
     "GET /first HTTP/1.1\r\nHost: {host}\r\nCookie: ROUTEID=route.1\r\n\r\n"
     "GET /last HTTP/1.1\r\nHost: {host}\r\nCookie: ROUTEID=route.1\r\n\r\n", [200, 200]),
]


def pipelined(host):
    """BODY bytes of GETs, for the pipelined case"""
    one = ("GET /behind HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode()
    return one * (BODY // len(one))


def at_once(calls, timeout):
    """Each (function, args) of calls in a thread of its own, all started
    before any is waited for (Apache's clients and kbal's on the same
    clocks), each then waited for timeout s at most"""
    ts = [threading.Thread(target=f, args=args) for f, args in calls]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout)


def sends_until_reset(c, secs, eof_what=None, piece=4096):
    """With eof_what, first an EOF from c's server, nothing else (eof_what
    says what fails); then a piece every 50 ms on c for secs at most: the
    seconds from its first to the reset (or any error) a send met, or
    "still open after SECS s" (a lingering close reads what it gets)."""
    if eof_what is not None:
        check(c.sock.recv(100) == b"", eof_what)
    start = time.monotonic()
    try:
        while time.monotonic() - start < secs:
            c.sock.sendall(b"b" * piece)
            time.sleep(0.05)
    except OSError:
        return time.monotonic() - start
    return "still open after %g s" % secs


class Client:
    """One connection: raw sent from a thread (as a client streaming its
    body) while the answer is read here; on c, a Conn of earlier requests,
    or a new one."""

    def __init__(self, port, raw, c=None):
        self.c = c or Conn(port, timeout=15.0)
        self.raw = raw
        self.sent = 0
        self.send_error = None
        self.t = threading.Thread(target=self._send, daemon=True)
        self.t.start()

    def _send(self):
        try:
            for i in range(0, len(self.raw), PIECE):
                self.c.sock.sendall(self.raw[i:i + PIECE])
                self.sent = i + len(self.raw[i:i + PIECE])
        except OSError as e:
            self.send_error = e.__class__.__name__

    def answers(self, n):
        """n answers' statuses and how the connection went on after them:
        "eof", "reset", or what else came"""
        statuses = []
        try:
            for _ in range(n):
                statuses.append(self.c.read_response().status)
        except ConnectionResetError:
            return statuses, "reset in the answer"
        except AssertionError as e:
            return statuses, "cut: %s" % e
        try:
            rest = bytes(self.c.buf) + self.c.sock.recv(65536)
            end = "more: %r" % rest[:80] if rest else "eof"
        except ConnectionResetError:
            end = "reset"
        except socket.timeout:
            end = "neither EOF nor reset in 15 s"
        return statuses, end

    def close(self):
        self.t.join(15.0)
        self.c.close()


def refused(port, head, body, n, c=None):
    """head (and body behind it, sent as the n answers are read): their
    statuses, what came after them, and whether the client could send it
    all (on c, a Conn, or a new one)"""
    cl = Client(port, head + body, c)
    try:
        status, end = cl.answers(n)
        cl.t.join(15.0)
        sent = "all sent" if cl.sent == len(head + body) else "%s after %d of %d bytes" % (
            cl.send_error or "still sending", cl.sent, len(head + body))
        return status, end, sent
    finally:
        cl.close()


def cases(port):
    host = "127.0.0.1:%d" % port
    out = []
    for what, head, statuses in REFUSED:
        body = pipelined(host) if "pipelined" in what else b"b" * BODY
        out.append((what,) + refused(port, head.format(host=host).encode(), body, len(statuses)))
    return out


def test_refused_requests_end_with_eof_as_apache():
    """Each refusal's answer comes whole, then an EOF, never a reset, and
    all the client sent is taken (and dropped), as with Apache."""
    with Env(conf=LIMITED) as env, apache_beside(env) as aport:
        want = [(what, status, "eof", "all sent") for what, _, status in REFUSED]
        eq(cases(aport), want, "Apache (the test's expectation)")
        eq(cases(env.port), want, "kbal")
        # nothing of the refused requests reached a member, nor what was
        # pipelined behind the last one (Apache's and kbal's, on the same
        # members)
        eq(sorted(l.split()[1] for n in (1, 2) for l in env.backend_log(n) if len(l.split()) > 1),
           ["/first", "/first", "/last", "/last"], "requests at the members")


def kernel_carried_last(port):
    """MaxKeepAliveRequests 3, one route: kbald serves the first request,
    the kernel carries the connection from the second and keeps the third,
    hands the fourth back as the last; behind it, BODY bytes of requests
    pipelined: the statuses, and what came after the fourth's answer"""
    c = Conn(port, timeout=15.0)
    host = "127.0.0.1:%d" % port
    statuses = [c.get("/k/%d" % i, cookie="ROUTEID=route.1").status for i in range(3)]
    return statuses, refused(port, ("GET /k/3 HTTP/1.1\r\nHost: %s\r\nCookie: ROUTEID=route.1"
                                    "\r\n\r\n" % host).encode(), pipelined(host), 1, c)


def test_last_request_the_kernel_hands_back_with_more_pipelined_as_apache():
    """The same on a connection the kernel carries, whose last request
    (MaxKeepAliveRequests) it hands back to kbald with the pipelined
    requests behind it in its socket: on the sockmap path (its sk_last
    counts such a request) and on the packet path, the default (the flow
    given back at that request: pkt_back)"""
    for splice, last in LAST_BACK:
        conf = EXAMPLE_CONF.replace("ProxyRequests Off",
                                    "ProxyRequests Off\nMaxKeepAliveRequests 3\n" + splice)
        with Env(conf=conf) as env, apache_beside(env) as aport:
            want = ([200] * 3, ([200], "eof", "all sent"))
            eq(kernel_carried_last(aport), want, "Apache (the test's expectation)")
            st = env.stats()
            eq(kernel_carried_last(env.port), want, "kbal (%s)" % (splice or "the default"))
            after = env.stats()
            eq((after["kept"] - st["kept"], after[last] - st[last]), (1, 1),
               "requests the kernel kept, and the last one it handed back as such (%s)" % last)


def keeps_sending(port, head, out, key):
    """head, then body bytes without end, a piece every 50 ms: out[key] is
    (status, the seconds from the answer's EOF to the server's reset, which
    a send or read then meets)"""
    c = Conn(port, timeout=60.0)
    try:
        c.send(head)
        r = c.read_response()
        out[key] = (r.status, sends_until_reset(c, 60.0, "an EOF after the answer"))
    finally:
        c.close()


def test_a_client_that_keeps_sending_is_closed_after_30_s_as_apache():
    """A client that keeps sending after its refusal is read (and not
    reset) 30 s, MAX_SECS_TO_LINGER, no more: then closed, as httpd closes
    it (both at once, side by side)."""
    with Env(conf=LIMITED) as env, apache_beside(env) as aport:
        out = {}
        at_once([(keeps_sending, (port, MANAGER_FORM.format(host="127.0.0.1:%d" % port).encode(),
                                  out, name))
                 for name, port in (("Apache", aport), ("kbal", env.port))], 90.0)
        for name in ("Apache", "kbal"):
            status, took = out[name]
            eq(status, 413, "%s's answer" % name)
            # not before the limit (a timer does not come early), and
            # loosely after it (a slow host)
            check(isinstance(took, float) and 29.0 <= took <= 45.0,
                  "%s: the sending client ended after %s s" % (name, took))


def test_a_restart_in_place_ends_lingering_closes_within_2_s():
    """A restart in place shortens the lingering closes' limit to 2 s, as
    a dying httpd's (its linger_q takes short_linger_q's timeout); the
    new image, which takes their sockets over, keeps it."""
    with Env(conf=LIMITED) as env:
        out = {}
        t = threading.Thread(target=keeps_sending, args=(
            env.port, MANAGER_FORM.format(host="127.0.0.1:%d" % env.port).encode(), out, "kbal"))
        t.start()
        time.sleep(0.5)
        seen = env.kbald_stderr().count("restarted: took over")
        os.kill(env.kbald.pid, signal.SIGHUP)
        t.join(90.0)
        status, took = out["kbal"]
        eq(status, 413, "the answer")
        check(isinstance(took, float) and 1.9 <= took <= 10.0,
              "the sending client ended %s s after its answer" % (took,))
        wait_until(lambda: env.kbald_stderr().count("restarted: took over") > seen, 10.0,
                   "the restart")
        with env.connect() as c:
            eq(c.get("/after").status, 200, "a request after the restart")


def test_a_restart_hands_a_late_lingering_close_to_the_next_image():
    """A lingering close that begins late in a restart in place (a first
    exchange the restart waits for, refused 3.5 s after SIGHUP, its
    client sending on) is not cut by the exec (a reset: the old image's
    sockets close): the next image takes the socket over, lingering on to
    the short limit from its FIN, as httpd's old child finishes its
    lingering closes while the new ones start."""
    with Env(conf=LIMITED) as env:
        c = Conn(env.port, timeout=30.0)
        try:
            head = MANAGER_FORM.format(host="127.0.0.1:%d" % env.port).encode()
            c.send(head[:20])
            time.sleep(0.3)
            seen = env.kbald_stderr().count("restarted: took over")
            os.kill(env.kbald.pid, signal.SIGHUP)
            wait_until(lambda: "restarting:" in env.kbald_stderr(), 5.0, "the restart begun")
            time.sleep(3.5)
            c.send(head[20:])
            eq(c.read_response().status, 413, "the answer")
            took = sends_until_reset(c, 30.0, "an EOF after the answer")
        finally:
            c.close()
        check(isinstance(took, float) and 1.9 <= took <= 10.0,
              "the sending client ended %s s after its answer" % (took,))
        wait_until(lambda: env.kbald_stderr().count("restarted: took over") > seen, 10.0,
                   "the restart")
        check("restarted: 1 lingering close(s) go on" in env.kbald_stderr(),
              "the lingering close handed over")
        with env.connect() as c2:
            eq(c2.get("/after").status, 200, "a request after the restart")


SLOW = EXAMPLE_CONF.replace(
    "LoadModule proxy_module",
    "LoadModule reqtimeout_module modules/mod_reqtimeout.so\nLoadModule proxy_module").replace(
    "ProxyRequests Off", "ProxyRequests Off\nRequestReadTimeout header=1 body=1")


def trickling(port, out, key):
    """a head a byte every 50 ms, never ending, on after its 408: out[key]
    is (status, the seconds from the 408's EOF to the server's reset)"""
    c = Conn(port, timeout=30.0)
    stop = threading.Event()
    sent = []

    def feed():
        try:
            c.sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\nX-A: ")
            while not stop.is_set():
                time.sleep(0.05)
                c.sock.sendall(b"a")
        except OSError as e:
            sent.append((time.monotonic(), e))

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    try:
        r = c.read_response()
        end = c.sock.recv(100)
        eof = time.monotonic()
        t.join(30.0)
        out[key] = (r.status, end, sent[0][0] - eof if sent else "still open after 30 s")
    finally:
        stop.set()
        c.close()


def test_short_linger_after_request_read_timeout_as_apache():
    """After mod_reqtimeout's 408, httpd lingers 2 s at most
    (SECONDS_TO_LINGER): a client still sending its head is closed then."""
    with Env(conf=SLOW) as env, apache_beside(env) as aport:
        out = {}
        at_once([(trickling, (port, out, name))
                 for name, port in (("Apache", aport), ("kbal", env.port))], 40.0)
        for name in ("Apache", "kbal"):
            status, end, took = out[name]
            eq((status, end), (408, b""), "%s: the 408, then an EOF" % name)
            check(isinstance(took, float) and 1.9 <= took <= 10.0,
                  "%s: the trickling client ended %s s after the 408" % (name, took))


def test_per_client_refusal_reads_the_request_before_its_close():
    """KbalMaxConnectionsPerClient's 503 gets no lingering close (it would
    hold a descriptor for an address past its bound), yet what the client
    sent, its request, there at the accept (AcceptFilter), is read and
    dropped before the close: the kernel resets nothing (TCPAbortOnClose,
    a close() with bytes unread, counts in the test's own namespace)."""
    conf = EXAMPLE_CONF.replace("ProxyRequests Off",
                                "ProxyRequests Off\nKbalMaxConnectionsPerClient 1")
    with Env(conf=conf) as env:
        with env.connect() as held:
            eq(held.get("/held").status, 200, "the address's one connection")
            before = tcp_counters()
            with env.connect() as c:
                c.send(b"GET /refused HTTP/1.1\r\nHost: x\r\n\r\n")
                eq(c.read_response().status, 503, "a second connection from 127.0.0.1")
                eq(c.what_arrives(timeout=5.0), "eof", "after the 503")
            time.sleep(0.2)
            eq(tcp_counters()["TCPAbortOnClose"] - before["TCPAbortOnClose"], 0,
               "closes with bytes unread (a reset each)")


KEEPALIVE_1 = EXAMPLE_CONF.replace("ProxyRequests Off", "ProxyRequests Off\nKeepAliveTimeout 1")


def idle_then_sending(port, n, out, key, probe=None):
    """n requests on one connection (route 1: the kernel carries them
    from the second on), then nothing until
    the server's EOF (KeepAliveTimeout), then a piece every 50 ms: out[key]
    is (the statuses, the seconds from the EOF to the reset a send or read
    then meets); probe(the socket), if given, right after the last answer,
    then its result in out[key]"""
    c = Conn(port, timeout=60.0)
    try:
        statuses = [c.get("/ka/%d" % i, cookie="ROUTEID=route.1").status for i in range(n)]
        seen = (probe(c.sock),) if probe else ()
        out[key] = (statuses, sends_until_reset(
            c, 60.0, "%s: an EOF after KeepAliveTimeout" % (key,))) + seen
    finally:
        c.close()


def test_short_linger_after_keepalive_timeout_as_apache():
    """A keep-alive client idle past KeepAliveTimeout is closed silently by
    httpd's short lingering close (process_keepalive_queue() ->
    shutdown_connection(): "short-lingering-close", 2 s): a client whose
    request crossed the FIN (here: one that sends on after it) is read
    and not reset for 2 s, then closed. Both where kbald waits for the
    next request (after one) and where the kernel does (after three, the
    kernel carrying the last two: its socket leaves the sockhashes)."""
    with Env(conf=KEEPALIVE_1) as env, apache_beside(env) as aport:
        st = env.stats()
        out = {}
        at_once([(idle_then_sending, (port, n, out, (name, n)))
                 for name, port in (("Apache", aport), ("kbal", env.port)) for n in (1, 3)], 90.0)
        eq(len(out), 4, "clients that ended")
        for key in sorted(out):
            statuses, took = out[key]
            eq(statuses, [200] * key[1], "%s's answers" % (key,))
            check(isinstance(took, float) and 1.9 <= took <= 10.0,
                  "%s: the client sending after KeepAliveTimeout's EOF ended %s s after it"
                  % (key, took))
        # the kernel carried the second request, kept the third
        eq(env.stats()["kept"] - st["kept"], 1, "requests the kernel kept")


# no AcceptFilter: a client that sends nothing is accepted (with httpd's
# default, TCP_DEFER_ACCEPT, neither server would see it)
TIMEOUT_1 = EXAMPLE_CONF.replace("ProxyRequests Off",
                                 "ProxyRequests Off\nTimeout 1\nAcceptFilter http none")


def silent_then_sending(port, out, key, secs=4.0):
    """a client that sends nothing until the server's EOF (Timeout), then
    a piece every 50 ms for secs: out[key] is the seconds from the EOF to
    the reset a send or read then meets, or "no reset" """
    c = Conn(port, timeout=30.0)
    try:
        took = sends_until_reset(c, secs, "%s: an EOF, nothing else, after Timeout" % key)
        out[key] = "no reset" if isinstance(took, str) else took
    finally:
        c.close()


def kbald_sockets(env):
    """kbald's socket descriptors"""
    fds = "/proc/%d/fd" % env.kbald.pid
    n = 0
    for fd in os.listdir(fds):
        try:
            n += os.readlink(os.path.join(fds, fd)).startswith("socket:")
        except OSError:
            pass
    return n


def sockets_back(env, before):
    """kbald's sockets back to before, the members' idle connections it
    keeps (its pool) aside"""
    idle = sum(int(v["idle"]) for v in env.members().values())
    wait_until(lambda: kbald_sockets(env) <= before + idle, 5.0,
               "kbald's sockets back to %d (+%d idle members)" % (before, idle))


def test_linger_after_a_silent_clients_timeout_as_apache():
    """A client that sends nothing within Timeout: httpd's read of its
    request line times out, ap_read_request() fails, and the connection
    ends by its lingering close (CONN_STATE_LINGER, the full 30 s: no
    module asked for the short one). What the client sends after the EOF
    is read, not reset; its socket closes at its EOF."""
    with Env(conf=TIMEOUT_1) as env, apache_beside(env) as aport:
        before = kbald_sockets(env)
        out = {}
        at_once([(silent_then_sending, (port, out, name))
                 for name, port in (("Apache", aport), ("kbal", env.port))], 60.0)
        eq(out, {"Apache": "no reset", "kbal": "no reset"}, "resets after Timeout's EOF")
        # the client's close ended the lingering: no socket of it left
        wait_until(lambda: kbald_sockets(env) == before, 5.0, "kbald's sockets as before")


# a member that stops mid-answer (kbal-backend's /fault-stall: a 200 head
# with Content-Length 100000, 1000 bytes of it, then nothing, its
# connection open) for Timeout
TIMEOUT_2 = EXAMPLE_CONF.replace("ProxyRequests Off", "ProxyRequests Off\nTimeout 2")
STALL_SENT = 1000


def stalled_answer(port, before, out, key, probe=None, secs=60.0):
    """before requests on one connection (route 1: the kernel carries them
    from the second on), then /fault-stall: out[key] is (the statuses, the
    stalled answer's head's Content-Length, the bytes of its body that came,
    what ended them ("eof", "reset") and the seconds from its last byte to
    that end, then the seconds from the end to the reset a piece sent every
    50 ms meets, or "still open after SECS s"; probe(the socket), if given,
    once the body's bytes came, then its result)"""
    c = Conn(port, timeout=60.0)
    try:
        statuses = [c.get("/st/%d" % i, cookie="ROUTEID=route.1").status for i in range(before)]
        c.send(("GET /fault-stall HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nCookie: ROUTEID=route.1"
                "\r\n\r\n" % port).encode())
        data = bytes(c.buf)
        c.buf.clear()
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < STALL_SENT:
            more = c.sock.recv(65536)
            if not more:
                break
            data += more
        last = time.monotonic()
        seen = (probe(c.sock),) if probe else ()
        head, _, body = data.partition(b"\r\n\r\n")
        length = [l.split(b":", 1)[1].strip().decode() for l in head.split(b"\r\n")
                  if l.lower().startswith(b"content-length:")]
        try:
            while True:
                more = c.sock.recv(65536)
                if not more:
                    break
                body += more
            end = "eof"
        except ConnectionResetError:
            end = "reset"
        eof = time.monotonic()
        took = sends_until_reset(c, secs)
        out[key] = (statuses + [int(head.split(b" ")[1]) if head else None],
                    length, len(body), end, eof - last, took) + seen
    finally:
        c.close()


def test_linger_after_a_member_stops_mid_answer_as_apache():
    """A member that sends a head and part of its body, then nothing, for
    Timeout: httpd's read of the body times out (mod_proxy_http "error
    reading response"), ap_proxy_backend_broke() ends the answer (no last
    chunk, c->keepalive = AP_CONN_CLOSE, the client's connection not
    aborted) and the connection ends by its lingering close, the full 30 s
    (CONN_STATE_LINGER_NORMAL): the client gets what the member sent, then
    the FIN; what it sends after is read, not reset, until the limit. The
    same where kbald copies the answer (a first request) and where the
    kernel carries it (a fourth: its socket leaves the sockhashes), and
    where kbald copies every request (KbalSplice off: kbald's own clock)."""
    off = TIMEOUT_2.replace("ProxySet lbmethod=byrequests",
                            "ProxySet lbmethod=byrequests\nKbalSplice off")
    with Env(conf=TIMEOUT_2) as env, Env(conf=off) as env_off, apache_beside(env) as aport:
        st = env.stats()
        out = {}
        at_once([(stalled_answer, (port, n, out, (name, n)))
                 for name, port in (("Apache", aport), ("kbal", env.port),
                                    ("kbal KbalSplice off", env_off.port)) for n in (0, 3)], 120.0)
        eq(len(out), 6, "clients that ended")
        for key in sorted(out):
            statuses, length, got, end, waited, took = out[key]
            eq((statuses, length, got, end), ([200] * (key[1] + 1), ["100000"], STALL_SENT, "eof"),
               "%s: the answers, the stalled one's length, its bytes, its end" % (key,))
            # not before Timeout, loosely after it (a slow host; kbald
            # looks at the kernel's clocks once a second)
            check(1.9 <= waited <= 15.0, "%s: the EOF %s s after the last byte" % (key, waited))
            check(isinstance(took, float) and 29.0 <= took <= 45.0,
                  "%s: the client sending after the EOF ended %s s after it" % (key, took))
        # the kernel kept the third and fourth requests (the fourth's
        # answer the kernel's to carry); none where kbald copies
        eq(env.stats()["kept"] - st["kept"], 2, "requests the kernel kept")
        eq(env_off.stats()["kept"], 0, "requests the kernel kept (KbalSplice off)")


def pooled(env):
    """another client's request, copied: its member connection kept in
    kbald's pool"""
    with env.connect() as other:
        eq(other.get("/pooled", cookie="ROUTEID=route.1").status, 200,
           "another client's request, copied")
        wait_until(lambda: int(env.members()[0]["idle"]) == 1, 5.0,
                   "its member connection kept (the pool)")


def test_first_answers_on_a_member_connection_from_the_pool_end_as_apache():
    """A connection's first answer, long, on a member connection kbald
    kept from another client's exchange (its pool), which the kernel
    carries (the member's connection the client's now): a member that
    stops mid-answer for Timeout gets the client all it sent, then the FIN
    of the full lingering close (what the client sends after is read, not
    reset), and a client idle after a whole answer is closed at
    KeepAliveTimeout (5 s) by the short lingering close, as on a member
    connection of its own (the tests above). Until 2026-12-07 the bytes the
    pooled connection had carried for the other client counted as owed to
    this one (answer_delivered()): the client never had them all, so the
    stalled answer ended with a plain close (the client's next bytes reset
    at once: seen under load in the test above, whose first-request client
    sometimes got the connection another's first exchange had just put
    back), and the idle client was taken for one that reads nothing and
    reset at Timeout."""
    with Env(conf=TIMEOUT_2) as env:
        pooled(env)
        out = {}
        stalled_answer(env.port, 0, out, "kbal", secs=4.0)
        eq(int(env.members()[0]["idle"]), 0, "the kept connection taken (the stalled answer's)")
        statuses, length, got, end, waited, took = out["kbal"]
        eq((statuses, length, got, end), ([200], ["100000"], STALL_SENT, "eof"),
           "the stalled answer, its length, its bytes, its end")
        check(1.9 <= waited <= 15.0, "the EOF %s s after the last byte" % waited)
        eq(took, "still open after 4 s", "the client sending after the stalled answer's EOF")
        pooled(env)
        with env.connect() as c:
            c.sock.settimeout(15.0)
            r = c.get("/bytes/200000", cookie="ROUTEID=route.1")
            eq((r.status, len(r.body)), (200, 200000), "a long first answer")
            eq(int(env.members()[0]["idle"]), 0, "the kept connection taken (the long answer's)")
            t0 = time.monotonic()
            try:
                end = "eof" if c.sock.recv(100) == b"" else "data"
            except ConnectionResetError:
                end = "reset"
            idle = time.monotonic() - t0
            took = sends_until_reset(c, 12.0)
        eq(end, "eof", "the idle client's end")
        check(4.5 <= idle <= 8.0, "the idle client's EOF after %s s (KeepAliveTimeout 5)" % idle)
        check(isinstance(took, float) and 1.9 <= took <= 10.0,
              "the client sending after KeepAliveTimeout's EOF ended %s s after it" % (took,))


PATH_PACKET = 3   # kbal_flows' path of a flow the packet path joined


def flow_path(env):
    """probe: the path of the socket's flow in kbal_flows, None if none"""
    def probe(sock):
        port = socket.htons(sock.getsockname()[1])
        return [f["path"] for k, f in env.flows() if k["client_port"] == port] or None
    return probe


def test_joined_flow_lingers_at_keepalive_timeout_and_member_stall_as_apache():
    """On a flow the packet path joined (KbalSplice packet, the default
    where it joins), kbald takes the client's leg back onto its kept socket
    at the clock's end (packet_clocks.c) and lingers there as httpd does:
    at KeepAliveTimeout the short lingering close (2 s; a client sending
    after the FIN is read, not reset, then closed), and where the member
    stopped mid-answer for Timeout the full one (30 s), the client having
    what the member sent, then the FIN. The client's bytes reach the kept
    socket through the flow's SHIFT entries, kept that much longer (before:
    a plain close, the client's next bytes reset at once)."""
    conf = kbaltest.packet_alike(EXAMPLE_CONF).replace(
        "ProxyRequests Off", "ProxyRequests Off\nTimeout 2\nKeepAliveTimeout 2")
    check("KbalSplice packet" in conf and "Timeout 2" in conf, "the packet path's configuration")
    with Env(conf=conf) as env, apache_beside(env) as aport:
        out = {}
        at_once([call for name, port, probe in (("Apache", aport, None),
                                                ("kbal", env.port, flow_path(env)))
                 for call in ((idle_then_sending, (port, 3, out, (name, "idle"), probe)),
                              (stalled_answer, (port, 3, out, (name, "stall"), probe)))], 120.0)
        eq(len(out), 4, "clients that ended")
        statuses, took = out[("Apache", "idle")]
        eq(statuses, [200] * 3, "Apache: the idle client's answers")
        check(isinstance(took, float) and 1.9 <= took <= 10.0,
              "Apache: the client sending after KeepAliveTimeout's EOF ended %s s after it" % took)
        statuses, took, path = out[("kbal", "idle")]
        eq((statuses, path), ([200] * 3, [PATH_PACKET]), "kbal: the idle client's answers, its path")
        check(isinstance(took, float) and 1.9 <= took <= 10.0,
              "kbal: the client sending after KeepAliveTimeout's EOF ended %s s after it" % took)
        for name in ("Apache", "kbal"):
            statuses, length, got, end, waited, took = out[(name, "stall")][:6]
            eq((statuses, length, got, end), ([200] * 4, ["100000"], STALL_SENT, "eof"),
               "%s: the answers, the stalled one's length, its bytes, its end" % name)
            check(1.9 <= waited <= 15.0, "%s: the EOF %s s after the last byte" % (name, waited))
            check(isinstance(took, float) and 29.0 <= took <= 45.0,
                  "%s: the client sending after the stalled answer's EOF ended %s s after it"
                  % (name, took))
        eq(out[("kbal", "stall")][6], [PATH_PACKET], "kbal: the stalled answer's path")
        check("a member's answer stopped for Timeout (the packet program framed it)"
              in env.kbald_stderr(), "kbald's word on the stalled answer")


def test_a_restart_ends_a_joined_flows_lingering_close():
    """A restart in place removes the SHIFT entries of the flows given back
    (pkt_settle(): the next image would not know them); a kept socket still
    lingering then (here KeepAliveTimeout's, on a joined flow) is read and
    closed first, as it was closed at once before it lingered, not handed
    to the next image, which could not hear its client through the
    entries. kbald restarts, leaves no kbal_pkt entry behind, and serves on."""
    conf = kbaltest.packet_alike(EXAMPLE_CONF).replace(
        "ProxyRequests Off", "ProxyRequests Off\nKeepAliveTimeout 1")
    with Env(conf=conf) as env:
        c = Conn(env.port, timeout=30.0)
        try:
            eq([c.get("/ka/%d" % i).status for i in range(3)], [200] * 3, "the answers")
            eq(flow_path(env)(c.sock), [PATH_PACKET], "the flow's path")
            check(c.sock.recv(100) == b"", "an EOF after KeepAliveTimeout")
            # lingering: what the client sends is read, not reset
            for _ in range(4):
                c.sock.sendall(b"b" * 100)
                time.sleep(0.1)
            seen = env.kbald_stderr().count("restarted: took over")
            os.kill(env.kbald.pid, signal.SIGHUP)
            wait_until(lambda: env.kbald_stderr().count("restarted: took over") > seen, 10.0,
                       "the restart")
        finally:
            c.close()
        check("lingering close(s) go on" not in env.kbald_stderr(),
              "a kept socket's lingering close handed to the next image")
        wait_until(lambda: env.bpftool_dump("kbal_pkt") == [], 5.0, "no kbal_pkt entry left")
        with env.connect() as c2:
            eq(c2.get("/after").status, 200, "a request after the restart")


def test_a_restart_cuts_a_first_exchange_with_a_fin_and_a_short_linger():
    """A first exchange still under way when a restart in place has waited
    its 5 s (a client uploading a long body slowly: kbald cannot hand its
    buffers to the next image) is cut there, where httpd's graceful
    restart would let it finish (its old child serves it to the end;
    GracefulShutdownTimeout bounds graceful-stop alone). It ends as a dying
    httpd ends a connection: a FIN, then what the client still sends is
    read and dropped for 2 s by the next image, which takes the lingering
    socket over; not the reset a plain close sends at the client's next
    bytes (before: at once)."""
    with Env() as env:
        c = Conn(env.port, timeout=30.0)
        stop = threading.Event()
        failed = []

        def feed():
            try:
                while not stop.is_set():
                    c.sock.sendall(b"b" * 1000)
                    time.sleep(0.05)
            except OSError:
                failed.append(time.monotonic())

        t = threading.Thread(target=feed, daemon=True)
        try:
            c.send(("POST /up HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 100000000\r\n\r\n"
                    % env.port).encode())
            t.start()
            time.sleep(0.5)
            seen = env.kbald_stderr().count("restarted: took over")
            t0 = time.monotonic()
            os.kill(env.kbald.pid, signal.SIGHUP)
            try:
                end = "eof" if c.sock.recv(100) == b"" else "data"
            except ConnectionResetError:
                end = "reset"
            eof = time.monotonic()
            t.join(30.0)
        finally:
            stop.set()
            c.close()
        eq(end, "eof", "what the uploading client got at the cut")
        # the restart's wait, loosely after it (a slow host)
        check(4.9 <= eof - t0 <= 15.0, "the cut %s s after SIGHUP" % (eof - t0))
        took = failed[0] - eof if failed else "still open after 30 s"
        check(isinstance(took, float) and 1.9 <= took <= 10.0,
              "the uploading client ended %s s after the cut's EOF" % (took,))
        wait_until(lambda: env.kbald_stderr().count("restarted: took over") > seen, 10.0,
                   "the restart")
        check("still in their first exchange after 5 s" in env.kbald_stderr(), "the cut logged")
        check("restarted: 1 lingering close(s) go on" in env.kbald_stderr(),
              "the lingering close handed over")
        with env.connect() as c2:
            eq(c2.get("/after").status, 200, "a request after the restart")


# a joined flow's clocks (docs/packet.md, "Answered at a clock's end"):
# Timeout 2 for the member, RequestReadTimeout's head bound 1 s (httpd's
# too, beside), KeepAliveTimeout 3 s (the others' requests under way are
# not idle)
JOINED_LATE = kbaltest.packet_alike(SLOW).replace(
    "ProxyRequests Off", "ProxyRequests Off\nTimeout 2\nKeepAliveTimeout 3")
HEAD_CUT = b"GET /slow HTTP/1.1\r\nX-Slow: a"     # then nothing: 408
LINE_CUT = b"GET /slow HT"    # a request line, then nothing: no answer, a FIN
# a request whose body stops after 3 of its 100 bytes: 408 at RequestReadTimeout's body bound
BODY_CUT = (b"POST /upload HTTP/1.1\r\nHost: {host}\r\nCookie: ROUTEID=route.1\r\n"
            b"Content-Length: 100\r\n\r\nabc")
HANG = b"GET /fault-hang HTTP/1.1\r\nHost: x\r\n\r\n"   # never answered: 502
STALL = b"GET /fault-stall HTTP/1.1\r\nHost: x\r\n\r\n"  # 1000 bytes, then nothing


def member_leg(env, path=PATH_PACKET):
    """probe: (the path of the socket's flow in kbal_flows, kbald's port
    towards the member), None if none; the path as it is once path is
    seen (2 s at most: kbald writes the packet path's at the program's
    event)"""
    def probe(sock):
        port = socket.htons(sock.getsockname()[1])
        seen = None
        for _ in range(40):
            seen = [(f["path"], f["member_lport"]) for k, f in env.flows()
                    if k["client_port"] == port] or None
            if seen and seen[0][0] == path:
                break
            time.sleep(0.05)
        return seen
    return probe


def late_on_joined(port, late, secs, out, key, probe=None):
    """3 requests on one connection (route 1: the packet path joins it
    from the second; the sockmap path carries the second, frames and keeps
    the third), then late ({host}: the Host the requests named), whose
    answer is read to its end: out[key] is (the statuses, the late one's
    (None: none), the bytes of its body, what ended it ("eof", "reset"),
    then the seconds from that end to the reset a piece sent every 50 ms
    meets, or "still open after secs s"; the client's port; probe(the
    socket) after the requests)"""
    c = Conn(port, timeout=30.0)
    try:
        statuses = [c.get("/j/%d" % i, cookie="ROUTEID=route.1").status for i in range(3)]
        seen = probe(c.sock) if probe else None
        c.send(late.replace(b"{host}", c.host_header.encode()))
        data, end = bytes(c.buf), "eof"
        c.buf.clear()
        try:
            while True:
                more = c.sock.recv(65536)
                if not more:
                    break
                data += more
        except ConnectionResetError:
            end = "reset"
        took = sends_until_reset(c, secs)
        head, _, body = data.partition(b"\r\n\r\n")
        out[key] = (statuses, int(head.split(b" ")[1]) if head else None, len(body), end, took,
                    c.sock.getsockname()[1], seen)
    finally:
        c.close()


def test_joined_flow_408_502_stall_and_idle_end_with_fins_as_apache():
    """On a flow the packet path joined, kbald's own answers at httpd's
    clocks, on the client's leg taken back onto its kept socket
    (packet_clocks.c), end the connection as httpd ends it: the 408
    (RequestReadTimeout, a head cut after its first line, or a body after 3
    of its bytes: mod_proxy_http's 408) with the FIN and the short
    lingering close (mod_reqtimeout's, 2 s: side by side with apache2, a
    client sending on after it is read, not reset, 2 s); a request line cut
    gets no answer, only the FIN and the same short lingering close (as
    ap_read_request()'s); the 502 (a member silent for Timeout; kbald's
    Connection: close) with the FIN and the full one (30 s: still read 4 s
    later). And the member's connection, whose leg comes back onto kbald's
    member-side socket, closes as httpd closes its backend connection,
    with a FIN, never a reset: after the 408s (the member had the head's
    first line, the body's first bytes), the cut line, the 502, a member
    that stopped mid-answer and KeepAliveTimeout (their clients lingering
    30 s and 2 s since b0854ca). No reset on any of them but the 408s', the
    cut line's and the idle client's at the end of their 2 s; afterwards
    no flow, no kbal_pkt entry, kbald's sockets as before (before: a plain
    close, the client's next bytes reset at once; every member reset by
    kbald's probe; so the cut line and the body's 408 until 2026-12-07)."""
    check("KbalSplice packet" in JOINED_LATE and "RequestReadTimeout header=1" in JOINED_LATE,
          "the packet path's configuration")
    with Env(conf=JOINED_LATE) as env, apache_beside(env) as aport:
        before = kbald_sockets(env)
        cap = Capture([env.port, env.ports["b1"]])
        out = {}
        short = (("408", HEAD_CUT, 408), ("408 body", BODY_CUT, 408), ("line", LINE_CUT, None))
        cases = tuple((what, late, 12.0) for what, late, _ in short) + (
            ("502", HANG, 4.0), ("stall", STALL, 4.0), ("idle", b"", 12.0))
        ts = [threading.Thread(target=late_on_joined, args=(
            env.port, late, secs, out, ("kbal", what), member_leg(env)))
            for what, late, secs in cases]
        ts += [threading.Thread(target=late_on_joined, args=(
            aport, late, 12.0, out, ("Apache", what))) for what, late, _ in short]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60.0)
        eq(len(out), 9, "clients that ended")
        for name, what, want in ([(name, what, want) for what, _, want in short
                                  for name in ("Apache", "kbal")] + [("kbal", "idle", None)]):
            statuses, status, _, end, took = out[(name, what)][:5]
            eq((statuses, status, end), ([200] * 3, want, "eof"),
               "%s %s: the answers and the end" % (name, what))
            check(isinstance(took, float) and 1.9 <= took <= 10.0,
                  "%s %s: the client sending after the EOF ended %s s after it"
                  % (name, what, took))
        for what, want, got in (("502", 502, None), ("stall", 200, STALL_SENT)):
            statuses, status, n, end, took = out[("kbal", what)][:5]
            eq((statuses, status, end, took), ([200] * 3, want, "eof", "still open after 4 s"),
               "kbal %s: the answers, how it ended, the client sending 4 s after" % what)
            if got is not None:
                eq(n, got, "kbal %s: the body's bytes that came" % what)
        log = env.kbald_stderr()
        for said in ("a request's head or body did not come within RequestReadTimeout",
                     "a request line did not come within RequestReadTimeout"):
            check(said + " (the packet program framed it)" in log, "kbald's log: %s" % said)
        legs = {}
        for what, _, _ in cases:
            seen = out[("kbal", what)][6]
            eq(len(seen or ()), 1, "kbal %s: its flow" % what)
            eq(seen[0][0], PATH_PACKET, "kbal %s: its flow's path" % what)
            legs[what] = seen[0][1]
        m = env.ports["b1"]
        for what, lport in legs.items():
            wait_until(lambda: not _has_socket(m, lport), 5.0,
                       "kbal %s: the member's connection closed" % what)
        wait_until(lambda: env.flows() == [] and pkt_entries(env) == [], 8.0,
                   "no flow and no kbal_pkt entry after the clients' close")
        sockets_back(env, before)
        time.sleep(0.3)
        cap.close()
        for what, lport in legs.items():
            eq([p for p in cap.resets() if lport in (p[2], p[4])], [],
               "kbal %s: resets on the member's connection" % what)
            check([p for p in cap.pkts if p[0] and (p[2], p[4]) == (lport, m) and p[7] & 0x01],
                  "kbal %s: a FIN from kbald to the member" % what)
        for what in ("502", "stall"):
            cport = out[("kbal", what)][5]
            eq([p for p in cap.resets() if cport in (p[2], p[4])], [],
               "kbal %s: resets on the client's connection" % what)


# the same clocks where the sockmap path (the default) frames the
# connection: route 1 named, so that the kernel keeps the third request
# and the late one (the connection's Host: the kernel keeps only its)
KEPT_LATE = SLOW.replace("ProxyRequests Off",
                         "ProxyRequests Off\nTimeout 2\nKeepAliveTimeout 3\nKbalSplice sockmap")
HANG_KEPT = b"GET /fault-hang HTTP/1.1\r\nHost: {host}\r\nCookie: ROUTEID=route.1\r\n\r\n"
# a one-request client's: the copy path's, its connection not kept after the 502
HANG_ONCE = (b"GET /fault-hang HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n"
             b"Connection: close\r\n\r\n")


def answered_once(port, out):
    """HANG_ONCE on a new connection: out["copy"] is (the status, what
    came after the answer)"""
    c = Conn(port, timeout=15.0)
    try:
        c.send(HANG_ONCE)
        status = c.read_response().status
        out["copy"] = (status, bytes(c.buf) + c.sock.recv(100))
    finally:
        c.close()


def test_kernel_framed_408_502_linger_and_the_copy_paths_502_fins_its_member_as_apache():
    """On a connection the sockmap path frames, kbald's own answers at
    httpd's clocks (kernel_clocks.c) end it as httpd ends it, the client's
    socket out of the sockhashes and lingering: the 408 (RequestReadTimeout,
    a head cut after its first line, or a body after 3 of its bytes, the
    member's request cut: its connection closed with a FIN, not SO_LINGER
    0's reset as until 2026-12-07) with the FIN and the short lingering
    close (mod_reqtimeout's, 2 s: side by side with apache2, a client
    sending on after it is read, not reset, 2 s), the 502 (a member silent
    for Timeout; Connection: close) with the FIN and the full one (30 s:
    still read 4 s later, no reset), as the packet path's; the member's
    connections close with a FIN. And the copy path's 502 to a one-request
    client (Connection: close) closes the member's connection as httpd's
    mod_proxy_http closes its backend's, with a FIN, not a reset (SO_LINGER
    0 until 2026-12-07; the sockmap path's 408 and 502 a plain close, the
    client's next bytes reset at once). Afterwards no flow, no
    kbal_sk_http entry, kbald's sockets as before."""
    once = EXAMPLE_CONF.replace("ProxyRequests Off", "ProxyRequests Off\nTimeout 2")
    with Env(conf=KEPT_LATE) as env, Env(conf=once) as copy, apache_beside(env) as aport:
        before = kbald_sockets(env)
        m, cm = env.ports["b1"], copy.ports["b1"]
        cap = Capture([env.port, m, cm])
        out = {}
        cases = (("408", HEAD_CUT, 12.0), ("408 body", BODY_CUT, 12.0), ("502", HANG_KEPT, 4.0))
        at_once([(late_on_joined, (env.port, late, secs, out, ("kbal", what),
                                   member_leg(env, PATH_SOCKMAP))) for what, late, secs in cases] +
                [(late_on_joined, (aport, HEAD_CUT, 12.0, out, ("Apache", "408"))),
                 (answered_once, (copy.port, out))], 60.0)
        eq(len(out), 5, "clients that ended")
        for name, what in (("Apache", "408"), ("kbal", "408"), ("kbal", "408 body")):
            statuses, status, _, end, took = out[(name, what)][:5]
            eq((statuses, status, end), ([200] * 3, 408, "eof"),
               "%s %s: the answers, the end" % (name, what))
            check(isinstance(took, float) and 1.9 <= took <= 10.0,
                  "%s %s: the client sending after the EOF ended %s s after it" % (name, what, took))
        statuses, status, _, end, took = out[("kbal", "502")][:5]
        eq((statuses, status, end, took), ([200] * 3, 502, "eof", "still open after 4 s"),
           "kbal 502: the answers, how it ended, the client sending 4 s after")
        eq(out["copy"], (502, b""), "the copy path's 502, then EOF")
        log = env.kbald_stderr()
        for said in ("a request's head did not come within RequestReadTimeout",
                     "a request's body did not come within RequestReadTimeout",
                     "a member's answer did not come within Timeout"):
            check(said + " (the kernel framed it)" in log, "kbald's log: %s" % said)
        legs = {}
        for what, _, _ in cases:
            seen = out[("kbal", what)][6]
            eq([p for p, _ in seen or ()], [PATH_SOCKMAP], "kbal %s: its flow's path" % what)
            legs[what] = seen[0][1]
        for what, lport in legs.items():
            wait_until(lambda: not _has_socket(m, lport), 5.0,
                       "kbal %s: the member's connection closed" % what)
        wait_until(lambda: env.flows() == [] and env.bpftool_dump("kbal_sk_http") == [], 5.0,
                   "no flow and no kbal_sk_http entry after the clients' close")
        sockets_back(env, before)
        time.sleep(0.3)
        cap.close()
        # the copy path's member connection: the one kbald opened to cm
        syns = [p[2] for p in cap.pkts if p[0] and p[4] == cm and p[7] & 0x12 == 0x02]
        eq(len(syns), 1, "the copy path's connection to its member")
        conns = [(what, lport, m) for what, lport in legs.items()] + [("copy 502", syns[0], cm)]
        for what, lport, mport in conns:
            eq([p for p in cap.resets() if lport in (p[2], p[4])], [],
               "kbal %s: resets on the member's connection" % what)
            check([p for p in cap.pkts if p[0] and (p[2], p[4]) == (lport, mport) and p[7] & 0x01],
                  "kbal %s: a FIN from kbald to the member" % what)
        cport = out[("kbal", "502")][5]
        eq([p for p in cap.resets() if cport in (p[2], p[4])], [],
           "kbal 502: resets on the client's connection")
