# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A restart in place (SIGHUP, SIGUSR1: user/takeover.h): kbald execs itself
with a new configuration and keeps every connection: joined flows (the packet
program swapped in their tcx links, the frozen sockets kept), sockmap flows,
the listeners' queues, and the members' counters."""

import json
import os
import signal
import socket
import subprocess
import time

import kbaltest
from kbaltest import BUILD, EXAMPLE_CONF, Conn, Env, check, check_pattern, crc_line, eq, wait_until

MiB = 1 << 20
PATH_SOCKMAP, PATH_PACKET = 1, 3

# /pkt/ on the packet path, the rest on sockmap, both to the same members;
# without the example's Set-Cookie rule, requests naming no route stay in
# the kernel (with it, kbald decides them: test_decide.py)
CONF = EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                            "ProxySet lbmethod=byrequests\nKbalSplice sockmap", 1)
CONF = kbaltest.kernel_keeps_unrouted(CONF)
CONF = CONF.replace("ProxyPass /balancer-manager !", """\
<Proxy balancer://pkt>
BalancerMember http://127.0.0.1:{b1} route=1
BalancerMember http://127.0.0.1:{b2} route=2
ProxySet lbmethod=byrequests
KbalSplice packet
</Proxy>
ProxyPass /balancer-manager !
ProxyPass /pkt/ balancer://pkt/""")

# one balancer the packet path joins (kbaltest.packet_alike: it frames no
# request, so only where every later request is decided alike); a flow on
# sockmap there is one whose first requests came pipelined
PKT_CONF = kbaltest.packet_alike(EXAMPLE_CONF)


def _hand_over_sockmap(c):
    """A keep-alive connection's first two requests, pipelined: kbald
    serves them and hands the connection to sockmap, not the packet path
    (which takes a quiet exchange only)."""
    c.send(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /first/2 HTTP/1.1\r\nHost: x\r\n\r\n")
    eq(c.read_response().status, 200, "pipelined first request")
    eq(c.read_response().status, 200, "pipelined second request")


def _live(env):
    return [e["formatted"]["value"] for e in env.bpftool_dump("kbal_pkt_live")][0]


def _restart(env, sig=signal.SIGHUP, want="restarted: took over"):
    """Send sig; wait for the new image's log line; what follows want."""
    seen = env.kbald_stderr().count(want)
    pid = env.kbald.pid
    os.kill(pid, sig)
    wait_until(lambda: env.kbald_stderr().count(want) > seen, 10.0, "%r in kbald's log" % want)
    check(env.kbald.poll() is None, "kbald exited at the restart")
    eq(env.kbald.pid, pid, "kbald's PID after the restart")
    return env.kbald_stderr().split(want)[-1].splitlines()[0]


def _exchange(c, what, n=5):
    for i in range(n):
        r = c.get("/%s-%d" % (what, i))
        eq(r.status, 200, "%s request %d" % (what, i))
    r = c.get("/bytes/%d" % (2 * MiB))
    eq(len(r.body), 2 * MiB, "%s: 2 MiB download" % what)
    check_pattern(r.body, "%s: 2 MiB download" % what)
    body = os.urandom(MiB + 7)
    c.request("POST", "/up", body=body)
    r = c.read_response()
    eq((r.status, r.text), (200, crc_line(body)), "%s: 1 MiB upload" % what)


def test_restart_keeps_connections():
    with Env(conf=PKT_CONF) as env:
        pkt = env.connect(timeout=30)
        sm = env.connect(timeout=30)
        eq(kbaltest.hand_over(pkt, "/pkt/first").status, 200, "first requests, packet path")
        _hand_over_sockmap(sm)
        wait_until(lambda: sorted(f["path"] for _, f in env.flows()) ==
                   [PATH_SOCKMAP, PATH_PACKET], 3.0, "one flow on each path")
        eq(pkt.get("/pkt/switch").status, 200, "a request on the joined flow")
        links = kbaltest.tcx_links(env.kbald.pid)
        check(links, "the packet program's tcx links")
        old_gens = {e["formatted"]["value"]["gen"] for e in env.bpftool_dump("kbal_pkt")}
        elected = sum(int(m["elected"]) for m in env.members().values())
        # a connection in its first exchange at the restart: the old image
        # finishes it before it execs, then it is handed over too
        slow = env.connect(timeout=30)
        slow.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.2)   # accepted: in the old image's first exchanges
        listen = "Listen 127.0.0.1:%d" % env.port
        with open(env.conf_path, "w") as f:
            f.write(env.conf.replace(listen, "%s\nListen 127.0.0.1:%d" % (listen, env.ports["b3"])))
        os.kill(env.kbald.pid, signal.SIGHUP)
        wait_until(lambda: "restarting:" in env.kbald_stderr(), 5.0, "the restart to begin")
        time.sleep(0.3)
        check("restarted:" not in env.kbald_stderr(),
              "the old image did not wait for the first exchange under way")
        slow.send(b"\r\n")
        eq(slow.read_response().status, 200, "the request finished across the restart")
        wait_until(lambda: "restarted:" in env.kbald_stderr(), 10.0, "the new image")
        line = env.kbald_stderr().split("restarted: ")[-1].splitlines()[0]
        check(line.startswith("took over 3 connection(s) (1 on the packet path)"),
              "took over: %r" % line)
        check(env.kbald.poll() is None, "kbald exited at the restart")
        # the new image's program in the same links: nothing detached
        after = kbaltest.tcx_links(env.kbald.pid)
        eq(sorted(after), sorted(links), "tcx link ids after the restart")
        check(all(after[l] != links[l] for l in links),
              "the links run the new image's program: %r -> %r" % (links, after))
        # the slow client's request was served by kbald on a kept member
        # connection: between requests it holds none
        eq(sum(int(m["busy"]) for m in env.members().values()), 2,
           "members' busy: the two handed-over connections taken over")
        eq(_live(env), 1, "kbal_pkt_live after the restart: the joined flow")
        check(sum(int(m["elected"]) for m in env.members().values()) >= elected + 1,
              "elected counters carried over (%d before)" % elected)
        # every connection goes on, byte-exact both ways
        _exchange(pkt, "packet")
        _exchange(sm, "sockmap")
        _exchange(slow, "slow")
        eq(sorted(f["path"] for _, f in env.flows()),
           [PATH_SOCKMAP, PATH_PACKET, PATH_PACKET], "paths after the restart")
        # the new configuration's listener, and the old one (taken over)
        with Conn(env.ports["b3"], timeout=30) as c:
            # spliced by the new image's sockmap programs
            _exchange(c, "new-listener", n=2)
        with env.connect() as c:
            eq(kbaltest.hand_over(c, "/pkt/new").status, 200,
               "a new connection after the restart")
            wait_until(lambda: [f["path"] for _, f in env.flows()].count(PATH_PACKET) == 3,
                       2.0, "the new connection joined")
            eq(c.get("/pkt/again").status, 200, "a new joined flow after the restart")
            # the new flow's generation follows the taken-over one's: a
            # flow on an old one's 4-tuple must be told apart by it
            new_gens = {e["formatted"]["value"]["gen"]
                        for e in env.bpftool_dump("kbal_pkt")} - old_gens
            check(new_gens and min(new_gens) > max(old_gens),
                  "generations: taken over %r, new %r" % (old_gens, new_gens))
        for c in (pkt, sm, slow):
            c.close()
        wait_until(lambda: env.flows() == [] and env.bpftool_dump("kbal_pkt") == [], 5.0,
                   "no flow left")
        eq(sum(int(m["busy"]) for m in env.members().values()), 0, "busy at the end")
        eq(_live(env), 0, "kbal_pkt_live at the end")


