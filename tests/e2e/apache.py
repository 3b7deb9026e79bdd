# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Debian's apache2 beside kbald, on the same configuration and members, for
the tests that compare the two (the reference for what Apache does):
started in a directory of its own, on a port of its own, stopped by its PID."""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile

from kbaltest import LIVE_PROCS, Conn, check, eq, free_port, stop_proc, wait_until

MODULES = "/usr/lib/apache2/modules"


def apache_conf(d, env, port):
    """env's configuration as kbald runs it (members, rules, manager), its
    Listen on port, kbal's own directives left out, with what httpd needs
    to run on its own in d."""
    text = re.sub(r"^Listen\s+(127\.0\.0\.1|\[::1\]|\[::\]):%d\s*$" % env.port,
                  r"Listen \g<1>:%d" % port, env.conf, flags=re.M)
    text = re.sub(r"^\s*Kbal\w+\s.*$", "", text, flags=re.M)
    text = re.sub(r"^(\s*LoadModule\s+\S+\s+)modules/", r"\g<1>%s/" % MODULES, text, flags=re.M)
    builtin = set(re.findall(r"mod_(\w+)\.c", subprocess.run(
        ["apache2", "-l"], stdout=subprocess.PIPE, timeout=10).stdout.decode()))
    loaded = set(re.findall(r"^\s*LoadModule\s+(\w+)_module", text, re.M))
    extra = ["LoadModule %s_module %s/mod_%s.so" % (m, MODULES, m)
             for m in ("mpm_event", "unixd", "authz_core", "access_compat", "headers")
             if m not in builtin and m not in loaded]
    # one process; threads enough that its workers are never all busy on a
    # slow or loaded host: mpm_event then closes every idle keep-alive
    # connection at once (event.c's process_keepalive_queue(0), "All
    # workers are busy"), and a test's next request on one meets an EOF
    # kbal would not send (with 8, test_differential_example under a
    # loaded host)
    head = ('ServerRoot "%s"\nServerName 127.0.0.1\nPidFile %s/apache.pid\n'
            "DefaultRuntimeDir %s\nErrorLog %s/error.log\nLogLevel warn\n%s\n"
            "User www-data\nGroup www-data\nStartServers 1\nServerLimit 1\n"
            "ThreadsPerChild 64\nMaxRequestWorkers 64\n" % (d, d, d, d, "\n".join(extra)))
    return head + text


@contextlib.contextmanager
def apache_beside(env):
    """Debian's apache2 on env's configuration and members; yields its port."""
    d = tempfile.mkdtemp(prefix="kbal-apache-")
    os.chmod(d, 0o755)
    apache = None
    try:
        aport = free_port()
        with open(os.path.join(d, "apache.conf"), "w") as f:
            f.write(apache_conf(d, env, aport))
        err = open(os.path.join(d, "stderr"), "wb")
        apache = subprocess.Popen(["apache2", "-d", d, "-f", os.path.join(d, "apache.conf"),
                                   "-DFOREGROUND"], stdout=err, stderr=err,
                                  stdin=subprocess.DEVNULL)
        err.close()
        LIVE_PROCS.append(apache)
        wait_until(lambda: apache.poll() is not None or port_open(aport), 10.0,
                   "Apache listening")
        check(apache.poll() is None, "Apache did not start: %s" % read(
            os.path.join(d, "stderr")) + read(os.path.join(d, "error.log")))
        yield aport
    finally:
        if apache is not None:
            stop_proc(apache, grace=10.0)   # by its PID
        shutil.rmtree(d, ignore_errors=True)


def host_steps(port, steps, answer, timeout=10.0, reopen=False):
    """Each (Host, path) of steps asked in turn on one keep-alive connection
    to port (kbald's or Apache's): (host, path) + answer(r) of each; with
    reopen, a new connection after an answer that ends it"""
    out = []
    c = Conn(port, timeout=timeout)
    try:
        for host, path in steps:
            r = c.get(path, headers=[("Host", host)])
            out.append((host, path) + tuple(answer(r)))
            if reopen and (r.header("Connection") or "").lower() == "close":
                c.close()
                c = Conn(port, timeout=timeout)
    finally:
        c.close()
    return out


def same_as_apache(theirs, ours):
    """kbal's answers (ours) one by one against Apache's to the same steps
    (theirs), each named by its first two fields (Host, path)"""
    for a, k in zip(theirs, ours):
        eq(k, a, "kbal's answer to %s against Apache's" % (a[:2],))


def port_open(port):
    """Something listens on port, on 127.0.0.1 or ::1"""
    for host in ("127.0.0.1", "::1"):
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            pass
    return False


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""
