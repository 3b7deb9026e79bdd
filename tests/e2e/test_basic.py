# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Balancing as mod_proxy_balancer does it: sticky ROUTEID, byrequests
alternation, the headers a reverse proxy adds."""

from kbaltest import Env, check, eq


def route(backend):
    """WAS1 answers for route 1 in the example config."""
    check(backend in ("WAS1", "WAS2"), "unexpected X-Backend %r" % backend)
    return backend[-1]


def cookie_for(r):
    return r.header_all("Set-Cookie")


def test_sticky_cookie_picks_member():
    with Env() as env:
        for i in range(3):
            r = env.get("/s%d" % i, cookie="ROUTEID=route.2")
            eq(r.status, 200, "status")
            eq(r.header("X-Backend"), "WAS2", "member for ROUTEID=route.2")
            eq(r.text, "backend=WAS2 path=/s%d\n" % i, "body")
            eq(cookie_for(r), [], "Set-Cookie when the route is kept")
        r = env.get("/one", cookie="ROUTEID=route.1")
        eq(r.header("X-Backend"), "WAS1", "member for ROUTEID=route.1")
        eq(cookie_for(r), [], "Set-Cookie when the route is kept")
        # the cookie among others, as browsers send it
        r = env.get("/mixed", cookie="a=b; ROUTEID=route.2; c=d")
        eq(r.header("X-Backend"), "WAS2", "member for ROUTEID among other cookies")


def test_new_client_gets_route_cookie():
    with Env() as env:
        for i in range(2):
            r = env.get("/new%d" % i)
            eq(r.status, 200, "status")
            n = route(r.header("X-Backend"))
            eq(cookie_for(r), ["ROUTEID=route.%s; path=/;" % n], "Set-Cookie of a new client")
            # and the cookie brings it back to the same member
            r = env.get("/back", cookie="ROUTEID=route.%s" % n)
            eq(r.header("X-Backend"), "WAS" + n, "member for the cookie just given")
            eq(cookie_for(r), [], "Set-Cookie when the route is kept")


def test_unknown_route_gets_new_cookie():
    with Env() as env:
        r = env.get("/", cookie="ROUTEID=route.9")
        eq(r.status, 200, "status")
        n = route(r.header("X-Backend"))
        eq(cookie_for(r), ["ROUTEID=route.%s; path=/;" % n], "Set-Cookie for an unknown route")


def test_byrequests_alternates():
    with Env() as env:
        names = [env.get("/a%d" % i).header("X-Backend") for i in range(10)]
        eq(sorted(names), ["WAS1"] * 5 + ["WAS2"] * 5, "10 new clients: %r" % names)
        for a, b in zip(names, names[1:]):
            check(a != b, "byrequests did not alternate: %r" % names)


def test_forwarded_headers_and_preserved_host():
    with Env() as env:
        r = env.get("/echo-headers", headers=[("Host", "example.test:8080"),
                                              ("X-Test", "kept")])
        eq(r.status, 200, "status")
        head = r.text
        check(head.endswith("\r\n\r\n"), "head as received by the member: %r" % head)
        lines = head[:-4].split("\r\n")
        eq(lines[0], "GET /echo-headers HTTP/1.1", "request line at the member")
        got = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            got.setdefault(k.strip().lower(), []).append(v.strip())
        eq(got.get("host"), ["example.test:8080"], "Host (ProxyPreserveHost On)")
        eq(got.get("x-forwarded-for"), ["127.0.0.1"], "X-Forwarded-For")
        eq(got.get("x-forwarded-host"), ["example.test:8080"], "X-Forwarded-Host")
        check(got.get("x-forwarded-server", [""])[0] != "",
              "no X-Forwarded-Server in %r" % head)
        eq(got.get("x-test"), ["kept"], "the client's own header")
