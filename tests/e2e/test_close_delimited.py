# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A member's answer whose body ends at the connection's close (no
Content-Length, no Transfer-Encoding: a legacy member's; kbal-backend's
/close-delimited, which closes after it), on a kept-alive client
connection, side by side with Debian's apache2 (issues 17/18).
mod_proxy_http reads such a body to the member's EOF and sends it to an
HTTP/1.1 client chunked, the client's connection kept (its next request
goes on a new member connection), and to an HTTP/1.0 client with
"Connection: close", the connection ending after it. kbald does so on
each path: the answers it copies (KbalSplice off, a connection's first
request) and those the kernel would carry (KbalSplice sockmap, and the
packet path, the default), where such a head is given back to kbald at
its first byte: the kernel's framing cannot follow it. Before, kbald
passed it on as it came and ended the client's connection with the
member's, and on the sockmap path the client's connection was reset with
no byte of the answer (the head handed back as one the stream parser
could not parse: "framing lost")."""

import hashlib

from apache import apache_beside
from kbaltest import EXAMPLE_CONF, Conn, Env, check, eq, wait_until
from test_packet import PATH_PACKET

COOKIE = "ROUTEID=route.1"
KA10 = [("Connection", "keep-alive")]

# name: the requests in turn on one connection, (path, version, headers);
# the later ones are those the kernel carries where it does
SCENARIOS = [
    ("first", [("/close-delimited", "HTTP/1.1", []), ("/after", "HTTP/1.1", [])]),
    ("later", [("/a", "HTTP/1.1", []), ("/b", "HTTP/1.1", []),
               ("/close-delimited", "HTTP/1.1", []), ("/after", "HTTP/1.1", []),
               ("/close-delimited", "HTTP/1.1", []), ("/again", "HTTP/1.1", [])]),
    ("long", [("/a", "HTTP/1.1", []), ("/b", "HTTP/1.1", []),
              ("/close-delimited/300000", "HTTP/1.1", []), ("/after", "HTTP/1.1", [])]),
    ("http10", [("/a", "HTTP/1.0", KA10), ("/close-delimited", "HTTP/1.0", KA10),
                ("/after", "HTTP/1.0", KA10)]),
    ("keep-alive-token", [("/a", "HTTP/1.1", KA10), ("/close-delimited", "HTTP/1.1", KA10),
                          ("/after", "HTTP/1.1", KA10)]),
    ("expect", [("/a", "HTTP/1.1", []),
                ("/close-delimited", "HTTP/1.1", [("Expect", "100-continue")]),
                ("/after", "HTTP/1.1", [])]),
    ("client-close", [("/a", "HTTP/1.1", []), ("/b", "HTTP/1.1", []),
                      ("/close-delimited", "HTTP/1.1", [("Connection", "close")]),
                      ("/after", "HTTP/1.1", [])]),
    # a HEAD (kbal-backend answers it with the head alone, then closes):
    # httpd's head has neither Content-Length nor Transfer-Encoding, and
    # the connection goes on; kbald's was already the same (a HEAD is
    # kbald's on the kernel paths: handed back)
    ("head", [("/a", "HTTP/1.1", []), ("/b", "HTTP/1.1", []),
              ("HEAD /close-delimited", "HTTP/1.1", []), ("/after", "HTTP/1.1", [])]),
    ("head10", [("/a", "HTTP/1.0", KA10), ("HEAD /close-delimited", "HTTP/1.0", KA10),
                ("/after", "HTTP/1.0", KA10)]),
]


def asked(port, steps):
    """What the client gets for each step ("METHOD path", or a GET's path
    alone): (the step, status, its lines' names but Date and the
    Keep-Alive ones, Transfer-Encoding, Connection, the body's length and
    digest), then whether the connection ended after the last answer it
    got ("eof") or stays open ("open")."""
    out = []
    with Conn(port, timeout=10) as c:
        for step, version, headers in steps:
            method, _, path = step.rpartition(" ")
            method = method or "GET"
            c.request(method, path, [("Cookie", COOKIE)] + headers, version=version)
            r = c.read_response(method)
            out.append((step, r.status,
                        [k for k, _ in r.headers if k.lower() not in ("date", "keep-alive")],
                        r.header("Transfer-Encoding"), r.header("Connection"),
                        len(r.body), hashlib.sha1(r.body).hexdigest()[:12]))
            if c.eof or (r.header("Connection") or "").lower() == "close":
                break
        out.append("eof" if c.eof or c.at_eof(1.0) else "open" if c.idle(0.3) else "bytes")
    return out


def check_same(env, aport, what, carried=None):
    """Every scenario on Apache, then on kbald: the same answers. carried:
    a check that the kernel carried the connection before its
    close-delimited answer (env's stats before and after)"""
    differ = []
    for name, steps in SCENARIOS:
        theirs = asked(aport, steps)
        before = env.stats()
        try:
            ours = asked(env.port, steps)
        except (AssertionError, OSError) as e:
            ours = "the client got %r" % e
        if ours != theirs:
            differ.append("%s: got %s, Apache's %s" % (name, ours, theirs))
        elif carried and name in ("later", "long"):
            carried(before, env.stats(), name)
    check(not differ, "%s: kbal's answers against Apache's:\n  %s" % (what, "\n  ".join(differ)))
    # Apache's own, as issue 17 has it: chunked to an HTTP/1.1 client,
    # its connection kept; Connection: close to an HTTP/1.0 one
    theirs = asked(aport, dict(SCENARIOS)["later"])
    eq(theirs[2][3:5], ("chunked", None), "Apache's answer to an HTTP/1.1 client")
    eq(theirs[-1], "open", "the HTTP/1.1 client's connection after it")
    theirs = asked(aport, dict(SCENARIOS)["http10"])
    eq((theirs[1][3:5], theirs[-1]), ((None, "close"), "eof"),
       "Apache's answer to an HTTP/1.0 client")
    theirs = asked(aport, dict(SCENARIOS)["head"])
    check("Content-Length" not in theirs[2][2] and theirs[2][3:5] == (None, None) and
          theirs[3][1] == 200 and theirs[-1] == "open",
          "Apache's answer to a HEAD: %r" % (theirs,))


def conf_with(splice):
    if not splice:
        return EXAMPLE_CONF
    return EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                                "ProxySet lbmethod=byrequests\nKbalSplice %s" % splice)


