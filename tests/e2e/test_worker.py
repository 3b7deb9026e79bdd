# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""ProxyPass to a plain http:// URL (mod_proxy's worker; issue 17), side by
side with Debian's apache2 on the same configuration and members: each
path to its worker with the path mapped as httpd maps it, ProxyPassReverse
on a worker's redirect, a worker that refuses connections (503, and 503
again within its retry=), the balancer-manager listing no worker, and the
kernel keeping a kept-alive client's later requests to a worker."""

import re

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, check, eq

T = 10.0

CONF = PROXY_HEAD + """\
ProxyPass /balancer-manager !
ProxyPass /api/ http://127.0.0.1:{b1}/v1/ retry=30
ProxyPass /r/ http://127.0.0.1:{b1}/
ProxyPassReverse /r/ http://127.0.0.1:{b1}/
ProxyPass /down/ http://127.0.0.1:{b3}/ retry=60
ProxyPass / http://127.0.0.1:{b2}/
ProxyPreserveHost On
<Location /balancer-manager>
SetHandler balancer-manager
Require all granted
</Location>
"""

PATHS = ["/api/users?q=1", "/page", "/r/redirect", "/api/a%20b", "/r/x/../y", "/down/x",
         "/down/y", "/other"]


def session(port):
    """One kept-alive connection, PATHS in order, then a new connection
    where the worker that refused ended the first one: (status, member,
    Location, body) each"""
    out = []
    c = Conn(port, timeout=T)
    try:
        for p in PATHS:
            r = c.get(p)
            out.append((p, r.status, r.header("X-Backend"), r.header("Location"),
                        r.text if r.status == 200 else ""))
            if (r.header("Connection") or "").lower() == "close":
                c.close()
                c = Conn(port, timeout=T)
    finally:
        c.close()
    return out


def test_plain_workers_as_apache():
    with Env(conf=CONF, backends=(1, 2)) as env, apache_beside(env) as aport:
        theirs = session(aport)
        ours = session(env.port)
        got = {p: (s, m, loc) for p, s, m, loc, _ in theirs}
        # the test's reading of Apache's, so that a change in either shows
        eq(got["/api/users?q=1"][:2], (200, "WAS1"), "Apache: /api/ to the first worker")
        eq(got["/page"][:2], (200, "WAS2"), "Apache: / to the second")
        eq(got["/r/redirect"][0], 302, "Apache: the worker's redirect")
        check(got["/r/redirect"][2].startswith("http://127.0.0.1:%d/r/landing" % aport),
              "Apache's Location, rewritten: %r" % (got["/r/redirect"][2],))
        eq(got["/down/x"][0], 503, "Apache: a worker that refuses")
        eq(got["/down/y"][0], 503, "Apache: within its retry=")
        for a, k in zip(theirs, ours):
            a = a[:3] + ((a[3] or "").replace(str(aport), "PORT"),) + a[4:]
            k = k[:3] + ((k[3] or "").replace(str(env.port), "PORT"),) + k[4:]
            eq(k, a, "kbal's answer to GET %s against Apache's" % a[0])
        # what the members got: Apache's requests, then kbal's, the same
        w1 = env.backend_log(1)
        eq(w1[:len(w1) // 2], w1[len(w1) // 2:], "the first worker got the same from both")
        eq(w1[:3], ["GET /v1/users?q=1", "GET /redirect", "GET /v1/a%20b"],
           "the paths the first worker got")
        with Conn(aport, timeout=T) as c:
            theirs = c.get("/balancer-manager").text
        with Conn(env.port, timeout=T) as c:
            ours = c.get("/balancer-manager").text
        for page, who in ((theirs, "Apache's"), (ours, "kbal's")):
            check(not re.search(r"127\.0\.0\.1:%d" % env.ports["b1"], page),
                  "%s balancer-manager lists no plain worker" % who)


def test_the_kernel_keeps_requests_to_a_worker():
    with Env(conf=CONF, backends=(1, 2)) as env:
        with Conn(env.port, timeout=T) as c:
            for i in range(8):
                r = c.get("/p%d" % i)
                eq((r.status, r.header("X-Backend")), (200, "WAS2"), "GET /p%d" % i)
        eq(env.backend_log(2), ["GET /p%d" % i for i in range(8)], "what the worker got")
        check(env.stats()["kept"] >= 1,
              "the kernel kept none of a kept-alive client's requests to a worker: %r"
              % env.stats())
