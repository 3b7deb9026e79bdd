# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The balancer-manager page is kbald's own, as long as a `ProxyPass PATH !`
before `ProxyPass /` keeps it from being proxied (first match wins)."""

from kbaltest import EXAMPLE_CONF, Env, check, eq, line_of, run_kbald

EXCLUDE = "ProxyPass /balancer-manager !"
PASS_ALL = "ProxyPass / balancer://mycluster/"
# the two rules the other way round: ProxyPass / shadows the manager
SWAPPED = (EXAMPLE_CONF.replace(EXCLUDE, "@@").replace(PASS_ALL, EXCLUDE)
           .replace("@@", PASS_ALL))


def test_manager_page_served_locally():
    with Env() as env:
        r = env.get("/balancer-manager")
        eq(r.status, 200, "status")
        check("html" in (r.header("Content-Type") or "").lower(),
              "Content-Type %r" % r.header("Content-Type"))
        for want in ("mycluster", env.member_url(1), env.member_url(2)):
            check(want in r.text, "%r not in the manager page" % want)
        eq(r.header("X-Backend"), None, "X-Backend on the manager page")
        eq(env.backend_log(1) + env.backend_log(2), [], "requests that reached a member")


def test_manager_shadowed_by_proxypass():
    check(SWAPPED.index(PASS_ALL) < SWAPPED.index(EXCLUDE), "rules not swapped")
    with Env(conf=SWAPPED) as env:
        r = env.get("/balancer-manager")
        eq(r.status, 200, "status")
        check(r.header("X-Backend") in ("WAS1", "WAS2"),
              "manager page not proxied: X-Backend %r" % r.header("X-Backend"))
        eq(env.backend_log(1) + env.backend_log(2), ["GET /balancer-manager"],
           "requests at the members")
        rc, out = run_kbald(["-t", "-f", env.conf_path])
        eq(rc, 0, "kbald -t status (a warning is not an error); output:\n" + out)
        for needle in (PASS_ALL, EXCLUDE):
            n = line_of(env.conf, needle)
            check((":%d:" % n) in out or ("line %d" % n) in out,
                  "kbald -t does not name line %d (%s):\n%s" % (n, needle, out))
