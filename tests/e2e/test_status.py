# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""kbalctl writes a member's status in the pinned kbal_members map and the
next connection sees it, as with the balancer-manager's form."""

import kbaltest
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


def test_runtime_changes_shown_and_reset():
    # the page says which members carry run-time changes; kbalctl reset
    # puts them back to the configuration's values (E, a failure's, is no
    # change of an operator's)
    with Env() as env:
        page = env.get("/balancer-manager").text
        check('<td class="changed"></td>' in page, "no change shown before any")
        env.kbalctl("set", "mycluster", "2", "status=+N", "loadfactor=4")
        page = env.get("/balancer-manager").text
        check('<td class="changed">status loadfactor</td>' in page,
              "the page does not show member 2's changes")
        check("changed at run time: status loadfactor" in env.kbalctl("status"),
              "kbalctl status does not say so:\n" + env.kbalctl("status"))
        # a restart in place keeps them (and takes the file's for the rest)
        env.kbalctl("restart")
        m = env.member(2)
        eq((m["status"], m["loadfactor"]), (1 << 4, 4), "member 2 after a restart in place")
        check("its run-time changes (status loadfactor) kept" in env.kbald_stderr(),
              "kbald's log does not say so")
        out = env.kbalctl("reset", "mycluster")
        check("status loadfactor back to the configuration's" in out and "1 member(s) reset" in out,
              "kbalctl reset said:\n" + out)
        m = env.member(2)
        eq((m["status"], m["loadfactor"]), (0, 1), "member 2 after the reset")
        check('<td class="changed">status' not in env.get("/balancer-manager").text,
              "a change still shown after the reset")
        eq(env.kbalctl("reset").strip(), "0 member(s) reset", "a second reset")


def test_bpftool_reads_and_flips_a_status():
    # the commands docs/maps.md gives, as they are there: a member read by
    # name with bpftool, and its D bit flipped by writing the entry back
    import json
    import subprocess
    with Env() as env:
        m = env.pin_dir + "/kbal_members"
        out = subprocess.run(["bpftool", "-j", "map", "lookup", "pinned", m, "key", "1", "0", "0",
                              "0"], stdout=subprocess.PIPE, check=True, timeout=10).stdout
        entry = json.loads(out)
        eq(entry["formatted"]["value"]["route"], "2", "member 1 of the map is route 2")
        value = [int(b, 16) for b in entry["value"]]
        value[100] |= 1                  # status, byte 0 (little-endian): D
        subprocess.run(["bpftool", "map", "update", "pinned", m, "key", "1", "0", "0", "0",
                        "value"] + [str(b) for b in value], check=True, timeout=10)
        eq(env.member(2)["status"] & 1, 1, "member 2 disabled through bpftool")
        names = [env.get("/b%d" % i).header("X-Backend") for i in range(4)]
        eq(names, ["WAS1"] * 4, "requests with WAS2 disabled by bpftool")


def test_balancer_persist_across_a_stop():
    # BalancerPersist On: the run-time changes written at the stop, applied
    # at the next start; Off (the default): the file's values come back
    import os
    import tempfile
    d = tempfile.mkdtemp(prefix="kbal-persist-")
    path = os.path.join(d, "state")
    try:
        conf = kbaltest.EXAMPLE_CONF + "BalancerPersist On\nKbalPersistFile %s\n" % path
        with Env(conf=conf) as env:
            env.kbalctl("set", "mycluster", "2", "status=+N", "loadfactor=3", "lbset=1")
            env.stop_kbald()
            with open(path) as f:
                eq(f.read(), "mycluster %s 16 3 1 2\n" % env.member_url(2), "the state file")
            env._start_kbald()
            m = env.member(2)
            eq((m["status"], m["loadfactor"], m["lbset"]), (16, 3, 1), "member 2 after a stop")
            check("run-time changes of 1 member(s)" in env.kbald_stderr(), "the log says so")
            check("changed at run time: status loadfactor lbset" in env.kbalctl("status"),
                  "still shown as run-time changes")
        with Env() as env:
            env.kbalctl("set", "mycluster", "2", "status=+N")
            env.stop_kbald()
            env._start_kbald()
            eq(env.member(2)["status"], 0, "without BalancerPersist, after a stop")
    finally:
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)


def test_kbalctl_add_kept_by_restart_and_persist():
    # kbalctl add: the manager's Add New Worker on the pinned maps (growth=
    # slots); a restart in place keeps the member, its changes and its
    # counters; BalancerPersist On keeps it across a stop, as Apache keeps
    # the workers its manager added
    import os
    import tempfile
    d = tempfile.mkdtemp(prefix="kbal-persist-")
    path = os.path.join(d, "state")
    conf = (kbaltest.EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                                          "ProxySet lbmethod=byrequests growth=2")
            + "BalancerPersist On\nKbalPersistFile %s\n" % path)
    try:
        with Env(conf=conf, backends=(1, 2, 3)) as env:
            w3 = env.member_url(3)
            out = env.kbalctl("add", "mycluster", w3)
            check("added to balancer://mycluster: member %s, disabled" % w3 in out,
                  "kbalctl add said: %r" % out)
            check("1 free slot(s) left" in out, "kbalctl add said: %r" % out)
            ms = {v["url"]: v for v in env.members().values()}
            eq(ms[w3]["status"] & ST_DISABLED, ST_DISABLED, "the added member's status")
            status = env.kbalctl("status")
            check("mycluster %s: added at run time" % w3 in status, "kbalctl status:\n" + status)
            check([l for l in status.splitlines() if l.startswith("mycluster ") and
                   l.split()[-2:] == ["3", "1"]], "MEMBERS 3, FREE 1 in:\n" + status)
            # a name is looked up by kbalctl (not by kbald); the same member twice
            p = env.kbalctl("add", "mycluster", w3, check_rc=False)
            eq(p, "", "kbalctl add of a member twice prints nothing on stdout")
            env.kbalctl("set", "mycluster", w3, "status=-D", "loadfactor=2")
            names = [env.get("/a%d" % i).header("X-Backend") for i in range(8)]
            eq(sorted(names).count("WAS3"), 4, "WAS3's share with loadfactor 2: %r" % names)
            # kept by a restart in place, enabled, with its counters
            env.kbalctl("restart")
            check("restart: balancer://mycluster keeps %s, added at run time" % w3
                  in env.kbald_stderr(), "the restart's log")
            ms = {v["url"]: v for v in env.members().values()}
            eq((ms[w3]["status"], ms[w3]["loadfactor"], ms[w3]["elected"]), (0, 2, 4),
               "the added member after a restart in place")
            check("mycluster %s: added at run time" % w3 in env.kbalctl("status"),
                  "still an added member after the restart")
            names = [env.get("/b%d" % i).header("X-Backend") for i in range(4)]
            check("WAS3" in names, "WAS3 after the restart: %r" % names)
            # and across a stop, with BalancerPersist On
            env.stop_kbald()
            with open(path) as f:
                eq(f.read(), "mycluster %s 0 2 0 - added\n" % w3, "the state file")
            env._start_kbald()
            ms = {v["url"]: v for v in env.members().values()}
            check(w3 in ms, "the added member after a stop: %r" % list(ms))
            eq((ms[w3]["status"], ms[w3]["loadfactor"]), (0, 2), "its values after a stop")
            names = [env.get("/c%d" % i).header("X-Backend") for i in range(4)]
            check("WAS3" in names, "WAS3 after a stop: %r" % names)
    finally:
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)
