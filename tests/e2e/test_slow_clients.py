# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Slow clients, as mod_reqtimeout bounds them (RequestReadTimeout), side by
side with Debian's apache2 loading it on the same configuration: a head or a
body that does not come in time gets 408 (a request line under way: the
connection just ends), a client that keeps its rate goes on; and idle
keep-alive connections end after KeepAliveTimeout. The same on connections
the kernel carries (kbald reads the kernel's clocks, kernel_clocks.c)."""

import re
import socket
import subprocess
import threading
import time

from apache import apache_beside
from kbaltest import EXAMPLE_CONF, Env, check, eq, wait_until, with_upgrade

CONF = EXAMPLE_CONF.replace(
    "LoadModule proxy_module",
    "LoadModule reqtimeout_module modules/mod_reqtimeout.so\nLoadModule proxy_module").replace(
    "ProxyRequests Off", "ProxyRequests Off\nRequestReadTimeout header=1-2,MinRate=500 "
    "body=1,MinRate=500\nKeepAliveTimeout 1")


def exchange(port, steps, limit=10.0, oks=1):
    """Send steps [(bytes, delay before)] from a thread while reading what
    comes back until the server closes or oks 200 answers came: (the status
    lines, or "closed" for none, and the seconds it took)."""
    got, took = exchange_raw(port, steps, limit, oks)
    lines = [l.decode() for l in re.findall(rb"HTTP/1.1 \d{3} [^\r]*", got)]
    return ", ".join(lines) or "closed", took


def exchange_raw(port, steps, limit=10.0, oks=1):
    """exchange(): the bytes that came back and the seconds it took"""
    s = socket.create_connection(("127.0.0.1", port), timeout=limit)
    start = time.monotonic()

    def feed():
        try:
            for data, delay in steps:
                time.sleep(delay)
                s.sendall(data)
        except OSError:
            pass                      # the server closed first: what is tested

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    got = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
            if len(re.findall(rb"HTTP/1.1 200 OK\r\n(?:.*\r\n)*?\r\n", got)) >= oks:
                break                 # keep-alive answers: nothing more to wait for
    except ConnectionResetError:
        pass
    finally:
        s.close()
    t.join(limit)
    return got, time.monotonic() - start


HEAD = b"GET /slow HTTP/1.1\r\nHost: x\r\n"
CASES = [
    # the request line, then nothing: the head did not come
    ("headers missing", [(b"GET /slow HTTP/1.1\r\n", 0)], "HTTP/1.1 408 Request Timeout"),
    # part of the request line: httpd ends the connection without a word
    ("request line under way", [(b"GET /sl", 0)], "closed"),
    # a header line a byte every 0.2 s (5 B/s, under MinRate): cut at header's max
    ("a head trickling", [(HEAD + b"X-A: ", 0)] + [(b"a", 0.2)] * 30,
     "HTTP/1.1 408 Request Timeout"),
    # a body that stops: 408 (the member had part of it)
    ("body stops", [(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123", 0)],
     "HTTP/1.1 408 Request Timeout"),
    # a body at 1,200 B/s, over MinRate=500: each 600 bytes buy 1.2 s
    ("body at its rate", [(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 3600\r\n\r\n", 0)] +
     [(b"b" * 600, 0.5)] * 6, "HTTP/1.1 200 OK"),
]


def test_request_read_timeout_as_apache():
    with Env(conf=CONF) as env, apache_beside(env) as aport:
        for name, steps, want in CASES:
            got = {}
            for server, port in (("Apache", aport), ("kbal", env.port)):
                got[server] = exchange(port, steps)
            eq(got["Apache"][0], want, "Apache: %s" % name)
            eq(got["kbal"][0], got["Apache"][0], "kbal against Apache: %s" % name)
            if want != "HTTP/1.1 200 OK":
                # cut by the bound, not before it (1 s at least)
                check(got["kbal"][1] >= 0.9, "%s: cut after %.2f s" % (name, got["kbal"][1]))
        check("did not come within RequestReadTimeout" in env.kbald_stderr(),
              "kbald's log says why")


COOKIE = b"Cookie: ROUTEID=route.1\r\n"
# the kernel paths: the packet path (the default) and sockmap
SPLICES = ("", "\nKbalSplice sockmap")


def spliced(conf, splice):
    return conf.replace("KeepAliveTimeout 1", "KeepAliveTimeout 1" + splice)
KEPT = b"GET /k1 HTTP/1.1\r\nHost: x\r\n" + COOKIE + b"\r\nGET /k2 HTTP/1.1\r\nHost: x\r\n" + COOKIE


def test_kept_connections_as_apache():
    # two requests first (kbal's kernel frames the connection from the
    # second on), then each slow case; and a connection left idle after
    # them: closed after KeepAliveTimeout
    ok2 = "HTTP/1.1 200 OK, HTTP/1.1 200 OK"
    cases = [("idle after two answers", [], ok2)]
    for name, steps, want in CASES:
        if want == "HTTP/1.1 200 OK":
            continue
        data, rest = steps[0][0], steps[1:]
        # the slow request sticks to the same member: the kernel keeps it
        data = data.replace(b"Host: x\r\n", b"Host: x\r\n" + COOKIE)
        cases.append((name, [(data, 0.5)] + rest,
                      ok2 if want == "closed" else ok2 + ", " + want))
    for splice in SPLICES:
        with Env(conf=spliced(CONF, splice), kbald_args=["-v"]) as env, \
                apache_beside(env) as aport:
            for name, steps, want in cases:
                name += splice.replace("\n", ", ")
                got = {}
                for server, port in (("Apache", aport), ("kbal", env.port)):
                    seen = len(kernel_ends(env))
                    got[server] = exchange(port, [(KEPT + b"\r\n", 0)] + steps, oks=3)
                eq(got["Apache"][0], want, "Apache: %s" % name)
                eq(got["kbal"][0], got["Apache"][0], "kbal against Apache: %s" % name)
                check(got["kbal"][1] >= 0.9, "%s: cut after %.2f s" % (name, got["kbal"][1]))
                # the connection was the kernel's when its bound ended it
                eq(len(kernel_ends(env)), seen + 1, "%s: ended by the kernel's clocks" % name)


# Header always rules on kbald's own 408 and 502, as httpd's ap_die() sends
# them, on connections the kernel carries as on kbald's own: a head not
# whole is read as the address's virtual host (c->base_server: x here, its
# rule) with no variable set (X-Unrouted), a request read whole has
# mod_proxy_balancer's variables (a body's 408, a member's answer not
# within Timeout: none of it). The kernel keeps the requests that name
# their route (the rule holds for none of them).
ALWAYS = CONF.replace("KeepAliveTimeout 1", "KeepAliveTimeout 1\nTimeout 2") + """\
<VirtualHost *>
ServerName x
Header always set X-Unrouted yes env=!BALANCER_NAME
</VirtualHost>
"""


def answers(port, steps, oks):
    """exchange()'s answers: [(status, X-Unrouted values)] (the status
    alone compared)"""
    got, _ = exchange_raw(port, steps, oks=oks)
    return [(int(code), re.findall(rb"(?im)^X-Unrouted: *([^\r]*)\r$", head))
            for code, head in re.findall(rb"HTTP/1.1 (\d{3}) [^\r]*\r\n((?:[^\r]+\r\n)*)\r\n",
                                         got)]


def test_header_always_on_the_408_and_502_as_apache():
    hang = b"GET /fault-hang HTTP/1.1\r\nHost: x\r\n" + COOKIE + b"\r\n"
    body = b"POST /slow HTTP/1.1\r\nHost: x\r\n" + COOKIE + b"Content-Length: 100\r\n\r\n0123"
    ok = (200, [])
    cases = [
        ("kbald's own: headers missing", [(HEAD, 0)], 1, [(408, [b"yes"])]),
        ("kbald's own: no answer within Timeout", [(hang, 0)], 1, [(502, [])]),
        ("the kernel's: headers missing", [(KEPT + b"\r\n", 0), (HEAD + COOKIE, 0.5)], 3,
         [ok, ok, (408, [b"yes"])]),
        ("the kernel's: body stops", [(KEPT + b"\r\n", 0), (body, 0.5)], 3,
         [ok, ok, (408, [])]),
        ("the kernel's: no answer within Timeout", [(KEPT + b"\r\n", 0), (hang, 0.5)], 3,
         [ok, ok, (502, [])]),
    ]
    for splice in SPLICES:
        with Env(conf=spliced(ALWAYS, splice), kbald_args=["-v"]) as env, \
                apache_beside(env) as aport:
            theirs, ours = {}, {}
            for name, steps, oks, want in cases:
                theirs[name] = answers(aport, steps, oks)
                eq(theirs[name], want, "Apache: %s" % name)
                seen = len(kernel_ends(env))
                ours[name] = answers(env.port, steps, oks)
                eq(len(kernel_ends(env)), seen + (oks > 1),
                   "%s: the kernel's clocks%s" % (name, splice.replace("\n", ", ")))
            eq(ours, theirs, "kbal against Apache" + splice.replace("\n", ", "))


def kernel_ends(env):
    """kbald's lines for connections a kernel path's clocks ended: the
    sockmap path's (kernel_clocks.c) and the packet path's, the default's
    (packet_clocks.c); on the packet path, a head or a body not whole in
    its segment is given back to kbald at its first byte (packet.md, "A
    segment's first byte only"), whose own clock then answers it as httpd
    (kbald -v's line for that)"""
    return [l for l in env.kbald_stderr().splitlines()
            if "(the kernel framed it)" in l or "idle for KeepAliveTimeout" in l or
            "(the packet program framed it)" in l or "idle past KeepAliveTimeout" in l or
            "joined flow given back at a request" in l]


def test_a_client_that_sends_nothing():
    # accepted at its handshake (AcceptFilter http none), closed without a
    # word after Timeout, as httpd closes one (its RequestReadTimeout clock
    # starts at the first byte)
    conf = CONF.replace("KeepAliveTimeout 1", "KeepAliveTimeout 1\nTimeout 2\n"
                        "AcceptFilter http none")
    with Env(conf=conf) as env:
        got, took = exchange(env.port, [])
        eq(got, "closed", "a client that sent nothing")
        check(took >= 1.9, "closed after %.2f s, before Timeout" % took)


def server_states(port):
    """The states of the server's sockets of port's connections, as ss
    shows them (a request socket is SYN-RECV): {state: count}."""
    out = subprocess.run(["ss", "-Htan", "sport = :%d" % port], stdout=subprocess.PIPE,
                         timeout=10).stdout.decode()
    states = {}
    for line in out.splitlines():
        st = line.split()[0]
        if st != "LISTEN":
            states[st] = states.get(st, 0) + 1
    return states


def test_accept_filter_data_as_httpd():
    # httpd's default on Linux (AcceptFilter http data: TCP_DEFER_ACCEPT of
    # 30 s): a client whose handshake is done but who sent nothing is not
    # accepted yet, by kbald as by apache2 beside it; its first bytes make
    # it one, served at once. With AcceptFilter http none, accepted at the
    # handshake.
    with Env(conf=CONF) as env, apache_beside(env) as aport:
        for port in (env.port, aport):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                time.sleep(0.5)
                eq(server_states(port), {"SYN-RECV": 1}, "port %d: a silent client" % port)
                s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\nCookie: ROUTEID=route.1\r\n"
                          b"Connection: close\r\n\r\n")
                got = b""
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    got += d
                check(got.startswith(b"HTTP/1.1 200 "), "port %d: %r" % (port, got[:80]))
    conf = CONF.replace("KeepAliveTimeout 1", "KeepAliveTimeout 1\nAcceptFilter http none")
    with Env(conf=conf) as env:
        with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
            wait_until(lambda: server_states(env.port) == {"ESTAB": 1}, 5.0,
                       "AcceptFilter http none: accepted at the handshake")



def test_a_slow_reader_keeps_its_answer():
    # a 20 MB answer on a connection the kernel carries, read slowly over
    # longer than KeepAliveTimeout: the member's side ended long before the
    # client has it all (the psock holds it), and the connection stays
    # until the client has it, as httpd's keep-alive clock starts after
    # the write
    conf = CONF.replace("KeepAliveTimeout 1", "KeepAliveTimeout 1\nTimeout 30")
    with Env(conf=conf) as env:
        with env.connect(rcvbuf=65536) as c:
            c.get("/k1", cookie="ROUTEID=route.1")
            c.get("/k2", cookie="ROUTEID=route.1")
            c.request("GET", "/bytes/20000000", headers=[("Cookie", "ROUTEID=route.1")])
            time.sleep(3.0)                   # past KeepAliveTimeout, nothing read
            r = c.read_response()
            eq((r.status, len(r.body)), (200, 20000000), "the whole answer, read late")


def test_a_client_that_never_reads_is_cut_after_timeout():
    # the member's whole answer is in the kernel's hands (the client's psock
    # and send queue) and the client takes none of it: httpd gives a write
    # up after Timeout without progress; so does kbald, and the connection
    # and its entries go. One that reads slowly but steadily keeps going.
    # On the sockmap path (the packet path's, the default's: below)
    never_reads(spliced(CONF, "\nKbalSplice sockmap"),
                "took nothing of its answer for Timeout")


def test_a_client_that_never_reads_is_cut_after_timeout_on_the_packet_path():
    # the same on the packet path, the default: the client's acknowledgement
    # stopped behind the member's bytes for Timeout (the flow is not quiet:
    # the member's zero-window probes and the client's answers to them;
    # before, kbald waited for those to come Timeout apart and took the
    # client for a member that stopped mid-answer: a FIN and a 30 s
    # lingering close, with the default Timeout minutes late)
    never_reads(CONF, "took nothing of its answer for Timeout (the packet program carried it)")


def never_reads(conf, said):
    conf = conf.replace("KeepAliveTimeout 1", "KeepAliveTimeout 1\nTimeout 2")
    with Env(conf=conf, kbald_args=["-v"]) as env:
        with env.connect(rcvbuf=65536) as slow, env.connect(rcvbuf=65536) as stuck:
            for c in (slow, stuck):
                c.get("/k1", cookie="ROUTEID=route.1")
                c.get("/k2", cookie="ROUTEID=route.1")
            eq(len(env.flows()), 2, "flows the kernel carries")
            stuck.request("GET", "/bytes/8000000", headers=[("Cookie", "ROUTEID=route.1")])
            slow.request("GET", "/bytes/3000000", headers=[("Cookie", "ROUTEID=route.1")])
            # 3 MB at 100 KB per 0.2 s: 6 s, past Timeout and
            # KeepAliveTimeout, never 2 s without progress
            got, start = b"", time.monotonic()
            slow.sock.settimeout(5.0)
            while len(got.partition(b"\r\n\r\n")[2]) < 3000000 and \
                    time.monotonic() - start < 30:
                chunk = slow.sock.recv(100000)
                if not chunk:
                    break
                got += chunk
                time.sleep(0.2)
            check(time.monotonic() - start > 4.0, "the slow read took only %.1f s"
                  % (time.monotonic() - start))
            head, _, body = got.partition(b"\r\n\r\n")
            check(head.startswith(b"HTTP/1.1 200"), "the slow reader's answer: %r" % head[:60])
            eq(len(body), 3000000, "the slow reader's body")
            # by now (6 s) the stuck one has been cut, not the slow one
            wait_until(lambda: said in env.kbald_stderr(), 6.0, "kbald cutting the stuck client")
            eq(env.kbald_stderr().count(said), 1, "clients cut")
            stuck.sock.settimeout(5.0)
            n = 0
            try:
                while True:
                    chunk = stuck.sock.recv(1 << 20)
                    if not chunk:
                        break
                    n += len(chunk)
            except (ConnectionResetError, socket.timeout):
                pass
            check(n < 8000000, "the stuck client read %d bytes after the cut" % n)


def tunnel_life(port, busy_s):
    """An Upgrade tunnel on a fresh connection, echoing 10 bytes every
    0.25 s for busy_s, then idle: seconds from the last byte to the close."""
    from kbaltest import Conn, ws_upgrade
    with Conn(port, timeout=15) as c:
        eq(ws_upgrade(c).status, 101, "the tunnel's status")
        end = time.monotonic() + busy_s
        while time.monotonic() < end:
            c.sock.sendall(b"x" * 10)
            got = b""
            while len(got) < 10:
                chunk = c.sock.recv(10 - len(got))
                check(chunk, "the tunnel closed while busy")
                got += chunk
            time.sleep(0.25)
        last = time.monotonic()
        try:
            eq(c.sock.recv(100), b"", "the end of the idle tunnel")
        except ConnectionResetError:
            pass
        return time.monotonic() - last


def test_an_idle_tunnel_ends_after_timeout():
    # httpd's proxy tunnel (Debian's apache2 2.4 with upgrade=websocket,
    # Timeout 2, by hand: an idle WebSocket closed after 2.0 s, one echoing
    # every 0.5 s for 4 s closed ~2 s after its last byte): kbal's, carried
    # by the kernel (sockmap) or copied by kbald (KbalSplice off), the same
    for extra in ("", "KbalSplice off\n"):
        conf = EXAMPLE_CONF.replace("ProxyRequests Off", "ProxyRequests Off\nTimeout 2\n" + extra)
        conf = with_upgrade(conf)
        with Env(conf=conf) as env:
            idle = tunnel_life(env.port, 0)
            check(1.9 <= idle <= 4.5, "%san idle tunnel closed after %.1f s" % (extra, idle))
            busy = tunnel_life(env.port, 4.0)
            check(1.9 <= busy <= 4.5, "%sa busy tunnel closed %.1f s after its last byte"
                  % (extra, busy))
            eq(env.kbald_stderr().count("carried nothing either way for Timeout"), 2,
               "tunnels kbald closed")


def test_no_bound_fires_under_load():
    # kbald reads the kernel's clocks (bpf_ktime) against its loop's time,
    # which the kernel's may pass between a wake-up and the look: busy
    # connections the kernel frames must never count as late (a version
    # that did answered ~10 requests a second with 502 under load)
    import json
    import os
    import subprocess
    from kbaltest import BUILD, kernel_keeps_unrouted
    load = os.path.join(BUILD, "kbal-load")
    with Env(conf=kernel_keeps_unrouted(EXAMPLE_CONF)) as env:
        p = subprocess.run([load, "127.0.0.1:%d" % env.port, "--conns", "50", "--requests",
                            "100000", "--duration", "4"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode()
        m = json.loads(out.split("KBAL_BENCH ", 1)[1])
        check(m["requests"] > 1000, "requests done: %s" % out.strip())
        eq((m["err_status"], m["err_read"], m["err_connect"]), (0, 0, 0),
           "status, read and connect errors: %s" % out.strip())
        check(env.stats()["kept"] > 1000, "the kernel framed the requests")
        check("did not come within" not in env.kbald_stderr() and
              "KeepAliveTimeout" not in env.kbald_stderr(), "a bound fired:\n" + env.kbald_stderr())
