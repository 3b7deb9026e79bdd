# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A member that refuses connections is put in error (E) and its clients
move to the other member; with none left, 503."""

import re

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


MAXATT = EXAMPLE_CONF.replace(
    "BalancerMember http://127.0.0.1:{b2} route=2",
    "BalancerMember http://127.0.0.1:{b2} route=2 retry=0\n"
    "BalancerMember http://127.0.0.1:{b3} route=3 lbset=1").replace(
    "BalancerMember http://127.0.0.1:{b1} route=1", "BalancerMember http://127.0.0.1:{b1} "
    "route=1 retry=0").replace("ProxySet lbmethod=byrequests",
                               "ProxySet lbmethod=byrequests maxattempts=1")


def test_maxattempts_and_the_managers_b_max():
    # members 1 and 2 (lbset 0, nothing listening, retry=0: tried every
    # time) fail each request before member 3 (lbset 1) is tried: with
    # maxattempts=1, one failover only, 503; b_max=2 from the manager lets
    # the request reach member 3; the XML view shows it as Apache's
    import json
    from test_manager import manager_post, manager_xml, page_nonce
    check("maxattempts=1" in MAXATT and "lbset=1" in MAXATT, "configuration not made")
    with Env(conf=MAXATT, backends=(3,)) as env:
        for i in range(2):
            eq(env.get("/m%d" % i).status, 503, "maxattempts=1, two dead members first")
        check("maxattempts 1: 503" in env.kbald_stderr(), "the log says why")
        xml = manager_xml(env)
        check("<httpd:maxattempts>1</httpd:maxattempts>" in xml, "the XML view: %s" % xml[:600])
        nonce = page_nonce(env.get("/balancer-manager").text)
        r = manager_post(env, {"b": "mycluster", "b_max": "2", "nonce": nonce})
        eq(r.status, 200, "the balancer form's answer")
        check(re.search(r'name="b_max" id="b_max" size="3" type="text" value="2"', r.text),
              "the page's balancer form: %r" % r.text[:2000])
        for i in range(2):
            r = env.get("/n%d" % i)
            eq((r.status, r.header("X-Backend")), (200, "WAS3"), "b_max=2: member 3 reached")
        bal = json.loads(env.get("/balancer-manager?json=1").body)["balancers"][0]
        eq(bal["max_attempts"], 2, "the JSON view")
    # unset: Apache's default, its members less one (2 here), which its
    # XML view shows as if set (init_balancer_members())
    with Env(conf=MAXATT.replace(" maxattempts=1", ""), backends=(3,)) as env:
        eq(env.get("/d").status, 200, "the default maxattempts")
        check("<httpd:maxattempts>2</httpd:maxattempts>" in manager_xml(env),
              "unset: the default in the XML view")


REDIRECT = EXAMPLE_CONF.replace(
    "BalancerMember http://127.0.0.1:{b1} route=1",
    "BalancerMember http://127.0.0.1:{b1} route=1 redirect=3 status=+D").replace(
    "BalancerMember http://127.0.0.1:{b2} route=2",
    "BalancerMember http://127.0.0.1:{b2} route=2\nBalancerMember http://127.0.0.1:{b3} route=3")


def test_route_redirect():
    # Apache's route redirection: member 1 disabled with redirect=3, its
    # sticky clients go to member 3 (and get its cookie); the manager's
    # w_rr clears it, and they spread over the others again
    from test_manager import manager_post, manager_xml, page_nonce
    check("redirect=3" in REDIRECT, "configuration not made")
    with Env(conf=REDIRECT, backends=(2, 3)) as env:
        for i in range(4):
            r = env.get("/r%d" % i, cookie="ROUTEID=route.1")
            eq(r.header("X-Backend"), "WAS3", "a sticky request for disabled member 1")
            eq(r.header_all("Set-Cookie"), ["ROUTEID=route.3; path=/;"], "its new route")
        check(re.search(r"<httpd:route>1</httpd:route>\s*<httpd:redirect>3</httpd:redirect>",
                        manager_xml(env)), "the XML view names the redirection")
        nonce = page_nonce(env.get("/balancer-manager").text)
        r = manager_post(env, {"b": "mycluster", "w": env.member_url(1), "w_rr": "",
                               "nonce": nonce})
        check("redirect" in r.text, "the page says it changed at run time")
        got = [env.get("/s%d" % i, cookie="ROUTEID=route.1").header("X-Backend")
               for i in range(6)]
        # Apache weighed the 4 sticky requests member 3 took (every usable
        # member gains its lbfactor, member 3 pays the total: lbstatus
        # 400:-400), so byrequests gives member 2 the next 4, and the 5th
        # (100:100, equal: the first), before member 3's turn
        eq(got, ["WAS2"] * 5 + ["WAS3"], "without the redirection: the lbmethod's picks")
        eq([l for l in env.backend_log(3) if l.startswith("GET /r")], ["GET /r%d" % i
                                                                       for i in range(4)],
           "the redirected requests at member 3")
        # kbalctl sets it in the map too, and says it is a run-time change
        env.kbalctl("set", "mycluster", "2", "redirect=3")
        eq(env.member(2)["redirect"], "3", "kbal_members' redirect")
        check("redirect" in env.kbalctl("status"), "kbalctl status:\n" + env.kbalctl("status"))
