# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The head of kbald's own answers (issue 17), side by side with Debian's
apache2 on the same configuration: httpd's basic_http_header() writes the
status line, Date (IMF-fixdate) and Server (ap_get_server_banner(), as
ServerTokens says) first, then its table: an error's Location or Allow,
Content-Length, ap_set_keepalive()'s Keep-Alive and Connection lines, and
Content-Type last (set in the header filter after them). Compared here by
the names of the lines and their order, on errors (404 kept and closed, a
HEAD's, 400, 417, a 503 with no member usable), a redirection and the
manager's page (framed as httpd's: chunked to an HTTP/1.1 client, to the
connection's end to an HTTP/1.0 one, neither to a HEAD; its XML view by
its length, chunked when long); then Date's value against the clock and
Server's against ServerTokens."""

import email.utils
import os
import re
import subprocess
import time

from apache import apache_beside
from kbaltest import KBALD, Conn, Env, check, eq, own_answers_conf

T = 10.0
# b1: nothing listens (its balancer's 503); the manager on its own path;
# mod_headers' lines (httpd writes an error's "always" ones first, from
# err_headers_out, a page's before its framing)
CONF = own_answers_conf("{b1}", head='Header always set X-Own "1"\nHeader set X-Page "1"\n')

XML_ASK = (b"GET /balancer-manager?xml=1 HTTP/1.1\r\nHost: proxy.example\r\n"
           b"Referer: http://proxy.example/balancer-manager\r\n\r\n")

# (what, request): each on a connection of its own
ASKS = [
    ("404", b"GET /nothing/x HTTP/1.1\r\nHost: proxy.example\r\n\r\n"),
    ("404 keep-alive", b"GET /nothing/x HTTP/1.1\r\nHost: proxy.example\r\n"
                       b"Connection: keep-alive\r\n\r\n"),
    ("404 close", b"GET /nothing/x HTTP/1.1\r\nHost: proxy.example\r\n"
                  b"Connection: close\r\n\r\n"),
    ("404 HTTP/1.0", b"GET /nothing/x HTTP/1.0\r\n\r\n"),
    ("404 HEAD", b"HEAD /nothing/x HTTP/1.1\r\nHost: proxy.example\r\n\r\n"),
    ("400", b"GET /x HTTP/1.1\r\nHost: a b\r\n\r\n"),
    ("417", b"GET /x HTTP/1.1\r\nHost: proxy.example\r\nExpect: foo\r\n\r\n"),
    ("503", b"GET /x HTTP/1.1\r\nHost: proxy.example\r\n\r\n"),
    ("302", b"GET /old HTTP/1.1\r\nHost: proxy.example\r\nConnection: keep-alive\r\n\r\n"),
    ("manager", b"GET /balancer-manager HTTP/1.1\r\nHost: proxy.example\r\n"
                b"Connection: keep-alive\r\n\r\n"),
    ("manager 1.1", b"GET /balancer-manager HTTP/1.1\r\nHost: proxy.example\r\n\r\n"),
    ("manager close", b"GET /balancer-manager HTTP/1.1\r\nHost: proxy.example\r\n"
                      b"Connection: close\r\n\r\n"),
    ("manager HTTP/1.0", b"GET /balancer-manager HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
    ("manager HEAD", b"HEAD /balancer-manager HTTP/1.1\r\nHost: proxy.example\r\n\r\n"),
    ("manager HEAD 1.0", b"HEAD /balancer-manager HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
    ("manager xml", XML_ASK),
]

IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul"
                         r"|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")


def answers(port, asks=ASKS):
    """{what: (status, the names of its header lines in order, Date, Server,
    whether the connection ended after it: the manager's only)}: all of
    them, the manager's framing included (httpd's handler flushes its page:
    chunked, or to the connection's end)"""
    out = {}
    for what, req in asks:
        with Conn(port, timeout=T) as c:
            c.send(req)
            r = c.read_response(method="HEAD" if req.startswith(b"HEAD") else "GET")
            ended = c.at_eof(timeout=1.0) if what.startswith("manager") else None
        names = [k for k, _ in r.headers]
        out[what] = (r.status, names, r.header("Date"), r.header("Server"), ended)
    return out


def kbal_version():
    """kbal's version as its Debian changelog names it (the upstream part)"""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "tools", "debian", "changelog")) as f:
        return re.match(r"kbal \(([^)-]+)", f.readline()).group(1)


def check_date(value, what):
    check(value is not None and IMF_FIXDATE.match(value), "%s: Date %r" % (what, value))
    when = email.utils.parsedate_to_datetime(value).timestamp()
    check(abs(when - time.time()) < 60, "%s: Date %r is not now" % (what, value))