def test_restart_twice_and_by_sigusr1():
    # a flow taken over is handed on again; SIGUSR1 (Apache's graceful)
    # does the same as SIGHUP
    with Env(conf=PKT_CONF) as env:
        with env.connect(timeout=30) as c:
            eq(kbaltest.hand_over(c, "/pkt/a").status, 200, "first requests")
            wait_until(lambda: [f["path"] for _, f in env.flows()] == [PATH_PACKET], 3.0,
                       "joined")
            line = _restart(env, signal.SIGHUP)
            check(line.startswith(" 1 connection(s) (1 on"), "first restart: %r" % line)
            eq(c.get("/pkt/b").status, 200, "after one restart")
            line = _restart(env, signal.SIGUSR1)
            check(line.startswith(" 1 connection(s) (1 on"), "second restart: %r" % line)
            # kbalctl restart: the signal, and the answer from kbal_meta
            out = env.kbalctl("restart")
            check("restarted in place" in out, "kbalctl restart: %r" % out)
            eq(env.kbald_stderr().count("restarted: took over 1 connection(s)"), 3,
               "three restarts, each taking the flow over")
            meta = env.bpftool_dump("kbal_meta")[0]["formatted"]["value"]
            eq((meta["restarts"], meta["refused"], meta["pid"]), (3, 0, env.kbald.pid),
               "kbal_meta after three restarts")
            r = c.get("/bytes/%d" % MiB)
            check_pattern(r.body, "1 MiB after three restarts")
        wait_until(lambda: env.flows() == [] and env.bpftool_dump("kbal_pkt") == [], 5.0,
                   "no flow left")


