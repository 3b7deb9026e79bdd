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
