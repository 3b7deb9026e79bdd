# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""User and Group (httpd's mod_unixd) and KbalPinGroup: kbald starts as
root, loads, pins and binds, then runs as User with only the capabilities
user/privs.c names (docs/security.md); its pin directory and pins belong to
User and KbalPinGroup. The test runs as `nobody`/`nogroup` and a system
group of its own for the pins (groupadd, removed on every exit)."""

import contextlib
import grp
import os
import pwd
import re
import signal
import stat
import subprocess
import tempfile

import kbaltest
from kbaltest import BPFFS, EXAMPLE_CONF, Env, check, eq, run_kbald, wait_until

PATH_SOCKMAP, PATH_PACKET = 1, 3
# linux/capability.h
CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW, CAP_PERFMON, CAP_BPF = 10, 12, 13, 38, 39
CAPS_RUN = 1 << CAP_NET_ADMIN
CAPS_RESTART = CAPS_RUN | 1 << CAP_BPF | 1 << CAP_PERFMON | 1 << CAP_NET_RAW | \
    1 << CAP_NET_BIND_SERVICE

# one balancer the packet path joins (kbaltest.packet_alike); a flow on
# sockmap there is one whose first requests came pipelined (as test_restart.py)
CONF = kbaltest.packet_alike(EXAMPLE_CONF)


def hand_over_sockmap(c):
    c.send(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /first/2 HTTP/1.1\r\nHost: x\r\n\r\n")
    eq(c.read_response().status, 200, "pipelined first request")
    eq(c.read_response().status, 200, "pipelined second request")


NOBODY = pwd.getpwnam("nobody")
NOGROUP = grp.getgrnam("nogroup")


@contextlib.contextmanager
def pin_group():
    """A system group of the test's own, deleted on every exit."""
    name = "kbalpin%d" % os.getpid()
    subprocess.run(["groupadd", "--system", name], check=True, timeout=10)
    try:
        yield grp.getgrnam(name)
    finally:
        subprocess.run(["groupdel", name], check=False, timeout=10)


def status(pid):
    """/proc/PID/status as {field: value}."""
    with open("/proc/%d/status" % pid) as f:
        return dict(l.split(":\t", 1) for l in f.read().splitlines() if ":\t" in l)


def ids(st, field):
    return [int(x) for x in st[field].split()]


def check_privs(pid, what, threads=1):
    """kbald's threads: the main one (pid) with CAPS_RUN effective and
    CAPS_RESTART permitted and bounding, the others with none; all as
    nobody/nogroup."""
    tasks = os.listdir("/proc/%d/task" % pid)
    check(len(tasks) >= threads, "%s: kbald's threads: %r" % (what, tasks))
    for tid in tasks:
        st = status(int(tid))
        main = int(tid) == pid
        eq(ids(st, "Uid"), [NOBODY.pw_uid] * 4, "%s: thread %s's uids" % (what, tid))
        eq(ids(st, "Gid"), [NOGROUP.gr_gid] * 4, "%s: thread %s's gids" % (what, tid))
        eq(st["Groups"].split(), [str(NOGROUP.gr_gid)], "%s: thread %s's groups" % (what, tid))
        eq(int(st["CapEff"], 16), CAPS_RUN if main else 0,
           "%s: thread %s's CapEff (%s)" % (what, tid, st["CapEff"]))
        eq(int(st["CapPrm"], 16), CAPS_RESTART if main else 0,
           "%s: thread %s's CapPrm (%s)" % (what, tid, st["CapPrm"]))
        eq(int(st["CapAmb"], 16), 0, "%s: thread %s's CapAmb" % (what, tid))
        if main:   # the bounding set is a thread's own: the one that execs
            eq(int(st["CapBnd"], 16), CAPS_RESTART, "%s: CapBnd" % what)


