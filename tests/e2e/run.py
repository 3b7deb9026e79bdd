#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""End-to-end test runner for kbal.

    python3 tests/e2e/run.py [--list] [--timeout S] [NAME ...]

NAME is a test (test_byrequests_alternates or byrequests_alternates), a file
(test_basic) or FILE::TEST. Runs as root. Re-executes itself under
`unshare --net --mount`, so every test talks to 127.0.0.1 in a network
namespace of its own, with a bpffs instance of its own on /sys/fs/bpf
(--host-bpffs: the host's, mounting one only if none is there). Prints "ok NAME" or
"FAIL NAME" per test and ends with the one line "e2e: N passed, N failed".
KBAL_E2E_KEEP=1 keeps a failing test's config, logs and stderr files.
"""

import argparse
import importlib
import inspect
import os
import signal
import subprocess
import sys
import time
import traceback

sys.dont_write_bytecode = True      # no __pycache__ in the work tree
HERE = os.path.dirname(os.path.abspath(__file__))
NETNS_MARK = "KBAL_E2E_NETNS"


class TestTimeout(Exception):
    pass


def summary(passed, failed):
    print("e2e: %d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


def setup_namespace(host_bpffs, state_dir):
    """In the fresh namespaces: loopback up, bpffs on /sys/fs/bpf. Unless
    host_bpffs, a new bpffs instance private to this mount namespace, so
    that pins a crashed kbald leaves go away with the run. A tmpfs on
    /run/netns, so that the named namespaces of kbaltest.Topo are seen by
    no one else and go away with the run too, and one on state_dir, so
    that the host states the tests' kbalctl host drain keeps there
    (kbaltest.STATE_DIR) never meet the machine's own kbal."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    with open("/proc/mounts") as f:
        mounted = any(l.split()[1:3] == ["/sys/fs/bpf", "bpf"] for l in f)
    if not mounted or not host_bpffs:
        subprocess.run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"], check=True)
    os.makedirs("/run/netns", exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "kbal-e2e-netns",
                    "/run/netns"], check=True)
    os.makedirs(state_dir, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=1m", "kbal-e2e-state",
                    state_dir], check=True)


def discover():
    """[(module name, test name, function)] in file, then definition order."""
    sys.path.insert(0, HERE)
    tests = []
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        mod = importlib.import_module(fn[:-3])
        funcs = [(f.__code__.co_firstlineno, name, f)
                 for name, f in vars(mod).items()
                 if name.startswith("test_") and inspect.isfunction(f)
                 and f.__module__ == mod.__name__]
        tests += [(mod.__name__, name, f) for _, name, f in sorted(funcs)]
    return tests


def select_tests(tests, names):
    if not names:
        return tests, []
    chosen, unknown = [], []
    for want in names:
        mod, _, fn = want.rpartition("::")
        hits = [t for t in tests
                if (not mod or t[0] == mod) and
                (t[1] == fn or t[1] == "test_" + fn or (not mod and t[0] in (fn, "test_" + fn)))]
        if not hits:
            unknown.append(want)
        chosen += [t for t in hits if t not in chosen]
    return chosen, unknown


def tail(text, n=25):
    lines = text.rstrip("\n").splitlines()
    return lines[-n:]


def run_one(kbaltest, name, func, timeout):
    """Returns None on success, or the failure text."""
    kbaltest.LAST_KBALD_STDERR = ""
    kbaltest.LAST_ENV_PROBLEMS = []
    # a test that builds (the Debian package) says how long it may take
    timeout = max(timeout, getattr(func, "timeout", 0))

    def on_alarm(signum, frame):
        raise TestTimeout("test did not finish in %ds" % timeout)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(timeout)
    err = None
    try:
        func()
    except AssertionError as e:
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f for f in reversed(tb) if os.path.basename(f.filename).startswith("test_")),
                     tb[-1])
        err = "%s (%s:%d)" % (e, os.path.basename(where.filename), where.lineno)
    except BaseException as e:            # noqa: B902 - a test may raise anything
        if isinstance(e, KeyboardInterrupt):
            raise
        lines = traceback.format_exception(type(e), e, e.__traceback__)
        err = "%s: %s\n%s" % (type(e).__name__, e, "".join(lines[-4:]).rstrip())
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    # an Env raises its own findings only when the test passed; show them
    # with a failure too (a kbald crash often explains the failure)
    also = [p for p in kbaltest.LAST_ENV_PROBLEMS if err and p not in err]
    if also:
        err += "; at exit: " + "; ".join(also)
    leftovers = kbaltest.reap_leftovers()
    if leftovers:
        err = (err + "; " if err else "") + "left behind: " + leftovers
    return err


def main():
    ap = argparse.ArgumentParser(description="kbal end-to-end tests")
    ap.add_argument("names", nargs="*", help="tests or files to run (default: all)")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    ap.add_argument("--timeout", type=int, default=60, help="seconds per test (60)")
    ap.add_argument("--host-bpffs", action="store_true",
                    help="pin in the host's /sys/fs/bpf, not a private bpffs")
    args = ap.parse_args()

    if args.list:
        for mod, name, _ in discover():
            print("%s::%s" % (mod, name))
        return 0

    if os.geteuid() != 0:
        print("run.py: must run as root (network namespaces, bpffs, BPF)", file=sys.stderr)
        return summary(0, 1)

    if os.environ.get(NETNS_MARK) != "1":
        os.environ[NETNS_MARK] = "1"
        cmd = ["unshare", "--net", "--mount", "--", sys.executable,
               os.path.abspath(__file__)] + sys.argv[1:]
        sys.stdout.flush()
        try:
            os.execvp(cmd[0], cmd)
        except OSError as e:
            print("run.py: cannot exec unshare: %s" % e, file=sys.stderr)
            return summary(0, 1)

    sys.path.insert(0, HERE)
    import kbaltest

    try:
        setup_namespace(args.host_bpffs, kbaltest.STATE_DIR)
    except (OSError, subprocess.CalledProcessError) as e:
        print("run.py: namespace setup failed: %s" % e, file=sys.stderr)
        return summary(0, 1)

    tests, unknown = select_tests(discover(), args.names)
    passed = failed = 0
    for want in unknown:
        print("FAIL %s: no such test" % want, flush=True)
        failed += 1
    for mod, name, func in tests:
        t0 = time.monotonic()
        err = run_one(kbaltest, name, func, args.timeout)
        dt = time.monotonic() - t0
        if err is None:
            passed += 1
            print("ok %s (%.1fs)" % (name, dt), flush=True)
            continue
        failed += 1
        print("FAIL %s (%.1fs): %s" % (name, dt, err), flush=True)
        stderr = tail(kbaltest.LAST_KBALD_STDERR)
        if stderr:
            print("  kbald stderr (last %d lines):" % len(stderr))
            for line in stderr:
                print("  | " + line)
        sys.stdout.flush()
    return summary(passed, failed)


if __name__ == "__main__":
    sys.exit(main())
