# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The balancer's picks side by side with Debian's apache2 on the same
configuration and members (issue 17): lbsets with hot spares and hot
standbys, load factors (3:1 over 1,000 requests, decimals), sticky
requests in byrequests' lbstatus, forcerecovery, failonstatus,
failontimeout with a member's timeout=, and the balancer's timeout= (how
long a request waits for a usable member)."""

import re
import socket
import subprocess
import threading
import time

from apache import apache_beside
from kbaltest import EXAMPLE_CONF, ST_ERROR, Conn, Env, check, eq

T = 10.0

SECTION = re.compile(r"<Proxy balancer://mycluster>.*?</Proxy>\n", re.S)


def conf(members, proxyset="", modules=()):
    """EXAMPLE_CONF with balancer://mycluster's members (lines, {bN} for
    member N's port) and ProxySet parameters; more lbmethod modules"""
    section = "<Proxy balancer://mycluster>\n%s\nProxySet stickysession=ROUTEID %s\n</Proxy>\n" % (
        "\n".join(members), proxyset)
    text = SECTION.sub(lambda _: section, EXAMPLE_CONF, count=1)
    for m in modules:
        text = ("LoadModule lbmethod_%s_module modules/mod_lbmethod_%s.so\n" % (m, m)) + text
    check(section in text, "configuration not made: %s" % text)
    return text


def member_of(r):
    b = r.header("X-Backend") or ""
    check(re.fullmatch(r"WAS\d", b), "no member's answer: %r" % (r,))
    return int(b[3:])


def on_one_connection(port, paths, cookie=None):
    """GET each path on one kept-alive connection to port: (status, member) each"""
    out = []
    with Conn(port, timeout=T) as c:
        for p in paths:
            r = c.get(p, cookie=cookie)
            out.append((r.status, member_of(r) if r.header("X-Backend") else None))
    return out


def members(port, tag, n, cookie=None):
    """n GETs, on kept-alive connections of 100 requests (Apache's
    MaxKeepAliveRequests): the member of each"""
    got = []
    for k in range(0, n, 100):
        got += on_one_connection(port, ["/%s%d" % (tag, i) for i in range(k, min(n, k + 100))],
                                 cookie)
    check(all(s == 200 for s, _ in got), "statuses: %r" % [s for s, _ in got])
    return [m for _, m in got]


def get(port, path, cookie=None):
    with Conn(port, timeout=T) as c:
        return c.get(path, cookie=cookie)


def both(env, aport, fn):
    """fn(port, tag) for Apache, then for kbal: (Apache's, kbal's)"""
    out = []
    for who, port, tag in (("Apache", aport, "a"), ("kbal", env.port, "k")):
        try:
            out.append(fn(port, tag))
        except (AssertionError, OSError) as e:   # which of the two, when it fails
            raise AssertionError("%s: %s" % (who, e)) from e
    return tuple(out)


# ---- lbsets, hot spares, hot standbys ----------------------------------------

def test_standby_of_a_set_before_the_next_set():
    # ap_proxy_balancer_get_best_worker(): lbset 0's hot standby takes its
    # requests while lbset 0 has no member up, before lbset 1
    c = conf(["BalancerMember http://127.0.0.1:{b1} route=1 status=+D",
              "BalancerMember http://127.0.0.1:{b2} route=2 status=+H",
              "BalancerMember http://127.0.0.1:{b3} route=3 lbset=1"])
    with Env(conf=c, backends=(1, 2, 3)) as env, apache_beside(env) as aport:
        theirs, ours = both(env, aport, lambda p, t: members(p, t, 6))
        eq(theirs, [2] * 6, "Apache: lbset 0's standby")
        eq(ours, theirs, "kbal against Apache")
        # again, the balancer's state as both left it
        theirs, ours = both(env, aport, lambda p, t: members(p, t, 6))
        eq(ours, theirs, "kbal against Apache, again")


def test_spares_stand_in_one_for_one():
    # lbset 0: WAS1 disabled, WAS2 up, two hot spares (WAS3, WAS4); lbset 1:
    # WAS5... (none: a standby of lbset 0 instead, never used while a spare
    # is up). One member down: the first spare stands in for it, the second
    # stays idle
    c = conf(["BalancerMember http://127.0.0.1:{b1} route=1 status=+D",
              "BalancerMember http://127.0.0.1:{b2} route=2",
              "BalancerMember http://127.0.0.1:{b3} route=3 status=+R",
              "BalancerMember http://127.0.0.1:{b4} route=4 status=+R-D+H"])
    with Env(conf=c, backends=(1, 2, 3, 4)) as env, apache_beside(env) as aport:
        theirs, ours = both(env, aport, lambda p, t: members(p, t, 8))
        eq(theirs, [2, 3] * 4, "Apache: WAS2 and the first spare")
        eq(ours, theirs, "kbal against Apache")


