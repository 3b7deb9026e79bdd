# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""kbald's descriptors: it knows its budget (two per connection, the kept
member connections, a reserve of its own), stops accepting before the
budget runs out instead of spinning or failing anyone (the kernel's backlog
holds the clients), blames no member, and serves again as connections
close."""

import select
import time

from kbaltest import Env, budget_env, budget_of, check, eq, wait_until

# kbald's own descriptors (maps, programs, epoll, listener) come first: with
# 90 in all, a few dozen connections are past the budget kbald sets itself
# (about 7 connections; the packet program's maps took 5 more on
# 2026-12-06, which left 80 room for 2, too few for two kept member
# connections beside a client)
LIMIT = ["prlimit", "--nofile=90:90", "--"]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def test_out_of_descriptors_pauses_accepting():
    """Connections that stall in their request line, past the budget: accepting stops, kbald spends no
    CPU meanwhile, and takes the rest once they close."""
    with Env(kbald_wrap=LIMIT) as env:
        held = []
        try:
            # connections with a request line under way ("G": accepted, as
            # AcceptFilter http data waits for a first byte): each takes a
            # descriptor at accept() and nothing else, so that accept()
            # itself runs out
            for _ in range(50):
                held.append(env.connect(timeout=3))
                held[-1].send(b"G")
            time.sleep(0.3)
            t0 = cpu_seconds(env.kbald.pid)
            time.sleep(1.0)
            spent = cpu_seconds(env.kbald.pid) - t0
            check(spent < 0.3, "kbald used %.2f s of CPU in 1 s while out of descriptors" % spent)
            check("hold the descriptor budget" in env.kbald_stderr(),
                  "no word of the pause in kbald's log")
            check("Too many open files" not in env.kbald_stderr(),
                  "kbald ran out of descriptors before its budget did")
        finally:
            for c in held:
                c.close()
        wait_until(lambda: env.get("/after").status == 200, 5.0, "a request after the burst")


def test_out_of_descriptors_blames_no_member():
    with Env(kbald_wrap=LIMIT) as env:
        held = []
        try:
            for i in range(30):     # 2 descriptors each: past the limit
                c = env.connect(timeout=3)
                c.send(b"GET /h%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
                held.append(c)
            time.sleep(0.5)
        finally:
            for c in held:
                c.close()
        for n in (1, 2):
            eq(env.member(n)["status"] & 4, 0, "member %d blamed for kbald's limit" % n)
        wait_until(lambda: env.get("/after").status == 200, 5.0, "a request after the burst")


def test_out_of_descriptors_gives_back_kept_connections():
    # kept member connections (one-request clients) hold descriptors that
    # the next client needs more: at the limit they are closed first
    with budget_env(6) as env:
        for i in range(4):
            eq(env.get("/k%d" % i, headers=[("Connection", "close")]).status, 200, "request %d" % i)
        # (each goes back to the pool once its answer is written, which the
        # client may have read a moment before)
        wait_until(lambda: sum(m["idle"] for m in env.members().values()) == 2, 3.0,
                   "two kept connections")
        held = []
        try:
            for _ in range(50):
                held.append(env.connect(timeout=3))
                held[-1].send(b"G")     # a first byte: accepted
            time.sleep(0.3)
            eq(sum(m["idle"] for m in env.members().values()), 0,
               "kept connections at the descriptor limit")
        finally:
            for c in held:
                c.close()
        wait_until(lambda: env.get("/after").status == 200, 5.0, "a request after the burst")


def answered(c, wait):
    """True once c has a response to read within wait seconds."""
    r, _, _ = select.select([c.sock], [], [], wait)
    return bool(r)


def test_past_the_budget_a_client_waits_then_is_served():
    """Keep-alive clients, each with a request answered and its connection
    kept open, until one gets no answer: kbald stopped accepting at its
    budget (the client waits in the kernel's backlog, with no error).
    Every connection that fits two descriptors was served first; when one
    closes, the waiting client is accepted and answered."""
    with Env(kbald_wrap=LIMIT) as env:
        fit = budget_of(env) // 2
        served, waiting = [], None
        try:
            for i in range(fit * 2 + 4):
                c = env.connect(timeout=10)
                c.send(b"GET /b%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
                if not answered(c, 2.0):
                    waiting = c
                    break
                eq(c.read_response().status, 200, "client %d" % i)
                served.append(c)
            check(waiting is not None, "%d clients served, none held back" % len(served))
            check(len(served) >= fit, "%d served before the pause; the budget fits %d"
                  % (len(served), fit))
            served.pop(0).close()
            check(answered(waiting, 10.0), "the waiting client served once one closed")
            eq(waiting.read_response().status, 200, "the waiting client's answer")
            check("hold the descriptor budget" in env.kbald_stderr(), "the pause logged")
        finally:
            for c in served + ([waiting] if waiting else []):
                c.close()
        for n in (1, 2):
            eq(env.member(n)["status"] & 4, 0, "member %d blamed for kbald's limit" % n)


def test_connections_per_client_address():
    # KbalMaxConnectionsPerClient 3: a fourth connection from one address
    # gets a 503 that says why and closes; another address is served; one
    # of the three ending makes room again, on connections the kernel
    # carries too
    from kbaltest import EXAMPLE_CONF
    conf = EXAMPLE_CONF.replace("ProxyRequests Off",
                                "ProxyRequests Off\nKbalMaxConnectionsPerClient 3")
    with Env(conf=conf) as env:
        held = [env.connect() for _ in range(3)]
        try:
            for i, c in enumerate(held):
                c.get("/h%d" % i, cookie="ROUTEID=route.1")
                c.get("/h%d" % i, cookie="ROUTEID=route.1")   # spliced from here
            with env.connect() as c:
                # accepted at its first bytes (AcceptFilter http data), and
                # refused then, before its request is read
                c.send(b"GET /refused HTTP/1.1\r\nHost: x\r\n\r\n")
                r = c.read_response()
                eq(r.status, 503, "a fourth connection from 127.0.0.1")
                check("Too many connections" in r.text, "the answer says why: %r" % r)
                eq(c.what_arrives(timeout=5.0), "eof", "the fourth connection closes")
            with env.connect(source="127.0.0.2") as c:
                eq(c.get("/other").status, 200, "another address")
            held.pop().close()
            c = wait_until(lambda: _served(env), 5.0, "room for one more from 127.0.0.1")
            check("KbalMaxConnectionsPerClient" in env.kbald_stderr(), "the log says so")
            check(not any("/refused" in l for l in env.backend_log(1) + env.backend_log(2)),
                  "the refused request reached a member")
            eq([l for l in env.backend_log(1) + env.backend_log(2) if "/h" not in l and
                "/other" not in l and "/again" not in l], [], "what the refused one sent")
        finally:
            for c in held:
                c.close()


def _served(env):
    with env.connect() as c:
        c.request("GET", "/again")
        return c.read_response().status == 200
