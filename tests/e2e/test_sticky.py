# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Sticky sessions in Apache's other forms (issue 17): Tomcat's
stickysession=JSESSIONID|jsessionid (the cookie, or ;jsessionid=ID.ROUTE in
the URL of a client that keeps no cookie; the URL wins), side by side with
Debian's apache2 on the same configuration and members; and a kept-alive
connection the kernel carries, whose later request names another member in
its URL."""

from apache import apache_beside
from kbaltest import EXAMPLE_CONF, Conn, Env, eq

MODULES = "\n".join(l for l in EXAMPLE_CONF.splitlines() if l.startswith("LoadModule"))
TOMCAT = MODULES + """
Listen 127.0.0.1:{listen}
ProxyRequests Off
<Proxy balancer://tc>
BalancerMember http://127.0.0.1:{b1} route=node1
BalancerMember http://127.0.0.1:{b2} route=node2
ProxySet stickysession=JSESSIONID|jsessionid
</Proxy>
ProxyPass / balancer://tc/
ProxyPreserveHost On
"""

# (path, cookie, the member httpd picks: 0 for byrequests' choice)
CASES = [
    ("/app;jsessionid=ABC.node2", None, 2),
    ("/app;jsessionid=ABC.node1?x=1", None, 1),
    ("/app", "JSESSIONID=XYZ.node2", 2),
    ("/app;jsessionid=A.node1", "JSESSIONID=B.node2", 1),
    ("/app?jsessionid=Q.node2&y=1", None, 2),
    ("/app;JSESSIONID=A.node2", None, 0),
    ("/app", "jsessionid=A.node2", 0),
]


def members(port):
    got = []
    for path, cookie, _ in CASES:
        with Conn(port, timeout=10) as c:
            r = c.get(path, cookie=cookie)
            eq(r.status, 200, "%s (%s)" % (path, cookie))
            got.append(int(r.header("X-Backend")[3:]))
    return got


def test_tomcat_sessions_as_apache():
    with Env(conf=TOMCAT) as env, apache_beside(env) as aport:
        theirs = members(aport)
        ours = members(env.port)
        for (path, cookie, want), got in zip(CASES, theirs):
            if want:
                eq(got, want, "Apache's member for %s (cookie %s)" % (path, cookie))
        eq(ours, theirs, "kbal's members against Apache's")


def test_url_session_on_a_connection_the_kernel_carries():
    with Env(conf=TOMCAT) as env, env.connect() as c:
        for i in range(4):
            r = c.get("/k%d" % i, cookie="JSESSIONID=S.node1")
            eq(r.header("X-Backend"), "WAS1", "cookie node1, request %d" % i)
        kept = env.stats()["kept"]
        eq(kept >= 1, True, "requests the kernel kept: %d" % kept)
        r = c.get("/u;jsessionid=S.node2", cookie="JSESSIONID=S.node1")
        eq((r.status, r.header("X-Backend")), (200, "WAS2"), "the URL names node2")
        r = c.get("/k9", cookie="JSESSIONID=S.node1")
        eq((r.status, r.header("X-Backend")), (200, "WAS1"), "the cookie again")
