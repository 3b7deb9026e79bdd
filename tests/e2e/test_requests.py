# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Every request of a kept-alive connection decided as Apache decides it,
after the connection was handed to the kernel: the stream parser frames
each request, the verdict keeps the ones decided the same (same ProxyPass
rule, Host, sticky route, member usable) and hands the others back to
kbald at their first byte (decide.h). Each test checks byte for byte what
the client got, and from which member's answer which path it reached."""

import kbaltest
from kbaltest import (EXAMPLE_CONF, Env, build_request, check, chunked, crc_line, eq,
                      without_route_cookie)

# two balancers whose rules forward paths as they are (the kernel can keep
# their requests): /api/ to WAS1, everything else to WAS2
TWO = EXAMPLE_CONF.replace("""<Proxy balancer://mycluster>
# WAS1
BalancerMember http://127.0.0.1:{b1} route=1
# WAS2
BalancerMember http://127.0.0.1:{b2} route=2
ProxySet lbmethod=byrequests
ProxySet stickysession=ROUTEID
</Proxy>""", """<Proxy balancer://api>
BalancerMember http://127.0.0.1:{b1} route=1
</Proxy>
<Proxy balancer://app>
BalancerMember http://127.0.0.1:{b2} route=2
</Proxy>""").replace("ProxyPass / balancer://mycluster/\nProxyPassReverse / balancer://mycluster/",
                     "ProxyPass /api/ balancer://api/api/\nProxyPass / balancer://app/")
# no sticky session: the example's Set-Cookie rule would need kbald on every
# answer (kbaltest.without_route_cookie)
TWO = without_route_cookie(TWO)
# Apache's own example, as in the issue: ProxyPass /api balancer://api maps
# /api/x to /x, which only kbald does: it decides every request
STRIP = TWO.replace("ProxyPass /api/ balancer://api/api/", "ProxyPass /api balancer://api")


def answer(member, path):
    return "backend=WAS%d path=%s\n" % (member, path)


def where(path):
    return 1 if path.startswith("/api") else 2


def test_alternating_paths_two_balancers():
    with Env(conf=TWO) as env, env.connect() as c:
        paths = ["/a1", "/a2", "/a3", "/a4", "/api/x1", "/api/x2", "/a5", "/api/x3", "/a6"]
        for p in paths:
            r = c.get(p)
            eq((r.status, r.text), (200, answer(where(p), p)), "GET %s" % p)
        st = env.stats()
        check(st["sk_kept"] >= 1, "requests the kernel kept: %r" % st)
        check(st["sk_back"] >= 1, "requests handed back to kbald: %r" % st)
        # what each member got: its requests only, in order
        eq([l.split()[1] for l in env.backend_log(1)], [p for p in paths if where(p) == 1],
           "the api member's requests")
        eq([l.split()[1] for l in env.backend_log(2)], [p for p in paths if where(p) == 2],
           "the app member's requests")


def test_alternating_paths_path_mapped():
    # ProxyPass /api balancer://api: /api/x reaches the member as /x
    with Env(conf=STRIP) as env, env.connect() as c:
        for i, p in enumerate(["/a1", "/a2", "/api/x1", "/a3", "/api/x2", "/api/x3", "/a4"]):
            r = c.get(p)
            want = answer(1, p[4:]) if p.startswith("/api") else answer(2, p)
            eq((r.status, r.text), (200, want), "GET %s" % p)
        eq(env.stats()["sk_kept"], 0, "requests kept in the kernel (kbald rewrites their paths)")


def test_alternating_paths_interleaved_connections():
    with Env(conf=TWO) as env:
        conns = [env.connect() for _ in range(3)]
        try:
            for i in range(6):
                for k, c in enumerate(conns):
                    p = "/api/c%d-%d" % (k, i) if (i + k) % 2 else "/c%d-%d" % (k, i)
                    r = c.get(p)
                    eq((r.status, r.text), (200, answer(where(p), p)), "GET %s" % p)
        finally:
            for c in conns:
                c.close()


