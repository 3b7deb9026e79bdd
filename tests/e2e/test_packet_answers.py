# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""httpd's answers at a joined flow's clock (docs/packet.md, "Endings"):
where a member says nothing within Timeout, or a client sends a later
request's head too slowly for RequestReadTimeout, kbald takes the client's
leg of the flow back onto its kept client-side socket (packet_clocks.c,
kbal_packet_take_client()) and answers 502 or 408 there, the bytes its
other paths send, then closes (EOF, and a lingering close: test_linger.py);
the member's connection is closed (a FIN, where its leg came back too).
Compared with the same configuration on the copy path (KbalSplice off) and
on the sockmap path, where kbald sees the request itself."""

import os
import re
import socket
import threading
import time

import kbaltest
from kbaltest import EXAMPLE_CONF, Env, check, eq, wait_until
from test_packet import PATH_PACKET, _has_socket, all_gone

CONF = kbaltest.packet_alike(EXAMPLE_CONF)
assert "ProxyPreserveHost On" in CONF
CONF = CONF.replace("ProxyPreserveHost On", "ProxyPreserveHost On\nTimeout 2\nKeepAliveTimeout 10\n"
                    "RequestReadTimeout header=2 body=2")
HANG = b"GET /fault-hang HTTP/1.1\r\nHost: x\r\n\r\n"
SLOW_LINE = b"GET /slow HTTP/1.1\r\n"


def _same_but_date(raw):
    """raw with its Date header's value blanked (the one line that differs)."""
    return re.sub(rb"\r\nDate: [^\r]*\r\n", b"\r\nDate: -\r\n", raw)


def _late(splice, first, trickle=None, limit=8.0, probes=False):
    """On CONF with KbalSplice splice: a keep-alive connection's first two
    requests (handed over at the second; on the packet path, joined and a
    request carried), then first sent, and trickle (bytes) a byte every
    0.3 s until something comes back; probes: the client's TCP keepalive
    probes every second of quiet from then on (packets without a byte,
    which the member acknowledges). Returns {got: the bytes that came,
    how: "eof", "reset" or "timeout", took: seconds from first, log: kbald's
    stderr}; on the packet path, once the member's connection is closed,
    kbal_pkt empty and kbald's descriptors back where they were."""
    conf = CONF.replace("KbalSplice packet", "KbalSplice " + splice)
    out = {}
    with Env(conf=conf) as env:
        pid = env.kbald.pid
        base = len(os.listdir("/proc/%d/fd" % pid))
        c = env.connect(timeout=limit)
        n = int(kbaltest.hand_over(c, "/").header("X-Backend")[-1])
        if splice == "packet":
            wait_until(lambda: [f for _, f in env.flows() if f["path"] == PATH_PACKET], 2.0,
                       "a flow on the packet path")
            eq(c.get("/joined").status, 200, "a request on the joined flow")
            flow = env.flows()[0][1]
            out["member"] = (env.ports["b%d" % n], flow["member_lport"])
            check(_has_socket(*out["member"]), "the member's connection before")
        base += sum(int(m["idle"]) for m in env.members().values())
        got, came = b"", threading.Event()

        def feed():
            for b in trickle or b"":
                if came.wait(0.3):
                    return
                try:
                    c.sock.sendall(bytes([b]))
                except OSError:
                    return

        if probes:
            for opt, v in ((socket.TCP_KEEPIDLE, 1), (socket.TCP_KEEPINTVL, 1)):
                c.sock.setsockopt(socket.IPPROTO_TCP, opt, v)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        t0 = time.monotonic()
        c.sock.sendall(first)
        t = threading.Thread(target=feed, daemon=True)
        t.start()
        c.sock.settimeout(limit)
        how = "timeout"
        try:
            while True:
                d = c.sock.recv(65536)
                if not d:
                    how = "eof"
                    break
                got += d
                came.set()
        except ConnectionResetError:
            how = "reset"
        except OSError:
            pass
        took = time.monotonic() - t0
        came.set()
        t.join(2.0)
        c.close()
        if splice == "packet":
            wait_until(lambda: not _has_socket(*out["member"]), 3.0, "the member's connection closed")
            all_gone(env, "the answer")
            wait_until(lambda: len(os.listdir("/proc/%d/fd" % pid)) <= base, 3.0,
                       "kbald's descriptors back to %d" % base)
        out.update(got=got, how=how, took=took, log=env.kbald_stderr())
        return out