def check_pins(env, gid, dir_mode, pin_mode, uid, what):
    st = os.stat(env.pin_dir)
    eq((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (dir_mode, uid, gid),
       "%s: the pin dir's mode, owner, group" % what)
    names = os.listdir(env.pin_dir)
    check("kbal_flows" in names and "kbal_pkt" in names, "%s: pins: %r" % (what, names))
    for name in names:
        st = os.stat(os.path.join(env.pin_dir, name))
        eq((stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid), (pin_mode, uid, gid),
           "%s: %s's mode, owner, group" % (what, name))


def both_paths(env, pkt, sm, what):
    """A request on each connection, each on its kernel path."""
    eq(pkt.get("/pkt/%s" % what).status, 200, "%s: a request on the joined flow" % what)
    eq(sm.get("/%s" % what).status, 200, "%s: a request on the sockmap flow" % what)
    wait_until(lambda: sorted(f["path"] for _, f in env.flows()) ==
               [PATH_SOCKMAP, PATH_PACKET], 3.0, "%s: one flow on each path" % what)


def read(path):
    """the file's text; "" before kbald created it (a wait polls this)"""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _restart(env, errlog, want="running as User nobody"):
    """SIGHUP; the new image says whom it runs as in the ErrorLog (before
    it opens that, it writes to stderr: "restarted: took over")."""
    seen = read(errlog).count(want)
    os.kill(env.kbald.pid, signal.SIGHUP)
    wait_until(lambda: read(errlog).count(want) > seen, 10.0, "%r in kbald's log" % want)
    # pkt and sm, and a closed connection whose joined flow may not have
    # ended yet
    m = re.findall(r"restarted: took over (\d+) connection\(s\) \((\d+) on the packet path\)",
                   env.kbald_stderr())
    check(m and int(m[-1][0]) >= 2 and int(m[-1][1]) >= 1,
          "the new image took both connections over: %r" % (m[-1:],))
    check(env.kbald.poll() is None, "kbald exited at the restart")


def test_user_group_capabilities_pins_and_restart():
    with pin_group() as pg:
        conf = CONF + "User nobody\nGroup nogroup\nKbalPinGroup %s\n" % pg.gr_name
        conf += "ErrorLog {logdir}/error.log\nCustomLog {logdir}/access.log common\n"
        logdir = None
        try:
            logdir = tempfile.mkdtemp(prefix="kbal-e2e-logs-")
            os.chmod(logdir, 0o755)   # the new image of a restart opens them again
            with Env(conf=conf.replace("{logdir}", logdir)) as env:
                # the new image reads the configuration as nobody
                os.chmod(env.dir, 0o755)
                os.chmod(env.conf_path, 0o644)
                pid = env.kbald.pid
                errlog = os.path.join(logdir, "error.log")
                wait_until(lambda: "running as User nobody" in read(errlog), 3.0,
                           "kbald's line on its user")
                check_privs(pid, "at start", threads=2)
                check_pins(env, pg.gr_gid, 0o2750, 0o640, NOBODY.pw_uid, "at start")
                for name in ("error.log", "access.log"):
                    eq(os.stat(os.path.join(logdir, name)).st_uid, NOBODY.pw_uid,
                       "%s's owner" % name)
                pkt, sm = env.connect(timeout=30), env.connect(timeout=30)
                with pkt, sm:
                    eq(kbaltest.hand_over(pkt, "/pkt/first").status, 200, "packet path")
                    hand_over_sockmap(sm)
                    both_paths(env, pkt, sm, "as-nobody")
                    check(kbaltest.tcx_links(pid), "the packet program's tcx links")
                    # root's tools: kbalctl and bpftool read the pins
                    check("mycluster" in env.kbalctl("status"), "kbalctl status as root")
                    check(env.stats()["redirected_bytes"] > 0, "kbal_stats by bpftool")
                    # a restart in place: the new image, started as nobody with
                    # the ambient capabilities, loads and takes everything over
                    _restart(env, errlog)
                    eq(env.kbald.pid, pid, "kbald's PID after the restart")
                    both_paths(env, pkt, sm, "after-restart")
                    check_privs(pid, "after the restart", threads=2)
                    check_pins(env, pg.gr_gid, 0o2750, 0o640, NOBODY.pw_uid,
                               "after the restart")
                    with env.connect() as c:
                        eq(kbaltest.hand_over(c, "/pkt/new").status, 200,
                           "a new connection after the restart")
                    # a restart that binds a port below 1024 (CAP_NET_BIND_SERVICE)
                    low = 1000 + os.getpid() % 20
                    with open(env.conf_path, "w") as f:
                        f.write(env.conf.replace("Listen ", "Listen 127.0.0.1:%d\nListen " % low, 1))
                    _restart(env, errlog)
                    with kbaltest.Conn(low) as c:
                        eq(c.get("/low").status, 200, "a request on port %d" % low)
                    check_privs(pid, "after the second restart")
                    # a configuration without User: refused, not half applied
                    with open(env.conf_path, "w") as f:
                        f.write(env.conf.replace("User nobody\n", "").replace(
                            "Group nogroup\n", "").replace("Listen ", "Listen 127.0.0.1:%d\nListen "
                                                            % low, 1))
                    os.kill(pid, signal.SIGHUP)
                    wait_until(lambda: "restart refused" in read(errlog), 5.0, "the refusal")
                    line = read(errlog).split("restart refused")[-1].splitlines()[0]
                    check("cannot become root" in line and "stop kbald and start it again"
                          in line, "the refusal says why: %r" % line)
                    both_paths(env, pkt, sm, "after-the-refusal")
                    check_privs(pid, "after the refusal")
            check("GET /pkt/new " in read(os.path.join(logdir, "access.log")),
                  "the new image's access log line (its first request, kbald's)")
        finally:
            if logdir:
                for name in os.listdir(logdir):
                    os.unlink(os.path.join(logdir, name))
                os.rmdir(logdir)


def test_without_user_as_before():
    """No User: kbald stays root with its capabilities, pins root's 0700/0600."""
    with Env(conf=CONF) as env:
        st = status(env.kbald.pid)
        eq(ids(st, "Uid"), [0] * 4, "kbald's uids")
        with open("/proc/self/status") as f:
            mine = dict(l.split(":\t", 1) for l in f.read().splitlines() if ":\t" in l)
        eq(st["CapEff"], mine["CapEff"], "kbald's CapEff is its starter's")
        check_pins(env, 0, 0o700, 0o600, 0, "without User")
        with env.connect(timeout=30) as pkt, env.connect(timeout=30) as sm:
            eq(kbaltest.hand_over(pkt, "/pkt/first").status, 200, "packet path")
            hand_over_sockmap(sm)
            both_paths(env, pkt, sm, "as-root")
        check("running as User" not in env.kbald_stderr(), "no switch without User")


def test_pin_group_without_user():
    with pin_group() as pg:
        with Env(conf=CONF + "KbalPinGroup %s\n" % pg.gr_name) as env:
            eq(ids(status(env.kbald.pid), "Uid"), [0] * 4, "kbald's uids")
            check_pins(env, pg.gr_gid, 0o2750, 0o640, 0, "KbalPinGroup alone")


def test_user_that_cannot_reach_the_pin_dir():
    """A pin dir whose parent the user cannot search: refused before
    anything is loaded, with what to change."""
    parent = "%s/kbal-t%d-closed" % (BPFFS, os.getpid())
    os.mkdir(parent, 0o700)
    try:
        with Env(conf=CONF + "User nobody\n", kbald=False) as env:
            pin_dir = parent + "/kbal"
            rc, out = run_kbald(["-f", env.conf_path, "--pin-dir", pin_dir])
            eq(rc, 1, "kbald's status")
            line = kbaltest.line_of(env.conf, "User nobody")
            want = "%s:%d: User nobody cannot reach %s: %s is not searchable" % (
                env.conf_path, line, pin_dir, parent)
            check(want in out, "the refusal: %r" % out)
            eq(os.listdir(parent), [], "nothing pinned")
    finally:
        os.rmdir(parent)


def test_user_packet_path_across_veths():
    """As User, the packet program is attached to the veths a flow first
    uses while kbald runs (tcx links made as nobody, CAP_NET_ADMIN alone
    effective), and the flow is joined there."""
    conf = CONF
    with kbaltest.Topo(csum_offload=False) as topo, \
            Env(topo=topo, conf=conf + "User nobody\nGroup nogroup\n") as env:
        wait_until(lambda: "running as User nobody" in env.kbald_stderr(), 3.0,
                   "kbald's line on its user")
        check_privs(env.kbald.pid, "as User across veths")
        before = kbaltest.tcx_links(env.kbald.pid)
        with env.connect(timeout=30) as c:
            eq(kbaltest.hand_over(c).status, 200, "the first requests")
            wait_until(lambda: [f for _, f in env.flows() if f["path"] == PATH_PACKET], 2.0,
                       "the flow on the packet path")
            for i in range(5):
                eq(c.get("/ka%d" % i).status, 200, "joined request %d" % i)
        after = kbaltest.tcx_links(env.kbald.pid)
        check(len(after) >= len(before) + 2, "tcx links made as nobody: %r, then %r"
              % (before, after))


def test_user_other_than_the_one_kbald_runs_as():
    """Started as nobody (not root) with User daemon: refused before
    anything is loaded, as only root can switch."""
    with Env(conf=CONF + "User daemon\n", kbald=False) as env:
        os.chmod(env.dir, 0o755)
        os.chmod(env.conf_path, 0o644)
        pin_dir = "%s/kbal-t%d-other" % (BPFFS, os.getpid())
        p = subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup",
                            "--clear-groups", kbaltest.KBALD, "-f", env.conf_path,
                            "--pin-dir", pin_dir], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10)
        out = p.stdout.decode(errors="replace")
        eq(p.returncode, 1, "kbald's status: %r" % out)
        want = "%s:%d: User daemon: kbald runs as uid %d gid %d, and only root can become " \
            "another user" % (env.conf_path, kbaltest.line_of(env.conf, "User daemon"),
                              NOBODY.pw_uid, NOGROUP.gr_gid)
        check(want in out, "the refusal: %r" % out)
        check(not os.path.exists(pin_dir), "nothing pinned")
