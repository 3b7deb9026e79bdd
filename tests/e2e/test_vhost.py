# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Name-based <VirtualHost>s (issue 17), side by side with Debian's apache2
on the same configuration: two on one address told apart by each request's
Host (ServerName, a ServerAlias wildcard, case and port ignored), an
unknown Host (and none, HTTP/1.0) served by the first, the server's
ProxyPass rules inherited by both, a balancer-manager in one of them only;
on kept-alive connections that switch Host between requests, also after a
run of proxied requests the kernel may have kept."""

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, eq

T = 10.0

CONF = PROXY_HEAD + """\
LoadModule alias_module modules/mod_alias.so
LoadModule authz_host_module modules/mod_authz_host.so
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass /app balancer://c
<VirtualHost *>
ServerName first.test
Redirect /r http://first.example
</VirtualHost>
<VirtualHost *>
ServerName second.test
ServerAlias *.second.example www.?.test
Redirect /r http://second.example
<Location /balancer-manager>
SetHandler balancer-manager
Require ip 127.0.0.1
</Location>
</VirtualHost>
"""

# (Host, path), on one connection, in this order
STEPS = [("second.test", "/r/x"), ("first.test", "/r/x"), ("unknown.test", "/r/x"),
         ("a.b.second.example", "/r"), ("second.example", "/r"), ("SECOND.Test:99", "/r"),
         ("www.2.test", "/r"), ("www.22.test", "/r"),
         ("second.test", "/app/1"), ("second.test", "/app/2"), ("second.test", "/app/3"),
         ("first.test", "/r/y"), ("first.test", "/app/4"), ("first.test", "/app/5"),
         ("second.test", "/r/y"),
         ("first.test", "/balancer-manager"), ("second.test", "/balancer-manager"),
         ("x.second.example", "/balancer-manager"), ("nobody", "/balancer-manager")]


def answers(port):
    out = []
    c = Conn(port, timeout=T)
    try:
        for host, path in STEPS:
            r = c.get(path, headers=[("Host", host)])
            where = r.header("Location") if r.status in (301, 302) else \
                r.header("X-Backend") if r.status == 200 and path.startswith("/app") else ""
            out.append((host, path, r.status, where))
            if (r.header("Connection") or "").lower() == "close":
                c.close()
                c = Conn(port, timeout=T)
        # HTTP/1.0 without a Host: the address's first virtual host
        c.request("GET", "/r/z", version="HTTP/1.0")
        r = c.read_response()
        out.append(("", "/r/z", r.status, r.header("Location")))
    finally:
        c.close()
    return out


def test_name_based_as_apache():
    with Env(conf=CONF, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = answers(aport)
        got = {(h, p): (s, w) for h, p, s, w in theirs}
        # the test's reading of Apache's, so that a change in either shows
        eq(got[("second.test", "/r/x")], (302, "http://second.example/x"), "Apache: by name")
        eq(got[("unknown.test", "/r/x")], (302, "http://first.example/x"),
           "Apache: an unknown Host, the first")
        eq(got[("a.b.second.example", "/r")][1], "http://second.example", "Apache: alias *")
        eq(got[("second.example", "/r")][1], "http://first.example", "Apache: * takes a dot")
        eq(got[("SECOND.Test:99", "/r")][1], "http://second.example", "Apache: case, port")
        eq(got[("www.22.test", "/r")][1], "http://first.example", "Apache: ? one byte")
        eq(got[("first.test", "/app/4")][0], 200, "Apache: the server's ProxyPass inherited")
        eq(got[("first.test", "/balancer-manager")][0], 404, "Apache: no manager there")
        eq(got[("second.test", "/balancer-manager")][0], 200, "Apache: the manager there")
        eq(got[("", "/r/z")], (302, "http://first.example/z"), "Apache: no Host, the first")
        for a, k in zip(theirs, answers(env.port)):
            eq(k, a, "kbal's answer to %s against Apache's" % (a[:2],))