def test_sole_member_beside_an_idle_spare():
    # a spare with no member of its set down stands in for none: WAS1 is the
    # one candidate (decide_sole), so the kernel keeps a kept-alive client's
    # requests without a route (no route=: no cookie to set either)
    c = conf(["BalancerMember http://127.0.0.1:{b1}",
              "BalancerMember http://127.0.0.1:{b2} status=+R",
              "BalancerMember http://127.0.0.1:{b3} lbset=1"])
    with Env(conf=c, backends=(1, 2, 3)) as env, apache_beside(env) as aport:
        theirs, ours = both(env, aport, lambda p, t: members(p, t, 8))
        eq(theirs, [1] * 8, "Apache: WAS1 only")
        eq(ours, theirs, "kbal against Apache")
        check(env.stats()["kept"] >= 5, "requests the kernel kept: %d" % env.stats()["kept"])
        # WAS1 disabled: the spare stands in, WAS3 (lbset 1) still idle
        env.kbalctl("set", "mycluster", env.member_url(1) + "/", "status=+D")
        eq(members(env.port, "d", 4), [2] * 4, "the spare for disabled WAS1")


def test_sets_and_spares_with_every_member_down():
    # lbset 0 all down (one disabled, one stopped, no spare up): lbset 1,
    # whose spare stands in for its drained member
    c = conf(["BalancerMember http://127.0.0.1:{b1} route=1 status=+D",
              "BalancerMember http://127.0.0.1:{b2} route=2 status=+S",
              "BalancerMember http://127.0.0.1:{b3} route=3 lbset=1 status=+N",
              "BalancerMember http://127.0.0.1:{b4} route=4 lbset=1 status=+R"])
    with Env(conf=c, backends=(1, 2, 3, 4)) as env, apache_beside(env) as aport:
        theirs, ours = both(env, aport, lambda p, t: members(p, t, 4))
        eq(theirs, [4] * 4, "Apache: lbset 1's spare for its draining member")
        eq(ours, theirs, "kbal against Apache")


# ---- load factors and lbstatus ---------------------------------------------------

def test_loadfactor_3_to_1_over_1000_requests():
    c = conf(["BalancerMember http://127.0.0.1:{b1} route=1 loadfactor=3",
              "BalancerMember http://127.0.0.1:{b2} route=2"])
    with Env(conf=c) as env, apache_beside(env) as aport:
        theirs, ours = both(env, aport, lambda p, t: members(p, t, 1000))
        eq((theirs.count(1), theirs.count(2)), (750, 250), "Apache's shares")
        eq(theirs[:8], [1, 1, 2, 1] * 2, "Apache's order")
        eq(ours, theirs, "kbal's 1,000 members against Apache's")
        eq([env.member(n)["elected"] for n in (1, 2)], [750, 250], "Elected")


def test_decimal_loadfactor():
    # Apache 2.4 keeps hundredths: 1.5 against 1 is 150 against 100
    c = conf(["BalancerMember http://127.0.0.1:{b1} route=1 loadfactor=1.5",
              "BalancerMember http://127.0.0.1:{b2} route=2 loadfactor=1"])
    with Env(conf=c) as env, apache_beside(env) as aport:
        theirs, ours = both(env, aport, lambda p, t: members(p, t, 100))
        eq((theirs.count(1), theirs.count(2)), (60, 40), "Apache's shares")
        eq(ours, theirs, "kbal against Apache")
        eq(env.member(1)["lbfactor"], 150, "lbfactor in kbal_members")
        out = env.kbalctl("members")
        check(re.search(r"\b1\.5\b", out), "kbalctl members shows 1.5: %s" % out)


def test_sticky_requests_move_lbstatus():
    # proxy_balancer_pre_request(): a sticky request gives every usable
    # member its lbfactor and takes the total from its own, so the requests
    # without a route that follow make up for it. On one kept-alive
    # connection the kernel keeps the sticky ones (kbald weighs them in at
    # its next pick).
    with Env() as env, apache_beside(env) as aport:
        def run(port, tag):
            sticky = members(port, tag + "s", 5, cookie="ROUTEID=route.2")
            return sticky + members(port, tag, 10)
        theirs, ours = both(env, aport, run)
        eq(theirs[:5], [2] * 5, "Apache: the sticky requests")
        eq(theirs[5:11], [1] * 6, "Apache: WAS1 makes up for them (and the first of equals)")
        eq(ours, theirs, "kbal against Apache")
        check(env.stats()["kept"] >= 3, "the kernel kept sticky requests: %d"
              % env.stats()["kept"])
        eq(env.member(2)["sticky_kept"], 0, "every kept sticky request weighed in")


