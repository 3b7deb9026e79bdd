# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""kbalctl host drain|activate|status|check: the host's state in kbal_meta,
which the health check of a cluster's BGP announcement reads
(docs/scale-out.md; test_cluster.py runs it behind a router)."""

import os
import signal
import subprocess

from kbaltest import KBALCTL, LIVE_PROCS, Env, check, eq, remove_pin_dir, wait_until


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