def _as_other_paths(packet, others, status, what, kept=()):
    """kept: the paths that keep the client's connection after the answer
    (httpd keeps it after a 502, and so do kbald's copy and sockmap paths;
    the packet path ends it, Connection: close: docs/packet.md, "Answered
    at a clock's end"); their answer is the same but for that line."""
    eq((packet["how"], packet["got"][:12]), ("eof", b"HTTP/1.1 %d" % status),
       "%s: how the packet path's flow ended" % what)
    for name, o in others.items():
        check(o["got"].startswith(b"HTTP/1.1 %d " % status), "%s: %s on %s: %r" %
              (what, status, name, o["got"][:200]))
        mine = _same_but_date(packet["got"])
        if name in kept:
            eq(o["how"], "timeout", "%s: the %s path keeps the connection" % (what, name))
            mine = mine.replace(b"\r\nConnection: close\r\n", b"\r\n")
        else:
            eq(o["how"], "eof", "%s: how the %s path's answer ended" % (what, name))
        eq(mine, _same_but_date(o["got"]),
           "%s: the packet path's answer against the %s path's" % (what, name))
    eq(packet["how"], "eof", "%s: how the packet path's answer ended" % what)
    check(b"\r\nConnection: close\r\n" in packet["got"], "%s: Connection: close" % what)
    check("(the packet program framed it)" in packet["log"], "kbald's log says the packet path answered")
    check("both peers reset" not in packet["log"], "not ended as before")


def test_packet_joined_flow_answers_502_when_the_member_says_nothing():
    """A member that never answers a later request of a joined flow: the
    client gets kbald's 502 (the copy path's and the sockmap path's bytes,
    Date aside) then EOF, after Timeout (2 s, looked at once a second), and
    the member's connection is closed; nothing is left in the maps and
    kbald's descriptors are back where they were."""
    packet = _late("packet", HANG)
    others = {"copy": _late("off", HANG, limit=3.5), "sockmap": _late("sockmap", HANG, limit=3.5)}
    _as_other_paths(packet, others, 502, "a member silent for Timeout", kept=("copy", "sockmap"))
    check(1.9 <= packet["took"] < 3.6, "502 after Timeout (2 s): %.2f s" % packet["took"])


def test_packet_joined_flow_member_timeout_counts_from_its_bytes_not_the_clients_probes():
    """httpd counts Timeout on its read of the member's answer from the
    member's last bytes: a client's packets meanwhile (here TCP keepalive
    probes every second, which pass the joined flow and which the member
    acknowledges: packets both ways, no byte) do not put it off. A member
    that never answers: the 502 after Timeout (2 s), not later; one that
    stopped mid-answer: the client has its 1000 bytes, then EOF after
    Timeout. Before, the clock counted from the flow's last packet either
    way, and each probe put it off: neither came."""
    hang = _late("packet", HANG, probes=True)
    eq((hang["how"], hang["got"][:12]), ("eof", b"HTTP/1.1 502"), "a member silent, probed")
    check(1.9 <= hang["took"] < 4.5, "502 after Timeout (2 s), probed: %.2f s" % hang["took"])
    stall = _late("packet", b"GET /fault-stall HTTP/1.1\r\nHost: x\r\n\r\n", probes=True)
    head, _, body = stall["got"].partition(b"\r\n\r\n")
    eq((stall["how"], head[:12], len(body)), ("eof", b"HTTP/1.1 200", 1000),
       "a member stopped mid-answer, probed")
    check(1.9 <= stall["took"] < 4.5, "EOF after Timeout (2 s), probed: %.2f s" % stall["took"])
    check("(the packet program framed it)" in hang["log"] + stall["log"],
          "kbald's log says the packet path ended them")


def test_packet_joined_flow_answers_408_to_a_slow_head():
    """A client sending a later request's head a byte at a time past
    RequestReadTimeout's header bound (2 s) on a joined flow: 408 as kbald's
    other paths answer it, then EOF, although bytes kept coming; the
    member's connection (which had the head's first bytes) is closed."""
    trickle = b"X-Slow: " + b"a" * 30
    packet = _late("packet", SLOW_LINE, trickle)
    others = {"copy": _late("off", SLOW_LINE, trickle),
              "sockmap": _late("sockmap", SLOW_LINE, trickle)}
    _as_other_paths(packet, others, 408, "a head past RequestReadTimeout")
    check(1.9 <= packet["took"] < 4.0, "408 after RequestReadTimeout (2 s): %.2f s" % packet["took"])
