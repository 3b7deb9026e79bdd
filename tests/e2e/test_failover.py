# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A member that refuses connections is put in error (E) and its clients
move to the other member; with none left, 503."""

from kbaltest import EXAMPLE_CONF, Env, ST_ERROR, check, eq


def test_failover_to_live_member():
    # member 2's port has nothing listening
    with Env(backends=(1,)) as env:
        for i in range(4):
            r = env.get("/f%d" % i)
            eq(r.status, 200, "status with member 2 down")
            eq(r.header("X-Backend"), "WAS1", "member with member 2 down")
            eq(r.header_all("Set-Cookie"), ["ROUTEID=route.1; path=/;"], "Set-Cookie")
        for i in range(2):
            r = env.get("/s%d" % i, cookie="ROUTEID=route.2")
            eq(r.status, 200, "status of a client sticky to the dead member")
            eq(r.header("X-Backend"), "WAS1", "member of a client sticky to the dead member")
            eq(r.header_all("Set-Cookie"), ["ROUTEID=route.1; path=/;"],
               "Set-Cookie of a client moved off the dead member")
        m2 = env.member(2)
        check(m2["status"] & ST_ERROR, "member 2 status %#x has no E bit" % m2["status"])
        eq(env.member(1)["status"] & ST_ERROR, 0, "member 1 E bit")
        eq(env.member(1)["url"], env.member_url(1), "member 1 url in kbal_members")
        eq(len(env.backend_log(1)), 6, "requests at WAS1")


def test_all_members_down_503():
    with Env(backends=()) as env:
        eq(env.get("/").status, 503, "status with no member up")
        eq(env.get("/", cookie="ROUTEID=route.1").status, 503, "status of a sticky client")
        for n in (1, 2):
            st = env.member(n)["status"]
            check(st & ST_ERROR, "member %d status %#x has no E bit" % (n, st))


def test_failover_on_connect_timeout():
    # member 2 accepts no connection: its listen queue is full, so SYNs are
    # dropped and kbald's connect times out after connectiontimeout
    import socket
    import time
    conf = EXAMPLE_CONF.replace("route=2", "route=2 connectiontimeout=500ms")
    with Env(conf=conf, backends=(1,)) as env:
        blackhole = socket.socket()
        fillers = []
        try:
            blackhole.bind(("127.0.0.1", env.ports["b2"]))
            blackhole.listen(0)
            for _ in range(2):   # fill the accept queue; never accepted
                f = socket.socket()
                f.setblocking(False)
                f.connect_ex(("127.0.0.1", env.ports["b2"]))
                fillers.append(f)
            time.sleep(0.1)
            t0 = time.monotonic()
            r = env.get("/t", cookie="ROUTEID=route.2")
            took = time.monotonic() - t0
            eq(r.status, 200, "status after member 2 timed out")
            eq(r.header("X-Backend"), "WAS1", "member after member 2 timed out")
            eq(r.header_all("Set-Cookie"), ["ROUTEID=route.1; path=/;"], "new cookie")
            check(took >= 0.4, "failover came after %.2fs, before the 500 ms timeout" % took)
            m2 = env.member(2)
            check(m2["status"] & ST_ERROR, "member 2 status %#x has no E bit" % m2["status"])
            eq(m2["errors"], 1, "member 2 errors")
        finally:
            for f in fillers:
                f.close()
            blackhole.close()
