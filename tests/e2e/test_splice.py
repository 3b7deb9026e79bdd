# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""After the first exchange the connection is spliced in the kernel: every
later byte must arrive, unchanged and in order, at the same member."""

import contextlib
import os
import select
import signal
import socket
import subprocess
import threading
import time
import zlib

import kbaltest
from kbaltest import (EXAMPLE_CONF, Env, FLOW_SPLICED, build_request, check, check_pattern, chunked,
                      crc_line, echo_check, eq, wait_until, ws_upgrade, WS_ACCEPT)
from recording_member import stamps

MiB = 1 << 20
# this file is about the sockmap path carrying a connection's later
# requests (kbaltest.kernel_keeps_unrouted)
CONF = kbaltest.kernel_keeps_unrouted(EXAMPLE_CONF.replace(
    "ProxySet lbmethod=byrequests", "ProxySet lbmethod=byrequests\nKbalSplice sockmap"))


def member_no(r):
    b = r.header("X-Backend")
    check(b in ("WAS1", "WAS2"), "unexpected X-Backend %r" % b)
    return int(b[-1])


def no_flows_left(env):
    wait_until(lambda: env.flows() == [], 2.0, "kbal_flows to be empty")


def test_keepalive_requests_are_spliced():
    with Env(conf=CONF) as env:
        with env.connect() as c:
            n = member_no(kbaltest.hand_over(c))
            for i in range(50):
                # the cookie names the connection's member: kept in the kernel
                r = c.get("/ka%d" % i, cookie="ROUTEID=route.%d" % n)
                eq(r.status, 200, "status of request %d" % i)
                eq(r.text, "backend=WAS%d path=/ka%d\n" % (n, i), "body of request %d" % i)
                eq(r.header_all("Set-Cookie"), [], "Set-Cookie on a spliced response")
            st = env.stats()
            check(st["kept"] >= 49 and st["back"] == 0,
                  "requests the kernel kept: %r" % st)
            flows = env.flows()
            eq(len(flows), 1, "flows while the connection is open: %r" % flows)
            key, flow = flows[0]
            eq(flow["state"], FLOW_SPLICED, "flow state")
            eq(env.members()[flow["member"]]["route"], str(n), "the flow's member")
            # the first request, which kbald served itself, may have gone
            # to either member; from the second on, all to n
            eq(len(env.backend_log(n)) + len(env.backend_log(3 - n)), 52, "requests in all")
            check(len(env.backend_log(3 - n)) <= 1, "requests at the other member")
        no_flows_left(env)


def kernel_bytes(env):
    return env.stats()["redirected_bytes"]


def carried_once(env, before, held_before, size):
    """size bytes went through the splice: redirected by the verdict, or
    (held) copied by kbald, each byte once; the kernel's part first."""
    carried = kernel_bytes(env) - before
    copied = env.stats()["sk_held"] - held_before
    print("%d MiB: the kernel carried %.1f MiB, kbald copied %.1f MiB (holds: %d)"
          % (size // MiB, carried / MiB, copied / MiB, env.stats()["sk_backlog"]))
    check(size <= carried + copied <= size + 4096 and carried >= min(size, MiB),
          "redirected in the kernel: %d bytes, copied by kbald: %d" % (carried, copied))


def test_download_64m_spliced():
    with Env(conf=CONF) as env, env.connect(timeout=30) as c:
        kbaltest.hand_over(c, "/")
        before, held_before = kernel_bytes(env), env.stats()["sk_held"]
        r = c.get("/bytes/%d" % (64 * MiB))
        # the next request at once: KeepAliveTimeout counts 5 s from the
        # answer's last byte, and checking 64 MiB may take longer under load
        c.request("GET", "/after")
        eq(r.status, 200, "status")
        eq(len(r.body), 64 * MiB, "length")
        check_pattern(r.body, "64 MiB download")
        # the verdict program carried the download, each byte once; the
        # test's reader is slower than a loopback member, so past the
        # worker's bound the direction is held and kbald copies the rest of
        # it (backpressure, below)
        carried_once(env, before, held_before, 64 * MiB)
        eq(c.read_response().status, 200, "request after the download")


def test_download_16m_first_request():
    with Env(conf=CONF) as env, env.connect(timeout=30) as c:
        r = c.get("/bytes/%d" % (16 * MiB))
        eq((r.status, len(r.body)), (200, 16 * MiB), "status, length")
        check_pattern(r.body, "16 MiB first response")


def test_upload_64m_spliced():
    body = os.urandom(64 * MiB)
    with Env(conf=CONF) as env, env.connect(timeout=30) as c:
        kbaltest.hand_over(c, "/")
        before, held_before = kernel_bytes(env), env.stats()["sk_held"]
        c.request("POST", "/up", body=body)
        r = c.read_response()
        eq((r.status, r.text), (200, crc_line(body)), "64 MiB upload")
        carried_once(env, before, held_before, 64 * MiB)


def test_upload_16m_first_request():
    body = os.urandom(16 * MiB)
    with Env(conf=CONF) as env, env.connect(timeout=30) as c:
        c.request("POST", "/up", body=body)
        r = c.read_response()
        eq((r.status, r.text), (200, crc_line(body)), "16 MiB upload as first request")
        eq(c.get("/after").status, 200, "request after the upload")


def test_chunked_upload():
    first = os.urandom(3 * MiB + 12345)
    second = os.urandom(MiB + 7)
    with Env(conf=CONF) as env, env.connect(timeout=30) as c:
        c.request("POST", "/c1", [("Transfer-Encoding", "chunked")], chunked(first))
        r = c.read_response()
        eq((r.status, r.text), (200, crc_line(first)), "chunked first request")
        c.request("POST", "/c2", [("Transfer-Encoding", "chunked")], chunked(second, (8191, 3)))
        r = c.read_response()
        eq((r.status, r.text), (200, crc_line(second)), "chunked spliced request")


def test_pipelined_first_bytes():
    with Env(conf=CONF) as env, env.connect() as c:
        c.send(b"".join(build_request("GET", "/p%d" % i, host=c.host_header)
                        for i in (1, 2, 3)))
        rs = [c.read_response() for _ in range(3)]
        # each decided on its own (no route: byrequests), in order
        got = {1: [], 2: []}
        for i, r in enumerate(rs, 1):
            n = member_no(r)
            eq(r.status, 200, "status of pipelined request %d" % i)
            eq(r.text, "backend=WAS%d path=/p%d\n" % (n, i), "response %d" % i)
            got[n].append("GET /p%d" % i)
        check(c.idle(0.3), "more than 3 responses")
        for n in (1, 2):
            eq(env.backend_log(n), got[n], "member %d log" % n)


def test_expect_100_continue_first_request():
    body = os.urandom(MiB)
    with Env(conf=CONF) as env, env.connect() as c:
        c.request("POST", "/expect", [("Expect", "100-continue"),
                                      ("Content-Length", str(len(body)))])
        r = c.read_response(interim=True)
        eq(r.status, 100, "interim response before the body")
        c.send(body)
        r = c.read_response()
        eq((r.status, r.text), (200, crc_line(body)), "final response")


def test_websocket_echo():
    with Env(conf=kbaltest.with_upgrade(CONF)) as env, env.connect(timeout=30) as c:
        r = ws_upgrade(c)
        eq(r.status, 101, "status")
        eq(r.header("Sec-WebSocket-Accept"), WS_ACCEPT, "Sec-WebSocket-Accept")
        echo_check(c, os.urandom(MiB))


def test_upgrade_only_where_a_member_allows_it():
    # httpd 2.4.47+: a client's Upgrade goes to a member whose upgrade= names
    # its protocol (or is *), else the header is dropped and the request is
    # an ordinary one; side by side with Debian's apache2, member by member
    # (WAS1 upgrade=websocket, WAS2 none), then with neither
    from apache import apache_beside
    mixed = EXAMPLE_CONF.replace("route=1", "route=1 upgrade=websocket")
    for conf, want in ((mixed, {1: 101, 2: 200}), (EXAMPLE_CONF, {1: 200, 2: 200})):
        with Env(conf=conf) as env, apache_beside(env) as aport:
            for name, port in (("Apache", aport), ("kbal", env.port)):
                for n in (1, 2):
                    with kbaltest.Conn(port, timeout=10) as c:
                        c.request("GET", "/ws", [("Connection", "Upgrade"),
                                                 ("Upgrade", "websocket"),
                                                 ("Cookie", "ROUTEID=route.%d" % n),
                                                 ("Sec-WebSocket-Key", kbaltest.WS_KEY),
                                                 ("Sec-WebSocket-Version", "13")])
                        r = c.read_response()
                        eq(r.status, want[n], "%s, WAS%d: the answer to an Upgrade" % (name, n))
                        if r.status == 101:
                            echo_check(c, os.urandom(65536))
                        else:
                            # an ordinary request: the connection goes on
                            eq(c.get("/after", cookie="ROUTEID=route.%d" % n).status, 200,
                               "%s, WAS%d: a request after it" % (name, n))


def test_member_closes_first():
    # the member says Connection: close and closes: as with Apache, the
    # client's connection goes on (the answer without that header), its
    # next request on another member connection
    with Env(conf=CONF) as env:
        with env.connect() as c:
            r = c.get("/close")
            n = member_no(r)
            eq((r.status, r.text, r.header("Connection")),
               (200, "backend=WAS%d path=/close\n" % n, None), "/close as the first request")
            r = c.get("/after")
            eq((r.status, r.text), (200, "backend=WAS%d path=/after\n" % member_no(r)),
               "a request after /close as the first request")
        with env.connect() as c:
            n = member_no(kbaltest.hand_over(c, "/"))
            r = c.get("/close")
            eq((r.status, r.text, r.header("Connection")),
               (200, "backend=WAS%d path=/close\n" % n, None), "/close on a spliced connection")
            for p in ("/after1", "/after2", "/after3"):
                r = c.get(p)
                eq((r.status, r.text), (200, "backend=WAS%d path=%s\n" % (member_no(r), p)),
                   "%s after /close on a spliced connection" % p)
        no_flows_left(env)


def test_client_closes_first():
    with Env(conf=CONF) as env:
        c = env.connect()
        c.get("/")
        c.get("/two")
        eq(len(env.flows()), 1, "flows while open")
        c.close()

        def state():
            return env.flows(), {m["route"]: m["busy"] for m in env.members().values()}

        def clean():
            flows, busy = state()
            return flows == [] and all(b == 0 for b in busy.values())
        try:
            wait_until(clean, 2.0, "no flow and busy 0 after the client closed")
        except AssertionError as e:
            raise AssertionError("%s: flows %r, busy by route %r" % ((e,) + state()))


def test_client_resets_spliced_connection():
    import socket
    import struct
    with Env(conf=CONF) as env:
        c = env.connect()
        n = member_no(c.get("/"))
        c.get("/two")
        # an abortive close: RST instead of FIN
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        wait_until(lambda: env.flows() == [] and env.member(n)["busy"] == 0, 2.0,
                   "no flow and busy 0 after the client's RST")
        # kbald is fine afterwards
        eq(env.get("/after").status, 200, "a request after the reset")


def test_slow_client_does_not_stall_others():
    with Env(conf=CONF) as env:
        slow = env.connect()
        slow.send(b"GET /slow-client HTTP/1.1\r\nHo")   # half a head, then silence
        for i in range(10):
            eq(env.get("/other%d" % i).status, 200, "request %d beside a slow client" % i)
        slow.send(b"st: x\r\n\r\n")
        r = slow.read_response()
        eq(r.status, 200, "the slow client's request, once complete")
        slow.close()


def test_pipelined_after_upload_first_request():
    # an upload whose body is followed, in the same send, by a second request
    body = os.urandom(200000)
    with Env(conf=CONF) as env, env.connect() as c:
        c.send(build_request("POST", "/up", body=body, host="x") +
               build_request("GET", "/next", host="x"))
        r1 = c.read_response()
        eq((r1.status, r1.text), (200, crc_line(body)), "upload")
        r2 = c.read_response()
        # decided on its own, as Apache does: byrequests picks its member
        n = member_no(r2)
        eq((r2.status, r2.text), (200, "backend=WAS%d path=/next\n" % n), "pipelined request")


def test_one_request_connections_are_copied_not_spliced():
    # Connection: close and HTTP/1.0 carry nothing after their request:
    # kbald copies the small rest instead of handing the sockets over
    with Env(conf=CONF) as env:
        before = env.stats()
        for i in range(4):
            r = env.get("/bytes/30000", headers=[("Connection", "close")])
            eq((r.status, len(r.body)), (200, 30000), "Connection: close response %d" % i)
            check_pattern(r.body, "Connection: close body")
        with env.connect() as c:
            c.send(b"GET /bytes/20000 HTTP/1.0\r\n\r\n")
            r = c.read_response()
            eq((r.status, len(r.body)), (200, 20000), "HTTP/1.0 response")
            check(c.at_eof(2.0), "HTTP/1.0 connection not closed")
        eq(env.stats(), before, "kbal_stats after one-request connections")
        # a big one is handed to the kernel if the member has not closed
        # yet (else kbald copies it): byte-exact either way
        r = env.get("/bytes/%d" % (4 * MiB), headers=[("Connection", "close")])
        eq(len(r.body), 4 * MiB, "4 MiB Connection: close response")
        check_pattern(r.body, "4 MiB Connection: close body")
        no_flows_left(env)


def test_first_response_waiting_in_buffers():
    # The client reads only after the member has sent all it can: kbald
    # finds megabytes queued at once and must copy them on in turns
    # without waiting for an event that will not come again.
    import time
    with Env(conf=CONF) as env, env.connect(timeout=20) as c:
        c.request("GET", "/bytes/%d" % (24 * MiB))
        time.sleep(0.5)
        r = c.read_response()
        eq((r.status, len(r.body)), (200, 24 * MiB), "status, length")
        check_pattern(r.body, "24 MiB first response read late")


def half_closed_request(c, path, headers=""):
    """The request and the client's FIN in one segment (TCP_CORK), as a
    client that half-closes after its request sends them: the reader finds
    the FIN behind the request, with no later event to say so."""
    import socket
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    c.send(("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path, headers)).encode())
    c.sock.shutdown(socket.SHUT_WR)


def test_request_with_the_clients_fin():
    # Apache answers a request whose client half-closed behind it, then
    # closes; kbald must see that FIN although it came with the request,
    # whichever path the connection takes after its first exchange
    for mode in ("sockmap", "off", "packet"):
        conf = EXAMPLE_CONF.replace("ProxyPreserveHost On",
                                    "ProxyPreserveHost On\nKbalSplice %s" % mode)
        with Env(conf=conf) as env:
            for path, headers in (("/ka", ""), ("/bytes/300000", ""),
                                  ("/once", "Connection: close\r\n")):
                what = "KbalSplice %s, %s" % (mode, path)
                with env.connect(timeout=5) as c:
                    half_closed_request(c, path, headers)
                    r = c.read_response()
                    eq(r.status, 200, "%s: status" % what)
                    check(c.at_eof(3.0), "%s: the connection was not closed after the answer"
                          % what)
            wait_until(lambda: env.flows() == [], 3.0, "KbalSplice %s: kbal_flows empty" % mode)
            for n in (1, 2):
                wait_until(lambda: env.member(n)["busy"] == 0, 2.0,
                           "KbalSplice %s: member %d busy 0" % (mode, n))


def test_answer_handed_back_after_the_clients_fin():
    """A request the kernel keeps, then the client's FIN while the member
    thinks (/slow-head: 300 ms), then an answer whose head the kernel hands
    back (no Server line: kbald adds httpd's, X-Omit): the half-closed
    client gets the whole answer, then EOF. Before, a head handed back once
    the client's FIN had passed was never written (decide_take_back()
    waited for the client's side to be spliced still): the client waited
    for ever."""
    with Env(conf=CONF) as env, env.connect(timeout=5) as c:
        n = member_no(kbaltest.hand_over(c, "/"))
        wait_until(lambda: [f["state"] for _, f in env.flows()] == [kbaltest.FLOW_SPLICED], 2.0,
                   "the connection spliced")
        kept = env.stats()["kept"]
        c.request("GET", "/slow-head", [("X-Omit", "server")])
        wait_until(lambda: env.stats()["kept"] == kept + 1, 0.25, "the request kept")
        c.sock.shutdown(socket.SHUT_WR)
        r = c.read_response()
        eq((r.status, r.text), (200, "backend=WAS%d path=/slow-head\n" % n), "the answer")
        check(r.header("Server") is not None, "no Server line on the answer")
        check(c.at_eof(3.0), "no EOF after the answer")
        no_flows_left(env)


def member_side_cc(env, n):
    """The congestion control of kbald's established connections to member n
    (ss names it in each socket's -i line)."""
    out = subprocess.run(["ss", "-Htni", "state", "established", "dport = :%d" % env.ports["b%d" % n]],
                         stdout=subprocess.PIPE, check=True, timeout=10).stdout.decode()
    names = set(out.split()) & set(open("/proc/sys/net/ipv4/tcp_available_congestion_control")
                                   .read().split())
    return names


def test_member_congestion_control():
    """KbalMemberCongestion: kbald's connections to members use the named
    congestion control (TCP_CONGESTION), the client's side the system's; an
    upload through them arrives whole."""
    system = open("/proc/sys/net/ipv4/tcp_congestion_control").read().strip()
    other = "reno" if system != "reno" else "cubic"
    body = os.urandom(8 * MiB + 3)
    for conf, want in ((CONF, system),
                       (CONF.replace("KbalSplice sockmap", "KbalSplice sockmap\nKbalMemberCongestion "
                                     + other), other)):
        with Env(conf=conf) as env, env.connect(timeout=30) as c:
            n = member_no(c.get("/"))
            c.request("POST", "/up", body=body)
            r = c.read_response()
            eq((r.status, r.text), (200, crc_line(body)), "upload to a member on %s" % want)
            eq(member_side_cc(env, n), {want}, "congestion control of kbald's connection to WAS%d" % n)
            client_side = subprocess.run(["ss", "-Htni", "state", "established",
                                          "sport = :%d" % env.port],
                                         stdout=subprocess.PIPE, check=True,
                                         timeout=10).stdout.decode()
            check(system in client_side.split(), "the client's side keeps %s: %r" % (system, client_side))


# Backpressure (kbal_shared.h, struct kbal_sk_event): once the target's
# psock worker has KBAL_SK_QUEUE_BYTES waiting (bpf/sockmap.bpf.c), the
# verdict holds the direction: what comes next waits in the source's
# receive memory (its window closes) and kbald copies it as the receiver
# takes it. What a direction may hold in the balancer while its receiver
# does not read: that queue, and the sockets' own buffers (tcp_rmem,
# tcp_wmem at most, each). Without the hold, everything the sender had
# went into kernel memory; before it, the bound was 128 MiB.
QUEUE_BYTES = 4 * MiB


def sysctl_max(name):
    with open("/proc/sys/net/ipv4/" + name) as f:
        return int(f.read().split()[2])


# a client's (or a member's) receive buffer and the balancer's send buffer
# towards it, the balancer's receive buffer from the sender and the
# sender's send buffer, on top of the worker's queue
HELD_MAX = QUEUE_BYTES + 2 * sysctl_max("tcp_rmem") + 2 * sysctl_max("tcp_wmem") + MiB


def balancer_skmem(env, member_port):
    """The balancer's sockets of the test's connections, as ss reports
    their memory: the client's side (local port env.port) and the
    member's (remote port member_port, kbald's end). Bytes allocated
    to their receive queues (r, psock queues included) and their send
    queues (w), summed."""
    out = subprocess.run(["ss", "-Htnm", "state", "established",
                          "( sport = :%d or dport = :%d )" % (env.port, member_port)],
                         stdout=subprocess.PIPE, check=True, timeout=10).stdout.decode()
    total = 0
    for tok in out.split():
        if tok.startswith("skmem:("):
            f = dict((k.rstrip("0123456789"), int(k[len(k.rstrip("0123456789")):]))
                     for k in tok[len("skmem:("):-1].split(","))
            total += f.get("r", 0) + f.get("w", 0)
    return total


def push_until_blocked(sock, total, quiet=1.0, limit=20.0):
    """Send up to total bytes of the pattern without blocking until the
    socket takes nothing for `quiet` seconds; returns the count sent."""
    chunk = bytes(range(256)) * 4096
    sent, t0 = 0, time.monotonic()
    last = t0
    sock.setblocking(False)
    try:
        while sent < total and time.monotonic() - t0 < limit:
            try:
                off = sent % len(chunk)
                sent += sock.send(chunk[off:off + min(len(chunk) - off, total - sent)])
                last = time.monotonic()
            except BlockingIOError:
                if time.monotonic() - last > quiet:
                    break
                select.select([], [sock], [], 0.05)
    finally:
        sock.setblocking(True)
    return sent


class StallingMember:
    """A member on 127.0.0.1:port. Its first connection (kbald serves a
    keep-alive client's first request itself, on a connection it keeps)
    gets one request, answered. Its second (the client's connection, handed
    over at its second request) gets a request, answered, then nothing is
    read until go is set; then the next request's body (Content-Length) is
    read and answered with its length and crc32. Its answers have Date and
    Server, which the kernel passes on (one without would go to kbald)."""

    def __init__(self, port, expect_eof=False):
        self.expect_eof = expect_eof
        self.go = threading.Event()
        self.error = None
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _head(self, s, buf):
        while b"\r\n\r\n" not in buf:
            data = s.recv(65536)
            if not data:
                raise OSError("member: EOF before a request head")
            buf += data
        return buf.partition(b"\r\n\r\n")

    def _serve(self):
        try:
            self.lsock.settimeout(30)
            kept, _ = self.lsock.accept()
            kept.settimeout(60)
            self._head(kept, b"")
            kept.sendall(b"HTTP/1.1 200 OK\r\n%sContent-Length: 5\r\n\r\nfirst" % stamps())
            s, _ = self.lsock.accept()
            s.settimeout(60)
            with s, kept:
                _, _, buf = self._head(s, b"")
                s.sendall(b"HTTP/1.1 200 OK\r\n%sContent-Length: 5\r\n\r\nfirst" % stamps())
                self.go.wait(60)
                head, _, buf = self._head(s, buf)
                length = int([ln.split(b":", 1)[1] for ln in head.split(b"\r\n")
                              if ln.lower().startswith(b"content-length:")][0])
                crc, got = zlib.crc32(buf[:length]), len(buf[:length])
                while got < length:
                    data = s.recv(min(1 << 20, length - got))
                    if not data:
                        raise OSError("member: EOF after %d of %d body bytes" % (got, length))
                    crc, got = zlib.crc32(data, crc), got + len(data)
                if self.expect_eof:
                    # the client's FIN, passed on right behind the body
                    s.settimeout(10)
                    extra = s.recv(65536)
                    if extra:
                        raise OSError("member: %d bytes after the body, not EOF" % len(extra))
                body = b"len=%d crc32=%08x\n" % (got, crc & 0xffffffff)
                s.sendall(b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s"
                          % (stamps(), len(body), body))
        except Exception as e:       # reported by the test
            self.error = e

    def close(self):
        self.go.set()
        self.thread.join(10)
        self.lsock.close()


UPLOAD_TOTAL = 320 * MiB


@contextlib.contextmanager
def held_upload(total=UPLOAD_TOTAL, expect_eof=False):
    """One member that stalls (StallingMember) behind a sockmap splice; a
    client's POST of `total` bytes pushed until the balancer holds it back.
    Yields (env, member, conn, bytes sent); the member's error is checked
    after."""
    conf = CONF.replace("BalancerMember http://127.0.0.1:{b2} route=2\n", "")
    with Env(conf=conf, backends=()) as env:
        m = StallingMember(env.ports["b1"], expect_eof=expect_eof)
        try:
            with env.connect(timeout=60) as c:
                eq(c.get("/first").text, "first", "first response")
                eq(c.get("/second").text, "first", "the response that hands it over")
                reported_before = env.stats()["sk_backlog"]
                c.send(b"POST /up HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n" % (c.host_header.encode(), total))
                held = push_until_blocked(c.sock, total)
                if held >= total:
                    # taken whole: by whom? (an answer of kbald's own
                    # and the lingering close dropping the rest, say)
                    c.sock.settimeout(2.0)
                    try:
                        got = c.sock.recv(4096)
                    except (OSError, socket.timeout) as e:
                        got = repr(e)
                    raise AssertionError("the client was not held back (%d of %d sent): the "
                                         "client got %r; member %r; flows %r; stats %r"
                                         % (held, total, got, m.error, env.flows(), env.stats()))
                check(env.stats()["sk_backlog"] > reported_before,
                      "a worker far behind reported (sk_backlog)")
                yield env, m, c, held
        finally:
            m.close()
        check(m.error is None, "member: %r" % m.error)


def finish_upload(c, held, total=UPLOAD_TOTAL, shut=False):
    """Send the rest of push_until_blocked's pattern (then a FIN if shut);
    the member's answer must be the whole body's length and crc32."""
    chunk = bytes(range(256)) * 4096
    rest = held
    while rest < total:      # the pattern from where it stopped
        off = rest % len(chunk)
        n = min(len(chunk) - off, total - rest)
        c.send(chunk[off:off + n])
        rest += n
    if shut:
        c.sock.shutdown(socket.SHUT_WR)
    r = c.read_response()
    crc = 0
    for k in range(total // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    eq((r.status, r.text), (200, "len=%d crc32=%08x\n" % (total, crc & 0xffffffff)),
       "the body as the member read it")


def test_upload_to_a_member_that_stops_reading_is_held_back():
    """The client's bytes stop at the sockets' buffers, not in the kernel's
    psock queue, while the member reads nothing; all of them arrive, in
    order, once it does."""
    with held_upload() as (env, m, c, held):
        print("the client got %.1f MiB in while the member read nothing (bound %.1f MiB)"
              % (held / MiB, HELD_MAX / MiB))
        check(held <= HELD_MAX, "the client got %.1f MiB into the balancer while the "
              "member read nothing (at most %d MiB)" % (held / MiB, HELD_MAX // MiB))
        m.go.set()
        finish_upload(c, held)


def test_client_fin_after_a_held_back_upload():
    """The client ends a held-back upload with a FIN: the member gets the
    whole body, then EOF (not before, not lost); its answer and its close
    reach the half-closed client."""
    with held_upload(expect_eof=True) as (env, m, c, held):
        m.go.set()
        finish_upload(c, held, shut=True)
        m.thread.join(10)
        check(c.at_eof(5.0), "the member's close reached the client")


def test_restart_while_an_upload_is_held_back():
    """A restart while a direction is paused: kbald waits for the kernel to
    send what it took (the member reads again meanwhile), copies the rest,
    and hands the connection over copied; the new image copies on, and the
    whole body arrives in order."""
    with held_upload() as (env, m, c, held):
        seen = env.kbald_stderr().count("restarted: took over")
        pid = env.kbald.pid
        os.kill(pid, signal.SIGHUP)
        wait_until(lambda: "restarting:" in env.kbald_stderr(), 5.0, "the restart to begin")
        m.go.set()
        finish_upload(c, held)
        wait_until(lambda: env.kbald_stderr().count("restarted: took over") > seen, 10.0,
                   "the new image")
        eq(env.kbald.pid, pid, "kbald's PID after the restart")
        log = env.kbald_stderr()
        check("still in their first exchange" not in log,
              "the restart closed a connection: %s" % log[-2000:])
        took = log.split("restarted: took over ")[-1].split()[0]
        eq(took, "1", "connections the new image took over")


def test_download_to_a_client_that_stops_reading_is_held_back():
    """A client that asks for 256 MiB and reads nothing for 4 s holds the
    member's bytes back in the sockets' buffers, not in the balancer's
    memory; the whole response arrives, byte for byte, once it reads, and
    the kernel carries it again (the hold did not end the splice)."""
    size = 256 * MiB
    with Env(conf=CONF) as env, env.connect(timeout=60) as c:
        n = member_no(kbaltest.hand_over(c, "/"))
        before, held_before = kernel_bytes(env), env.stats()["sk_held"]
        c.request("GET", "/bytes/%d" % size, headers=[("Cookie", "ROUTEID=route.%d" % n)])
        time.sleep(2.0)
        moved = kernel_bytes(env) - before + env.stats()["sk_held"] - held_before
        mem = balancer_skmem(env, env.ports["b%d" % n])
        time.sleep(2.0)
        moved2 = kernel_bytes(env) - before + env.stats()["sk_held"] - held_before
        check(moved2 == moved, "still moving after 4 s of a client that reads nothing: "
              "%d then %d bytes" % (moved, moved2))
        check(moved <= HELD_MAX, "%.1f MiB of the response went into the balancer while the "
              "client read nothing (at most %.1f MiB)" % (moved / MiB, HELD_MAX / MiB))
        # the member's side's receive memory (what was held, with what it
        # had not taken yet: its last skb may overshoot) and the client's
        # side's send queue
        check(mem <= sysctl_max("tcp_rmem") + sysctl_max("tcp_wmem") + MiB,
              "the balancer's sockets hold %.1f MiB" % (mem / MiB))
        check(env.stats()["sk_backlog"] >= 1, "the direction was held (sk_backlog)")
        print("held while the client read nothing: %.1f MiB moved, %.1f MiB in the balancer's "
              "sockets (bound %.1f MiB)" % (moved / MiB, mem / MiB, HELD_MAX / MiB))
        r = c.read_response()
        carried = kernel_bytes(env) - before
        copied = env.stats()["sk_held"] - held_before
        # the next request at once (KeepAliveTimeout: 5 s from the
        # answer's last byte; checking 256 MiB takes longer under load):
        # the hold ended with the answer that was held (its sender paused),
        # the next one is the kernel's again, on the same splice
        before, held_before = kernel_bytes(env), env.stats()["sk_held"]
        c.request("GET", "/bytes/%d" % (2 * MiB), headers=[("Cookie", "ROUTEID=route.%d" % n)])
        eq((r.status, len(r.body)), (200, size), "status, length")
        check_pattern(r.body, "256 MiB download after the hold")
        print("the 256 MiB: the kernel carried %.1f MiB, kbald copied %.1f MiB"
              % (carried / MiB, copied / MiB))
        check(size <= carried + copied <= size + 4096,
              "the response's bytes carried once: %d by the kernel, %d by kbald" % (carried, copied))
        r = c.read_response()
        eq((r.status, len(r.body)), (200, 2 * MiB), "the next response")
        check_pattern(r.body, "2 MiB after the hold")
        check(kernel_bytes(env) - before >= 2 * MiB and env.stats()["sk_held"] == held_before,
              "the next response carried by the kernel: %d bytes redirected, %d copied"
              % (kernel_bytes(env) - before, env.stats()["sk_held"] - held_before))


def test_tunnel_to_a_client_that_stops_reading_is_held_back():
    """A tunnel (Upgrade) the kernel carries unframed (its kbal_sk_http
    entries of mode 2): a client that writes 64 MiB to the echo member and
    reads nothing for 3 s holds the echo back in the sockets' buffers; then
    the whole echo arrives, byte for byte."""
    size = 64 * MiB
    data = os.urandom(size)
    with Env(conf=kbaltest.with_upgrade(CONF)) as env, env.connect(timeout=60) as c:
        eq(ws_upgrade(c).status, 101, "upgrade")
        before, held_before = kernel_bytes(env), env.stats()["sk_held"]
        errors = []

        def writer():
            try:
                for off in range(0, size, 1 << 20):
                    c.sock.sendall(data[off:off + (1 << 20)])
            except Exception as e:      # reported below
                errors.append(e)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        time.sleep(2.0)
        moved = kernel_bytes(env) - before + env.stats()["sk_held"] - held_before
        time.sleep(1.0)
        moved2 = kernel_bytes(env) - before + env.stats()["sk_held"] - held_before
        print("tunnel held: %.1f MiB moved both ways while the client read nothing (bound "
              "%.1f MiB)" % (moved / MiB, 2 * HELD_MAX / MiB))
        check(moved2 == moved and moved <= 2 * HELD_MAX,
              "both ways moved %d then %d bytes while the client read nothing" % (moved, moved2))
        check(env.stats()["sk_backlog"] >= 1, "the echo's direction was held (sk_backlog)")
        got = c.read_exact(size)
        t.join(10)
        check(not errors, "writing the tunnel's bytes failed: %r" % errors)
        if got != data:
            off = next(i for i in range(size) if got[i] != data[i])
            raise AssertionError("the echo differs from byte %d on" % off)


def test_pipelined_request_behind_a_held_answer():
    """A request the client pipelines behind an answer held back (it read
    nothing yet) is handed back to kbald, which takes the connection back
    only once every held byte of the answer is copied and delivered: the
    answer arrives whole, then the next one, in order."""
    size = 64 * MiB
    with Env(conf=CONF) as env, env.connect(timeout=60) as c:
        n = member_no(kbaltest.hand_over(c, "/"))
        cookie = [("Cookie", "ROUTEID=route.%d" % n)]
        c.request("GET", "/bytes/%d" % size, headers=cookie)
        time.sleep(1.5)
        check(env.stats()["sk_backlog"] >= 1, "the answer was held (sk_backlog)")
        c.request("GET", "/behind-the-hold", headers=cookie)
        time.sleep(0.5)
        r = c.read_response()
        r2 = c.read_response()
        # the next request at once (KeepAliveTimeout: 5 s from the
        # answer's last byte; checking 64 MiB may take longer under load)
        c.request("GET", "/after", headers=cookie)
        eq((r.status, len(r.body)), (200, size), "the held answer")
        check_pattern(r.body, "64 MiB held answer")
        eq((r2.status, r2.text), (200, "backend=WAS%d path=/behind-the-hold\n" % n),
           "the pipelined request's answer")
        eq(c.read_response().status, 200, "a request after both")


def test_pipelined_request_while_the_answer_flows():
    """A request pipelined while the client's psock worker still has bytes
    of the member's answer to send (the client paused its reading), kbald
    stopped meanwhile so that it reads no report: the stream parser must
    not stop (its -ESTRPIPE in the client socket's sk_err would be taken by
    the worker's next send, which then stops sending for good: the answer
    stalled, its queued bytes lost). The request goes to kbald queued behind
    the answer; the answer arrives whole, then the next."""
    size = 64 * MiB
    with Env(conf=CONF) as env, env.connect(timeout=20) as c:
        n = member_no(kbaltest.hand_over(c, "/"))
        cookie = [("Cookie", "ROUTEID=route.%d" % n)]
        c.request("GET", "/bytes/%d" % size, headers=cookie)
        r = c.read_head()
        eq((r.status, r.header("Content-Length")), (200, str(size)), "the answer's head")
        body = bytearray(c.read_exact(MiB))
        time.sleep(0.3)   # the worker's queue fills while the client reads nothing
        os.kill(env.kbald.pid, signal.SIGSTOP)
        try:
            c.request("GET", "/behind-the-flow", headers=cookie)
            # the worker goes on sending while kbald sleeps: read for a while
            c.sock.settimeout(0.1)
            until = time.monotonic() + 1.0
            while time.monotonic() < until and len(body) < size:
                try:
                    got = c.sock.recv(min(size - len(body), 1 << 20))
                except socket.timeout:
                    continue
                check(got, "the connection ended within the answer")
                body += got
        finally:
            os.kill(env.kbald.pid, signal.SIGCONT)
        c.settimeout(20)
        moved = len(body)
        check(moved > MiB, "the answer moved while kbald was stopped (the worker sent)")
        body += c.read_exact(size - len(body))
        r = c.read_response()
        c.request("GET", "/after", headers=cookie)   # KeepAliveTimeout: as above
        print("  %.1f MiB read while kbald was stopped" % ((moved - MiB) / MiB))
        check_pattern(bytes(body), "64 MiB answer")
        eq((r.status, r.text), (200, "backend=WAS%d path=/behind-the-flow\n" % n),
           "the pipelined request's answer")
        eq(c.read_response().status, 200, "a request after both")


def test_restart_while_a_download_is_held_back():
    """A restart while an answer is held and its client reads nothing: the
    connection goes to the new image spliced, still held (kbald kept no byte
    of it), and the new image copies on: the answer arrives whole."""
    size = 64 * MiB
    with Env(conf=CONF) as env, env.connect(timeout=60) as c:
        n = member_no(kbaltest.hand_over(c, "/"))
        c.request("GET", "/bytes/%d" % size, headers=[("Cookie", "ROUTEID=route.%d" % n)])
        time.sleep(1.5)
        check(env.stats()["sk_backlog"] >= 1, "the answer was held (sk_backlog)")
        seen = env.kbald_stderr().count("restarted: took over")
        os.kill(env.kbald.pid, signal.SIGHUP)
        wait_until(lambda: env.kbald_stderr().count("restarted: took over") > seen, 10.0,
                   "the new image")
        took = env.kbald_stderr().split("restarted: took over ")[-1].split()[0]
        eq(took, "1", "connections the new image took over")
        r = c.read_response()
        # the next request at once (KeepAliveTimeout: as above)
        c.request("GET", "/after", headers=[("Cookie", "ROUTEID=route.%d" % n)])
        eq((r.status, len(r.body)), (200, size), "status, length")
        check_pattern(r.body, "64 MiB held across a restart")
        eq(c.read_response().status, 200, "a request after it")