def test_own_answers_heads_as_apache():
    with Env(conf=CONF, backends=()) as env, apache_beside(env) as aport:
        theirs = answers(aport)
        eq([theirs[w][0] for w, _ in ASKS], [404, 404, 404, 404, 404, 400, 417, 503, 302, 200] +
           [200] * 6, "Apache's statuses (the test's expectation)")
        eq(theirs["manager"][1], ["Date", "Server", "X-Own", "X-Page", "Keep-Alive", "Connection",
                                  "Transfer-Encoding", "Content-Type"],
           "Apache's manager page (the test's expectation)")
        eq([theirs[w][4] for w in ("manager", "manager HTTP/1.0", "manager HEAD 1.0")],
           [False, True, False], "Apache's manager: the connection ends after an HTTP/1.0 "
           "GET's page (no length) only (the test's expectation)")
        eq(theirs["404 keep-alive"][1], ["Date", "Server", "X-Own", "Content-Length",
                                         "Keep-Alive", "Connection", "Content-Type"],
           "Apache's 404 (the test's expectation)")
        ours = answers(env.port)
    for what, _ in ASKS:
        eq(ours[what][:2], theirs[what][:2], "kbal's %s against Apache's: its lines" % what)
        eq(ours[what][4], theirs[what][4], "kbal's %s against Apache's: the connection ended"
           % what)
        check_date(theirs[what][2], "Apache's %s (the test's expectation)" % what)
        check_date(ours[what][2], "kbal's %s" % what)
        eq(ours[what][3], "kbal/%s (Linux)" % kbal_version(),
           "kbal's %s: Server without ServerTokens (httpd's default Full)" % what)


def test_server_follows_server_tokens():
    version = kbal_version()
    major, minor = version.split(".")[0], ".".join(version.split(".")[:2])
    want = {"Prod": "kbal", "ProductOnly": "kbal", "Major": "kbal/" + major,
            "Minor": "kbal/" + minor, "Min": "kbal/" + version, "Minimal": "kbal/" + version,
            "OS": "kbal/%s (Linux)" % version, "Full": "kbal/%s (Linux)" % version}
    for tokens in ("Prod", "Full"):
        conf = CONF.replace("ServerName", "ServerTokens %s\nServerName" % tokens)
        with Env(conf=conf, backends=()) as env, apache_beside(env) as aport:
            theirs, ours = answers(aport), answers(env.port)
        apache = theirs["404"][3]
        check(apache == "Apache" if tokens == "Prod" else apache.startswith("Apache/2.4."),
              "Apache's Server under ServerTokens %s (the test's expectation): %r"
              % (tokens, apache))
        for what, _ in ASKS:
            eq(ours[what][3], want[tokens], "kbal's %s: Server under ServerTokens %s"
               % (what, tokens))
            eq(ours[what][:2], theirs[what][:2], "kbal's %s against Apache's under ServerTokens "
               "%s: its lines" % (what, tokens))
    for tokens in ("productonly", "Major", "Minor", "Min", "Minimal", "OS"):
        conf = CONF.replace("ServerName", "ServerTokens %s\nServerName" % tokens)
        with Env(conf=conf, backends=()) as env, Conn(env.port, timeout=T) as c:
            r = c.get("/nothing/x")
        key = tokens if tokens in want else "ProductOnly"
        eq(r.header("Server"), want[key], "Server under ServerTokens %s" % tokens)
    # kbald -V says it as httpd -v says Apache's
    out = subprocess.run([KBALD, "-V"], stdout=subprocess.PIPE, timeout=10).stdout.decode()
    eq(out, "Server version: %s\n" % want["Full"], "kbald -V")


def test_manager_xml_view_framing_as_apache():
    """httpd's XML view has its Content-Length, unless its body passed the
    buffer ap_rputs() fills (8000 bytes) before its end: then chunked, as
    kbald's (kbal's body is not httpd's byte for byte: member counts far
    from that bound)"""
    for n, framing in ((1, "Content-Length"), (30, "Transfer-Encoding")):
        more = "".join("BalancerMember http://127.0.0.%d:{b1} route=r%d\n" % (i + 2, i)
                       for i in range(n - 1))
        conf = CONF.replace("BalancerMember http://127.0.0.1:{b1}\n",
                            "BalancerMember http://127.0.0.1:{b1}\n" + more)
        with Env(conf=conf, backends=()) as env, apache_beside(env) as aport:
            ask = [("manager xml", XML_ASK)]
            theirs, ours = answers(aport, ask), answers(env.port, ask)
        check(framing in theirs["manager xml"][1], "Apache's XML view of %d members: %s "
              "(the test's expectation): %r" % (n, framing, theirs["manager xml"][1]))
        eq(ours["manager xml"][:2], theirs["manager xml"][:2],
           "kbal's XML view of %d members against Apache's: its lines" % n)
