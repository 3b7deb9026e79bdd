# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""ServerSignature (issue 17), side by side with Debian's apache2 on the same
configuration: httpd's ap_psignature() ends the pages of
ap_send_error_response() (an error's, a redirection's) with "<hr>\\n" and
"<address>BANNER Server at NAME Port PORT</address>\\n", NAME a mailto: link
to ServerAdmin under EMail, and the balancer-manager's page with the same
line (no <hr>) before "</body></html>". NAME and PORT are the client's Host
(UseCanonicalName Off: lower case, no trailing dot, an IPv6 literal without
its brackets), else ServerName and the server's port, else 80. The bodies of
kbald's 400, 404, 417, 502, 503 and 302 are Apache's with Apache's banner (its
Server line) read as kbal's, with their lengths; the manager's pages differ
(kbal's is its own) but end in the same line. Off, the default: no line,
the bodies as Apache's. A <VirtualHost>'s own setting and ServerAdmin win
over the server's."""

import re

from apache import apache_beside
from kbaltest import (EXAMPLE_CONF, Conn, Env, balancer, check, eq, hand_over,
                     own_answers_conf, wait_until)
from test_packet import PATH_PACKET, PATH_SOCKMAP

T = 10.0
# b1: kbal-backend (its /fault-garbage: a 502); b2: nothing listens (503)
CONF = own_answers_conf("{b2}", head="ServerAdmin ops@example.test\n",
                        balancers=balancer("up", "{b1}"),
                        rules="ProxyPass /fault-garbage balancer://up/fault-garbage\n")


def ask(path, host="proxy.example", version="HTTP/1.1"):
    head = "GET %s %s\r\n" % (path, version)
    if host is not None:
        head += "Host: %s\r\n" % host
    return (head + "Connection: close\r\n\r\n").encode()


# (what, request): each on a connection of its own
ASKS = [
    ("404", ask("/nothing/x")),
    ("404 Host with a port", ask("/nothing/x", "Proxy.Example.:8123")),
    ("404 IPv6 Host", ask("/nothing/x", "[::1]:8124")),
    ("404 no Host", ask("/nothing/x", None, "HTTP/1.0")),
    ("400", ask("/x", "a b")),
    ("417", ask("/x", "proxy.example:8128").replace(b"\r\n\r\n", b"\r\nExpect: x\r\n\r\n")),
    ("503", ask("/x")),
    ("502", ask("/fault-garbage")),
    ("302", ask("/old", "proxy.example:8125")),
    ("manager", ask("/balancer-manager", "proxy.example:8126")),
]

ADDRESS = re.compile(r"<address>(.*)</address>\n")


def answers(port, asks=ASKS):
    """{what: (status, body as text, Server, Content-Length)}"""
    out = {}
    for what, req in asks:
        with Conn(port, timeout=T) as c:
            c.send(req)
            r = c.read_response()
        out[what] = (r.status, r.text, r.header("Server"), r.header("Content-Length"))
    return out


def as_kbal(apache, banner):
    """Apache's page with its banner (its Server line) read as kbal's"""
    status, body, server, _ = apache
    return status, body.replace("<address>%s Server at " % server,
                                "<address>%s Server at " % banner)


def compare(conf, asks=ASKS):
    """kbal's answers and Apache's to asks on conf: {what: (kbal's, Apache's)}"""
    with Env(conf=conf, backends=(1,)) as env, apache_beside(env) as aport:
        theirs = answers(aport, asks)
        ours = answers(env.port, asks)
    for what, _ in asks:
        eq(ours[what][0], theirs[what][0], "kbal's %s: its status against Apache's" % what)
        if ours[what][3] is not None:
            eq(int(ours[what][3]), len(ours[what][1].encode("latin-1")),
               "kbal's %s: its Content-Length" % what)
    return {what: (ours[what], theirs[what]) for what, _ in asks}


def check_pages(got, want_address):
    """The error pages as Apache's (banner aside), each ending in the
    line want_address[what] says ("" none); the manager's in the same"""
    for what, (ours, theirs) in got.items():
        address = ADDRESS.findall(theirs[1])
        eq(address[-1:], [want_address[what]] if want_address[what] else [],
           "Apache's %s: its signature (the test's expectation)" % what)
        address = ADDRESS.findall(ours[1])
        line = want_address[what].replace(theirs[2] + " Server", ours[2] + " Server")
        eq(address[-1:], [line] if line else [], "kbal's %s: its signature" % what)
        if what == "manager":
            check(ours[1].endswith("%s</body></html>\n" % (
                  "<address>%s</address>\n" % line if line else "</p>\n")),
                  "kbal's manager page ends in its signature: %r" % ours[1][-200:])
            check(theirs[1].endswith("%s</body></html>\n" % (
                  "<address>%s</address>\n" % want_address[what] if line else "<hr />\n")),
                  "Apache's manager page (the test's expectation): %r" % theirs[1][-200:])
        else:
            eq(ours[:2], as_kbal(theirs, ours[2]), "kbal's %s: its page against Apache's" % what)


def addresses(server, mail=None):
    """the line each ask's page ends in, under Apache's banner server"""
    def line(name, port):
        if mail:
            name = '<a href="mailto:%s">%s</a>' % (mail, name)
        return "%s Server at %s Port %d" % (server, name, port)
    return {"404": line("proxy.example", 80),
            "404 Host with a port": line("proxy.example", 8123),
            "404 IPv6 Host": line("::1", 8124),
            "404 no Host": line("proxy.example", 80),
            "400": line("proxy.example", 80),
            "417": line("proxy.example", 8128),
            "503": line("proxy.example", 80),
            "502": line("proxy.example", 80),
            "302": line("proxy.example", 8125),
            "manager": line("proxy.example", 8126)}


def test_signature_off_by_default():
    got = compare(CONF)
    check_pages(got, {what: "" for what, _ in ASKS})


def test_signature_on():
    got = compare(CONF.replace("ServerName", "ServerSignature On\nServerName"))
    server = got["404"][1][2]
    check(server.startswith("Apache/2.4."), "Apache's banner (the test's expectation): %r"
          % server)
    check_pages(got, addresses(server))


def test_signature_email():
    got = compare(CONF.replace("ServerName", "ServerSignature EMail\nServerName"))
    check_pages(got, addresses(got["404"][1][2], "ops@example.test"))


def test_signature_follows_server_tokens():
    got = compare(CONF.replace("ServerName", "ServerSignature On\nServerTokens Prod\n"
                               "ServerName"), ASKS[:1])
    eq(got["404"][1][2], "Apache", "Apache's banner (the test's expectation)")
    check_pages(got, {"404": "Apache Server at proxy.example Port 80"})
    eq(got["404"][0][2], "kbal", "kbal's banner under ServerTokens Prod")


def test_signature_under_use_canonical_name():
    """UseCanonicalName On: ServerName and its port (80 without one), not
    the client's Host"""
    asks = [a for a in ASKS if a[0] in ("404 Host with a port", "404 IPv6 Host", "manager")]
    for name, port in (("proxy.example", 80), ("proxy.example:8129", 8129)):
        conf = CONF.replace("ServerName proxy.example", "ServerSignature On\n"
                            "UseCanonicalName On\nServerName %s" % name)
        got = compare(conf, asks)
        server = got[asks[0][0]][1][2]
        check_pages(got, {what: "%s Server at proxy.example Port %d" % (server, port)
                          for what, _ in asks})


def test_signature_of_virtual_hosts():
    """one.example takes the server's On; two.example its own EMail and
    ServerAdmin; a Host of neither is one.example's (the first)"""
    conf = CONF.replace("ServerName", "ServerSignature On\nServerName") + """\
<VirtualHost *>
ServerName one.example
</VirtualHost>
<VirtualHost *>
ServerName two.example
ServerSignature EMail
ServerAdmin <two>@example.test
</VirtualHost>
"""
    asks = [("one", ask("/nothing/x", "one.example")),
            ("two", ask("/nothing/x", "TWO.example:8127")),
            ("other", ask("/nothing/x", "other.example")),
            ("no Host", ask("/nothing/x", None, "HTTP/1.0")),
            ("manager", ask("/balancer-manager", "two.example"))]
    got = compare(conf, asks)
    server = got["one"][1][2]
    mail = '<a href="mailto:&lt;two&gt;@example.test">%s</a>'
    check_pages(got, {"one": "%s Server at one.example Port 80" % server,
                      "two": "%s Server at %s Port 8127" % (server, mail % "two.example"),
                      "other": "%s Server at other.example Port 80" % server,
                      "no Host": "%s Server at one.example Port 80" % server,
                      "manager": "%s Server at %s Port 80" % (server, mail % "two.example")})


def test_signature_on_a_kernel_carried_connection():
    """The 502 kbald writes for a request the kernel framed (its member
    silent past Timeout) names the Host the kernel's requests carry (it
    keeps only those of the Host kbald armed it with), as httpd's page for
    that request would: on the sockmap path and on the packet path, the
    default, whose flow's decision holds that Host (until 2026-12-07 its
    page named ServerName, the machine's name here)"""
    for splice, path in (("\nKbalSplice sockmap", PATH_SOCKMAP), ("", PATH_PACKET)):
        conf = EXAMPLE_CONF.replace("ProxyPreserveHost On",
                                    "ProxyPreserveHost On\nTimeout 2\nServerSignature On" + splice)
        with Env(conf=conf) as env, env.connect(timeout=T) as c:
            eq(hand_over(c, "/ka", cookie="ROUTEID=route.1").status, 200, "requests before")
            wait_until(lambda: [v["path"] for _, v in env.flows()] == [path], 2.0,
                       "a flow the kernel carries, on path %d" % path)
            kept = env.stats()["kept"]
            c.request("GET", "/fault-hang", [("Cookie", "ROUTEID=route.1")])
            r = c.read_response()
            eq(env.stats()["kept"], kept + 1, "the kernel kept the request")
        what = splice.strip() or "the default, the packet path"
        eq(r.status, 502, "its member silent past Timeout: " + what)
        eq(ADDRESS.findall(r.text),
           ["%s Server at 127.0.0.1 Port %d" % (r.header("Server"), env.port)],
           "its signature, the Host's name and port: " + what)
        eq(int(r.header("Content-Length")), len(r.body), "its Content-Length: " + what)
