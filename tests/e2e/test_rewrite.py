# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""ProxyPass path mapping, ProxyPreserveHost Off and ProxyPassReverse on the
first exchange, as mod_proxy does them."""

from kbaltest import EXAMPLE_CONF, Env, check, eq

OFF = EXAMPLE_CONF.replace("ProxyPreserveHost On", "ProxyPreserveHost Off")


def head_of(text):
    lines = text.split("\r\n\r\n")[0].split("\r\n")
    got = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        got.setdefault(k.strip().lower(), []).append(v.strip())
    return lines[0], got


def test_preserve_host_off_sends_member_host():
    with Env(conf=OFF) as env:
        r = env.get("/echo-headers", headers=[("Host", "www.example.test")])
        line, got = head_of(r.text)
        n = int(r.header("X-Backend")[-1])
        eq(got.get("host"), ["127.0.0.1:%d" % env.ports["b%d" % n]], "Host at the member")
        eq(got.get("x-forwarded-host"), ["www.example.test"], "X-Forwarded-Host")


def test_proxypassreverse_rewrites_location():
    with Env(conf=OFF) as env:
        r = env.get("/redirect", headers=[("Host", "www.example.test")])
        eq(r.status, 302, "status")
        eq(r.header("Location"), "http://www.example.test/landing", "Location rewritten")


def test_proxypass_path_prefix_mapping():
    conf = EXAMPLE_CONF.replace("ProxyPass / balancer://mycluster/",
                                "ProxyPass /app/ balancer://mycluster/svc/")
    with Env(conf=conf) as env:
        r = env.get("/app/x/y?q=1")
        eq(r.status, 200, "status")
        check(r.text.endswith("path=/svc/x/y?q=1\n"), "path at the member: %r" % r.text)
        eq(env.get("/elsewhere").status, 404, "a path no rule matches")


def test_proxypass_maps_the_matched_path_not_the_bytes():
    """The rest after the rule is the path as matched (decoded, dot segments
    removed) encoded again, as mod_proxy sends it: "/app/../app/x" went out
    as "/svc/../app/x", which the member reads as /app/x, outside /svc."""
    conf = EXAMPLE_CONF.replace("ProxyPass / balancer://mycluster/",
                                "ProxyPass /app balancer://mycluster/svc")
    with Env(conf=conf) as env:
        for path, want in (("/app/../app/x", "/svc/x"),
                           ("/ap%70/x%20y?q=%41", "/svc/x%20y?q=%41"),
                           ("http://front/app/x", "/svc/x")):
            r = env.get(path)
            eq(r.status, 200, "status for %s" % path)
            check(r.text.endswith("path=%s\n" % want),
                  "path at the member for %s: %r" % (path, r.text))
