# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""ProxyVia and ProxyAddHeaders (mod_proxy; issue 17), side by side with
Debian's apache2 on the same configuration and member: the Via line
merged into the request and added to the answer (On), the client's Via
lines dropped (Block), no X-Forwarded-* with ProxyAddHeaders Off, on a
kept-alive connection. ProxyVia makes kbald decide every request."""

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, eq

T = 10.0

CONF = PROXY_HEAD + """\
ServerName proxy.example
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
ProxyPreserveHost On
@RULES@
"""

ASK = [("Via", "1.0 first"), ("Via", "1.1 second"), ("X-Forwarded-For", "1.1.1.1")]


def session(port):
    """Three requests kept alive: the answer's Via lines and what the
    member got of Via and X-Forwarded-*, the port written PORT"""
    out = []
    with Conn(port, timeout=T) as c:
        for _ in range(3):
            r = c.get("/echo-headers", headers=ASK)
            lines = [ln.split(":", 1) for ln in r.text.split("\r\n")[1:] if ":" in ln]
            got = [(k.strip().lower(), v.strip().replace(str(port), "PORT")) for k, v in lines
                   if k.strip().lower() in ("via", "x-forwarded-for", "x-forwarded-host",
                                            "x-forwarded-server")]
            out.append(([v.replace(str(port), "PORT") for v in r.header_all("Via")], got))
    return out


def run(rules):
    with Env(conf=CONF.replace("@RULES@", rules), backends=(1,)) as env, \
            apache_beside(env) as aport:
        theirs = session(aport)
        ours = session(env.port)
        eq(ours, theirs, "kbal against Apache with %r" % rules)
        eq(env.stats()["kept"], 0, "requests the kernel kept with %r" % rules)
        return theirs


def test_via_on_and_no_forwarded_headers():
    theirs = run("ProxyVia On\nProxyAddHeaders Off")
    eq(theirs[0], (["1.1 proxy.example:PORT"],
                   [("via", "1.0 first, 1.1 second, 1.1 proxy.example:PORT"),
                    ("x-forwarded-for", "1.1.1.1")]),
       "Apache's (the test's expectation): Via merged, the client's X-Forwarded-For as sent")


def test_via_block():
    theirs = run("ProxyVia Block")
    eq(theirs[0], ([], [("x-forwarded-for", "1.1.1.1, 127.0.0.1"),
                        ("x-forwarded-host", "127.0.0.1:PORT"),
                        ("x-forwarded-server", "proxy.example")]),
       "Apache's with Block (the test's expectation): no Via either way")
