# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Header and RequestHeader in their forms (mod_headers; issue 17), side by
side with Debian's apache2 on the same configuration and members: what
the client gets (always and onsuccess tables, set, append, merge, edit,
edit*, setifempty, unset, echo, env= and env=!, the balancer's
variables) and what the member gets (RequestHeader before mod_proxy's
X-Forwarded-For), on kept-alive connections with and without the route
cookie. With such rules kbald decides every request: the kernel keeps
none."""

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, check, eq

T = 10.0

CONF = PROXY_HEAD + """\
LoadModule headers_module modules/mod_headers.so
<Proxy balancer://mycluster>
BalancerMember http://127.0.0.1:{b1} route=1
BalancerMember http://127.0.0.1:{b2} route=2
ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass / balancer://mycluster/
ProxyPreserveHost On
Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED
Header set X-Kept-Route "%{BALANCER_SESSION_ROUTE}e of %{BALANCER_SESSION_STICKY}e" env=!BALANCER_ROUTE_CHANGED
Header always set X-Always "route %{BALANCER_WORKER_ROUTE}e on %{BALANCER_NAME}e"
Header onsuccess unset X-Always
Header append X-Backend "via %{BALANCER_WORKER_NAME}e"
Header edit* X-Backend "WAS(\\d)" "was-$1"
Header edit Content-Type "^text/(\\w+)" "text/x-$1"
Header merge Cache-Control no-store
Header merge Cache-Control no-store
Header setifempty X-Frame-Options SAMEORIGIN
Header setifempty X-Backend never
Header echo ^X-Echo-
Header set X-Unset-Var "[%{NOT_SET_ANYWHERE}e] 100%%"
Header add X-Never never env=NOT_SET_ANYWHERE
RequestHeader set X-Req "r=%{BALANCER_NAME}e"
RequestHeader append X-Forwarded-For 10.9.9.9
RequestHeader edit User-Agent "^(\\w+)/" "$1-edited/"
RequestHeader unset X-Drop
RequestHeader merge Accept text/html
RequestHeader merge Accept application/json
"""

# what the client sees: these headers, each with all its values in order
SEEN = ["set-cookie", "x-kept-route", "x-always", "x-backend", "content-type", "cache-control",
        "x-frame-options", "x-echo-1", "x-echo-2", "x-unset-var", "x-never"]
# what the member got: these lines of the head /echo-headers sends back
SENT = ["x-req", "x-forwarded-for", "user-agent", "x-drop", "accept", "x-echo-1"]

ASK = [("X-Echo-1", "one"), ("X-Echo-2", "two"), ("X-Drop", "d"),
       ("X-Forwarded-For", "1.1.1.1"), ("User-Agent", "curl/8.0"), ("Accept", "text/html")]


def seen(r):
    return [(n, r.header_all(n)) for n in SEEN]


def sent(r):
    lines = [ln.split(":", 1) for ln in r.text.split("\r\n")[1:] if ":" in ln]
    return [(n, [v.strip() for k, v in lines if k.strip().lower() == n]) for n in SENT]


def session(port):
    """Kept alive: without a cookie, with the route of member 1, of member
    2, without again; the answers of each"""
    out = []
    with Conn(port, timeout=T) as c:
        for cookie in (None, "ROUTEID=.1", "ROUTEID=.2", None):
            r = c.get("/echo-headers", cookie=cookie, headers=ASK)
            out.append((r.status, seen(r), sent(r)))
        check(c.idle(0.2), "bytes after the last answer")
    return out


def test_header_forms_as_apache():
    with Env(conf=CONF) as env, apache_beside(env) as aport:
        theirs = session(aport)
        ours = session(env.port)
        # the test's own reading of Apache's answers, so that a change in
        # either shows: the sticky second request, to member 1
        status, hdrs, got = theirs[1]
        eq(status, 200, "Apache's status")
        h = dict(hdrs)
        eq(h["set-cookie"], [], "no cookie for a kept route")
        eq(h["x-kept-route"], ["1 of ROUTEID"], "env=!BALANCER_ROUTE_CHANGED")
        eq(h["x-always"], ["route 1 on balancer://mycluster"],
           "always: a table of its own, onsuccess's unset does not reach it")
        eq(h["x-backend"], ["was-1, via http://127.0.0.1:%d" % env.ports["b1"]],
           "append, then edit*")
        eq(h["cache-control"], ["no-store"], "merge twice: once")
        eq(h["x-echo-1"], ["one"], "echo")
        eq(h["x-unset-var"], ["[(null)] 100%"], "a variable not set, %%")
        eq(h["x-never"], [], "env= of a variable not set")
        g = dict(got)
        eq(g["x-req"], ["r=(null)"], "RequestHeader runs before the balancer sets anything")
        eq(g["x-forwarded-for"], ["1.1.1.1, 10.9.9.9, 127.0.0.1"],
           "RequestHeader append, then mod_proxy's own")
        eq(g["user-agent"], ["curl-edited/8.0"], "RequestHeader edit")
        eq(g["x-drop"], [], "RequestHeader unset")
        eq(g["accept"], ["text/html, application/json"], "RequestHeader merge")
        first = dict(theirs[0][1])
        check(first["set-cookie"] in (["ROUTEID=.1; path=/"], ["ROUTEID=.2; path=/"]),
              "a cookie for a request without its route: %r" % first["set-cookie"])
        eq(first["x-kept-route"], [], "no kept route without a cookie")
        for i, (a, k) in enumerate(zip(theirs, ours)):
            eq(k, a, "request %d: kbal's answer and what the member got, against Apache's" % i)
        eq(env.stats()["kept"], 0, "requests the kernel kept with rules on every answer")


OWN = PROXY_HEAD + """\
LoadModule headers_module modules/mod_headers.so
<Proxy balancer://mycluster>
BalancerMember http://127.0.0.1:{b1} route=1
</Proxy>
ProxyPass /balancer-manager !
ProxyPass /nope !
ProxyPass / balancer://mycluster/
<Location /balancer-manager>
SetHandler balancer-manager
Require all granted
</Location>
Header always set X-Always "a %{BALANCER_NAME}e"
Header set X-Onsuccess b
"""


def test_the_servers_own_answers_as_apache():
    """An error document gets the always rules only, a handler's page
    (the balancer-manager) both, a proxied answer both: as httpd"""
    def answers(port):
        out = []
        with Conn(port, timeout=T) as c:
            for path in ("/nope", "/balancer-manager", "/x"):
                r = c.get(path)
                out.append((path, r.status, r.header_all("X-Always"),
                            r.header_all("X-Onsuccess")))
        return out

    with Env(conf=OWN, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = answers(aport)
        eq(theirs, [("/nope", 404, ["a (null)"], []),
                    ("/balancer-manager", 200, ["a (null)"], ["b"]),
                    ("/x", 200, ["a balancer://mycluster"], ["b"])],
           "Apache's answers (the test's expectation)")
        eq(answers(env.port), theirs, "kbal's against Apache's")


# Header and RequestHeader inside <Location> and <LocationMatch>: after the
# server's rules, for the requests whose path the section takes, sections
# in configuration order (httpd's merge of per-directory configurations)
LOC = PROXY_HEAD + """\
LoadModule headers_module modules/mod_headers.so
<Proxy balancer://mycluster>
BalancerMember http://127.0.0.1:{b1} route=1
</Proxy>
ProxyPass /nope !
ProxyPass /app/deep/ balancer://mycluster/
ProxyPass /app/ balancer://mycluster/
ProxyPass /appx/ balancer://mycluster/
ProxyPass / balancer://mycluster/
Header set X-Layer server
RequestHeader set X-Req server
<Location /app>
Header append X-Layer app
Header always set X-App-Always yes
RequestHeader append X-Req app
</Location>
<LocationMatch "/echo-headers$">
Header append X-Layer match
RequestHeader set X-Match yes
</LocationMatch>
<Location /app/deep>
Header set X-Layer deep
Header unset X-Backend
</Location>
<Location /nope>
Header always set X-Nope here
</Location>
"""


def test_header_in_location_as_apache():
    def answers(port):
        out = []
        with Conn(port, timeout=T) as c:
            for path in ("/echo-headers", "/app/echo-headers", "/app/deep/echo-headers",
                         "/appx/echo-headers", "/app/x", "/nope/y", "/echo-headers"):
                r = c.get(path)
                lines = [ln.split(":", 1) for ln in r.text.split("\r\n")[1:] if ":" in ln]
                got = {n: [v.strip() for k, v in lines if k.strip().lower() == n]
                       for n in ("x-req", "x-match")} if path.endswith("echo-headers") else {}
                out.append((path, r.status, r.header_all("X-Layer"), r.header_all("X-App-Always"),
                            r.header_all("X-Backend"), r.header_all("X-Nope"), got))
        return out

    with Env(conf=LOC, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = answers(aport)
        got = {a[0]: a for a in theirs}
        # the test's reading of Apache's
        eq(got["/app/echo-headers"][2], ["server, app, match"], "Apache: in order, appended")
        eq(got["/app/deep/echo-headers"][2:5], (["deep"], ["yes"], []),
           "Apache: the deeper section's set and unset")
        eq(got["/app/echo-headers"][6], {"x-req": ["server, app"], "x-match": ["yes"]},
           "Apache: RequestHeader in sections")
        eq(got["/appx/echo-headers"][2], ["server, match"], "Apache: /appx is not /app")
        eq(got["/nope/y"][1:6:4], (404, ["here"]), "Apache: always on its own 404")
        eq(answers(env.port), theirs, "kbal's against Apache's")
