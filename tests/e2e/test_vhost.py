# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Name-based <VirtualHost>s (issue 17), side by side with Debian's apache2
on the same configuration: two on one address told apart by each request's
Host (ServerName, a ServerAlias wildcard, case and port ignored), an
unknown Host (and none, HTTP/1.0) served by the first, each with its own
balancer and ProxyPass rules (a ProxyPass ~ too), the server's ProxyPass
rules inherited by both and tried before theirs, a balancer-manager in one
of them only; on kept-alive connections that switch Host between
requests. Each proxied answer's member and the path it received are
compared."""

from apache import apache_beside, host_steps, same_as_apache
from kbaltest import PROXY_HEAD, Conn, Env, check, eq

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
<Proxy balancer://one>
BalancerMember http://127.0.0.1:{b2}
</Proxy>
ProxyPass /own/ balancer://one/first/
ProxyPass /eh balancer://one/echo-headers
ProxyPass /rd balancer://one/redirect
Header set X-Site first
RequestHeader set X-Req first
</VirtualHost>
<VirtualHost *>
ServerName second.test
ServerAlias *.second.example www.?.test
Redirect /r http://second.example
BalancerMember balancer://two http://127.0.0.1:{b3}
ProxyPass /own/ balancer://two/second/
ProxyPass ~ ^/re/(.*)$ balancer://two/matched/$1
ProxyPass /app/special/ balancer://two/special/
ProxyPass /eh balancer://two/echo-headers
ProxyPreserveHost On
ProxyPass /rd balancer://two/redirect
ProxyPassReverse / balancer://two/
Header always set X-Site second
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
         ("first.test", "/own/a"), ("first.test", "/own/b"), ("second.test", "/own/c"),
         ("second.test", "/own/d"), ("first.test", "/own/e"), ("unknown", "/own/f"),
         ("x.second.example", "/own/g"), ("second.test", "/re/h"), ("first.test", "/re/h"),
         ("second.test", "/app/6"), ("second.test", "/app/special/x"), ("first.test", "/other"), ("second.test", "/other"),
         ("second.test", "/eh"), ("first.test", "/eh"), ("x.second.example", "/eh"),
         ("second.test", "/rd"), ("first.test", "/rd"), ("second.test", "/rd"),
         ("first.test", "/balancer-manager"), ("second.test", "/balancer-manager"),
         ("x.second.example", "/balancer-manager"), ("nobody", "/balancer-manager")]


def answers(port):
    out = []
    c = Conn(port, timeout=T)
    try:
        for host, path in STEPS:
            r = c.get(path, headers=[("Host", host)])
            where = r.header("Location") if r.status in (301, 302) else \
                r.text if r.status == 200 and "balancer-manager" not in path else ""
            if path == "/eh":
                # what the member received: its Host line (ProxyPreserveHost)
                where = [ln for ln in r.text.split("\r\n")
                         if ln.lower().startswith(("host:", "x-req:"))]
            out.append((host, path, r.status, where, r.header_all("X-Site")))
            if (r.header("Connection") or "").lower() == "close":
                c.close()
                c = Conn(port, timeout=T)
        # HTTP/1.0 without a Host: the address's first virtual host
        c.request("GET", "/r/z", version="HTTP/1.0")
        r = c.read_response()
        out.append(("", "/r/z", r.status, r.header("Location"), r.header_all("X-Site")))
    finally:
        c.close()
    return out


def test_name_based_as_apache():
    with Env(conf=CONF, backends=(1, 2, 3)) as env, apache_beside(env) as aport:
        theirs = answers(aport)
        got = {(h, p): (s, w) for h, p, s, w, _ in theirs}
        site = {(h, p): x for h, p, _, _, x in theirs}
        # the test's reading of Apache's, so that a change in either shows
        eq(got[("second.test", "/r/x")], (302, "http://second.example/x"), "Apache: by name")
        eq(got[("unknown.test", "/r/x")], (302, "http://first.example/x"),
           "Apache: an unknown Host, the first")
        eq(got[("a.b.second.example", "/r")][1], "http://second.example", "Apache: alias *")
        eq(got[("second.example", "/r")][1], "http://first.example", "Apache: * takes a dot")
        eq(got[("SECOND.Test:99", "/r")][1], "http://second.example", "Apache: case, port")
        eq(got[("www.22.test", "/r")][1], "http://first.example", "Apache: ? one byte")
        eq(got[("first.test", "/app/4")], (200, "backend=WAS1 path=/4\n"),
           "Apache: the server's ProxyPass inherited")
        eq(got[("first.test", "/own/a")], (200, "backend=WAS2 path=/first/a\n"),
           "Apache: first.test's own balancer and rule")
        eq(got[("second.test", "/own/c")], (200, "backend=WAS3 path=/second/c\n"),
           "Apache: second.test's")
        eq(got[("unknown", "/own/f")][1], "backend=WAS2 path=/first/f\n", "Apache: the first's")
        eq(got[("second.test", "/re/h")][1], "backend=WAS3 path=/matched/h\n",
           "Apache: ProxyPass ~ in second.test")
        eq(got[("first.test", "/re/h")][0], 404, "Apache: not in first.test")
        eq(site[("first.test", "/own/a")], ["first"], "Apache: first.test's Header")
        eq(site[("second.test", "/own/c")], ["second"], "Apache: second.test's")
        eq(site[("second.test", "/r/x")], ["second"], "Apache: always, on a redirect")
        eq(site[("first.test", "/r/x")], [], "Apache: onsuccess, not on a redirect")
        eq(got[("first.test", "/eh")][1], ["Host: 127.0.0.1:%d" % env.ports["b2"],
                                          "X-Req: first"], "Apache: first.test's RequestHeader")
        eq(got[("second.test", "/eh")][1], ["Host: second.test"],
           "Apache: second.test's ProxyPreserveHost On")
        eq(got[("second.test", "/rd")], (302, "http://second.test/landing"),
           "Apache: second.test's ProxyPassReverse")
        eq(got[("first.test", "/rd")], (302, "http://127.0.0.1:%d/landing" % env.ports["b2"]),
           "Apache: none in first.test")
        eq(got[("second.test", "/app/special/x")][1], "backend=WAS1 path=/special/x\n",
           "Apache: the server's rule before the virtual host's")
        eq(got[("first.test", "/balancer-manager")][0], 404, "Apache: no manager there")
        eq(got[("second.test", "/balancer-manager")][0], 200, "Apache: the manager there")
        eq(got[("", "/r/z")], (302, "http://first.example/z"), "Apache: no Host, the first")
        same_as_apache(theirs, answers(env.port))
        # Header and RequestHeader rules that change every answer and
        # request: kbald decides every request
        eq(env.stats()["kept"], 0, "requests the kernel kept")


# no rules of the virtual hosts' own: the kernel keeps requests, of one
# Host each (a virtual host's ProxyPreserveHost and ProxyPassReverse apply
# to the answers it hands back)
KEPT = PROXY_HEAD + """\
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
<VirtualHost *>
ServerName first.test
</VirtualHost>
<VirtualHost *>
ServerName second.test
ProxyPreserveHost On
ProxyPassReverse / balancer://c/
</VirtualHost>
"""

KEPT_STEPS = [("second.test", p) for p in ("/a1", "/a2", "/a3", "/a4", "/redirect", "/a5",
                                            "/a6", "/redirect", "/a7")] + \
    [("first.test", "/b1"), ("first.test", "/redirect"), ("second.test", "/a8"),
     ("second.test", "/a9"), ("second.test", "/redirect")]


def kept_answers(port):
    return host_steps(port, KEPT_STEPS, lambda r: (r.status, r.header("Location") or r.text),
                      timeout=T)


def test_kept_requests_keep_their_virtual_host():
    with Env(conf=KEPT, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = kept_answers(aport)
        eq(theirs[4][2:], (302, "http://second.test/landing"), "Apache: second.test's reverse")
        eq(theirs[10][2:], (302, "http://127.0.0.1:%d/landing" % env.ports["b1"]),
           "Apache: none in first.test")
        before = env.stats()["kept"]
        same_as_apache(theirs, kept_answers(env.port))
        check(env.stats()["kept"] > before, "the kernel kept some: %r" % env.stats())


# rules of the virtual hosts' own, nothing rewritten: the kernel keeps the
# requests of a kept-alive connection with its virtual host's rule table
# (kbal_rules, one per virtual host): /x/ is excluded in second.test only,
# /own/ goes to another balancer in each, a <Location>'s own rule in
# first.test comes before the server's
OWN = PROXY_HEAD + """\
ProxyPreserveHost On
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass /srv/ balancer://c/srv/
<VirtualHost *>
ServerName first.test
<Proxy balancer://one>
BalancerMember http://127.0.0.1:{b2}
</Proxy>
<Location /srv/loc/>
ProxyPass balancer://one/srv/loc/
</Location>
ProxyPass /own/ balancer://one/own/
ProxyPass / balancer://one/
</VirtualHost>
<VirtualHost *>
ServerName second.test
<Proxy balancer://two>
BalancerMember http://127.0.0.1:{b3}
</Proxy>
ProxyPass /x/ !
ProxyPass /own/ balancer://two/own/
ProxyPass / balancer://two/
</VirtualHost>
"""

# runs of one rule (the kernel takes a connection again at the second
# request of a run), in one virtual host, then the other
OWN_STEPS = [(h, p) for h in ("first.test", "second.test", "first.test")
             for p in ("/own/1", "/own/2", "/own/3", "/own/4", "/x/5", "/x/6", "/x/7",
                       "/srv/8", "/srv/loc/9", "/srv/loc/10", "/srv/loc/11", "/z12", "/z13",
                       "/z14")]


def own_answers(port):
    return host_steps(port, OWN_STEPS, lambda r: (r.status, r.header("X-Backend"),
                                                  r.text if r.status == 200 else None),
                      timeout=T)


def test_kernel_keeps_requests_by_their_virtual_hosts_rules():
    with Env(conf=OWN, backends=(1, 2, 3)) as env, apache_beside(env) as aport:
        theirs = own_answers(aport)
        got = {a[:2]: a[2:4] for a in theirs}
        eq(got[("first.test", "/x/6")], (200, "WAS2"), "Apache: first.test proxies /x/")
        eq(got[("second.test", "/x/6")][0], 404, "Apache: second.test excludes /x/")
        eq(got[("second.test", "/own/2")], (200, "WAS3"), "Apache: second.test's balancer")
        eq(got[("first.test", "/srv/8")], (200, "WAS1"), "Apache: the server's rule")
        eq(got[("first.test", "/srv/loc/10")], (200, "WAS2"), "Apache: the <Location>'s first")
        eq(got[("second.test", "/srv/loc/10")], (200, "WAS1"), "Apache: none in second.test")
        before = env.stats()
        same_as_apache(theirs, own_answers(env.port))
        after = env.stats()
        # from the third request of each run of one rule on (the second
        # arms the kernel again): /own/3-4, /x/7, /srv/loc/11, /z14 in
        # first.test (twice), /own/3-4, /srv/loc/10-11 (the server's
        # /srv/ there), /z14 in second.test: 15 (15 seen; with one table
        # for every virtual host, 2)
        check(after["kept"] - before["kept"] >= 15,
              "the kernel kept requests in both virtual hosts: %r" % after)