def test_close_delimited_copied():
    """kbald copies every answer (KbalSplice off)"""
    with Env(conf=conf_with("off")) as env, apache_beside(env) as aport:
        check_same(env, aport, "KbalSplice off")
        eq(env.stats()["kept"], 0, "requests the kernel kept")


def test_close_delimited_sockmap():
    """the later requests kept by the stream parser, the answer's head
    given back to kbald"""
    def carried(before, after, name):
        check(after["sk_kept"] > before["sk_kept"], "%s: the stream parser kept requests" % name)
        check(after["sk_back"] > before["sk_back"], "%s: the answer's head given back" % name)

    with Env(conf=conf_with("sockmap")) as env, apache_beside(env) as aport:
        check_same(env, aport, "KbalSplice sockmap", carried)


def test_close_delimited_packet():
    """KbalSplice unset: the packet path joins the flow, and gives its
    answer back at its first byte (kbal_pkt_decide_response())"""
    def carried(before, after, name):
        check(after["pkt_kept"] > before["pkt_kept"], "%s: the packet program kept requests"
              % name)
        check(after["pkt_back"] > before["pkt_back"], "%s: the flow given back" % name)

    with Env(conf=conf_with(None)) as env, apache_beside(env) as aport:
        # the packet path, joined as a connection's second request starts
        with Conn(env.port, timeout=10) as c:
            eq(c.get("/x", cookie=COOKIE).status, 200, "the first request")
            eq(c.get("/y", cookie=COOKIE).status, 200, "the second request")
            wait_until(lambda: env.flows() and env.flows()[0][1]["path"] == PATH_PACKET, 3.0,
                       "a flow the packet path joined")
        check_same(env, aport, "the packet path", carried)


def test_close_delimited_last_request():
    """the connection's last request (MaxKeepAliveRequests): httpd's
    r->chunked is set all the same, and the connection ends after the last
    chunk; on the packet path, the default"""
    conf = EXAMPLE_CONF.replace("ProxyPreserveHost On", "ProxyPreserveHost On\nMaxKeepAliveRequests 3")
    steps = [("/a", "HTTP/1.1", []), ("/b", "HTTP/1.1", []),
             ("/close-delimited", "HTTP/1.1", []), ("/after", "HTTP/1.1", [])]
    with Env(conf=conf) as env, apache_beside(env) as aport:
        theirs = asked(aport, steps)
        eq((theirs[2][3], theirs[-1]), ("chunked", "eof"), "Apache's last answer")
        eq(asked(env.port, steps), theirs, "kbal's answers against Apache's")
