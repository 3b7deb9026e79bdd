# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""ProxyErrorOverride On|Off [CODE...] (mod_proxy; issue 17), side by side
with Debian's apache2 on the same configuration and member: a member's 4xx
and 5xx (or those listed) replaced by the proxy's own error answer
(ErrorDocument's text, else httpd's page), a 401's WWW-Authenticate kept,
other answers passed, the client's connection kept or closed as httpd's
ap_die() keeps it, on a kept-alive connection; inside a <VirtualHost>,
its codes after the server's; inside <Location>/<LocationMatch>, as
mod_proxy merges its directory configuration. With it kbald decides every request: the
kernel keeps none."""

from apache import apache_beside
from kbaltest import PROXY_HEAD, Conn, Env, check, eq

T = 10.0

CONF = PROXY_HEAD + """\
ServerName proxy.example
ErrorDocument 502 "the proxy's own 502"
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
@RULES@
"""


def session(port, paths, host=None):
    """each answer's status, body, WWW-Authenticate and Connection; whether
    the connection ended after it (a new one then)"""
    out = []
    c = Conn(port, timeout=T)
    try:
        for path in paths:
            r = c.get(path, headers=[("Host", host)] if host else ())
            gone = (r.header("Connection") or "").lower() == "close" and c.at_eof()
            out.append((path, r.status, r.reason, r.text, r.header_all("WWW-Authenticate"),
                        (r.header("Connection") or "").lower(), gone))
            if gone:
                c.close()
                c = Conn(port, timeout=T)
    finally:
        c.close()
    return out


def run(rules, paths, host=None):
    with Env(conf=CONF.replace("@RULES@", rules), backends=(1,)) as env, \
            apache_beside(env) as aport:
        theirs = session(aport, paths, host)
        ours = session(env.port, paths, host)
        for a, k in zip(theirs, ours):
            eq(k, a, "kbal against Apache at %s with %r" % (a[0], rules))
        eq(env.stats()["kept"], 0, "requests the kernel kept")
        return {a[0]: a for a in theirs}


PATHS = ["/status/404", "/status/200", "/status/404", "/status/401", "/status/200",
         "/status/502", "/status/410", "/status/503", "/status/200"]


def test_error_override_on():
    theirs = run("ProxyErrorOverride On", PATHS)
    eq(theirs["/status/200"][1:4], (200, "Member", "member said 200\n"), "Apache's 200 passed")
    eq(theirs["/status/404"][1:3], (404, "Member"), "Apache's 404, the member's reason")
    eq("member said" in theirs["/status/404"][3], False, "Apache's 404 replaced")
    eq(theirs["/status/401"][4], ['Basic realm="member"'], "Apache's 401 keeps its challenge")
    eq(theirs["/status/502"][3], "the proxy's own 502", "Apache's ErrorDocument")
    eq(theirs["/status/404"][5:], ("", False), "Apache's 404 keeps the connection")
    eq(theirs["/status/503"][5:], ("close", True), "Apache's 503 closes")


# a member's 503 passed on closes httpd's connection (ap_set_keepalive()),
# kbal keeps it: not compared here
PASSED = [p for p in PATHS if p != "/status/503"]


def test_error_override_codes_and_off():
    theirs = run("ProxyErrorOverride On 404 502", PASSED)
    eq(theirs["/status/410"][3], "member said 410\n", "Apache passes a code not listed")
    eq(theirs["/status/502"][3], "the proxy's own 502", "Apache replaces a listed one")
    theirs = run("ProxyErrorOverride Off", PASSED)
    eq(theirs["/status/404"][3], "member said 404\n", "Apache's Off")


def test_error_override_in_virtual_host():
    rules = ("ProxyErrorOverride On 404\n<VirtualHost *>\nServerName a.test\n</VirtualHost>\n"
             "<VirtualHost *>\nServerName b.test\nProxyErrorOverride On 410\n</VirtualHost>\n")
    for host, replaced in (("a.test", ["/status/404"]), ("b.test", ["/status/404", "/status/410"])):
        theirs = run(rules, PASSED, host)
        eq(sorted(p for p, a in theirs.items() if a[1] >= 400 and "member said" not in a[3]),
           sorted(replaced),
           "Apache's replaced answers for %s" % host)


def test_error_override_in_locations():
    # the sections a request is in, in order: the last set says On or Off,
    # the codes of the server and of every section join
    rules = ("ProxyErrorOverride On 502\n"
             "<LocationMatch \"^/status/4\">\nProxyErrorOverride On 404\n</LocationMatch>\n"
             "<LocationMatch \"^/status/41\">\nProxyErrorOverride Off\n</LocationMatch>\n")
    theirs = run(rules, PASSED)
    eq(sorted(p for p, a in theirs.items() if a[1] >= 400 and "member said" not in a[3]),
       ["/status/404", "/status/502"], "Apache's replaced answers")


# Without ProxyErrorOverride: a member's answer of a status after which
# httpd ends the connection (ap_status_drops_connection(): 400, 408, 411,
# 413, 414, 500, 501, 503) goes to the client with Connection: close and
# the connection ends, whoever carried the request (the kernel hands such
# a head back); another error status (404, 502) keeps it
PLAIN = PROXY_HEAD + """\
<Proxy balancer://c>
BalancerMember http://127.0.0.1:{b1}
</Proxy>
ProxyPass / balancer://c/
ProxyPreserveHost On
"""


def test_dropping_statuses_end_the_connection_as_apache():
    def answers(port):
        out = []
        for last in ("/status/500", "/status/503", "/status/404", "/status/400", "/status/502"):
            with Conn(port, timeout=T) as c:
                got = []
                for p in ("/a", "/b", "/c", "/d", last, "/e"):
                    r = c.get(p)
                    got.append((p, r.status, (r.header("Connection") or "").lower()))
                    if (r.header("Connection") or "").lower() == "close":
                        check(c.at_eof(3.0), "the connection ends after %s" % p)
                        break
                out.append(got)
        return out

    with Env(conf=PLAIN, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = answers(aport)
        eq([g[-1][1:] for g in theirs], [(500, "close"), (503, "close"), (200, ""),
                                           (400, "close"), (200, "")],
           "Apache: the last answer of each connection")
        kept = env.stats()["kept"]
        eq(answers(env.port), theirs, "kbal's answers against Apache's")
        check(env.stats()["kept"] - kept >= 5, "the kernel kept requests: %r" % env.stats())
