# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""ProxyPassReverseCookiePath and -Domain (mod_proxy; issue 17), side by
side with Debian's apache2 on the same configuration and member: each
Set-Cookie's path= and domain= mapped as httpd's
ap_proxy_cookie_reverse_map() maps them, on a kept-alive connection. With
such rules kbald decides every request: the kernel passes no answer."""

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, eq

T = 10.0

CONF = PROXY_HEAD + """\
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
ProxyPreserveHost On
ProxyPassReverseCookiePath /app /
ProxyPassReverseCookieDomain backend.internal www.example.com
"""


def cookies(port):
    with Conn(port, timeout=T) as c:
        return [c.get("/cookies").header_all("Set-Cookie") for _ in range(3)]


def test_cookie_maps_as_apache():
    with Env(conf=CONF, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = cookies(aport)
        eq(theirs[0], ["a=1; Path=/; Domain=www.example.com; HttpOnly", "b=2;path=/other",
                       "c=3; domain=www.example.com; path=/"],
           "Apache's (the test's expectation): the whole value replaced, a domain's case "
           "ignored")
        eq(cookies(env.port), theirs, "kbal's against Apache's")
        eq(env.stats()["kept"], 0, "answers the kernel passed with cookie maps")