def test_alternating_paths_pipelined():
    with Env(conf=TWO) as env, env.connect() as c:
        kbaltest.hand_over(c, "/first")
        paths = ["/p1", "/api/p2", "/p3", "/p4", "/api/p5", "/api/p6", "/p7"]
        c.send(b"".join(build_request("GET", p, host=c.host_header) for p in paths))
        for p in paths:
            r = c.read_response()
            eq((r.status, r.text), (200, answer(where(p), p)), "pipelined GET %s" % p)
        r = c.get("/after")
        eq((r.status, r.text), (200, answer(2, "/after")), "a request after the pipeline")


def test_alternating_with_bodies():
    bodies = [bytes((i * 31 + k) & 0xff for i in range(n)) for k, n in
              enumerate((1000, 70000, 5, 300000, 4096, 12345))]
    with Env(conf=TWO) as env, env.connect(timeout=20) as c:
        kbaltest.hand_over(c, "/first")
        for k, body in enumerate(bodies):
            p = "/api/up%d" % k if k % 2 else "/up%d" % k
            if k % 3 == 0:
                c.request("POST", p, body=body)
            elif k % 3 == 1:
                c.request("POST", p, headers=[("Transfer-Encoding", "chunked")],
                          body=chunked(body))
            else:
                c.request("POST", p, headers=[("Expect", "100-continue"),
                                              ("Content-Length", str(len(body)))])
                r = c.read_response(interim=True)
                eq(r.status, 100, "100 Continue for %s" % p)
                c.send(body)
            r = c.read_response()
            eq((r.status, r.text), (200, crc_line(body)), "POST %s" % p)
            eq(r.header("X-Backend"), "WAS%d" % where(p), "the member of POST %s" % p)
            r = c.get(p + "/get")
            eq((r.status, r.text), (200, answer(where(p), p + "/get")), "GET after POST %s" % p)


def member_no(r):
    return int(r.header("X-Backend")[-1])


def test_member_disabled_midway():
    conf = without_route_cookie(EXAMPLE_CONF)
    with Env(conf=conf) as env, env.connect() as c:
        n = member_no(kbaltest.hand_over(c, "/first"))
        for i in range(3):
            r = c.get("/k%d" % i)
            eq((r.status, r.text), (200, answer(n, "/k%d" % i)), "request %d on member %d" % (i, n))
        kept = env.stats()["sk_kept"]
        check(kept >= 3, "the kernel kept them: %r" % env.stats())
        env.kbalctl("set", "mycluster", str(n), "status=+D")
        # the very next request goes to the other member
        r = c.get("/after-disable")
        eq((r.status, r.text), (200, answer(3 - n, "/after-disable")), "after disabling %d" % n)
        for i in range(3):
            r = c.get("/d%d" % i)
            eq((r.status, r.text), (200, answer(3 - n, "/d%d" % i)), "later request %d" % i)
        check(env.stats()["sk_back"] >= 1, "handed back: %r" % env.stats())


def test_manager_on_spliced_connection():
    conf = without_route_cookie(EXAMPLE_CONF)
    with Env(conf=conf) as env, env.connect() as c:
        n = member_no(kbaltest.hand_over(c, "/first"))
        for i in range(3):
            eq(c.get("/k%d" % i).text, answer(n, "/k%d" % i), "request %d" % i)
        check(env.stats()["sk_kept"] >= 3, "kept in the kernel: %r" % env.stats())
        r = c.get("/balancer-manager")
        eq(r.status, 200, "the manager's status")
        check("balancer://mycluster" in r.text and r.header("X-Backend") is None,
              "the manager page, not a member's answer: %r" % r.text[:200])
        # kbald answers the manager page with Connection: close, as it does
        # on a fresh connection (keeping it open is the manager's issue)
        eq(r.header("Connection"), "close", "the manager page's Connection")
        check(c.at_eof(2.0), "the connection ends after the page")


