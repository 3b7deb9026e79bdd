# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""kbal as a service (issue 19): what `make install` writes (a staged
install, DESTDIR), the systemd unit as `systemd-analyze verify` reads it,
the man pages as man(1) renders them, and what kbald tells systemd
(Type=notify) when it is ready, restarts in place and stops. This machine
runs no systemd as PID 1, so the unit is checked short of booting it; the
notifications go to a socket the test binds as NOTIFY_SOCKET."""

import os
import shutil
import socket
import subprocess
import tempfile

from kbaltest import BUILD, KBALD, ROOT, Env, check, eq

INSTALLED = {               # under DESTDIR, with make's default paths
    "usr/local/sbin/kbald": 0o755,
    "usr/local/sbin/kbalctl": 0o755,
    "usr/local/lib/systemd/system/kbal.service": 0o644,
    "etc/kbal/kbal.conf": 0o644,
    "usr/local/share/man/man8/kbald.8": 0o644,
    "usr/local/share/man/man8/kbalctl.8": 0o644,
    "usr/local/share/man/man5/kbal.conf.5": 0o644,
    "usr/local/share/doc/kbal/README.md": 0o644,
    "usr/local/share/doc/kbal/configuration.md": 0o644,
    "usr/local/share/doc/kbal/operating.md": 0o644,
    "etc/logrotate.d/kbal": 0o644,
}


def make(*args):
    """make in the tree that built the binaries under test (build/ or,
    with SANITIZE=1, build-san/): the binaries are taken as they are (-o:
    never rebuilt under the suite's feet, even with sources edited since)"""
    rel = os.path.relpath(BUILD, ROOT)
    extra = ["SANITIZE=1"] if os.path.basename(BUILD) == "build-san" else []
    extra += ["-o", rel + "/kbald", "-o", rel + "/kbalctl"]
    p = subprocess.run(["make", "-s", "-C", ROOT] + extra + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300)
    check(p.returncode == 0, "make %s: %s" % (" ".join(args), p.stdout.decode()))
    return p.stdout.decode()


def files_under(d):
    out = set()
    for top, _, names in os.walk(d):
        for n in names:
            out.add(os.path.relpath(os.path.join(top, n), d))
    return out


def test_install_unit_man_pages_and_uninstall():
    d = tempfile.mkdtemp(prefix="kbal-install-")
    try:
        make("install", "DESTDIR=" + d)
        got = files_under(d)
        for path, mode in INSTALLED.items():
            check(path in got, "%s not installed; installed: %s" % (path, sorted(got)))
            eq(os.stat(os.path.join(d, path)).st_mode & 0o777, mode, "mode of " + path)
        eq(os.stat(os.path.join(d, "var/log/kbal")).st_mode & 0o777, 0o750, "the log directory")
        conf = open(os.path.join(d, "etc/kbal/kbal.conf")).read()
        check("ErrorLog /var/log/kbal/error.log" in conf and
              "CustomLog /var/log/kbal/access.log combined" in conf, "the logs in kbal.conf")
        # logrotate reads the snippet (debug: nothing is rotated)
        p = subprocess.run(["logrotate", "-d", os.path.join(d, "etc/logrotate.d/kbal")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        out = p.stdout.decode()
        check(p.returncode == 0 and "/var/log/kbal/*.log" in out and "error" not in out.lower(),
              "logrotate -d: %s" % out)
        # the installed binary, on the installed configuration
        p = subprocess.run([os.path.join(d, "usr/local/sbin/kbald"), "-t", "-f",
                            os.path.join(d, "etc/kbal/kbal.conf")], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        eq((p.returncode, p.stdout.decode().strip().splitlines()[-1]), (0, "Syntax OK"),
           "kbald -t on the installed kbal.conf")
        usage = subprocess.run([KBALD, "--help"], stdout=subprocess.PIPE).stdout.decode()
        check("default /etc/kbal/kbal.conf" in usage, "kbald's default configuration: " + usage)
        # man(1) renders each page without a complaint
        for page, name in (("usr/local/share/man/man8/kbald.8", "kbald"),
                           ("usr/local/share/man/man8/kbalctl.8", "kbalctl"),
                           ("usr/local/share/man/man5/kbal.conf.5", "kbal.conf")):
            p = subprocess.run(["man", "-l", os.path.join(d, page)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=dict(os.environ, MANWIDTH="80",
                                                                MAN_KEEP_STDERR="1"), timeout=30)
            text = p.stdout.decode()
            eq((p.returncode, p.stderr.decode()), (0, ""), "man -l " + page)
            check("NAME" in text and name in text and "SEE ALSO" in text,
                  "%s renders: %r" % (page, text[:300]))
        # the unit as systemd reads it: its commands staged where they are
        unit = open(os.path.join(d, "usr/local/lib/systemd/system/kbal.service")).read()
        for line in ("Type=notify", "ExecReload=/usr/local/sbin/kbalctl restart",
                     "ExecStart=/usr/local/sbin/kbald -f /etc/kbal/kbal.conf"):
            check(line in unit.splitlines(), "%r not in the unit:\n%s" % (line, unit))
        staged = os.path.join(d, "kbal.service")
        with open(staged, "w") as f:
            f.write(unit.replace("/usr/local/sbin/", os.path.join(d, "usr/local/sbin/")))
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", staged],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        eq((p.returncode, p.stdout.decode()), (0, ""), "systemd-analyze verify kbal.service")
        os.unlink(staged)
        # an edited configuration survives a second install and the uninstall
        conf = os.path.join(d, "etc/kbal/kbal.conf")
        with open(conf, "a") as f:
            f.write("# edited\n")
        make("install", "DESTDIR=" + d)
        check(open(conf).read().endswith("# edited\n"), "install replaced an edited kbal.conf")
        out = make("uninstall", "DESTDIR=" + d)
        check("was edited: kept" in out, "uninstall's word on the edited kbal.conf: %r" % out)
        eq(files_under(d), {"etc/kbal/kbal.conf"}, "files left after uninstall")
        with open(os.path.join(ROOT, "tools/install/kbal.conf")) as f, open(conf, "w") as out:
            out.write(f.read().replace("@LOGDIR@", "/var/log/kbal"))
        make("uninstall", "DESTDIR=" + d)
        eq(files_under(d), set(), "files left after uninstall of an unedited kbal.conf")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def notes(s):
    """the next notification: {KEY: VALUE}"""
    data = s.recv(4096).decode()
    return dict(l.split("=", 1) for l in data.splitlines() if "=" in l)


def test_notify_ready_reloading_stopping():
    d = tempfile.mkdtemp(prefix="kbal-notify-")
    path = os.path.join(d, "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.bind(path)
        s.settimeout(10.0)
        with Env(kbald_wrap=["env", "NOTIFY_SOCKET=" + path]) as env:
            n = notes(s)
            eq((n.get("READY"), n.get("STATUS")), ("1", "serving 1 balancer(s)"),
               "kbald's first notification")
            eq(env.get("/x").status, 200, "a request once READY")
            env.kbalctl("restart")
            n = notes(s)
            eq(n.get("RELOADING"), "1", "the restart's first notification: %r" % n)
            check(int(n.get("MONOTONIC_USEC", "0")) > 0, "MONOTONIC_USEC with RELOADING: %r" % n)
            eq(notes(s).get("READY"), "1", "the new image's notification")
            eq(env.get("/y").status, 200, "a request after the restart")
            # a configuration kbald refuses: READY again, and why
            good = open(env.conf_path).read()
            with open(env.conf_path, "w") as f:
                f.write(good + "NoSuchDirective 1\n")
            env.kbalctl("restart", check_rc=False)
            n = notes(s)
            eq(n.get("READY"), "1", "after a refused restart: %r" % n)
            check(n.get("STATUS", "").startswith("restart refused, still serving:") and
                  "NoSuchDirective" in n.get("STATUS", ""), "its STATUS: %r" % n)
            with open(env.conf_path, "w") as f:
                f.write(good)
        eq(notes(s).get("STOPPING"), "1", "kbald's last notification")
    finally:
        s.close()
        shutil.rmtree(d, ignore_errors=True)


def test_debian_package():
    # `make deb`: dpkg-buildpackage on a copy of the tree (tools/debian/),
    # lintian with no error; the package's files, its conffiles, and its
    # kbald reading its own kbal.conf
    out = make("deb")
    rel = os.path.relpath(BUILD, ROOT)
    debs = [f for f in os.listdir(os.path.join(ROOT, rel, "deb"))
            if f.startswith("kbal_") and f.endswith(".deb")]
    eq(len(debs), 1, "packages built: %r (%s)" % (debs, out))
    deb = os.path.join(ROOT, rel, "deb", debs[0])
    p = subprocess.run(["lintian", deb], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=300)
    tags = [l for l in p.stdout.decode().splitlines() if l[:2] in ("E:", "W:")]
    eq(tags, [], "lintian's errors and warnings")
    listing = subprocess.run(["dpkg-deb", "-c", deb], stdout=subprocess.PIPE,
                             check=True).stdout.decode()
    for path in ("./usr/sbin/kbald", "./usr/sbin/kbalctl", "./lib/systemd/system/kbal.service",
                 "./etc/kbal/kbal.conf", "./etc/logrotate.d/kbal",
                 "./usr/share/man/man8/kbald.8.gz", "./usr/share/man/man5/kbal.conf.5.gz"):
        check(" " + path + "\n" in listing, "%s not in the package:\n%s" % (path, listing))
    d = tempfile.mkdtemp(prefix="kbal-deb-")
    try:
        subprocess.run(["dpkg-deb", "-e", deb, d + "/DEBIAN"], check=True)
        eq(open(d + "/DEBIAN/conffiles").read().split(),
           ["/etc/kbal/kbal.conf", "/etc/logrotate.d/kbal"], "conffiles")
        subprocess.run(["dpkg-deb", "-x", deb, d], check=True)
        unit = open(d + "/lib/systemd/system/kbal.service").read()
        check("ExecStart=/usr/sbin/kbald -f /etc/kbal/kbal.conf" in unit, "the unit: " + unit)
        p = subprocess.run([d + "/usr/sbin/kbald", "-t", "-f", d + "/etc/kbal/kbal.conf"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        eq((p.returncode, p.stdout.decode().strip().splitlines()[-1]), (0, "Syntax OK"),
           "the package's kbald on its kbal.conf")
    finally:
        shutil.rmtree(d, ignore_errors=True)


# a whole build of the project from a copy: bounded, not by the host's speed
test_debian_package.timeout = 900
