# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""kbalctl writes a member's status in the pinned kbal_members map and the
next connection sees it, as with the balancer-manager's form."""

from kbaltest import ST_DISABLED, Env, check, eq


def test_kbalctl_disable_member():
    with Env() as env:
        env.kbalctl("set", "mycluster", "1", "status=+D")
        eq(env.member(1)["status"] & ST_DISABLED, ST_DISABLED, "member 1 D bit after +D")
        names = [env.get("/d%d" % i).header("X-Backend") for i in range(6)]
        eq(names, ["WAS2"] * 6, "members with WAS1 disabled")

        env.kbalctl("set", "mycluster", "1", "status=-D")
        eq(env.member(1)["status"] & ST_DISABLED, 0, "member 1 D bit after -D")
        names = [env.get("/e%d" % i).header("X-Backend") for i in range(4)]
        eq(sorted(names), ["WAS1", "WAS1", "WAS2", "WAS2"], "members after -D: %r" % names)
        for a, b in zip(names, names[1:]):
            check(a != b, "no alternation after -D: %r" % names)


def test_kbalctl_set_by_url_several_settings_and_status():
    # a member named by its URL, as the manager names it; several settings
    # at once; kbalctl status shows the balancer and the change; a bad one
    # changes nothing and says why
    with Env() as env:
        url = env.member_url(2)
        env.kbalctl("set", "mycluster", url + "/", "status=+N", "loadfactor=3", "lbset=1",
                    "route=r2")
        m = [v for v in env.members().values() if v["url"] == url][0]
        eq((m["status"], m["loadfactor"], m["lbset"], m["route"]), (1 << 4, 3, 1, "r2"),
           "member 2 after one set")
        out = env.kbalctl("status")
        check("mycluster" in out and "byrequests" in out and "ROUTEID" in out,
              "kbalctl status's balancer line:\n" + out)
        check([l for l in out.splitlines() if " r2 " in l and "Drn" in l],
              "kbalctl status's member line:\n" + out)
        env.kbalctl("set", "mycluster", "r2", "lbset=100", check_rc=False)
        eq(env.member("r2")["lbset"], 1, "lbset after a refused value")
        env.kbalctl("set", "mycluster", "nosuch", "status=+D", check_rc=False)
        eq((env.member(1)["status"], env.member("r2")["status"]), (0, 1 << 4),
           "statuses after an unknown member")