def test_sticky_cookie_switches_member():
    with Env(conf=EXAMPLE_CONF) as env, env.connect() as c:
        for i in range(4):
            r = c.get("/one%d" % i, cookie="ROUTEID=route.1")
            eq((r.status, r.text), (200, answer(1, "/one%d" % i)), "route.1 request %d" % i)
        check(env.stats()["sk_kept"] >= 2, "route.1 requests kept: %r" % env.stats())
        for i in range(3):
            r = c.get("/two%d" % i, cookie="ROUTEID=route.2")
            eq((r.status, r.text), (200, answer(2, "/two%d" % i)), "route.2 request %d" % i)
        r = c.get("/one-again", cookie="ROUTEID=route.1")
        eq((r.status, r.text), (200, answer(1, "/one-again")), "route.1 again")
        # a request without the cookie gets one (Header ... BALANCER_ROUTE_CHANGED)
        r = c.get("/none")
        check(r.header("Set-Cookie", "").startswith("ROUTEID=route."),
              "Set-Cookie for a request without a route: %r" % r.header("Set-Cookie"))


def test_location_rewritten_on_later_response():
    with Env(conf=EXAMPLE_CONF) as env:
        fresh = env.get("/redirect", headers=[("Host", "www.example.test")])
        eq(fresh.status, 302, "status on a fresh connection")
        with env.connect() as c:
            host = [("Host", "www.example.test")]
            for i in range(4):
                r = c.get("/k%d" % i, cookie="ROUTEID=route.1", headers=host)
                eq((r.status, r.text), (200, answer(1, "/k%d" % i)), "request %d" % i)
            check(env.stats()["sk_kept"] >= 2, "kept in the kernel: %r" % env.stats())
            r = c.get("/redirect", cookie="ROUTEID=route.1", headers=host)
            eq((r.status, r.header("Location")), (302, "http://www.example.test/landing"),
               "the redirect's Location on the spliced connection")
            eq(r.header("Location"), fresh.header("Location"), "as on a fresh connection")
            r = c.get("/after", cookie="ROUTEID=route.1", headers=host)
            eq((r.status, r.text), (200, answer(1, "/after")), "a request after it")


def test_host_change_is_decided_by_kbald():
    with Env(conf=without_route_cookie(EXAMPLE_CONF)) as env, env.connect() as c:
        n = member_no(kbaltest.hand_over(c, "/first"))
        eq(c.get("/same").text, answer(n, "/same"), "the same Host")
        r = c.get("/echo-headers", headers=[("Host", "other.example.test")])
        eq(r.status, 200, "another Host")
        check("other.example.test" in r.text.lower(), "the member got the new Host: %r" % r.text)
        check(env.stats()["sk_back"] >= 1, "handed back on another Host: %r" % env.stats())


def test_splice_off_decides_every_request():
    # KbalSplice off: kbald copies, and decides each request on its own,
    # bodies and pipelined ones included
    conf = TWO.replace("ProxyPreserveHost On", "ProxyPreserveHost On\nKbalSplice off")
    with Env(conf=conf) as env, env.connect(timeout=20) as c:
        body = bytes(range(256)) * 300
        for k in range(4):
            p = "/api/o%d" % k if k % 2 else "/o%d" % k
            c.request("POST", p, body=body)
            r = c.read_response()
            eq((r.status, r.text, r.header("X-Backend")), (200, crc_line(body), "WAS%d" % where(p)),
               "POST %s" % p)
        paths = ["/q1", "/api/q2", "/api/q3", "/q4"]
        c.send(b"".join(build_request("GET", p, host=c.host_header) for p in paths))
        for p in paths:
            r = c.read_response()
            eq((r.status, r.text), (200, answer(where(p), p)), "pipelined GET %s" % p)
        eq(env.stats()["redirected_bytes"], 0, "bytes the kernel carried")
