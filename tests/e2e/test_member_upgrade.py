# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""What an Upgrade request gets where no tunnel opens, and the end of a
tunnel the member resets, side by side with Debian's apache2 (issue 17).

A member's 101 must name, but for case, the Upgrade the request took to it
(mod_proxy_http's req->upgrade: the client's, where the member's upgrade=
lets it through): ap_proxy_http_process_response() answers any other 101
(another protocol, no Upgrade line, or a 101 to a request that took none)
with mod_proxy's 502, "Unexpected Upgrade: THEIRS (expecting OURS)" in
its page, the member's connection closed, the client's going on. kbald
passed such a 101 on and opened the tunnel.

And a 502 of mod_proxy's to an Upgrade request (the member closed without
an answer, or sent a line httpd cannot read) leaves the client's
connection open as for any other request: httpd's ap_set_keepalive() looks
for "close" in the request's Connection, not for "Upgrade"; kbald ended
it. On the copy path against apache2; on both kernel paths (the sockmap
path hands a 101 back, the packet path gives the flow back at its first
byte; an Upgrade request is kbald's on both) against the same literals.

A member that ends a tunnel with the client's bytes unread in its socket
resets it (Linux's close()): httpd's ap_proxy_tunnel_run() bails out at
the failed read, and the client's connection ends with its lingering
close, a FIN; kbald reset the client's, copied or spliced."""

from apache import apache_beside
import time

from kbaltest import EXAMPLE_CONF, Conn, Env, check, eq, with_upgrade
from test_member_dates import COOKIE, members
from test_member_heads import CONF as SOCKMAP_CONF
from test_member_refused import (OK, SWITCH, answer, answer_read, carried_by_the_kernel,
                                 final_head, shape)
from test_packet_decided import decided_conf
from tcp_watch import Capture

# the member's answer by the path's first segment: a 101 naming a
# protocol (None: without an Upgrade line), the tunnel's bytes, its close
SWITCHES = {"ws": b"websocket", "WS": b"WebSocket", "h2c": b"h2c", "noup": None}

# (case, the request's Upgrade, the status, the reason in the 502's page:
# None, httpd's own page). upgrade=websocket on each member: "h2c" is
# dropped from the request, which then took none
CASES = [
    ("h2c", "websocket", 502, "Unexpected Upgrade: h2c (expecting websocket)"),
    ("noup", "websocket", 502, "Unexpected Upgrade: n/a (expecting websocket)"),
    ("ws", None, 502, "Unexpected Upgrade: websocket (expecting n/a)"),
    ("ws", "h2c", 502, "Unexpected Upgrade: websocket (expecting n/a)"),
    ("WS", "websocket", 101, None),
    ("close", "websocket", 502, "Error reading from remote server"),
    ("nocolon", "websocket", 502, None),
]

CONF = with_upgrade(EXAMPLE_CONF).replace("ProxySet lbmethod=byrequests",
                                          "ProxySet lbmethod=byrequests\nKbalSplice off")


def member(backend):
    def respond(h, n):
        path = h.split(b" ")[1]
        case = path.split(b"/")[1].decode()
        body = b"%s %s\n" % (backend, path)
        if case in SWITCHES:
            up = SWITCHES[case]
            return [SWITCH + (b"Upgrade: %s\r\n" % up if up else b"") +
                    b"Connection: Upgrade\r\n\r\n", b"tunnel", None]
        if case == "close":
            return [b"", None]
        if case == "rst":
            # the tunnel's bytes, then the close 0.4 s later, what the
            # client sent meanwhile unread: a reset
            return [SWITCH + b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                    b"tunnel", b"", None]
        if case == "nocolon":
            return final_head(backend, body, b"NoColon\r\n") + body
        return final_head(backend, body) + body
    return respond


def ask_upgrade(c, path, up, cookie=COOKIE):
    """path asked on Conn c with Upgrade: up; its answer's head in c.buf"""
    c.request("GET", path, headers=[("Cookie", cookie), ("Upgrade", up),
                                    ("Connection", "Upgrade")])
    while b"\r\n\r\n" not in c.buf:
        check(c._fill(), "EOF within an answer's head (got %r)" % bytes(c.buf))


def upgraded(c, path, up, cookie=COOKIE):
    """path asked on Conn c with Upgrade: up (None: an ordinary request):
    a 101 and all that follows it to the end, or answer()'s (bytes,
    whether the connection ended)"""
    if up is None:
        return answer(c, path, cookie)
    ask_upgrade(c, path, up, cookie)
    if c.buf.startswith(SWITCH):
        return c.read_until_eof(), True
    return answer_read(c)


def want(case, status, why, got, what):
    """got is the case's answer as httpd gives it (literals): a 101 and the
    tunnel, or a 502 with why in its page, after which the connection goes on"""
    data, ended = got
    if status == 101:
        eq(data, SWITCH + b"Connection: Upgrade\r\nUpgrade: %s\r\n\r\ntunnel" %
           SWITCHES[case], what)
        return
    eq(data.split(b"\r\n")[0], b"HTTP/1.1 502 Proxy Error" if why else
       b"HTTP/1.1 502 Bad Gateway", what + ": the status line")
    if why:
        check(b"<strong>%s</strong>" % why.encode() in data, "%s: %r in %r" % (what, why, data))
    check(not ended, what + ": the connection goes on")


def test_upgrade_unmatched_as_apache():
    """the copy path, a connection's first request and a later one, against
    Debian's apache2 and the literals: each case's status line, lines,
    page, and the connection's end (a request after it answered)"""
    with Env(conf=CONF, backends=()) as env:
        m1, m2 = members(env, member)
        with m1, m2, apache_beside(env) as aport:
            for case, up, status, why in CASES:
                # a member's close on a later request ends the client's
                # connection without an answer (exch_member_failed())
                for later in (False, True) if case != "close" else (False,):
                    got = {}
                    for port, who in ((aport, "Apache"), (env.port, "kbal")):
                        what = "%s's /%s/1 (Upgrade: %s)%s" % (
                            who, case, up, ", a later request" if later else "")
                        with Conn(port, timeout=10) as c:
                            if later:
                                eq(answer(c, "/canon/0")[0][:17], OK, what + ": the one before")
                            got[who] = upgraded(c, "/%s/1" % case, up)
                            want(case, status, why, got[who], what)
                            if not got[who][1]:
                                eq(answer(c, "/canon/2")[0][:17], OK, what + ": the request after")
                    eq(shape(got["kbal"]), shape(got["Apache"]),
                       "kbal's /%s/1 (Upgrade: %s) against Apache's" % (case, up))


def test_upgrade_members_down_as_apache():
    """an Upgrade request with every member down: mod_proxy's 503, whose
    status ends the connection (ap_status_drops_connection()), as from
    Debian's apache2"""
    with Env(conf=CONF, backends=()) as env:
        with apache_beside(env) as aport:
            got = {}
            for port, who in ((aport, "Apache"), (env.port, "kbal")):
                with Conn(port, timeout=10) as c:
                    ask_upgrade(c, "/down/1", "websocket")
                    got[who] = answer_read(c)
                    eq(got[who][0].split(b"\r\n")[0], b"HTTP/1.1 503 Service Unavailable",
                       who + "'s status line")
                    check(got[who][1], who + ": the connection ends")
            eq(shape(got["kbal"]), shape(got["Apache"]), "kbal's 503 against Apache's")


def test_upgrade_unmatched_kernel_paths():
    """a connection the kernel carried (sockmap: after kept requests;
    packet: a decided joined flow): a 101 to a request the kernel kept
    (one without Upgrade) is handed back, and refused as httpd refuses
    it; so is a 101 to an Upgrade request (kbald's) that names another
    protocol; the connection goes on, the kernel's again"""
    for conf in (SOCKMAP_CONF, decided_conf(EXAMPLE_CONF)):
        with Env(conf=with_upgrade(conf), backends=()) as env:
            m1, m2 = members(env, member)
            with m1, m2:
                for case, up, status, why in CASES:
                    if status == 101 or case == "close":
                        continue   # test_member_refused's; a later request's close: ended
                    with env.connect(timeout=10) as c:
                        cookie, back = carried_by_the_kernel(env, c, conf)
                        what = "/%s/1 (Upgrade: %s, %s)" % (case, up, back)
                        st0 = env.stats()
                        want(case, status, why, upgraded(c, "/%s/1" % case, up, cookie),
                             what)
                        eq(env.stats()[back] - st0[back], 1, what + ": kbald's")
                        for p in ("/canon/a", "/canon/b"):
                            eq(answer(c, p, cookie)[0][:17], OK, "%s after %s" % (p, what))


def tunnel_end(port, member_ports):
    """a tunnel on port whose member resets it (/rst/): the client sends
    into it at once; what reaches the client, and how its connection ends
    ("FIN" or "RST"); that the member's end was a reset is checked"""
    cap = Capture(member_ports)
    try:
        with Conn(port, timeout=10) as c:
            ask_upgrade(c, "/rst/1", "websocket")
            c.send(b"hello")
            data, end = c.read_to_end()
    finally:
        time.sleep(0.3)   # the capture's last packets
        cap.close()
    check(any(p[2] in member_ports and p[7] & 4 for p in cap.pkts),
          "the member reset its end: %r" % [(p[2], p[4], p[7]) for p in cap.pkts])
    return data, end


def test_tunnel_member_reset_as_apache():
    """the client's connection after a member reset the tunnel: a FIN after
    the tunnel's bytes, as from Debian's apache2, on the copy path and on
    the kernel paths' configurations (sockmap: the tunnel spliced)"""
    want = (SWITCH + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\ntunnel", "FIN")
    with Env(conf=CONF, backends=()) as env:
        m1, m2 = members(env, member)
        ports = (env.ports["b1"], env.ports["b2"])
        with m1, m2, apache_beside(env) as aport:
            eq(tunnel_end(aport, ports), want, "Apache's")
            eq(tunnel_end(env.port, ports), want, "kbal's, copied")
    for conf in (SOCKMAP_CONF, decided_conf(EXAMPLE_CONF)):
        with Env(conf=with_upgrade(conf), backends=()) as env:
            m1, m2 = members(env, member)
            with m1, m2:
                eq(tunnel_end(env.port, (env.ports["b1"], env.ports["b2"])), want,
                   "kbal's, %s" % ("sockmap" if "KbalSplice sockmap" in conf else "packet"))


def test_upgrade_refused_counts_for_max_keepalive_as_apache():
    """MaxKeepAliveRequests 1: an Upgrade request the member answers 200,
    or mod_proxy refuses with a 502, counts as any other (httpd's
    ap_set_keepalive() counts every request it keeps the connection
    after): past the one kept request, it is the connection's last,
    answered with Connection: close, as from Debian's apache2; a 101
    opens its tunnel all the same"""
    conf = CONF.replace("ProxyPreserveHost On", "ProxyPreserveHost On\nMaxKeepAliveRequests 1")
    with Env(conf=conf, backends=()) as env:
        m1, m2 = members(env, member)
        with m1, m2, apache_beside(env) as aport:
            for case in ("canon", "h2c", "WS"):
                got = {}
                for port, who in ((aport, "Apache"), (env.port, "kbal")):
                    what = "%s's /%s/1 (Upgrade: websocket), the second request" % (who, case)
                    with Conn(port, timeout=10) as c:
                        eq(answer(c, "/canon/0")[0][:17], OK, what + ": the one before")
                        got[who] = upgraded(c, "/%s/1" % case, "websocket")
                        check(got[who][1], what + ": the connection's last")
                eq(shape(got["kbal"]), shape(got["Apache"]),
                   "kbal's /%s/1 against Apache's" % case)
