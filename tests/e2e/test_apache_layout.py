# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Debian's own /etc/apache2 layout, copied as it is (apache2.conf including
mods-enabled/*.load and *.conf, ports.conf, conf-enabled/*.conf,
sites-enabled/*.conf), with the proxy modules enabled as a2enmod does, the
default site disabled as a2dissite does, a site with a balancer of the test's
members and ports.conf's Listen on the test's port: kbald -t names each
directive it ignores once, with its file and line; kbald serves through the
balancer; Debian's apache2 -t takes the same tree. And the shape Debian's
000-default.conf has, the proxy configuration inside <VirtualHost *:80>:
two name-based sites on the one Listen, each with its own balancer."""

import os
import pwd
import re
import shutil
import subprocess
import tempfile

from kbaltest import HOST, KBALD, Conn, Env, check, eq

SITE = """\
# the test's site: a balancer of its two members
<Proxy balancer://app>
    BalancerMember http://%(host)s:%(b1)d route=1
    BalancerMember http://%(host)s:%(b2)d route=2
</Proxy>
<IfDefine KBAL_TEST_REWRITE>
    RewriteEngine On
</IfDefine>
# mod_status (enabled by default) has <Location /server-status>
ProxyPass /server-status !
ProxyPass / balancer://app/
ProxyPassReverse / balancer://app/
"""

# the same inside <VirtualHost *:80>, as sites are usually written: two
# name-based sites on ports.conf's one Listen
VHOST_SITE = """\
<VirtualHost *:%(listen)d>
    ServerName www.test
    <Proxy balancer://app>
        BalancerMember http://%(host)s:%(b1)d route=1
        BalancerMember http://%(host)s:%(b2)d route=2
    </Proxy>
    ProxyPass /server-status !
    ProxyPass / balancer://app/
</VirtualHost>
<VirtualHost *:%(listen)d>
    ServerName other.test
    ServerAlias *.other.test
    <Proxy balancer://other>
        BalancerMember http://%(host)s:%(b2)d
    </Proxy>
    ProxyPass /server-status !
    ProxyPass / balancer://other/o/
</VirtualHost>
"""

# what Debian's stock files hold that kbal ignores on purpose, each named once
STOCK_IGNORED = [
    "DefaultRuntimeDir", "PidFile",
    "HostnameLookups", "AccessFileName", "<Directory>", "<FilesMatch>", "TraceEnable",
    "StartServers", "MaxRequestWorkers", "Alias", "DirectoryIndex", "AddType", "AddIcon",
    "LanguagePriority", "ExtendedStatus",
]


def build_tree(tmp, ports, site=SITE):
    """a copy of /etc/apache2 in tmp/apache2 with the test's site; returns
    (its apache2.conf, the environment its ${APACHE_*} come from)"""
    root = os.path.join(tmp, "apache2")
    shutil.copytree("/etc/apache2", root, symlinks=True)   # links stay relative
    for m in ("proxy", "proxy_http", "proxy_balancer", "slotmem_shm", "lbmethod_byrequests"):
        for ext in ("load", "conf"):
            if os.path.exists(os.path.join(root, "mods-available", "%s.%s" % (m, ext))):
                link = os.path.join(root, "mods-enabled", "%s.%s" % (m, ext))
                if not os.path.lexists(link):
                    os.symlink("../mods-available/%s.%s" % (m, ext), link)
    default = os.path.join(root, "sites-enabled", "000-default.conf")
    if os.path.lexists(default):
        os.unlink(default)
    ports_conf = os.path.join(root, "ports.conf")
    with open(ports_conf) as f:
        text = f.read()
    text, n = re.subn(r"^Listen 80$", "Listen %s:%d" % (HOST, ports["listen"]), text, flags=re.M)
    eq(n, 1, "Listen 80 in Debian's ports.conf")
    with open(ports_conf, "w") as f:
        f.write(text)
    with open(os.path.join(root, "sites-available", "kbal-test.conf"), "w") as f:
        f.write(site % dict(host=HOST, b1=ports["b1"], b2=ports["b2"], listen=ports["listen"]))
    os.symlink("../sites-available/kbal-test.conf",
               os.path.join(root, "sites-enabled", "kbal-test.conf"))
    for d in ("run", "lock", "log"):
        os.makedirs(os.path.join(tmp, d))
    env = dict(os.environ, APACHE_RUN_USER="www-data", APACHE_RUN_GROUP="www-data",
               APACHE_PID_FILE=os.path.join(tmp, "run", "apache2.pid"),
               APACHE_RUN_DIR=os.path.join(tmp, "run"),
               APACHE_LOCK_DIR=os.path.join(tmp, "lock"),
               APACHE_LOG_DIR=os.path.join(tmp, "log"))
    return os.path.join(root, "apache2.conf"), env


def kbald_t(conf, env, *args):
    p = subprocess.run(["env"] + ["%s=%s" % (k, v) for k, v in env.items()
                                  if k.startswith("APACHE_")] +
                       [KBALD, "-t", "-f", conf] +
                       list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    return p.returncode, p.stdout.decode(errors="replace")


def test_debian_layout_kbald_t_names_what_it_ignores():
    with tempfile.TemporaryDirectory() as tmp:
        ports = {"listen": 18080, "b1": 18081, "b2": 18082}
        conf, env = build_tree(tmp, ports)
        rc, out = kbald_t(conf, env)
        eq(rc, 0, "kbald -t on Debian's layout; output:\n" + out)
        check("Syntax OK" in out, "no Syntax OK:\n" + out)
        check("Config variable" not in out, "a ${APACHE_*} left undefined:\n" + out)
        said = {}
        for m in re.finditer(r"^kbald: warning: (\S+):(\d+): (\S+) ignored by kbal: ", out, re.M):
            path, line, name = m.group(1), int(m.group(2)), m.group(3)
            check(name not in said, "%s named twice:\n%s" % (name, out))
            said[name] = (path, line)
            # the file and line given hold that directive
            with open(path) as f:
                text = f.read().splitlines()[line - 1].strip()
            check(text.lower().startswith(name.rstrip(">").lower()),
                  "%s:%d is %r, not %s" % (path, line, text, name))
        for name in STOCK_IGNORED:
            check(name in said, "%s not named as ignored:\n%s" % (name, out))
        # User and Group are mod_unixd's, which kbal implements, and
        # MaxKeepAliveRequests (100 in apache2.conf) core's: taken, not ignored
        for name in ("User", "Group", "MaxKeepAliveRequests"):
            check(name not in said, "%s said ignored:\n%s" % (name, out))
        check("MaxKeepAliveRequests" not in out, "MaxKeepAliveRequests said:\n" + out)
        eq(said["PidFile"][0], conf, "PidFile's file")
        check(said["StartServers"][0].endswith("/mods-enabled/mpm_event.conf"),
              "StartServers' file: %s" % (said["StartServers"],))
        check(said["TraceEnable"][0].endswith("/conf-enabled/security.conf"),
              "TraceEnable's file: %s" % (said["TraceEnable"],))
        # the modules of the default install kbal does not load are said, once
        for m in ("mime", "mpm_event", "deflate", "status"):
            eq(out.count("LoadModule %s_module: not loaded by kbal" % m), 1, m + "_module\n" + out)

        # -D as httpd's: the <IfDefine> is read, and what kbal lacks is an error
        rc, out = kbald_t(conf, env, "-D", "KBAL_TEST_REWRITE")
        check(rc != 0, "kbald -t -D KBAL_TEST_REWRITE accepted RewriteEngine:\n" + out)
        check("/sites-enabled/kbal-test.conf:7: Invalid command 'RewriteEngine'" in out,
              "the error names the site's line:\n" + out)
        # an unknown directive in a site stays an error naming its file and line
        with open(os.path.join(os.path.dirname(conf), "sites-available", "kbal-test.conf"),
                  "a") as f:
            f.write("RewriteEngine On\n")
        rc, out = kbald_t(conf, env)
        check(rc != 0, "kbald -t accepted RewriteEngine:\n" + out)
        check(re.search(r"/sites-enabled/kbal-test\.conf:13: Invalid command 'RewriteEngine'.*"
                        r"\(included from %s:\d+\)" % re.escape(conf), out),
              "the error names the site's file, line and includer:\n" + out)


def test_debian_layout_apache2_t_takes_the_same_tree():
    with tempfile.TemporaryDirectory() as tmp:
        ports = {"listen": 18080, "b1": 18081, "b2": 18082}
        conf, env = build_tree(tmp, ports)
        p = subprocess.run(["apache2", "-d", os.path.dirname(conf), "-f", conf, "-t"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
        out = p.stdout.decode(errors="replace")
        eq(p.returncode, 0, "apache2 -t on the tree:\n" + out)
        check("Syntax OK" in out, "apache2 -t:\n" + out)


def test_debian_layout_serves_through_the_balancer():
    with Env(kbald=False) as env:
        tmp = env.dir
        conf, apache_env = build_tree(tmp, env.ports)
        env.conf_path = conf
        env.kbald_wrap = ["env"] + ["%s=%s" % (k, v) for k, v in apache_env.items()
                                    if k.startswith("APACHE_")]
        env._start_kbald()
        seen = set()
        for i in range(4):
            r = env.get("/p%d" % i)
            eq(r.status, 200, "status through Debian's layout")
            eq(r.text, "backend=%s path=/p%d\n" % (r.header("X-Backend"), i), "body")
            seen.add(r.header("X-Backend"))
        eq(seen, {"WAS1", "WAS2"}, "both members")
        # User ${APACHE_RUN_USER} from envvars: kbald serves as www-data
        with open("/proc/%d/status" % env.kbald.pid) as f:
            uids = [l.split()[1:] for l in f if l.startswith("Uid:")][0]
        eq(set(uids), {str(pwd.getpwnam("www-data").pw_uid)}, "kbald's uids")
        # excluded, and no mod_status in kbal: its own 404
        eq(env.get("/server-status").status, 404, "/server-status")
        # ErrorLog ${APACHE_LOG_DIR}/error.log is where kbald writes
        check(os.path.exists(os.path.join(tmp, "log", "error.log")), "ErrorLog's file")


def test_debian_layout_sites_in_virtual_hosts():
    with tempfile.TemporaryDirectory() as tmp:
        conf, apache_env = build_tree(tmp, {"listen": 18080, "b1": 18081, "b2": 18082},
                                      VHOST_SITE)
        rc, out = kbald_t(conf, apache_env)
        eq(rc, 0, "kbald -t on the sites in <VirtualHost>s:\n" + out)
        check("Syntax OK" in out, "no Syntax OK:\n" + out)
        p = subprocess.run(["apache2", "-d", os.path.dirname(conf), "-f", conf, "-t"],
                           env=apache_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=20)
        eq(p.returncode, 0, "apache2 -t on the same tree:\n" + p.stdout.decode(errors="replace"))
    with Env(kbald=False) as env:
        conf, apache_env = build_tree(env.dir, env.ports, VHOST_SITE)
        env.conf_path = conf
        env.kbald_wrap = ["env"] + ["%s=%s" % (k, v) for k, v in apache_env.items()
                                    if k.startswith("APACHE_")]
        env._start_kbald()
        seen = set()
        with Conn(env.port) as c:
            for i in range(6):
                # one connection, the Host switched between requests
                host = ("www.test", "a.other.test", "unknown.test")[i % 3]
                r = c.get("/p%d" % i, headers=[("Host", host)])
                eq(r.status, 200, "status for %s" % host)
                if host == "a.other.test":
                    eq(r.text, "backend=WAS2 path=/o/p%d\n" % i, "other.test's balancer")
                else:
                    # an unknown Host: the first site, www.test
                    eq(r.text, "backend=%s path=/p%d\n" % (r.header("X-Backend"), i),
                       "www.test's balancer")
                    seen.add(r.header("X-Backend"))
        eq(seen, {"WAS1", "WAS2"}, "both of www.test's members")
