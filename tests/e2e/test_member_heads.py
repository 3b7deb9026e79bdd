# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A member's answer without Date or without Server (issue 17), side by side
with Debian's apache2: httpd's basic_http_header() keeps a proxied answer's
own Date and Server and writes its own where the member sent none (the time
now; the banner ServerTokens says), each right after the status line. kbald
does so on the answers it copies, and the kernel hands back to kbald the
answer head that lacks either, on a sticky keep-alive connection whose
requests it keeps (KbalSplice sockmap). kbal-backend sends both unless the
request's X-Omit names them."""

from apache import apache_beside
from kbaltest import EXAMPLE_CONF, Conn, Env, check, eq
from test_own_heads import check_date, kbal_version

CONF = EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                            "ProxySet lbmethod=byrequests\nKbalSplice sockmap")
COOKIE = "ROUTEID=route.1"
MEMBER = "kbal-backend"

# (path, what the member leaves out) in turn on one connection: the first
# request kbald copies, the later ones the kernel keeps (their answers
# handed back where one lacks a line)
STEPS = [
    ("/a", "date, server"),
    ("/b", ""),
    ("/c", ""),
    ("/d", "date, server"),
    ("/e", "date"),
    ("/f", "server"),
    ("/g", ""),
]


def asked(port, env=None):
    """[(names of the answer's lines in order, Date, Server, sk_kept and
    sk_back after it (kbald's; None for Apache))] of each STEP"""
    out = []
    with Conn(port, timeout=10) as c:
        for path, omit in STEPS:
            r = c.get(path, cookie=COOKIE, headers=[("X-Omit", omit)] if omit else [])
            eq((r.status, r.header("X-Backend")), (200, "WAS1"), "%s: the route's member" % path)
            st = env.stats() if env else None
            out.append(([k for k, _ in r.headers], r.header("Date"), r.header("Server"),
                        st and st["sk_kept"], st and st["sk_back"]))
    return out


def check_as_apache(tokens, banner, apache_says):
    conf = CONF.replace("ProxyRequests Off", "ProxyRequests Off\nServerTokens %s" % tokens)
    with Env(conf=conf) as env, apache_beside(env) as aport:
        theirs = asked(aport)
        ours = asked(env.port, env)
    for (path, omit), t, o in zip(STEPS, theirs, ours):
        what = "%s (X-Omit: %s)" % (path, omit)
        eq(t[0][:2], ["Date", "Server"], "Apache's %s: Date and Server first (the test's "
           "expectation)" % what)
        check(apache_says(t[2]) if "server" in omit else t[2] == MEMBER,
              "Apache's %s: Server %r (the test's expectation)" % (what, t[2]))
        eq(o[0], t[0], "kbal's %s against Apache's: its lines" % what)
        eq(o[2], banner if "server" in omit else MEMBER, "kbal's %s: Server" % what)
        check_date(o[1], "kbal's %s" % what)
    # the kernel kept requests after the first (kbald copies the first,
    # and may serve the second on the member connection it kept), /d's
    # among them, and handed back its answer, without Date and Server
    # (kbald wrote that one)
    eq(ours[2][3] >= 1, True, "the kernel kept /b or /c: sk_kept %d" % ours[2][3])
    eq(ours[3][3] > ours[2][3], True, "the kernel kept /d's request: sk_kept %d" % ours[3][3])
    eq(ours[3][4] > ours[2][4], True, "and handed its answer back: sk_back %d" % ours[3][4])

def test_member_without_date_or_server_as_apache():
    check_as_apache("Full", "kbal/%s (Linux)" % kbal_version(),
                    lambda s: s is not None and s.startswith("Apache/2.4."))


def test_member_without_date_or_server_server_tokens_prod():
    check_as_apache("Prod", "kbal", lambda s: s == "Apache")
