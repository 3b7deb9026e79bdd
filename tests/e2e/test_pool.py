# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Kept member connections (user/pool.h): a one-request client's request
(Connection: close) goes out on a connection kept from an earlier one, as
Apache's mod_proxy reuses its backend connections; disablereuse=On, max=
and ttl= as there; a kept connection the member closes goes at once, one it
closes under a request has the request sent again, those of a member out of
service go within a second."""

import select
import socket
import struct
import subprocess
import threading
import time

from apache import apache_beside
from kbaltest import EXAMPLE_CONF, HOST, Conn, Env, check, check_pattern, eq, wait_until
from test_linger import at_once, pooled, sends_until_reset

MiB = 1 << 20
CLOSE = [("Connection", "close")]
ONE_MEMBER = EXAMPLE_CONF.replace("BalancerMember http://127.0.0.1:{b2} route=2\n", "")


def sockets_to(port, state="established", side="dport"):
    """Connections to 127.0.0.1:port in a TCP state, seen from the
    connecting side (kbald's, for a member's port), or with side "sport"
    from the listener's (the member's own)."""
    out = subprocess.run(["ss", "-Htn", "state", state, "%s = :%d" % (side, port)],
                         stdout=subprocess.PIPE, check=True, timeout=10).stdout.decode()
    return len(out.splitlines())


def get_once(env, path, method="GET", headers=()):
    """One request on its own connection, Connection: close; checks that
    kbald says so and closes."""
    with env.connect() as c:
        c.request(method, path, list(headers) + CLOSE)
        r = c.read_response(method=method)
        eq(r.header("Connection"), "close", "Connection header of %s %s" % (method, path))
        check(c.at_eof(2.0), "no EOF after %s %s" % (method, path))
        return r


class ScriptedMember:
    """A member on 127.0.0.1:port; the k-th request (from 1) of its n-th
    connection (from 1) gets script(n, k): "answer", "chunked" (the same,
    chunked), "close" (closes without answering: its keep-alive timeout
    meeting the request) or "reset". idle_close: it closes a connection
    idle this long (seconds)."""

    def __init__(self, port, script=lambda n, k: "answer", idle_close=None):
        self.script = script
        self.idle_close = idle_close
        self.log = []            # (connection, request, path)
        self.conns = 0
        self.stop = False
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, port))
        self.lsock.listen(64)
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.lsock.close()
        for t in self.threads:
            t.join(5)
        return False

    def _accept(self):
        while not self.stop:
            try:
                if not select.select([self.lsock], [], [], 0.1)[0]:
                    continue
                s, _ = self.lsock.accept()
            except OSError:
                return
            self.conns += 1
            t = threading.Thread(target=self._serve, args=(s, self.conns), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, s, n):
        buf, k = b"", 0
        idle_since = time.monotonic()
        try:
            while not self.stop:
                if b"\r\n\r\n" not in buf:
                    if not select.select([s], [], [], 0.05)[0]:
                        if self.idle_close and time.monotonic() - idle_since > self.idle_close:
                            return
                        continue
                    data = s.recv(65536)
                    if not data:
                        return
                    buf += data
                    continue
                head, _, buf = buf.partition(b"\r\n\r\n")
                k += 1
                path = head.split(b" ")[1].decode()
                self.log.append((n, k, path))
                what = self.script(n, k)
                body = b"conn=%d req=%d" % (n, k)
                if what == "answer":
                    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                elif what == "chunked":
                    s.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
                elif what == "reset":
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                else:
                    return
                idle_since = time.monotonic()
        except OSError:
            pass
        finally:
            s.close()


def test_one_request_clients_share_member_connections():
    with Env() as env:
        for i in range(20):
            r = get_once(env, "/p%d" % i)
            eq(r.status, 200, "status %d" % i)
            check(r.text.endswith("path=/p%d\n" % i), "body %d: %r" % (i, r.text))
        r = get_once(env, "/h", method="HEAD")
        eq((r.status, r.body), (200, b""), "HEAD on a kept connection")
        r = get_once(env, "/bytes/%d" % MiB)
        eq(len(r.body), MiB, "1 MiB on a kept connection")
        check_pattern(r.body, "1 MiB on a kept connection")
        r = get_once(env, "/echo-headers")
        # (httpd's "Connection: Keep-Alive" in its place: test_http10.py)
        check("connection: close" not in r.text.lower() and
              "connection: keep-alive" in r.text.lower(),
              "the member saw the client's Connection header: %r" % r.text)
        ms = env.members()
        # byrequests alternates: the first request to each member connects
        eq(sorted(m["reused"] for m in ms.values()), [10, 11], "requests on kept connections")
        for n in (1, 2):
            eq(env.member(n)["idle"], 1, "member %d: kept connections" % n)
            eq(env.member(n)["busy"], 0, "member %d: busy" % n)
            eq(sockets_to(env.ports["b%d" % n]), 1, "kbald's connections to member %d" % n)
        eq(env.flows(), [], "kbal_flows after the clients left")
        # a keep-alive client with the route's cookie: kbald serves its
        # first request on a kept connection too; its second gets a
        # connection of its own, handed over with the client's
        with env.connect() as c:
            c.get("/ka1", cookie="ROUTEID=route.1")
            eq(sum(m["reused"] for m in env.members().values()), 22,
               "a keep-alive client's first request on a kept connection")
            c.get("/ka2", cookie="ROUTEID=route.1")
            eq(sum(m["reused"] for m in env.members().values()), 22,
               "its second request on a connection of its own")
        # one without: each answer needs the Set-Cookie kbald adds, so
        # kbald decides each request (decide.h), every one on a kept
        # connection, none handed over
        with env.connect() as c:
            for i in range(3):
                c.get("/nc%d" % i)
                eq(sum(m["reused"] for m in env.members().values()), 23 + i,
                   "request %d without a cookie on a kept connection" % (i + 1))


def test_two_request_connections_are_served_on_kept_connections():
    """A keep-alive client that sends two requests, the second with
    Connection: close (a browser's short connection): kbald serves both
    itself on the members' kept connections, routed one by one as Apache
    routes them, and hands nothing over; the member connections outlive the
    clients'."""
    with Env() as env:
        for i in range(10):
            with env.connect() as c:
                r1 = c.get("/a%d" % i)
                r2 = c.get("/b%d" % i, headers=[("Connection", "close")])
                eq((r1.status, r2.status), (200, 200), "statuses of client %d" % i)
                check(r1.header("Connection") is None,
                      "the first answer keeps the client's connection: %r" % r1.headers)
                eq(r2.header("Connection"), "close", "the second answer ends it")
                check(c.at_eof(2.0), "client %d's connection closed after its second" % i)
            # both member connections kept (given back in the turn kbald
            # writes an answer's end; the next client may come sooner)
            wait_until(lambda: sum(m["idle"] for m in env.members().values()) == 2, 2.0,
                       "two kept member connections after client %d" % i)
        ms = env.members()
        # byrequests alternates over every request: ten to each member
        eq(sorted(len(env.backend_log(n)) for n in (1, 2)), [10, 10], "requests per member")
        # two connections made (one per member), the other 18 requests on them
        eq(sum(m["reused"] for m in ms.values()), 18, "requests on kept connections")
        for n in (1, 2):
            eq(sockets_to(env.ports["b%d" % n]), 1, "kbald's connections to member %d" % n)
        eq(env.stats()["pkt_rewritten"] + env.stats()["redirected_bytes"], 0,
           "nothing handed to the kernel")
        eq(env.flows(), [], "kbal_flows after the clients left")


def test_disablereuse_closes_after_each_request():
    conf = (EXAMPLE_CONF.replace("route=1", "route=1 disablereuse=On")
            .replace("route=2", "route=2 enablereuse=Off"))
    with Env(conf=conf) as env:
        for i in range(6):
            eq(get_once(env, "/d%d" % i).status, 200, "status %d" % i)
        r = get_once(env, "/echo-headers")
        check("connection: close" in r.text.lower(),
              "the client's Connection: close did not reach the member: %r" % r.text)
        for n in (1, 2):
            m = env.member(n)
            eq((m["idle"], m["reused"]), (0, 0), "member %d: idle, reused" % n)
        wait_until(lambda: sockets_to(env.ports["b1"]) + sockets_to(env.ports["b2"]) == 0,
                   2.0, "no connection left to the members")


def test_max_and_ttl():
    # /slow-head holds its answer 300 ms: three clients at once need three
    # connections, of which max=1 is kept, for ttl=1 s
    conf = ONE_MEMBER.replace("route=1", "route=1 max=1 ttl=1")
    with Env(conf=conf, backends=(1,)) as env:
        got = []
        ts = [threading.Thread(target=lambda: got.append(get_once(env, "/slow-head").status))
              for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(10)
        eq(got, [200] * 3, "three clients at once")
        eq(env.member(1)["idle"], 1, "kept connections with max=1")
        eq(sockets_to(env.ports["b1"]), 1, "kbald's connections to the member")
        wait_until(lambda: env.member(1)["idle"] == 0, 3.0, "the kept connection to go (ttl=1)")
        wait_until(lambda: sockets_to(env.ports["b1"]) == 0, 2.0,
                   "kbald's connection to go after its ttl")
        eq(get_once(env, "/after").status, 200, "a request after the ttl")


def test_member_closing_a_kept_connection():
    with Env(conf=ONE_MEMBER, backends=()) as env:
        with ScriptedMember(env.ports["b1"], idle_close=0.2) as m:
            eq(get_once(env, "/a").body, b"conn=1 req=1", "first request")
            eq(env.member(1)["idle"], 1, "kept")
            # the member's keep-alive timeout: kbald hears its FIN at once
            wait_until(lambda: env.member(1)["idle"] == 0, 2.0, "the closed connection to go")
            eq(sockets_to(env.ports["b1"], "close-wait"), 0, "kbald sockets left in CLOSE-WAIT")
            eq(get_once(env, "/b").body, b"conn=2 req=1", "the next request, on a new connection")
            eq(m.conns, 2, "connections the member saw")


def test_kept_connection_closed_under_the_request_is_retried():
    # connection 1 answers once, then closes when the next request comes
    # (FIN), connection 2 answers once and resets (RST), 3 answers; the
    # retried requests reach their member twice, the client once
    def script(n, k):
        return "answer" if k == 1 or n >= 3 else "close" if n == 1 else "reset"

    with Env(conf=ONE_MEMBER, backends=()) as env:
        with ScriptedMember(env.ports["b1"], script) as m:
            eq(get_once(env, "/a").body, b"conn=1 req=1", "first request")
            r = get_once(env, "/b")
            eq((r.status, r.body), (200, b"conn=2 req=1"), "after a FIN under the request")
            r = get_once(env, "/c")
            eq((r.status, r.body), (200, b"conn=3 req=1"), "after a RST under the request")
            eq(m.log, [(1, 1, "/a"), (1, 2, "/b"), (2, 1, "/b"), (2, 2, "/c"), (3, 1, "/c")],
               "what the member saw")
            eq(env.member(1)["status"] & 4, 0, "member put in error")
            eq(env.member(1)["reused"], 2, "requests sent on kept connections")


def test_non_idempotent_takes_a_new_connection():
    # a POST might have been acted on when a kept connection drops under
    # it (RFC 9110 9.2.2): it never takes one, its own is kept after
    with Env(conf=ONE_MEMBER, backends=()) as env:
        with ScriptedMember(env.ports["b1"], lambda n, k: "chunked") as m:
            eq(get_once(env, "/a").body, b"conn=1 req=1", "GET")
            r = get_once(env, "/p", method="POST", headers=[("Content-Length", "0")])
            eq(r.body, b"conn=2 req=1", "POST on a new connection")
            # the newest kept connection goes first, again and again: the
            # chunked answers ended where they should, it stays clean
            eq(get_once(env, "/c").body, b"conn=2 req=2", "GET after the POST")
            # both given back (kbald does it in the turn it writes the
            # answer's end; the client may be faster than that turn)
            wait_until(lambda: env.member(1)["idle"] == 2, 2.0, "two kept connections")
            eq(get_once(env, "/d").body, b"conn=2 req=3", "GET on the newest again")
            eq(m.conns, 2, "connections the member saw")
            # given back right after the answer went out: in kbald's turn
            wait_until(lambda: env.member(1)["idle"] == 2, 1.0, "two kept connections")


def test_disabled_member_gives_back_its_kept_connections():
    # a member taken out of service (kbalctl, the manager's map) gets no
    # request: its kept connections are closed within a second or so
    with Env() as env:
        for i in range(4):
            eq(get_once(env, "/k%d" % i).status, 200, "request %d" % i)
        eq(env.member(1)["idle"], 1, "kept connections of member 1")
        env.kbalctl("set", "mycluster", "1", "status=+D")
        wait_until(lambda: env.member(1)["idle"] == 0, 3.0, "member 1's kept connection to go")
        wait_until(lambda: sockets_to(env.ports["b1"]) == 0, 2.0,
                   "kbald's connection to the disabled member to close")
        eq(env.member(2)["idle"], 1, "member 2 keeps its own")
        env.kbalctl("set", "mycluster", "1", "status=-D")
        eq(get_once(env, "/after").status, 200, "a request once member 1 is back")


def test_kbalctl_and_manager_show_the_pool():
    with Env() as env:
        for i in range(6):
            eq(get_once(env, "/s%d" % i).status, 200, "request %d" % i)
        rows = [l.split() for l in env.kbalctl("members").splitlines()]
        eq(rows[0][-2:], ["IDLE", "REUSED"], "kbalctl members columns")
        for row in rows[1:]:
            eq(row[-2:], ["1", "2"], "route %s: idle, reused" % row[1])
        page = get_once(env, "/balancer-manager").text
        check("<th>Idle</th><th>Reused</th>" in page, "no Idle/Reused columns on the manager page")
        check(page.count('<td>1</td><td>2</td><td class="changed"></td></tr>') == 2,
              "idle 1, reused 2 for both members on the manager page:\n%s" % page)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int([l.split()[1] for l in f if l.startswith("VmRSS:")][0])


def test_idle_keep_alive_clients_cost_no_buffers():
    """Keep-alive clients waiting for their next request after the one kbald
    served itself hold no buffers (72 KiB each during an exchange): 300 of
    them grow kbald by little, and each is served again when it asks."""
    with Env() as env:
        conns = [env.connect(timeout=10) for _ in range(300)]
        try:
            for i, c in enumerate(conns[:20]):
                eq(c.get("/warm%d" % i).status, 200, "warm-up %d" % i)
            before = rss_kib(env.kbald.pid)
            for i, c in enumerate(conns[20:]):
                eq(c.get("/a%d" % i).status, 200, "request %d" % i)
            grown = rss_kib(env.kbald.pid) - before
            check(grown < 280 * 8, "kbald grew %d KiB for 280 idle keep-alive clients" % grown)
            for i, c in enumerate(conns):
                eq(c.get("/b%d" % i).status, 200, "second request of client %d" % i)
        finally:
            for c in conns:
                c.close()
        wait_until(lambda: env.flows() == [], 5.0, "no flow left")


def test_keepalive_timeout_closes_idle_clients():
    """KeepAliveTimeout as Apache's: a keep-alive client that sends nothing
    after the request kbald served is closed silently when it runs out; one
    that asks in time is served."""
    conf = EXAMPLE_CONF.replace("ProxyPreserveHost On", "ProxyPreserveHost On\nKeepAliveTimeout 1")
    with Env(conf=conf) as env:
        with env.connect(timeout=10) as slow, env.connect(timeout=10) as quick:
            eq(slow.get("/one").status, 200, "the slow client's request")
            eq(quick.get("/one").status, 200, "the quick client's request")
            time.sleep(0.3)
            eq(quick.get("/two").status, 200, "a request within KeepAliveTimeout")
            eq(slow.what_arrives(5.0), "eof", "the idle client after KeepAliveTimeout")
        wait_until(lambda: env.flows() == [], 5.0, "no flow left")


KEEPALIVE_2 = EXAMPLE_CONF.replace("ProxyPreserveHost On",
                                   "ProxyPreserveHost On\nKbalSplice sockmap\nKeepAliveTimeout 2")


def member_gone_then(port, out, key, ask, between=None):
    """A keep-alive client (route 1): a long answer, between() if given,
    then /then-close, after whose answer the member closes its connection;
    then, if ask, one more request 0.3 s later; then nothing. out[key] is
    (the statuses, the last body, the seconds from the last answer to the
    server's EOF, the seconds from that EOF to the reset a piece sent every
    50 ms meets)."""
    c = Conn(port, timeout=30.0)
    try:
        r = c.get("/bytes/200000", cookie="ROUTEID=route.1")
        statuses = [r.status]
        check_pattern(r.body, "%s: the long answer" % (key,))
        if between:
            between()
        r = c.get("/then-close", cookie="ROUTEID=route.1")
        statuses.append(r.status)
        if ask:
            time.sleep(0.3)
            r = c.get("/after", cookie="ROUTEID=route.1")
            statuses.append(r.status)
        last = time.monotonic()
        end = c.what_arrives(20.0)
        check(end == "eof", "%s: %s, not an EOF, at KeepAliveTimeout" % (key, end))
        eof = time.monotonic() - last
        out[key] = (statuses, r.body, eof, sends_until_reset(c, 12.0))
    finally:
        c.close()


def test_member_closing_after_the_kernel_took_a_pooled_connection_as_apache():
    """A keep-alive client's first answer, long, on a member connection
    kbald kept from another client's exchange (its pool): the connection
    becomes the client's and the kernel carries the next request (sockmap);
    the member closes its connection after that answer (/then-close). As
    with Apache, the client's connection goes on: a request after it is
    answered (on a new member connection), and the client idle after its
    last answer is closed at KeepAliveTimeout (2 s) by the short lingering
    close. Until 2026-12-07 the member's FIN waited for bytes the pooled
    connection had carried for the other client (the socket's received
    count less what kbald read on this connection, fin_goal_part()): the
    idle client was closed only when kbald gave up waiting, 10 s later."""
    with Env(conf=KEEPALIVE_2) as env, apache_beside(env) as aport:
        st, reused = env.stats(), env.member(1)["reused"]
        out = {}
        for ask in (False, True):
            pooled(env)
            at_once([(member_gone_then, (port, out, (name, ask), ask))
                     for name, port in (("Apache", aport), ("kbal", env.port))], 60.0)
        eq(len(out), 4, "clients that ended")
        # the long answers took the connections pooled() kept
        eq(env.member(1)["reused"] - reused, 2, "requests on kept connections")
        for key in sorted(out):
            statuses, body, eof, took = out[key]
            eq(statuses, [200] * (3 if key[1] else 2), "%s's answers" % (key,))
            if key[1]:
                eq(body, b"backend=WAS1 path=/after\n", "%s: the answer after the member's close"
                   % (key,))
            check(1.9 <= eof <= 4.0, "%s: the EOF %.2f s after the last answer (KeepAliveTimeout 2)"
                  % (key, eof))
            check(isinstance(took, float) and 1.9 <= took <= 10.0,
                  "%s: the client sending after KeepAliveTimeout's EOF ended %s s after it"
                  % (key, took))
        # the kernel kept /then-close, on both connections
        eq(env.stats()["kept"] - st["kept"], 2, "requests the kernel kept")
