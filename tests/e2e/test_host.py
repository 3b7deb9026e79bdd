# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""kbalctl host drain|activate|status|check: the host's state in kbal_meta,
which the health check of a cluster's BGP announcement reads, kept across a
stop in the state directory (user/hoststate.h; docs/scale-out.md;
test_cluster.py runs it behind a router)."""

import os
import signal
import subprocess

from kbaltest import (KBALCTL, LIVE_PROCS, Env, check, eq, host_state_file, remove_pin_dir,
                      wait_until)


def host(env, what):
    p = subprocess.run([KBALCTL, "--pin-dir", env.pin_dir, "host", what],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
    return p.returncode, p.stdout.decode() + p.stderr.decode()


def test_host_state_drives_the_check():
    with Env() as env:
        eq(host(env, "check")[0], 0, "check on a fresh kbald")
        check(host(env, "status")[1].startswith("host active\n"), "status: active")
        eq(host(env, "drain"), (0, "host draining\n"), "drain")
        rc, out = host(env, "check")
        check(rc == 1 and "draining" in out, "check while draining: %d %r" % (rc, out))
        check(host(env, "status")[1].startswith("host draining since "), "status: draining")
        meta = env.bpftool_dump("kbal_meta")[0]["formatted"]["value"]
        eq(meta["host_state"], 1, "kbal_meta host_state")
        # kbald serves alike: the state is the announcement's, not kbald's
        eq(env.get("/").status, 200, "a request to a draining host")
        # kept across a restart in place
        env.kbalctl("restart")
        eq(host(env, "check")[0], 1, "check after a restart in place, still draining")
        eq(host(env, "activate"), (0, "host active\n"), "activate")
        eq(host(env, "activate"), (0, "host active (already)\n"), "activate again")
        eq(host(env, "check")[0], 0, "check once active")
        eq(host(env, "bogus")[0], 2, "host bogus")


def test_check_fails_for_a_stopped_or_gone_kbald():
    with Env() as env:
        eq(host(env, "check")[0], 0, "check on a running kbald")
        env.kbald.send_signal(signal.SIGSTOP)
        try:
            # its loop turns once a second at least; 3 s without: down
            wait_until(lambda: host(env, "check")[0] == 1, 10, "check failing for a stopped kbald")
            check("not turned" in host(env, "check")[1], "why: %r" % host(env, "check")[1])
        finally:
            env.kbald.send_signal(signal.SIGCONT)
        wait_until(lambda: host(env, "check")[0] == 0, 5, "check passing after SIGCONT")
        pin = env.pin_dir
        env.kbald.send_signal(signal.SIGKILL)
        env.kbald.wait(5)
        LIVE_PROCS.remove(env.kbald)
        # a SIGKILLed kbald leaves its pins: readable, but its pid is gone
        check(os.path.exists(pin), "pins left by SIGKILL")
        rc, out = host(env, "check")
        check(rc == 1 and "gone" in out, "check after SIGKILL: %d %r" % (rc, out))
        env.kbald = None      # no exit status to check, no pins to find
        remove_pin_dir(pin)
        # no pins at all (kbald stopped cleanly, or never ran): down
        rc, _ = host(env, "check")
        check(rc != 0, "check without pins: %d" % rc)


def since_line(env):
    """kbalctl host status's first line: the state and since when."""
    return host(env, "status")[1].splitlines()[0]


def test_host_state_kept_across_a_stop():
    """A drained host stays drained when kbald stops and starts again
    (SIGTERM, as systemctl restart; SIGKILL, as a crash), with its
    since: kbalctl host keeps the state in the state directory, which a
    start afresh reads before anything finds it healthy. activate removes
    it. A file that is not a state's starts kbald draining, with a warning."""
    with Env() as env:
        path = host_state_file(env.pin_dir)
        eq(host(env, "drain"), (0, "host draining\n"), "drain")
        with open(path) as f:
            check(f.read().startswith("draining "), "the state file after drain")
        status = host(env, "status")[1]
        check("kept in %s: draining\n" % path in status, "status names the file: %r" % status)
        before = since_line(env)
        for how in ("SIGTERM", "SIGKILL"):
            if how == "SIGTERM":
                env.stop_kbald()
            else:
                env.kbald.send_signal(signal.SIGKILL)
                env.kbald.wait(5)
                LIVE_PROCS.remove(env.kbald)
                check(os.path.exists(env.pin_dir), "pins left by SIGKILL")
            env._start_kbald()
            rc, out = host(env, "check")
            check(rc == 1 and "draining" in out,
                  "check after a stop (%s) and a start: %d %r" % (how, rc, out))
            eq(since_line(env), before, "status after a stop (%s) and a start" % how)
            check("host draining since" in env.kbald_stderr(),
                  "kbald's log at a start drained: %r" % env.kbald_stderr())
            # kbald serves alike: the state is the announcement's
            eq(env.get("/").status, 200, "a request to a host started drained")
        eq(host(env, "activate"), (0, "host active\n"), "activate")
        check(not os.path.exists(path), "the state file after activate")
        check("kept in %s: nothing (active)\n" % path in host(env, "status")[1],
              "status once active")
        env.stop_kbald()
        env._start_kbald()
        eq(host(env, "check")[0], 0, "check after a stop and a start, active")
        # a file kbalctl did not write: out of the route rather than in
        with open(path, "w") as f:
            f.write("drained\n")
        env.stop_kbald()
        env._start_kbald()
        rc, out = host(env, "check")
        check(rc == 1 and "draining" in out, "check after a start with a bad file: %d %r"
              % (rc, out))
        check("not a host state" in env.kbald_stderr(), "kbald's warning about the file")
        eq(host(env, "activate")[0], 0, "activate")
        eq(host(env, "check")[0], 0, "check once active")
        check(not os.path.exists(path), "the state file after activate")


# Each of these starts hosts in namespaces (and a router) and moves flows
# between them: 5-15 s on this 2-core VM alone, four to five times that
# under the sanitizers' build with other jobs on the machine (65 s seen:
# the runner's 60 s is a host's speed there, not a hang's bound)
for _name, _func in list(globals().items()):
    if _name.startswith("test_") and callable(_func):
        _func.timeout = 300