# ---- errors ------------------------------------------------------------------

def recovery(forcerecovery):
    c = conf(["BalancerMember http://127.0.0.1:{b1} route=1",
              "BalancerMember http://127.0.0.1:{b2} route=2"],
             "forcerecovery=%s" % forcerecovery)
    with Env(conf=c, backends=()) as env, apache_beside(env) as aport:
        def first(port, tag):
            return get(port, "/%s" % tag).status
        eq(both(env, aport, first), (503, 503), "no member up: 503 from both")
        for n in (1, 2):
            check(env.member(n)["status"] & ST_ERROR, "WAS%d in error" % n)
        env._start_backend(1)
        env._start_backend(2)

        def after(port, tag):
            return [(r.status, member_of(r) if r.status == 200 else None)
                    for r in (get(port, "/%s%d" % (tag, i)) for i in range(3))]
        return both(env, aport, after)


def test_forcerecovery_on_by_default():
    # force_recovery(): every member in error, all of them back at once
    theirs, ours = recovery("On")
    eq([s for s, _ in theirs], [200] * 3, "Apache: recovered at once")
    eq(ours, theirs, "kbal against Apache")


def test_forcerecovery_off():
    theirs, ours = recovery("Off")
    eq(theirs, [(503, None)] * 3, "Apache: 503 until retry=")
    eq(ours, theirs, "kbal against Apache")


def test_ignore_errors_member_fails_alone():
    # a member with status=+I that refuses its connection stays usable, so
    # Apache's proxy_handler() tries no other: its 503, and the next request
    # goes on by byrequests
    c = conf(["BalancerMember http://127.0.0.1:{b1} route=1 status=+I",
              "BalancerMember http://127.0.0.1:{b2} route=2"])
    with Env(conf=c, backends=(2,)) as env, apache_beside(env) as aport:
        def run(port, tag):
            return [(r.status, r.header("X-Backend")) for r in
                    (get(port, "/%s%d" % (tag, i)) for i in range(4))]
        theirs, ours = both(env, aport, run)
        eq(theirs, [(503, None), (200, "WAS2")] * 2, "Apache: WAS1's 503s")
        eq(ours, theirs, "kbal against Apache")
        eq(env.member(1)["status"] & ST_ERROR, 0, "WAS1 never in error")


def test_nofailover():
    # proxy_balancer_pre_request(): nofailover=On and a route that names a
    # member of the balancer, unusable: 503, even with timeout= (no wait);
    # a route that names none, or no route: the lbmethod's pick
    c = conf(["BalancerMember http://127.0.0.1:{b1} route=1 status=+D",
              "BalancerMember http://127.0.0.1:{b2} route=2"], "nofailover=On timeout=3")
    with Env(conf=c) as env, apache_beside(env) as aport:
        def run(port, tag):
            t0 = time.monotonic()
            out = [(r.status, r.header("X-Backend")) for r in
                   (get(port, "/%s" % tag, cookie=ck) for ck in
                    ("ROUTEID=route.1", "ROUTEID=route.9", None, "ROUTEID=route.2"))]
            return out, time.monotonic() - t0 < 2
        theirs, ours = both(env, aport, run)
        eq(theirs, ([(503, None), (200, "WAS2"), (200, "WAS2"), (200, "WAS2")], True),
           "Apache: 503 for route 1 at once")
        eq(ours, theirs, "kbal against Apache")


def test_failonstatus():
    # proxy_balancer_post_request(): an answer failonstatus lists puts its
    # member in error; the answer goes to the client as it is
    c = conf(["BalancerMember http://127.0.0.1:{b1} route=1",
              "BalancerMember http://127.0.0.1:{b2} route=2"], "failonstatus=302,503")
    with Env(conf=c) as env, apache_beside(env) as aport:
        def run(port, tag):
            r = get(port, "/redirect", cookie="ROUTEID=route.1")
            return [r.status, member_of(r)] + members(port, tag, 4)
        theirs, ours = both(env, aport, run)
        eq(theirs, [302, 1, 2, 2, 2, 2], "Apache: WAS1 in error after its 302")
        eq(ours, theirs, "kbal against Apache")
        check(env.member(1)["status"] & ST_ERROR, "WAS1 in error")
        # on a kept-alive connection too: kbald sees every answer
        env.kbalctl("set", "mycluster", "1", "status=-E")
        got = on_one_connection(env.port, ["/x0", "/x1", "/redirect", "/x2", "/x3", "/x4"],
                                cookie="ROUTEID=route.1")
        eq(got, [(200, 1), (200, 1), (302, 1), (200, 2), (200, 2), (200, 2)],
           "a kept-alive client's 302 from WAS1, then WAS2")


