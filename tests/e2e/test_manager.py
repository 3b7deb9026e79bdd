# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The balancer-manager page is kbald's own, as long as a `ProxyPass PATH !`
before `ProxyPass /` keeps it from being proxied (first match wins)."""

from kbaltest import EXAMPLE_CONF, Env, Topo, check, eq, line_of, run_kbald

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


# ---- who may reach it (authz.h) ----------------------------------------------

MANAGER_LOC = "<Location /balancer-manager>\n    SetHandler balancer-manager\n"


def manager_status(env, source, path="/balancer-manager"):
    with env.connect(source=source) as c:
        r = c.get(path)
        return r.status, r.text


def test_manager_access_rules():
    # Apache's recommended block: only the addresses it names reach the
    # page; another client gets 403, as from httpd, and nothing of it
    # reaches a member (127.0.0.2 is another client on this host)
    cases = [("Require ip 127.0.0.1\n", {"127.0.0.1": 200, "127.0.0.2": 403}),
             ("Require local\n", {"127.0.0.1": 200, "127.0.0.2": 200}),
             ("<RequireAll>\nRequire local\nRequire not ip 127.0.0.2\n</RequireAll>\n",
              {"127.0.0.1": 200, "127.0.0.2": 403}),
             ("Order deny,allow\nDeny from all\nAllow from 127.0.0.2\n",
              {"127.0.0.1": 403, "127.0.0.2": 200}),
             ("Require all denied\n", {"127.0.0.1": 403, "127.0.0.2": 403})]
    for rules, want in cases:
        conf = EXAMPLE_CONF.replace(MANAGER_LOC, MANAGER_LOC + rules)
        check(rules in conf, "rules not in the configuration: %r" % rules)
        with Env(conf=conf) as env:
            for source, status in want.items():
                got, text = manager_status(env, source)
                eq(got, status, "%s from %s" % (rules.strip().replace("\n", "; "), source))
                if status == 200:
                    check("mycluster" in text, "the page: %r" % text[:200])
                # on a connection the kernel carried too: handed back, the same answer
                with env.connect(source=source) as c:
                    c.get("/k1", cookie="ROUTEID=route.1")
                    c.get("/k2", cookie="ROUTEID=route.1")
                    eq(c.get("/balancer-manager").status, status,
                       "%s from %s, on a spliced connection" % (rules.strip(), source))
            eq([l for l in env.backend_log(1) + env.backend_log(2) if "manager" in l], [],
               "requests for the manager that reached a member")


def test_manager_without_rules_is_local_only():
    # no access rule: loopback clients only, and the log says so; a client
    # in another namespace (10.77.1.2) gets 403
    with Topo() as topo, Env(topo=topo) as env:
        with env.connect() as c:
            eq(c.get("/balancer-manager").status, 403, "from 10.77.1.2, no access rule")
        with env.connect() as c:
            eq(c.get("/app").status, 200, "a proxied path from there")
        check("only loopback clients reach it" in env.kbald_stderr(),
              "kbald's log does not say so:\n" + env.kbald_stderr())
    with Env() as env:
        eq(manager_status(env, "127.0.0.2")[0], 200, "from 127.0.0.2 (loopback), no access rule")
