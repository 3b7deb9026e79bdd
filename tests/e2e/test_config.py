# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""kbald -t checks a config like `httpd -t`; a config kbald cannot run
fails before anything is left behind."""

import os
import socket
import tempfile

from kbaltest import (BPFFS, EXAMPLE_CONF, HOST, check, eq, fill_ports, free_port,
                      run_kbald)


def write_conf(tmp, text):
    ports = {"listen": free_port(), "b1": free_port(), "b2": free_port()}
    path = os.path.join(tmp, "kbald.conf")
    with open(path, "w") as f:
        f.write(fill_ports(text, ports))
    return path, ports


def with_line(n, text):
    """EXAMPLE_CONF with line n replaced by text (1-based)."""
    lines = EXAMPLE_CONF.splitlines()
    lines[n - 1] = text
    return "\n".join(lines) + "\n"


def insert_line(n, text):
    """EXAMPLE_CONF with text inserted as line n."""
    lines = EXAMPLE_CONF.splitlines()
    lines.insert(n - 1, text)
    return "\n".join(lines) + "\n"


def test_config_example_syntax_ok():
    with tempfile.TemporaryDirectory() as tmp:
        path, _ = write_conf(tmp, EXAMPLE_CONF)
        rc, out = run_kbald(["-t", "-f", path])
        eq(rc, 0, "kbald -t status; output:\n" + out)
        check("Syntax OK" in out, "no 'Syntax OK' in:\n" + out)


def test_config_proxyrequests_on():
    eq(EXAMPLE_CONF.splitlines()[6], "ProxyRequests Off", "line 7 of the example")
    with tempfile.TemporaryDirectory() as tmp:
        path, _ = write_conf(tmp, with_line(7, "ProxyRequests On"))
        rc, out = run_kbald(["-t", "-f", path])
        check(rc != 0, "kbald -t accepted ProxyRequests On:\n" + out)
        check(path + ":7:" in out, "error does not name %s:7:\n%s" % (path, out))


def test_config_unknown_directive():
    with tempfile.TemporaryDirectory() as tmp:
        path, _ = write_conf(tmp, insert_line(8, "FrobnicateWidgets On"))
        rc, out = run_kbald(["-t", "-f", path])
        check(rc != 0, "kbald -t accepted an unknown directive:\n" + out)
        check(path + ":8:" in out, "error does not name %s:8:\n%s" % (path, out))


def test_failing_config_run_leaves_no_pins():
    pin_dir = "%s/kbal-t%d-badconf" % (BPFFS, os.getpid())
    with tempfile.TemporaryDirectory() as tmp:
        path, _ = write_conf(tmp, with_line(7, "ProxyRequests On"))
        rc, out = run_kbald(["-f", path, "--pin-dir", pin_dir])
        check(rc != 0, "kbald ran a bad config:\n" + out)
        check(not os.path.exists(pin_dir), "bad config left %s" % pin_dir)


def test_listen_in_use_leaves_no_pins():
    """Fails later in start-up: the config is good, the port is taken."""
    pin_dir = "%s/kbal-t%d-inuse" % (BPFFS, os.getpid())
    with tempfile.TemporaryDirectory() as tmp:
        path, ports = write_conf(tmp, EXAMPLE_CONF)
        with socket.socket() as s:
            s.bind((HOST, ports["listen"]))
            s.listen(1)
            rc, out = run_kbald(["-f", path, "--pin-dir", pin_dir])
        check(rc != 0, "kbald started on a port in use:\n" + out)
        check(not os.path.exists(pin_dir), "failed start left %s" % pin_dir)