def test_failontimeout_and_member_timeout():
    # timeout=1 on WAS1: its answer may keep the client 1 s (Timeout is 60);
    # failontimeout=On puts it in error then
    c = conf(["BalancerMember http://127.0.0.1:{b1} route=1 timeout=1",
              "BalancerMember http://127.0.0.1:{b2} route=2"], "failontimeout=On")
    with Env(conf=c) as env, apache_beside(env) as aport:
        def run(port, tag):
            t0 = time.monotonic()
            r = get(port, "/fault-hang", cookie="ROUTEID=route.1")
            took = time.monotonic() - t0
            check(0.8 <= took < 5, "%s: the answer's timeout took %.2f s" % (tag, took))
            return [r.status] + members(port, tag, 3)
        theirs, ours = both(env, aport, run)
        eq(theirs[1:], [2, 2, 2], "Apache: WAS1 in error after its timeout")
        eq(ours, theirs, "kbal against Apache")
        check(env.member(1)["status"] & ST_ERROR, "WAS1 in error")
    # without failontimeout: a timeout is no error
    c = c.replace(" failontimeout=On", "")
    with Env(conf=c) as env:
        eq(get(env.port, "/fault-hang", cookie="ROUTEID=route.1").status, 502, "timed out")
        eq(env.member(1)["status"] & ST_ERROR, 0, "WAS1 not in error")


def test_balancer_timeout_waits_for_a_member():
    # find_best_worker(): with no usable member, timeout= looks again
    # until it has waited that long, then 503 (Apache and kbal alike)
    c = conf(["BalancerMember http://127.0.0.1:{b1} route=1 status=+D",
              "BalancerMember http://127.0.0.1:{b2} route=2 status=+D"], "timeout=2")
    with Env(conf=c) as env, apache_beside(env) as aport:
        def run(port, tag):
            t0 = time.monotonic()
            st = get(port, "/%s" % tag).status
            return st, time.monotonic() - t0
        (ast, atook), (kst, ktook) = both(env, aport, run)
        eq((ast, kst), (503, 503), "statuses")
        check(1.8 <= atook < 3.5 and 1.8 <= ktook < 3.5,
              "waited %.2f s (Apache) and %.2f s (kbal) for timeout=2" % (atook, ktook))
        # a member enabled while a request waits takes it
        out = {}

        def req():
            t0 = time.monotonic()
            r = get(env.port, "/w")
            out["r"], out["took"] = r, time.monotonic() - t0
        t = threading.Thread(target=req)
        t.start()
        time.sleep(0.5)
        env.kbalctl("set", "mycluster", "2", "status=-D")
        t.join(10)
        eq((out["r"].status, member_of(out["r"])), (200, 2), "the waiting request")
        check(0.4 <= out["took"] < 1.8, "answered %.2f s after it came" % out["took"])
    # without timeout=, 503 at once (Apache's default)
    with Env(conf=c.replace(" timeout=2", "")) as env:
        t0 = time.monotonic()
        eq(get(env.port, "/n").status, 503, "no wait")
        check(time.monotonic() - t0 < 0.5, "503 at once")


def test_member_keepalive_sets_so_keepalive():
    # keepalive=On: TCP keep-alive on the member's connections (Apache's
    # APR_SO_KEEPALIVE); ss shows their keepalive timer
    c = conf(["BalancerMember http://127.0.0.1:{b1} route=1 keepalive=On",
              "BalancerMember http://127.0.0.1:{b2} route=2"])
    with Env(conf=c) as env:
        with Conn(env.port, timeout=T) as cl:
            for i in range(3):
                eq(cl.get("/k%d" % i, cookie="ROUTEID=route.1").status, 200, "request")
            for n in (1, 2):
                if n == 2:
                    eq(cl.get("/k", cookie="ROUTEID=route.2").status, 200, "to WAS2")
                out = subprocess.run(["ss", "-tnoH", "state", "established", "dst",
                                      "127.0.0.1:%d" % env.ports["b%d" % n]],
                                     stdout=subprocess.PIPE, timeout=10).stdout.decode()
                check(out.strip(), "a connection to WAS%d: %r" % (n, out))
                eq("keepalive" in out, n == 1, "WAS%d's connections' keepalive timer: %r"
                   % (n, out))
