# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""mod_proxy's settings inside <VirtualHost> (issue 17), side by side with
Debian's apache2 on the same configuration: ProxyVia and ProxyAddHeaders
(a virtual host's overrides the server's, one that sets none inherits it),
ProxyPassReverseCookiePath/-Domain (the server's maps, then the virtual
host's), ProxyPassInherit and BalancerInherit, on kept-alive connections that
switch Host between requests; KeepAlive, MaxKeepAliveRequests,
KeepAliveTimeout, Timeout and ProxyTimeout of a virtual host (a member's connect timeout
too). What the member received and what the client got are compared."""

import contextlib
import socket
import time

from apache import apache_beside, host_steps, same_as_apache
from kbaltest import PROXY_HEAD, Conn, Env, check, eq

T = 10.0

HOSTS = ("first.test", "second.test", "third.test")

VIA = PROXY_HEAD + """\
ServerName proxy.example
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
ProxyPreserveHost On
@SERVER@
<VirtualHost *>
ServerName first.test
@FIRST@
</VirtualHost>
<VirtualHost *>
ServerName second.test
</VirtualHost>
<VirtualHost *>
ServerName third.test
@THIRD@
</VirtualHost>
"""

ASK = [("Via", "1.0 first"), ("X-Forwarded-For", "1.1.1.1")]


def heads(port):
    """Runs of four requests of each Host on one connection (the kernel
    would keep the later ones of a run): the answer's Via lines and the
    member's Via and X-Forwarded-* lines (the port written PORT)"""
    out = []
    with Conn(port, timeout=T) as c:
        for host in [h for h in HOSTS + HOSTS for _ in range(4)]:
            r = c.get("/echo-headers", headers=[("Host", host)] + ASK)
            eq(r.status, 200, "%s: status" % host)
            lines = [ln.split(":", 1) for ln in r.text.split("\r\n")[1:] if ":" in ln]
            got = [(k.strip().lower(), v.strip().replace(str(port), "PORT")) for k, v in lines
                   if k.strip().lower() in ("via", "x-forwarded-for", "x-forwarded-host",
                                            "x-forwarded-server")]
            out.append((host, [v.replace(str(port), "PORT") for v in r.header_all("Via")],
                        got))
    return out


def via_run(server, first, third):
    conf = VIA.replace("@SERVER@", server).replace("@FIRST@", first) \
              .replace("@THIRD@", third)
    with Env(conf=conf, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = heads(aport)
        eq(heads(env.port), theirs, "kbal against Apache")
        # a Via rule in any virtual host: kbald decides every request
        eq(env.stats()["kept"], 0, "requests the kernel kept")
        got = {}
        for h, v, g in theirs:
            eq(got.setdefault(h, (v, g)), (v, g), "Apache: every answer in %s alike" % h)
        return got


def test_via_and_add_headers_set_in_a_virtual_host():
    got = via_run("", "ProxyVia On\nProxyAddHeaders Off", "ProxyVia Block")
    # the test's reading of Apache's
    eq(got["first.test"], (["1.1 first.test"],
                           [("via", "1.0 first, 1.1 first.test"),
                            ("x-forwarded-for", "1.1.1.1")]),
       "Apache: first.test's ProxyVia On (its ServerName; no port: the Host has none, "
       "nor its ServerName), ProxyAddHeaders Off")
    eq(got["second.test"], ([], [("via", "1.0 first"), ("x-forwarded-for", "1.1.1.1, 127.0.0.1"),
                                 ("x-forwarded-host", "second.test"),
                                 ("x-forwarded-server", "second.test")]),
       "Apache: second.test inherits the server's defaults")
    eq(got["third.test"][0], [], "Apache: third.test's Block, no Via on the answer")
    eq([k for k, _ in got["third.test"][1]].count("via"), 0, "Apache: Block drops the client's")


def test_via_and_add_headers_inherited_from_the_server():
    got = via_run("ProxyVia On\nProxyAddHeaders Off", "ProxyVia Off\nProxyAddHeaders On", "")
    eq(got["first.test"], ([], [("via", "1.0 first"), ("x-forwarded-for", "1.1.1.1, 127.0.0.1"),
                                ("x-forwarded-host", "first.test"),
                                ("x-forwarded-server", "first.test")]),
       "Apache: first.test overrides both")
    eq(got["second.test"], (["1.1 second.test"],
                            [("via", "1.0 first, 1.1 second.test"),
                             ("x-forwarded-for", "1.1.1.1")]),
       "Apache: second.test inherits On and Off")


COOKIES = PROXY_HEAD + """\
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
ProxyPreserveHost On
ProxyPassReverseCookieDomain backend.internal server.example
<VirtualHost *>
ServerName first.test
ProxyPassReverseCookiePath /app /first
ProxyPassReverseCookieDomain backend.internal first.example
ProxyPassReverseCookieDomain other.internal first.example
</VirtualHost>
<VirtualHost *>
ServerName second.test
</VirtualHost>
"""


def cookies(port):
    out = []
    with Conn(port, timeout=T) as c:
        for host in ("first.test", "second.test", "first.test", "second.test"):
            r = c.get("/cookies", headers=[("Host", host)])
            out.append((host, r.status, r.header_all("Set-Cookie")))
    return out


def test_cookie_maps_of_a_virtual_host():
    with Env(conf=COOKIES, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = cookies(aport)
        # the member's: a=1 Path=/app/x Domain=backend.internal, b=2
        # path=/other, c=3 domain=BACKEND.Internal path=/app
        eq(theirs[0][2], ["a=1; Path=/first; Domain=server.example; HttpOnly",
                          "b=2;path=/other", "c=3; domain=server.example; path=/first"],
           "Apache's (the test's reading): first.test's path map, the server's domain map "
           "before first.test's")
        eq(theirs[1][2], ["a=1; Path=/app/x; Domain=server.example; HttpOnly",
                          "b=2;path=/other", "c=3; domain=server.example; path=/app"],
           "Apache's: second.test has the server's only")
        eq(cookies(env.port), theirs, "kbal against Apache")
        eq(env.stats()["kept"], 0, "answers the kernel passed with cookie maps")


# ProxyPassInherit and BalancerInherit as apache2 2.4.71 has them: httpd's
# merge_proxy_config() appends the server's ProxyPass rules to every
# virtual host's whatever ProxyPassInherit says, and merges the server's
# balancers unless both are Off (first.test, with ProxyPassInherit Off
# alone, and second.test, with BalancerInherit Off alone, keep both);
# third.test, with both Off, has none of the server's balancers: a rule
# that names one, the server's own rules and its <Location>'s included,
# is answered 503, a plain worker's URL is still proxied. Nothing
# rewrites and /own/ keeps its path, so the kernel keeps requests, each
# virtual host's with its own rule table.
INHERIT = PROXY_HEAD + """\
ProxyPreserveHost On
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass /srv/ balancer://c/srv/
ProxyPass /own/x !
ProxyPass /plain/ http://127.0.0.1:{b1}/plain/
<Location /loc/>
ProxyPass balancer://c/loc/
</Location>
<VirtualHost *>
ServerName first.test
ProxyPassInherit Off
<Proxy balancer://one>
BalancerMember http://127.0.0.1:{b2}
</Proxy>
ProxyPass /own/ balancer://one/own/
ProxyPass /shared/ balancer://c/shared/
</VirtualHost>
<VirtualHost *>
ServerName second.test
BalancerInherit Off
BalancerMember balancer://two http://127.0.0.1:{b3}
ProxyPass /own/ balancer://two/own/
ProxyPass /shared/ balancer://c/shared/
</VirtualHost>
<VirtualHost *>
ServerName third.test
ProxyPassInherit Off
BalancerInherit Off
BalancerMember balancer://three http://127.0.0.1:{b4}
ProxyPass /own/ balancer://three/own/
ProxyPass /shared/ balancer://c/shared/
</VirtualHost>
"""

PATHS = ("/own/a", "/own/b", "/own/c", "/srv/a", "/own/d", "/own/x", "/own/e", "/loc/a",
         "/own/f", "/shared/a", "/own/g", "/plain/a", "/own/h")
INHERIT_STEPS = [(h, p) for h in ("first.test", "second.test", "third.test") for p in PATHS] + \
    [("third.test", "/own/i"), ("first.test", "/srv/b"), ("third.test", "/srv/b")]


def inherit_answers(port):
    return host_steps(port, INHERIT_STEPS, lambda r: (r.status, r.text), timeout=T, reopen=True)


def test_proxy_pass_and_balancer_inherit():
    with Env(conf=INHERIT, backends=(1, 2, 3, 4)) as env, apache_beside(env) as aport:
        theirs = inherit_answers(aport)
        got = {(h, p): (s, t) for h, p, s, t in theirs}
        # the test's reading of Apache's
        eq(got[("first.test", "/srv/a")], (200, "backend=WAS1 path=/srv/a\n"),
           "Apache: the server's rule in first.test, ProxyPassInherit Off notwithstanding")
        eq(got[("first.test", "/own/x")][0], 404, "Apache: and the server's exclusion")
        eq(got[("first.test", "/own/a")], (200, "backend=WAS2 path=/own/a\n"),
           "Apache: first.test's own rule")
        eq(got[("first.test", "/shared/a")], (200, "backend=WAS1 path=/shared/a\n"),
           "Apache: the server's balancer in first.test (ProxyPassInherit Off alone)")
        eq(got[("second.test", "/shared/a")], (200, "backend=WAS1 path=/shared/a\n"),
           "Apache: and in second.test (BalancerInherit Off alone)")
        for p in ("/srv/a", "/loc/a", "/shared/a"):
            eq(got[("third.test", p)][0], 503, "Apache: no balancer://c in third.test (%s)" % p)
        eq(got[("third.test", "/own/x")][0], 404, "Apache: the server's exclusion in third.test")
        eq(got[("third.test", "/own/a")], (200, "backend=WAS4 path=/own/a\n"),
           "Apache: third.test's own balancer")
        eq(got[("third.test", "/plain/a")], (200, "backend=WAS1 path=/plain/a\n"),
           "Apache: a plain worker's URL proxied in third.test")
        before = env.stats()["kept"]
        same_as_apache(theirs, inherit_answers(env.port))
        check(env.stats()["kept"] > before, "the kernel kept some: %r" % env.stats())


# LimitRequestLine, -FieldSize, -Fields: httpd reads a request's head as
# the server its address picks (conn->base_server: here first.test, the
# first on the address) before its Host is known, so second.test's own are
# never used, whatever the Host; a <VirtualHost> copies the server's as
# they were where it opened (the LimitRequestFields 8 after them is not
# theirs). The kernel keeps requests within the smallest of all (100, 300,
# 5 fields) and hands back a head over any to kbald, which applies the
# connection's.
LIMITS = PROXY_HEAD + """\
ProxyPreserveHost On
LimitRequestFieldSize 300
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
<VirtualHost *>
ServerName first.test
LimitRequestLine 100
</VirtualHost>
<VirtualHost *>
ServerName second.test
LimitRequestLine 500
LimitRequestFields 5
</VirtualHost>
LimitRequestFields 8
"""

A = "a" * 4000


def limit_cases(host):
    """(tag, head) around each limit, with Host host"""
    out = []
    for n in (101, 102, 300):
        path = "/%s-line%d-" % (host[0], n)
        out.append(("line%d" % n, "GET %s%s HTTP/1.1" % (path, A[:n - len(path) - 13]), []))
    for n in (301, 302):
        out.append(("field%d" % n, None, ["X-Big: " + A[:n - 7]]))
    for n in (6, 9, 100, 101):
        out.append(("fields%d" % n, None, ["X-F%d: y" % i for i in range(n - 1)]))
    heads = []
    for tag, rl, fields in out:
        rl = rl or "GET /%s-%s HTTP/1.1" % (host[0], tag)
        heads.append((tag, ("\r\n".join([rl, "Host: " + host] + fields) + "\r\n\r\n").encode()))
    return heads


def limit_status(port, data):
    with Conn(port, timeout=T) as c:
        c.send(data)
        return c.read_response().status


def test_head_limits_of_the_address_virtual_host():
    with Env(conf=LIMITS, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = {(h, tag): limit_status(aport, data)
                  for h in ("second.test", "first.test") for tag, data in limit_cases(h)}
        # the test's reading of Apache's
        eq([theirs[("second.test", t)] for t in ("line101", "line102", "line300")],
           [200, 414, 414], "Apache: first.test's LimitRequestLine 100 for second.test")
        eq([theirs[("second.test", t)] for t in ("field301", "field302")], [200, 400],
           "Apache: the server's LimitRequestFieldSize, copied")
        eq([theirs[("second.test", t)] for t in ("fields6", "fields9", "fields100",
                                                  "fields101")], [200, 200, 200, 400],
           "Apache: not second.test's 5 fields, nor the server's 8 written after")
        for h in ("second.test", "first.test"):
            for tag, data in limit_cases(h):
                eq(limit_status(env.port, data), theirs[(h, tag)],
                   "kbal against Apache: %s %s on a fresh connection" % (h, tag))
                # on a connection the kernel carries (framed from its
                # second request): within the smallest limits kept, else
                # handed back to kbald, which answers as Apache
                with Conn(env.port, timeout=T) as c:
                    for p in ("/ka1", "/ka2"):
                        eq(c.get(p, headers=[("Host", h)]).status, 200, "%s %s" % (h, p))
                    kept = env.stats()["kept"]
                    c.send(data)
                    eq(c.read_response().status, theirs[(h, tag)],
                       "kbal against Apache: %s %s on a spliced connection" % (h, tag))
                    if tag in ("line101", "field301"):
                        check(env.stats()["kept"] > kept, "%s %s kept" % (h, tag))


# KeepAlive and MaxKeepAliveRequests: the request's virtual host's (httpd's
# ap_set_keepalive() reads r->server's, once the Host picked it), its own
# else the server's (the line after the sections counts: ap_fixup_virtual_
# hosts() copies the server's final value), against the connection's
# requests so far whatever their Host. The kernel counts a connection's
# requests against its Host's table (kbal_rules.max_requests).
KEEPALIVE = PROXY_HEAD + """\
ProxyPreserveHost On
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
<VirtualHost *>
ServerName first.test
MaxKeepAliveRequests 5
</VirtualHost>
<VirtualHost *>
ServerName second.test
</VirtualHost>
<VirtualHost *>
ServerName third.test
KeepAlive Off
</VirtualHost>
<VirtualHost *>
ServerName fourth.test
MaxKeepAliveRequests 2
</VirtualHost>
MaxKeepAliveRequests 3
"""

KA_RUNS = [["first.test"] * 8, ["second.test"] * 8, ["third.test"] * 3,
           ["first.test", "first.test", "second.test", "second.test", "first.test"],
           ["second.test", "second.test", "first.test", "first.test", "first.test",
            "first.test"],
           ["first.test", "third.test", "first.test"], ["fourth.test"] * 5]


def ka_session(port, hosts, full=True):
    """One connection, a request per Host in turn: each answer's status,
    Connection and Keep-Alive (full; else "close" or "-": the answers the
    kernel passes carry no Keep-Alive, operating.md), then whether the
    connection ended"""
    out = []
    with Conn(port, timeout=T) as c:
        for i, h in enumerate(hosts):
            r = c.get("/ka%d" % i, headers=[("Host", h), ("Connection", "keep-alive")])
            conn = (r.header("Connection") or "").lower()
            out.append((h, r.status, conn, r.header("Keep-Alive")) if full else
                       (h, r.status, "close" if "close" in conn else "-"))
            if "close" in conn:
                out.append("eof" if c.at_eof(T) else "open")
                break
    return out


def test_keepalive_of_the_request_virtual_host():
    with Env(conf=KEEPALIVE, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = [ka_session(aport, hosts) for hosts in KA_RUNS]
        # the test's reading of Apache's
        eq([a[1:3] for a in theirs[0][:6]], [(200, "keep-alive")] * 5 + [(200, "close")],
           "Apache: first.test's 5")
        eq(theirs[0][0][3], "timeout=5, max=5", "Apache: first.test's Keep-Alive")
        eq([a[1:3] for a in theirs[1][:4]], [(200, "keep-alive")] * 3 + [(200, "close")],
           "Apache: second.test has the server's 3, written after it")
        eq(theirs[2][0][1:3], (200, "close"), "Apache: third.test's KeepAlive Off")
        eq([a[1:3] for a in theirs[6][:3]], [(200, "keep-alive")] * 2 + [(200, "close")],
           "Apache: fourth.test's 2")
        eq(theirs[3][3][1:3], (200, "close"),
           "Apache: second.test's 3 counts first.test's requests on the connection")
        before = env.stats()
        for hosts, a in zip(KA_RUNS, theirs):
            ours = ka_session(env.port, hosts, full=False)
            eq(ours, [x if x in ("eof", "open") else
                      (x[0], x[1], "close" if "close" in x[2] else "-") for x in a],
               "kbal against Apache on %r" % hosts)
        # kbald's own answer (a connection's first): Keep-Alive as Apache's
        for hosts, a in zip(KA_RUNS, theirs):
            eq(ka_session(env.port, hosts[:1])[0], a[0], "kbal's first answer on %r" % hosts)
        after = env.stats()
        check(after["kept"] > before["kept"], "the kernel kept some: %r" % after)
        check(after["sk_last"] > before["sk_last"],
              "the kernel handed back a last request: %r" % after)


# LimitRequestBody: per directory in httpd (its own in a <VirtualHost>,
# else the server's, wherever written), applied to what kbald answers
# itself, the manager's form here; a proxied body passes whatever it is.
BODY = PROXY_HEAD + """\
LoadModule authz_host_module modules/mod_authz_host.so
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass /balancer-manager !
ProxyPass / balancer://c/
<Location /balancer-manager>
SetHandler balancer-manager
Require all granted
</Location>
<VirtualHost *>
ServerName first.test
</VirtualHost>
<VirtualHost *>
ServerName second.test
LimitRequestBody 1000
</VirtualHost>
LimitRequestBody 3000
"""


def body_statuses(port):
    out = []
    for host in ("first.test", "second.test"):
        for n in (900, 2000, 4000):
            body = b"b=" + b"x" * (n - 2)
            with Conn(port, timeout=T) as c:
                c.request("POST", "/balancer-manager", body=body, headers=[
                    ("Host", host), ("Content-Type", "application/x-www-form-urlencoded"),
                    ("Referer", "http://%s/balancer-manager" % host)])
                out.append((host, n, c.read_response().status == 413))
            with Conn(port, timeout=T) as c:
                c.request("POST", "/up-%d" % n, body=body, headers=[("Host", host)])
                out.append((host, "proxied", n, c.read_response().status))
    return out


def test_request_body_limit_of_a_virtual_host():
    with Env(conf=BODY, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = body_statuses(aport)
        eq([x for x in theirs if x[1] != "proxied"],
           [("first.test", 900, False), ("first.test", 2000, False), ("first.test", 4000, True),
            ("second.test", 900, False), ("second.test", 2000, True),
            ("second.test", 4000, True)],
           "Apache (the test's reading): second.test's 1000, first.test the server's 3000")
        eq(body_statuses(env.port), theirs, "kbal against Apache")


# ProxyVia's port at server level: ap_get_server_port(), the Host's port,
# else the server's own (ServerName's: none here), never the port the
# connection reached; ServerName with a port gives it.
def via_port(port, host):
    with Conn(port, timeout=T) as c:
        c.send(("GET /echo-headers HTTP/1.0\r\n%s\r\n" %
                ("Host: %s\r\n" % host if host else "")).encode())
        r = c.read_response()
        member = [ln.split(":", 1)[1].strip() for ln in r.text.split("\r\n")
                  if ln.lower().startswith("via:")]
        return [v.replace(str(port), "PORT") for v in r.header_all("Via")], member


def test_via_port_as_apache():
    for name, want in (("proxy.example", ["1.0 proxy.example"]),
                       ("proxy.example:8000", ["1.0 proxy.example:8000"])):
        conf = VIA.replace("@SERVER@", "ProxyVia On").replace("@FIRST@", "") \
                  .replace("@THIRD@", "").replace("ServerName proxy.example",
                                                  "ServerName " + name)
        conf = conf[:conf.index("<VirtualHost")]
        with Env(conf=conf, backends=(1,)) as env, apache_beside(env) as aport:
            for host in (None, "example.test", "example.test:81"):
                theirs = via_port(aport, host)
                if host is None:
                    eq(theirs, (want, want), "Apache (the test's reading): %s, no Host" % name)
                eq(via_port(env.port, host), theirs, "kbal against Apache: %s, Host %s" %
                   (name, host))


# KeepAliveTimeout: httpd's event MPM waits for a connection's next request
# the KeepAliveTimeout of its last request's virtual host where that one
# sets it, else the connection's address's (c->base_server: the first
# <VirtualHost> on it, first.test here), whose own is else the server's;
# the Keep-Alive line says r->server's (its own, else the server's final
# one). Timeout and ProxyTimeout: the request's virtual host's, ProxyTimeout
# (its own, else the server's) before Timeout (its own, else the server's),
# for the member's answer. On the sockmap path (the packet path's clocks:
# test_packet.py::test_packet_flow_clocks_as_httpd).
TIMEOUTS = PROXY_HEAD + """\
ProxyPreserveHost On
KbalSplice sockmap
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
<VirtualHost *>
ServerName first.test
KeepAliveTimeout 1
Timeout 2
</VirtualHost>
<VirtualHost *>
ServerName second.test
</VirtualHost>
<VirtualHost *>
ServerName third.test
KeepAliveTimeout 4
ProxyTimeout 1
</VirtualHost>
KeepAliveTimeout 3
"""

TIMEOUT_HOSTS = ("first.test", "second.test", "third.test")


def idle_close(port, host, n):
    """n requests on one connection, then idle: the last Keep-Alive line,
    and how long until the connection was closed (None: not within 7 s)"""
    with Conn(port, timeout=T) as c:
        for i in range(n):
            r = c.get("/to%d" % i, headers=[("Host", host), ("Connection", "keep-alive")])
            eq(r.status, 200, "%s: request %d" % (host, i))
        t0 = time.monotonic()
        return r.header("Keep-Alive"), (time.monotonic() - t0 if c.at_eof(7.0) else None)


def hang(port, host):
    """A member that never answers: the status and how long it took (None:
    nothing within 3.5 s)"""
    with Conn(port, timeout=3.5) as c:
        c.request("GET", "/fault-hang", headers=[("Host", host)])
        t0 = time.monotonic()
        try:
            return c.read_response().status, round(time.monotonic() - t0)
        except OSError:
            return None, None


def test_timeouts_of_a_virtual_host():
    with Env(conf=TIMEOUTS, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = {(h, n): idle_close(aport, h, n) for h in TIMEOUT_HOSTS for n in (1, 3)}
        # the test's reading of Apache's
        for n in (1, 3):
            eq([theirs[h, n][0].split(",")[0] for h in TIMEOUT_HOSTS],
               ["timeout=1", "timeout=3", "timeout=4"], "Apache: r->server's Keep-Alive")
            eq([round(theirs[h, n][1] or 99) for h in TIMEOUT_HOSTS], [1, 1, 4],
               "Apache: closed after first.test's, the address's (second.test), third.test's")
        for (h, n), (ka, took) in theirs.items():
            ours = idle_close(env.port, h, n)
            if n == 1:   # (the answers the kernel passes carry none: operating.md)
                eq(ours[0], ka, "kbal's Keep-Alive against Apache's: %s" % h)
            check(ours[1] is not None and abs(ours[1] - took) < 1.2,
                  "kbal closed %s after %d requests in %r s, Apache in %.1f s" %
                  (h, n, ours[1], took))
        theirs = [hang(aport, h) for h in TIMEOUT_HOSTS]
        eq([t[1] for t in theirs], [2, None, 1],
           "Apache: first.test's Timeout, second.test the server's 60 s, third.test's "
           "ProxyTimeout")
        eq([hang(env.port, h) for h in TIMEOUT_HOSTS], theirs, "kbal against Apache")


# A member's connect timeout: mod_proxy_http's ap_proxy_connect_backend()
# is given r->server, the request's virtual host: without
# connectiontimeout= or timeout= on the member, its ProxyTimeout (its own,
# else the server's), else its Timeout (its own, else the server's). The
# member's port takes no connection (blackhole()): every connect waits
# its timeout, then 503 (retry=0: the worker is tried again each time).
CONNECT = PROXY_HEAD + """\
ProxyPreserveHost On
Timeout 3
ProxyPass / http://127.0.0.1:{b2}/ retry=0
<VirtualHost *>
ServerName first.test
Timeout 2
</VirtualHost>
<VirtualHost *>
ServerName second.test
</VirtualHost>
<VirtualHost *>
ServerName third.test
ProxyTimeout 1
</VirtualHost>
"""


@contextlib.contextmanager
def blackhole(port):
    """A listener on port whose accept queue is full: the SYNs that come
    are dropped, a connect never completes (test_failover.py's way)"""
    hole, fillers = socket.socket(), []
    try:
        hole.bind(("127.0.0.1", port))
        hole.listen(0)
        for _ in range(2):   # never accepted
            f = socket.socket()
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
            fillers.append(f)
        time.sleep(0.1)
        yield
    finally:
        for f in fillers:
            f.close()
        hole.close()


def connect_wait(port, host):
    """A request whose member never takes the connection: the status and
    how long it took, in whole seconds"""
    with Conn(port, timeout=6.0) as c:
        c.request("GET", "/connect", headers=[("Host", host)])
        t0 = time.monotonic()
        return c.read_response().status, round(time.monotonic() - t0)


def test_member_connect_timeout_of_a_virtual_host():
    with Env(conf=CONNECT, backends=()) as env, blackhole(env.ports["b2"]), \
            apache_beside(env) as aport:
        theirs = [connect_wait(aport, h) for h in TIMEOUT_HOSTS]
        eq(theirs, [(503, 2), (503, 3), (503, 1)],
           "Apache: first.test's Timeout, second.test the server's, third.test's ProxyTimeout")
        eq([connect_wait(env.port, h) for h in TIMEOUT_HOSTS], theirs, "kbal against Apache")
