# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""<LocationMatch> and <Location ~> (issue 17), side by side with Debian's
apache2 on the same configuration and members: the balancer-manager on a
regex section, ProxyPass inside a regex section (its pattern a regex, $1
substituted), the sections merged in order with the server's rules, on
kept-alive connections."""

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, eq

T = 10.0

CONF = PROXY_HEAD + """\
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass /balancer-manager !
ProxyPass /manager2 !
<LocationMatch "^/(balancer-manager|manager2)$">
SetHandler balancer-manager
Require all granted
</LocationMatch>
<LocationMatch "^/api/v(\\d+)/(.*)$">
ProxyPass balancer://c/version$1/$2
</LocationMatch>
<Location ~ "^/img/.*\\.png$">
ProxyPass balancer://c/static/
</Location>
ProxyPass / balancer://c/
"""

# path, Apache's status and the path the member got (None: not proxied)
EXPECTED = [
    ("/api/v2/users?q=1", 200, "/version2/users?q=1"),
    ("/page", 200, "/page"),
    ("/balancer-manager", 200, None),
    ("/manager2", 200, None),
    ("/balancer-managerx", 200, "/balancer-managerx"),
    ("/api/x", 200, "/api/x"),
    ("/img/a/b.png", 200, "/static//img/a/b.png"),    # no $N: the whole path appended
]


def session(port):
    out = []
    with Conn(port, timeout=T) as c:
        for p, _, _ in EXPECTED:
            r = c.get(p)
            got = r.text.split("path=", 1)[1].strip() if r.header("X-Backend") else None
            out.append((p, r.status, got))
    return out


def test_location_match_as_apache():
    with Env(conf=CONF, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = session(aport)
        eq(theirs, [tuple(e) for e in EXPECTED], "Apache's (the test's expectation)")
        eq(session(env.port), theirs, "kbal's against Apache's")
