# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""SetEnv, UnsetEnv, SetEnvIf, SetEnvIfNoCase, BrowserMatch and
BrowserMatchNoCase (mod_env, mod_setenvif; issue 17), side by side with
Debian's apache2 on the same configuration and member: the variables each
request gets (the special attributes, a header, a regex on header names,
a variable for an absent header, $N, !VAR, NoCase, SetEnvIf's value before
SetEnv's) as Header's %{VAR}e and env=, RequestHeader's and LogFormat's
%{VAR}e see them, on a kept-alive connection; nokeepalive ends the
connection after its answer, no-proxy makes the request a 404; inside a
<VirtualHost>, the server's lines, then its own. With them kbald decides
every request (the kernel keeps none) where a Header or RequestHeader rule
reads a variable they set or they set one kbald honours, except where they
read only the User-Agent and the addresses (Debian's setenvif.conf, also
beside Apache's example): the kernel keeps the requests with the
connection's User-Agent."""

import os
import shutil
import tempfile

from apache import apache_beside
from kbaltest import EXAMPLE_CONF, PROXY_HEAD, Conn, Env, check, eq, wait_until

T = 10.0

CONF = PROXY_HEAD + """\
LoadModule headers_module modules/mod_headers.so
LoadModule setenvif_module modules/mod_setenvif.so
LoadModule env_module modules/mod_env.so
ServerName proxy.example
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
SetEnv FROM_SETENV "set by SetEnv"
SetEnv BOTH setenv
SetEnv GONE x
UnsetEnv GONE
SetEnv EMPTY
SetEnvIf Request_URI "^/(\\w+)-(\\w+)" URI=$2.$1 HAS_URI
SetEnvIf Request_URI "%41" ENCODED
SetEnvIf Request_Method ^GET$ IS_GET
SetEnvIf Request_Protocol HTTP/1.1 P11
SetEnvIfNoCase X-Flag "^on$" FLAG=nc-$0
SetEnvIf X-Flag "^on$" FLAG_CASE
SetEnvIf ^X-Cu[a-z]+$ "^v(\\d)" CUSTOM=$1\\$
SetEnvIf Remote_Addr "^127\\.0\\.0\\.1$" LOCAL
SetEnvIf Remote_Host 127.0.0.1 RHOST
SetEnvIf Server_Addr ^127\\. SADDR
SetEnvIf X-Both . BOTH=setenvif
SetEnvIf X-Multi "^a, b$" MULTI
SetEnvIf X-Unset . !LOCAL
SetEnvIf URI ^headers\\.echo$ FROM_VAR
SetEnvIf X-Absent ^$ ABSENT
BrowserMatch ^curl/ CURL
BrowserMatchNoCase ^CURL/7 CURL7 !CURL
SetEnvIf Request_URI ^/nokeep nokeepalive
SetEnvIf Request_URI ^/noproxy no-proxy
Header set X-Env1 "u=%{URI}e h=%{HAS_URI}e e=%{ENCODED}e g=%{IS_GET}e p=%{P11}e f=%{FLAG}e fc=%{FLAG_CASE}e c=%{CUSTOM}e"
Header set X-Env2 "l=%{LOCAL}e rh=%{RHOST}e sa=%{SADDR}e b=%{BOTH}e m=%{MULTI}e v=%{FROM_VAR}e a=%{ABSENT}e"
Header set X-Env3 "curl=%{CURL}e curl7=%{CURL7}e set=%{FROM_SETENV}e gone=%{GONE}e empty=[%{EMPTY}e] nk=%{nokeepalive}e"
Header set X-Only-Local yes env=local
RequestHeader set X-Req-Env "uri %{URI}e" env=HAS_URI
CustomLog @LOG@ "%{local}p %m %{URI}e %{CURL7}e %{LOCAL}e"
"""

# (path, headers) on one connection
STEPS = [
    ("/echo-headers", [("User-Agent", "curl/8.0"), ("X-Flag", "ON"), ("X-Custom", "v7x")]),
    ("/echo-headers", [("User-Agent", "Curl/7.1"), ("X-Flag", "on"), ("X-Both", "1"),
                       ("X-Multi", "a"), ("X-Multi", "b"), ("X-Cu", "v1")]),
    ("/plain%41/x?q=%41", [("X-Unset", "1"), ("X-Absent", "")]),
    ("/echo-headers", [("X-custom", "w1"), ("X-Absent", "x")]),
]
SEEN = ["x-env1", "x-env2", "x-env3", "x-only-local"]


def session(port):
    out = []
    with Conn(port, timeout=T) as c:
        for path, headers in STEPS:
            r = c.get(path, headers=headers)
            sent = [ln for ln in r.text.split("\r\n") if ln.lower().startswith("x-req-env")] \
                if path == "/echo-headers" else None
            out.append((path, r.status, [(n, r.header_all(n)) for n in SEEN], sent))
        # no-proxy: mod_proxy declines it, nothing serves it
        r = c.get("/noproxy-x")
        out.append(("/noproxy-x", r.status, [(n, r.header_all(n)) for n in SEEN], None))
        # nokeepalive: the answer closes the connection
        r = c.get("/nokeep-x")
        out.append(("/nokeep-x", r.status, (r.header("Connection") or "").lower(), c.at_eof()))
    return out


def test_setenvif_and_setenv_as_apache():
    d = tempfile.mkdtemp(prefix="kbal-env-")
    os.chmod(d, 0o755)
    try:
        conf = CONF.replace("@LOG@", d + "/access.log")
        with Env(conf=conf, backends=(1,)) as env, apache_beside(env) as aport:
            theirs = session(aport)
            ours = session(env.port)
            for a, k in zip(theirs, ours):
                eq(k, a, "kbal against Apache at %s" % a[0])
            eq(len(ours), len(theirs), "answers")
            eq(theirs[0][2][0], ("x-env1", ["u=headers.echo h=1 e=(null) g=1 p=1 f=nc-ON "
                                            "fc=(null) c=7$"]),
               "Apache's (the test's expectation)")
            eq(theirs[0][3], ["X-Req-Env: uri headers.echo"], "Apache's RequestHeader")
            eq(theirs[-2][1], 404, "Apache's no-proxy")
            eq(theirs[-1][2:], ("close", True), "Apache's nokeepalive")
            eq(env.stats()["kept"], 0, "requests the kernel kept")
            # the log lines' variables, in the order written
            mine = lambda p: [l.split(" ", 1)[1] for l in open(d + "/access.log").read()
                              .splitlines() if l.startswith("%d " % p)]
            wait_until(lambda: len(mine(env.port)) >= len(theirs), 5.0, "kbal's log lines")
            eq(sorted(mine(env.port)), sorted(mine(aport)), "the log lines")
            eq(len(mine(aport)), len(theirs), "Apache's lines: one per request")
    finally:
        shutil.rmtree(d, ignore_errors=True)


VHOST = PROXY_HEAD + """\
LoadModule headers_module modules/mod_headers.so
LoadModule setenvif_module modules/mod_setenvif.so
LoadModule env_module modules/mod_env.so
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
SetEnv WHERE server
SetEnv KEEP server
SetEnvIf Request_URI . ORDER=server SRV
Header set X-Vars "where=%{WHERE}e keep=%{KEEP}e order=%{ORDER}e srv=%{SRV}e own=%{OWN}e"
<VirtualHost *>
ServerName first.test
</VirtualHost>
<VirtualHost *>
ServerName second.test
UnsetEnv KEEP
SetEnv WHERE second
SetEnvIf Request_URI . ORDER=vhost OWN !SRV
</VirtualHost>
"""


def test_env_in_virtual_hosts_as_apache():
    hosts = ["first.test", "second.test", "first.test", "other.test", "second.test"]
    with Env(conf=VHOST, backends=(1,)) as env, apache_beside(env) as aport:
        res = []
        for port in (aport, env.port):
            with Conn(port, timeout=T) as c:
                res.append([c.get("/v", headers=[("Host", h)]).header_all("X-Vars")
                            for h in hosts])
        eq(res[1], res[0], "kbal against Apache")
        eq(res[0][:2], [["where=server keep=server order=server srv=1 own=(null)"],
                        ["where=second keep=(null) order=vhost srv=(null) own=1"]],
           "Apache's (the test's expectation)")


# Debian's mods-available/setenvif.conf: BrowserMatch lines on the
# User-Agent, one of which sets nokeepalive. With no Header rule to read
# the variables, the kernel keeps a kept-alive connection's requests as
# long as they carry the connection's User-Agent; another one goes back
# to kbald, which answers it as Apache does (here: Connection: close)
DEBIAN = PROXY_HEAD + """\
LoadModule setenvif_module modules/mod_setenvif.so
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
ProxyPreserveHost On
BrowserMatch "Mozilla/2" nokeepalive
BrowserMatch "MSIE 4\\.0b2;" nokeepalive downgrade-1.0 force-response-1.0
BrowserMatch "^WebDrive" redirect-carefully
"""

UAS = ["curl/8.0"] * 6 + ["Mozilla/2.02 (Win95)"]


def test_user_agent_kept_by_the_kernel_as_apache():
    def answers(port):
        out = []
        with Conn(port, timeout=T) as c:
            for i, ua in enumerate(UAS):
                r = c.get("/p%d" % i, headers=[("User-Agent", ua)])
                out.append((ua, r.status, (r.header("Connection") or "").lower(), r.text))
            check(c.at_eof(3.0), "the connection ends after the nokeepalive answer")
        return out

    with Env(conf=DEBIAN, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = answers(aport)
        eq([a[2] for a in theirs], [""] * 6 + ["close"], "Apache's Connection headers")
        kept = env.stats()["kept"]
        eq(answers(env.port), theirs, "kbal's answers against Apache's")
        # /p2 on: the kernel's (the second request armed it); /p6 with
        # another User-Agent went back to kbald
        check(env.stats()["kept"] - kept >= 3, "the kernel kept requests: %r" % env.stats())
        check(env.stats()["back"] >= 1, "the other User-Agent was handed back")


# Apache's example on a Debian host (setenvif is enabled there): its
# Header rule reads BALANCER_ROUTE_CHANGED, which the balancer sets and no
# BrowserMatch line does, so the lines' variables reach no rule: the
# kernel keeps a browser's sticky requests as long as its User-Agent is
# the connection's (it kept none while any Header rule made kbald decide
# every request)
EXAMPLE_DEBIAN = EXAMPLE_CONF + "LoadModule setenvif_module modules/mod_setenvif.so\n" + \
    "\n".join(l for l in DEBIAN.split("\n") if l.startswith("BrowserMatch")) + "\n"
BROWSER = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/131.0.0.0 Safari/537.36")


def test_user_agent_kept_beside_apaches_example():
    def answers(port):
        """each answer's status, Connection, and whether the member the
        route names answered it; the route the first answer set"""
        out = []
        with Conn(port, timeout=T) as c:
            r = c.get("/b0", headers=[("User-Agent", BROWSER)])
            route = (r.header("Set-Cookie") or "").split(";")[0]
            check(route.startswith("ROUTEID=route."), "the first answer's cookie: %r" % route)
            for i, ua in enumerate([BROWSER] * 6 + ["Mozilla/2.02 (Win95)"]):
                r = c.get("/b%d" % (i + 1), headers=[("User-Agent", ua), ("Cookie", route)])
                out.append((r.status, (r.header("Connection") or "").lower(),
                            r.header("Set-Cookie"), r.header("X-Backend")[-1] == route[-1]))
            check(c.at_eof(3.0), "the connection ends after the nokeepalive answer")
        return out

    for splice in ("sockmap", "packet"):
        conf = EXAMPLE_DEBIAN.replace("ProxySet lbmethod=byrequests",
                                      "ProxySet lbmethod=byrequests\nKbalSplice " + splice)
        with Env(conf=conf) as env, apache_beside(env) as aport:
            theirs = answers(aport)
            eq(theirs, [(200, "", None, True)] * 6 + [(200, "close", None, True)],
               "Apache's answers (the test's expectation)")
            st = env.stats()
            eq(answers(env.port), theirs, "kbal's answers against Apache's (%s)" % splice)
            after = env.stats()
            kept = after["kept"] - st["kept"]
            check(kept >= 3, "%s: the kernel kept %d of the browser's requests" % (splice, kept))
            check("kbald decides every request" not in env.kbald_stderr(),
                  "kbald decides every request: %s" % env.kbald_stderr()[-1500:])


def test_nokeepalive_not_through_a_proxy_as_apache():
    """httpd's ap_set_keepalive() ignores nokeepalive for a request that
    came through a proxy (Via): the connection goes on"""
    def answers(port):
        out = []
        with Conn(port, timeout=T) as c:
            for via in (True, True, True, False):
                hdrs = [("User-Agent", "Mozilla/2.02")] + ([("Via", "1.1 edge")] if via else [])
                r = c.get("/v", headers=hdrs)
                out.append((via, r.status, (r.header("Connection") or "").lower()))
        return out

    with Env(conf=DEBIAN, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = answers(aport)
        eq([a[2] for a in theirs], ["", "", "", "close"], "Apache's Connection headers")
        eq(answers(env.port), theirs, "kbal's answers against Apache's")


PASSENV = PROXY_HEAD + """\
LoadModule headers_module modules/mod_headers.so
LoadModule env_module modules/mod_env.so
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
PassEnv KBAL_T_PASSED KBAL_T_UNDEFINED KBAL_T_OVER KBAL_T_GONE
SetEnv KBAL_T_OVER set-after
UnsetEnv KBAL_T_GONE
Header set X-Vars "p=%{KBAL_T_PASSED}e u=%{KBAL_T_UNDEFINED}e o=%{KBAL_T_OVER}e g=%{KBAL_T_GONE}e"
"""


def test_passenv_as_apache():
    """PassEnv: the value in the server's environment as the file is read,
    an undefined one warned about (httpd's words) and not set; SetEnv and
    UnsetEnv after it act on it as on a SetEnv's"""
    passed = {"KBAL_T_PASSED": "from the environment", "KBAL_T_OVER": "passed",
              "KBAL_T_GONE": "passed"}
    os.environ.pop("KBAL_T_UNDEFINED", None)
    os.environ.update(passed)
    try:
        with Env(conf=PASSENV, backends=(1,)) as env, apache_beside(env) as aport:
            res = []
            for port in (aport, env.port):
                with Conn(port, timeout=T) as c:
                    res.append([c.get("/v").header_all("X-Vars") for _ in range(2)])
            eq(res[1], res[0], "kbal against Apache")
            eq(res[0][0], ["p=from the environment u=(null) o=set-after g=(null)"],
               "Apache's (the test's expectation)")
            check("PassEnv variable KBAL_T_UNDEFINED was undefined" in env.kbald_stderr(),
                  "kbald's warning for the undefined variable")
    finally:
        for k in passed:
            os.environ.pop(k, None)