def test_restart_refused_on_a_bad_configuration():
    with Env(conf=CONF) as env:
        with env.connect(timeout=30) as c:
            eq(c.get("/first").status, 200, "first request")
            with open(env.conf_path, "a") as f:
                f.write("BalancerMember http://127.0.0.1:1 route=\n<Proxy\n")
            kc = subprocess.run([os.path.join(BUILD, "kbalctl"), "--pin-dir", env.pin_dir,
                                 "restart"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                timeout=30)
            eq(kc.returncode, 1, "kbalctl restart's status on a refused restart")
            check("refused the restart" in kc.stderr.decode(),
                  "kbalctl restart says so: %r" % kc.stderr.decode())
            wait_until(lambda: "restart refused" in env.kbald_stderr(), 5.0, "the refusal")
            line = env.kbald_stderr().split("restart refused")[-1].splitlines()[0]
            check(env.conf_path in line, "the refusal names the file: %r" % line)
            eq(c.get("/after").status, 200, "the connection after the refusal")
            with env.connect() as c2:
                eq(c2.get("/new").status, 200, "still accepting")
            check("restarted:" not in env.kbald_stderr(), "restarted anyway")


def test_restart_under_load():
    """Two restarts while clients open connections and send requests on the
    packet and sockmap paths: no connection refused, no request lost."""
    load = os.path.join(BUILD, "kbal-load")
    with Env(conf=CONF) as env:
        runs = [subprocess.Popen([load, "127.0.0.1:%d" % env.port, "--conns", "8", "--requests",
                                  str(k), "--duration", "4", "--path", p],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                for p, k in (("/pkt/", 50), ("/", 2), ("/pkt/", 2))]
        try:
            for sig in (signal.SIGHUP, signal.SIGUSR1):
                time.sleep(1.2)
                _restart(env, sig)
            outs = [r.communicate(timeout=30)[0].decode() for r in runs]
        finally:
            for r in runs:
                if r.poll() is None:
                    r.kill()
                    r.wait()
        for r, out in zip(runs, outs):
            m = json.loads(out.split("KBAL_BENCH ", 1)[1])
            check(r.returncode == 0 and m["connections"] > 50, "connections done: %s" % out.strip())
            eq((m["stalled"], m["err_read"], m["err_status"], m["err_connect"]), (0, 0, 0, 0),
               "stalled connections, read, status and connect errors: %s" % out.strip())
        eq(env.kbald_stderr().count("restarted: took over"), 2, "two restarts")
        check("could not be taken over" not in env.kbald_stderr() and
              "first exchange after" not in env.kbald_stderr(), "connections closed at a restart")
        wait_until(lambda: env.flows() == [] and env.bpftool_dump("kbal_pkt") == [], 5.0,
                   "no flow left")


def test_restart_hands_over_idle_and_copied_connections():
    """A client that sent nothing yet and a KbalSplice off connection
    between requests go to the new image at once (no wait for them); a
    client half-way through its request head is waited for. (A client that
    sent nothing is accepted at its handshake with AcceptFilter http none,
    or after 30 s with the default; before that it waits in the listener's
    queue, which the new image takes whole.)"""
    conf = CONF.replace("ProxySet stickysession=ROUTEID",
                        "ProxySet stickysession=ROUTEID\nKbalSplice off") + \
        "AcceptFilter http none\n"
    with Env(conf=conf) as env:
        copied = env.connect(timeout=30)
        eq(copied.get("/first").status, 200, "first request, KbalSplice off")
        eq(copied.get("/second").status, 200, "second request, copied by kbald")
        idle = env.connect(timeout=30)
        time.sleep(0.2)   # accepted by the old image
        t0 = time.monotonic()
        line = _restart(env)
        # a wait for them would last RESTART_WAIT_NS (5 s, restart.c);
        # the restart itself takes well under 4 on a slow host
        check(time.monotonic() - t0 < 4.0, "the restart waited for idle connections")
        check(line.startswith(" 2 connection(s)"), "took over: %r" % line)
        eq(kbaltest.hand_over(idle, "/pkt/after").status, 200,
           "the idle client's first requests, after the restart")
        # handed over by the new image (to sockmap; /pkt/'s two members
        # alternate, so each request comes back to kbald); the copied
        # connection, between two requests, has no flow until its next
        idle_port = socket.htons(idle.sock.getsockname()[1])
        wait_until(lambda: [k["client_port"] for k, _ in env.flows()] == [idle_port], 2.0,
                   "the idle client's flow alone")
        eq(idle.get("/pkt/after3").status, 200, "a request on it")
        eq(copied.get("/third").status, 200, "the copied connection's next request")
        eq([f["path"] for k, f in env.flows()
            if k["client_port"] == socket.htons(copied.sock.getsockname()[1])], [2],
           "the copied connection's path: kbald copies")
        _exchange(copied, "copied")
        for c in (idle, copied):
            c.close()
        wait_until(lambda: env.flows() == [], 5.0, "no flow left")
        eq(sum(int(m["busy"]) for m in env.members().values()), 0, "busy at the end")


def test_restart_between_two_requests_of_a_keep_alive_client():
    """A keep-alive client between two requests that kbald served itself is
    handed to the new image as a client that sent nothing yet, with what
    its socket carried so far: its next requests are served, handed over,
    and its end is seen at once (the FIN's bytes counted against the
    socket's, which include the old image's)."""
    with Env(conf=CONF) as env:
        c = env.connect(timeout=30)
        eq(c.get("/before").status, 200, "a request before the restart")
        line = _restart(env)
        check(line.startswith(" 1 connection(s)"), "took over: %r" % line)
        for i in range(5):
            eq(c.get("/after%d" % i).status, 200, "request %d after the restart" % i)
        eq([f["path"] for _, f in env.flows()], [PATH_SOCKMAP], "handed over after it")
        c.close()
        wait_until(lambda: env.flows() == [], 2.0, "its end, seen at once")


def test_restart_with_unreadable_state_starts_clean():
    # a KBAL_TAKEOVER that names no memfd: a warning, a normal start
    with Env(conf=CONF, kbald=False) as env:
        os.environ["KBAL_TAKEOVER"] = "999"
        try:
            env._start_kbald()
        finally:
            del os.environ["KBAL_TAKEOVER"]
        check("state cannot be read" in env.kbald_stderr(), "the warning: %s" % env.kbald_stderr())
        eq(env.get("/").status, 200, "a request")


# KeepAliveTimeout of the connection's last request's virtual host
# (third.test's 4 s), not its address's (first.test's 1 s) nor the
# server's (2 s): a restart carries it, on a connection the kernel carries
# (three requests: the third is the kernel's) as on one kbald served (one
# request: idle in kbald between two, its wait goes on in the next image)
VHOSTS = kbaltest.PROXY_HEAD + """\
KbalSplice sockmap
ProxyPreserveHost On
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
<VirtualHost *>
ServerName first.test
KeepAliveTimeout 1
</VirtualHost>
<VirtualHost *>
ServerName third.test
KeepAliveTimeout 4
</VirtualHost>
KeepAliveTimeout 2
"""


def test_restart_keeps_the_last_requests_virtual_host():
    with Env(conf=VHOSTS, backends=(1,)) as env:
        spliced, served = env.connect(timeout=30), env.connect(timeout=30)
        for i in range(3):
            eq(spliced.get("/s%d" % i, headers=[("Host", "third.test")]).status, 200,
               "request %d" % i)
        t_spliced = time.monotonic()
        eq(served.get("/k", headers=[("Host", "third.test")]).status, 200, "one request")
        t_served = time.monotonic()
        wait_until(lambda: PATH_SOCKMAP in [f["path"] for _, f in env.flows()], 2.0,
                   "the first one spliced: %r" % env.flows())
        line = _restart(env)
        check(line.startswith(" 2 connection(s)"), "took over: %r" % line)
        took = {}
        for name, c, t in (("spliced", spliced, t_spliced), ("served", served, t_served)):
            took[name] = time.monotonic() - t if c.at_eof(8.0) else None
        check(all(t is not None and 3.5 < t < 6.0 for t in took.values()),
              "the connections ended %r s after their last answer (None: not within 8 s), "
              "not after third.test's KeepAliveTimeout 4" % took)


def test_restart_carries_what_a_pooled_member_connection_had_received():
    """A member connection from kbald's pool, the client's now and the
    kernel's (test_pool.py's member closing after the kernel took it),
    carried across a restart: the new image knows what its socket had
    received for the other client (member_rcvd0 in the record), so the
    member's FIN after the next answer goes on as soon as the answer has,
    and the idle client is closed at KeepAliveTimeout (2 s), not when
    kbald gives up waiting for bytes that never come (10 s)."""
    from test_linger import pooled
    from test_pool import KEEPALIVE_2, member_gone_then
    with Env(conf=KEEPALIVE_2) as env:
        pooled(env)
        out = {}
        member_gone_then(env.port, out, "kbal", False, between=lambda: _restart(env))
        statuses, _, eof, took = out["kbal"]
        eq(statuses, [200, 200], "the answers, one each side of the restart")
        check(1.9 <= eof <= 4.0, "the EOF %.2f s after the last answer (KeepAliveTimeout 2)" % eof)
        check(isinstance(took, float) and 1.9 <= took <= 10.0,
              "the client sending after KeepAliveTimeout's EOF ended %s s after it" % (took,))
