# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""kbald out of file descriptors: it pauses accepting instead of spinning,
blames no member when a member connect finds no descriptor, and serves
again once connections close."""

import time

from kbaltest import Env, check, eq, wait_until

# kbald's own descriptors (maps, programs, epoll, listener) come first: with
# 48 in all, a few dozen connections are past the limit
LIMIT = ["prlimit", "--nofile=48:48", "--"]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def test_out_of_descriptors_pauses_accepting():
    with Env(kbald_wrap=LIMIT) as env:
        held = []
        try:
            # silent connections: each takes a descriptor at accept() and
            # nothing else, so that accept() itself runs out
            for _ in range(50):
                held.append(env.connect(timeout=3))
            time.sleep(0.3)
            t0 = cpu_seconds(env.kbald.pid)
            time.sleep(1.0)
            spent = cpu_seconds(env.kbald.pid) - t0
            check(spent < 0.3, "kbald used %.2f s of CPU in 1 s while out of descriptors" % spent)
            check("not accepting for 100 ms" in env.kbald_stderr(),
                  "no word of the pause in kbald's log")
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
    with Env(kbald_wrap=LIMIT) as env:
        for i in range(4):
            eq(env.get("/k%d" % i, headers=[("Connection", "close")]).status, 200, "request %d" % i)
        eq(sum(m["idle"] for m in env.members().values()), 2, "kept connections")
        held = []
        try:
            for _ in range(50):
                held.append(env.connect(timeout=3))
            time.sleep(0.3)
            eq(sum(m["idle"] for m in env.members().values()), 0,
               "kept connections at the descriptor limit")
        finally:
            for c in held:
                c.close()
        wait_until(lambda: env.get("/after").status == 200, 5.0, "a request after the burst")
