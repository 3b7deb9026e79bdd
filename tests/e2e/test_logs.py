# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""kbald's logs as an Apache configuration names them (issue 19):
CustomLog lines in LogFormat's language for each request kbald decides and
one for each flow the kernel carried when it ends, ErrorLog and LogLevel for
kbald's own messages, the files opened again on SIGUSR2 / `kbalctl reopen`
(logrotate's way), written by a thread of their own."""

import os
import re
import shutil
import tempfile

from kbaltest import EXAMPLE_CONF, Conn, Env, check, eq, wait_until

FMT = ('"%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D '
       '%{BALANCER_WORKER_ROUTE}e %X %k %m %U%q %H"')
Q = r'"((?:[^"\\]|\\.)*)"'     # a quoted field, with its \" escapes
LINE = re.compile(r'^127\.0\.0\.1 - - \[[^]]+\] ' + Q + r' (\S+) (\S+) ' + Q + ' ' + Q +
                  r' (\d+) (\S+) ([-+X]) (\d+) (\S+) (\S+) (\S+)$')


def logs_conf(d, extra=""):
    return EXAMPLE_CONF + "CustomLog %s/access.log %s\nErrorLog %s/error.log\n%s" % (
        d, FMT, d, extra)


def lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def test_access_and_error_log():
    """On the packet path (the default) and on the sockmap path: the
    flow's line names the one that carried it"""
    for splice, path in (("", "packet"), ("KbalSplice sockmap\n", "sockmap")):
        access_and_error_log(splice, path)


def access_and_error_log(splice, path):
    d = tempfile.mkdtemp(prefix="kbal-logs-")
    try:
        with Env(conf=logs_conf(d, "LogLevel info\n" + splice)) as env:
            # kbald decides these: fresh connections, one with a Referer
            # and a User-Agent with a quote in it
            with env.connect() as c:
                c.request("GET", "/a?x=1", headers=[("Referer", "http://r.test/"),
                                                    ("User-Agent", 'ua "q"')])
                eq(c.read_response().status, 200, "/a")
            eq(env.get("/nothing-here", cookie="ROUTEID=route.9").status, 200, "/nothing-here")
            # a kept-alive connection: kbald serves two, the kernel the rest
            with env.connect() as c:
                for i in range(6):
                    eq(c.get("/k%d" % i, cookie="ROUTEID=route.1").status, 200, "/k%d" % i)
            eq(env.get("/balancer-manager").status, 200, "the manager")
            # written by kbald's log thread: wait for the last two lines
            wait_until(lambda: any('"FLOW ' in l for l in lines(d + "/access.log")) and
                       any("GET /balancer-manager" in l for l in lines(d + "/access.log")),
                       5.0, "the flow's and the manager's lines")
            got = [LINE.match(l) for l in lines(d + "/access.log")]
            check(all(got), "a line that does not parse: %r" % lines(d + "/access.log"))
            reqs = {m.group(1).split(" ")[1]: m for m in got if not m.group(1).startswith("FLOW")}
            a = reqs.get("/a?x=1")
            check(a, "no line for /a?x=1: %r" % lines(d + "/access.log"))
            eq((a.group(1), a.group(2), a.group(4), a.group(5), a.group(10), a.group(11),
                a.group(12)),
               ("GET /a?x=1 HTTP/1.1", "200", "http://r.test/", 'ua \\"q\\"', "GET", "/a?x=1",
                "HTTP/1.1"), "/a's line")
            check(int(a.group(3)) > 0 and a.group(7) in ("1", "2") and a.group(8) == "+",
                  "/a's bytes, route, connection: %r" % a.group(0))
            eq((reqs["/k0"].group(8), reqs["/k0"].group(9), reqs["/k0"].group(7)),
               ("+", "0", "1"), "/k0: kept alive, the first, on route 1")
            eq(reqs["/k1"].group(9), "1", "/k1: the connection's second")
            eq(reqs["/balancer-manager"].group(2), "200", "the manager's line")
            check("/k3" not in reqs, "a request the kernel kept has no line of its own")
            flows = [m for m in got if m.group(1).startswith("FLOW")]
            eq(len(flows), 1, "flow lines: %r" % [m.group(0) for m in flows])
            eq((flows[0].group(1), flows[0].group(7)), ("FLOW %s -" % path, "1"),
               "the flow's path and member")
            check(int(flows[0].group(3)) > 4 * 20, "the flow's bytes: %r" % flows[0].group(0))
            # the error log: httpd's line shape, at LogLevel info
            err = lines(d + "/error.log")
            check(any(re.match(r"^\[\w{3} \w{3} \d\d \d\d:\d\d:\d\d\.\d{6} \d{4}\] \[kbal:info\] "
                               r"\[pid \d+\] ready: 1 balancer", l) for l in err),
                  "the error log: %r" % err[:5])
            check("ready:" not in env.kbald_stderr(), "stderr after ErrorLog")
            # logrotate: move both, then reopen
            os.rename(d + "/access.log", d + "/access.log.1")
            os.rename(d + "/error.log", d + "/error.log.1")
            env.kbalctl("reopen")
            wait_until(lambda: os.path.exists(d + "/access.log") and
                       os.path.exists(d + "/error.log"), 5.0, "the files opened again")
            eq(env.get("/after-rotate").status, 200, "a request after the rotation")
            wait_until(lambda: any("/after-rotate" in l for l in lines(d + "/access.log")), 5.0,
                       "a line in the new access.log")
            check(not any("/after-rotate" in l for l in lines(d + "/access.log.1")),
                  "a line in the rotated file after the reopen")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_loglevel_and_errors():
    d = tempfile.mkdtemp(prefix="kbal-logs-")
    try:
        # LogLevel warn (Debian's): kbald's info lines are not written
        with Env(conf=logs_conf(d, "LogLevel warn mod_proxy:debug\n")) as env:
            eq(env.get("/x").status, 200, "a request")
        err = lines(d + "/error.log")
        check(not any("[kbal:info]" in l for l in err), "info lines at LogLevel warn: %r" % err)
        # configuration errors name file and line
        from kbaltest import run_kbald
        base = EXAMPLE_CONF.replace("{listen}", "18099").replace("{b1}", "18098").replace(
            "{b2}", "18097")
        for extra, want in (("CustomLog |/usr/bin/rotatelogs combined\n", "piped logs"),
                            ('CustomLog /tmp/x.log "%h %Z"\n', "%Z is not supported"),
                            ("LogLevel loud\n", "LogLevel requires level keyword"),
                            ("CustomLog /tmp/x.log combined env=!nolog\n", "conditions")):
            with open(d + "/t.conf", "w") as f:
                f.write(base + extra)
            rc, out = run_kbald(["-t", "-f", d + "/t.conf"])
            check(rc == 1 and want in out and re.search(r"t\.conf:\d+: ", out),
                  "kbald -t on %r: %r" % (extra, out))
        # a relative path is ServerRoot's, as httpd's (the file's directory by default)
        with open(d + "/t.conf", "w") as f:
            f.write(base + "CustomLog logs/access.log combined\n")
        rc, out = run_kbald(["-t", "-f", d + "/t.conf"])
        check(rc == 0 and "Syntax OK" in out, "kbald -t on a relative CustomLog: %r" % out)
    finally:
        shutil.rmtree(d, ignore_errors=True)


REFUSED = [b"GET / HTTP/1.1\r\n\r\n",                                   # no Host
           b"BLAH\r\n\r\n",                                             # no target
           b"GET /z HTTP/1.1\r\nHost: h\r\nBad Field: 1\r\n\r\n",        # a malformed field
           b"GET /x HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 9000 + b"\r\n\r\n",   # a field too long
           b"GET /y HTTP/1.1\r\nHost: h\r\n" +
           b"".join(b"X%d: a\r\n" % i for i in range(120)) + b"\r\n",   # too many fields
           b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: h\r\n\r\n"]    # a line too long


def lines_beside_apache(fmt, send, count, extra=""):
    """send(port) to Debian's apache2 and to kbal, both on Apache's example
    with a CustomLog in fmt (its first field %{local}p); each one's lines,
    that field cut off, sorted: httpd logs after it answered, so two lines
    may come in another order than the requests. And all the lines."""
    from apache import apache_beside
    d = tempfile.mkdtemp(prefix="kbal-logs-")
    os.chmod(d, 0o755)
    conf = EXAMPLE_CONF + "CustomLog %s/access.log %s\n" % (d, fmt) + extra
    try:
        with Env(conf=conf) as env, apache_beside(env) as aport:
            for port in (aport, env.port):
                send(port)
            wait_until(lambda: sum(l.startswith("%d " % env.port)
                                   for l in lines(d + "/access.log")) == count,
                       5.0, "kbal's lines")
            got = lines(d + "/access.log")
            mine = lambda p: sorted(l.split(" ", 1)[1] for l in got if l.startswith("%d " % p))
            eq(len(mine(aport)), count, "Apache's lines: %r" % [l[:80] for l in got])
            return mine(aport), mine(env.port), got
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_refused_requests_logged_as_apache():
    """A request refused before its head was whole (400, 414) has its line,
    as httpd writes it: the request line as it came (cut at
    LimitRequestLine), the method, path and protocol where they parsed"""
    def send(port):
        for raw in REFUSED:
            with Conn(port, timeout=5.0) as c:
                c.send(raw)
                c.read_response()

    theirs, ours, _ = lines_beside_apache('"%{local}p \\"%r\\" %>s %m %U%q %H"', send,
                                          len(REFUSED))
    check('"BLAH" 400 BLAH / HTTP/1.0' in theirs, "Apache's line for BLAH: %r"
          % [l[:40] for l in theirs])
    for i, (a, k) in enumerate(zip(theirs, ours)):
        at = next((j for j in range(min(len(a), len(k))) if a[j] != k[j]),
                  min(len(a), len(k)))
        check(k == a, "the line of refused request %d differs at byte %d: %r, Apache's "
              "%r" % (i, at, k[max(0, at - 20):at + 40], a[max(0, at - 20):at + 40]))


PATHS = ["/a%20b?x=%41", "/x/./y/../z", "//m//n/", "/p%41th", "/q%22uote%5c", "/ctl%01x",
         "/enc%2Fslash", "/bad%zz", "/%7Euser/", "/../up", "/a/%2e%2e/%2e%2e/up", "/nul%00x"]


def test_url_path_logged_as_apache():
    """%U is httpd's r->uri: decoded, dot segments removed, slashes merged,
    logged with ap_escape_logitem(); %q the query as it came; where httpd
    refused the path (400, 404), what it kept of it"""
    def send(port):
        for p in PATHS:
            with Conn(port, timeout=5.0) as c:
                c.request("GET", p, [("Cookie", "ROUTEID=route.1"), ("Connection", "close")])
                c.read_response()

    theirs, ours, _ = lines_beside_apache('"%{local}p %>s %U%q"', send, len(PATHS))
    check("200 /a b?x=%41" in theirs and "200 /x/z" in theirs and "400 /bad%zz" in theirs,
          "Apache's lines (the test's expectation): %r" % theirs)
    eq(ours, theirs, "kbal's %U%q lines against Apache's")


def test_server_port_and_name_logged_as_apache():
    """%p (and %{canonical}p) is the request's server's port as httpd has
    it: its ServerName's, else 80 (a <VirtualHost>'s too), whatever port
    the client reached; %v its ServerName without the port;
    X-Forwarded-Server the same name"""
    hosts = ["main.example", "v.test", "w.test", "other.test"]
    seen = {}

    def send(port):
        for h in hosts:
            with Conn(port, timeout=5.0) as c:
                r = c.get("/echo-headers", headers=[("Host", h), ("Cookie", "ROUTEID=route.1")])
                xfs = [ln.split(":", 1)[1].strip() for ln in r.text.split("\r\n")
                       if ln.lower().startswith("x-forwarded-server:")]
                seen.setdefault(port, []).append((h, xfs))

    fmt = '"%{local}p %p %{canonical}p %v %V"'
    for extra, want in (("ServerName main.example:8081\n", ["8081 8081 main.example v.test"]),
                        ("ServerName main.example:8081\n<VirtualHost *>\nServerName v.test\n"
                         "</VirtualHost>\n<VirtualHost *>\nServerName w.test:9000\n"
                         "</VirtualHost>\n",
                         ["80 80 v.test v.test", "9000 9000 w.test w.test"])):
        seen.clear()
        theirs, ours, _ = lines_beside_apache(fmt, send, len(hosts), extra)
        check(all(w in theirs for w in want), "Apache's lines (the test's expectation): %r"
              % theirs)
        eq(ours, theirs, "kbal's %p %v lines against Apache's")
        a, k = [seen[p] for p in sorted(seen)]
        eq(len(a), len(hosts), "answers")
        check(all(x for _, x in a), "Apache's X-Forwarded-Server lines: %r" % a)
        eq(sorted(k), sorted(a), "X-Forwarded-Server, kbal's against Apache's")


VHOSTS = """\
ServerName main.example
<VirtualHost *>
ServerName first.test
ServerAlias *.first.test
ProxyPass / balancer://mycluster/
</VirtualHost>
<VirtualHost *>
ServerName second.test
ProxyPass / balancer://mycluster/
</VirtualHost>
"""
HOSTS = ["first.test", "First.Test:8080", "a.first.test.", "second.test", "SECOND.test:1",
         "unknown.example", "[::1]:80", "127.0.0.1", None]


def test_server_names_logged_as_apache():
    """%v: the virtual host's ServerName; %V: the Host httpd keeps with
    UseCanonicalName Off (no port, lower case, no trailing dot), the
    ServerName with On; HTTP/1.0 without Host"""
    from apache import apache_beside
    for canonical in ("Off", "On"):
        d = tempfile.mkdtemp(prefix="kbal-logs-")
        os.chmod(d, 0o755)
        conf = EXAMPLE_CONF + VHOSTS + "UseCanonicalName %s\nCustomLog %s/access.log " \
            '"%%{local}p %%v %%V %%U"\n' % (canonical, d)
        try:
            with Env(conf=conf) as env, apache_beside(env) as aport:
                for port in (aport, env.port):
                    for i, host in enumerate(HOSTS):
                        with Conn(port, timeout=5.0) as c:
                            c.send(b"GET /n%d HTTP/1.%d\r\n%sConnection: close\r\n\r\n" % (
                                i, host is not None,
                                b"Host: %s\r\n" % host.encode() if host else b""))
                            eq(c.read_response().status, 200, "request for %r" % host)
                # requests' lines only: a flow's line names no request
                mine = lambda p: sorted(l.split(" ", 1)[1] for l in lines(d + "/access.log")
                                        if l.startswith("%d " % p) and " /n" in l)
                wait_until(lambda: len(mine(env.port)) == len(HOSTS), 5.0,
                           "kbal's lines: %r" % lines(d + "/access.log"))
                theirs = mine(aport)
                eq(mine(env.port), theirs, "kbal's lines against Apache's, UseCanonicalName %s"
                   % canonical)
                eq([ln for ln in theirs if ln.endswith(("/n1", "/n5", "/n6"))],
                   sorted(["first.test first.test /n1",
                           "first.test %s /n5" % ("unknown.example" if canonical == "Off" else
                                                  "first.test"),
                           "first.test %s /n6" % ("::1" if canonical == "Off" else
                                                  "first.test")]),
                   "Apache's (the test's expectation)")
        finally:
            shutil.rmtree(d, ignore_errors=True)


PATHS = ["/a%20b?x=%41", "/x/./y/../z", "//m//n/", "/p%41th", "/q%22uote%5c", "/ctl%01x",
         "/enc%2Fslash", "/bad%zz", "/%7Euser/", "/../up", "/a/%2e%2e/%2e%2e/up", "/nul%00x"]


def test_url_path_logged_as_apache():
    """%U is httpd's r->uri: decoded, dot segments removed, slashes merged,
    logged with ap_escape_logitem(); %q the query as it came; a path that
    does not decode (a bad escape, an encoded slash refused) as it came"""
    from apache import apache_beside
    d = tempfile.mkdtemp(prefix="kbal-logs-")
    os.chmod(d, 0o755)
    fmt = '"%{local}p %>s %U%q"'
    conf = EXAMPLE_CONF + "CustomLog %s/access.log %s\n" % (d, fmt)
    try:
        with Env(conf=conf) as env, apache_beside(env) as aport:
            for port in (aport, env.port):
                with Conn(port, timeout=5.0) as c:
                    for p in PATHS:
                        c.request("GET", p, [("Cookie", "ROUTEID=route.1"), ("Connection", "close")])
                        c.read_response()
                        c.close()
                        c = Conn(port, timeout=5.0)
            wait_until(lambda: sum(l.startswith("%d " % env.port)
                                   for l in lines(d + "/access.log")) == len(PATHS),
                       5.0, "kbal's lines")
            got = lines(d + "/access.log")
            theirs = sorted(l.split(" ", 1)[1] for l in got if l.startswith("%d " % aport))
            ours = sorted(l.split(" ", 1)[1] for l in got if l.startswith("%d " % env.port))
            eq(len(theirs), len(PATHS), "Apache's lines: %r" % got)
            check("200 /a b?x=%41" in theirs and "200 /x/z" in theirs,
                  "Apache's lines (the test's expectation): %r" % theirs)
            eq(ours, theirs, "kbal's %U%q lines against Apache's")
    finally:
        shutil.rmtree(d, ignore_errors=True)
