# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Faults of members (issue 18): a member that dies mid-response, accepts
and never answers, answers garbage, resets, closes half-way through a
chunked body, or answers with a second response nobody asked for
(kbal-backend's /fault-* paths). Each on a fresh connection, whose first
request kbald serves, and on a keep-alive connection the kernel already
carries. The client sees what Debian's apache2 (2.4.71) gives with the
same configuration: 502 for garbage, a reset, or nothing within Timeout on
a connection's first request (on a later one Apache closes the connection
after garbage or a reset, as kbald does), a close of the client's
connection when the body was cut after the head went out, and its own
response only (never the extra one), and its next request answered on a
new member connection, its own connection kept (Apache drops a member
connection with data waiting on it; before, kbald closed the client's, and
on a kernel-carried connection could close it before the kernel's answer
had gone out: the client got nothing). Then nothing outlives the flow: kbal_flows and kbal_sk_http have no
entry left and kbald's descriptors are back to their count before; the
member is not put in error (Apache does that for connect failures only)
and serves the next request."""

import os
import socket

import kbaltest
from kbaltest import EXAMPLE_CONF, Env, ST_ERROR, check, eq, wait_until
from test_packet import PATH_PACKET

TIMEOUT = 2
# disablereuse: no idle member connection outlives a client's, so kbald's
# descriptor count is the same before a case and after it
CONF = EXAMPLE_CONF.replace(" route=1", " route=1 disablereuse=On").replace(
    " route=2", " route=2 disablereuse=On").replace(
    "ProxyPreserveHost On", "ProxyPreserveHost On\nTimeout %d" % TIMEOUT)
COOKIE = "ROUTEID=route.1"
# a bound on any wait of the client: past Timeout, far under a hang
WAIT = TIMEOUT + 3


def fds(env):
    return len(os.listdir("/proc/%d/fd" % env.kbald.pid))


def outcome(c):
    """What the client got for its request: ("closed", None) when the
    connection ended before a response head, ("cut", status) when it ended
    in the body, ("whole", response) for a whole response."""
    try:
        r = c.read_head()
    except ConnectionResetError:
        return "closed", None
    except AssertionError as e:
        # closed before a byte of a head: clean; anything else came from
        # the member's bytes reaching the client
        check("closed in a response head (got b'')" in str(e), "the client got %s" % e)
        return "closed", None
    try:
        if "chunked" in (r.header("Transfer-Encoding") or "").lower():
            r.body = c._read_chunked()
        elif r.header("Content-Length") is not None:
            r.body = c.read_exact(int(r.header("Content-Length")))
        else:
            return "cut", r.status   # read to the end: never whole
    except (AssertionError, ConnectionResetError):
        return "cut", r.status
    return "whole", r


def check_ends(c, what):
    """After a cut body the client's connection must end, not hang."""
    check(c.what_arrives(WAIT) in ("eof", "reset"), "%s: the client's connection "
          "did not end after the cut body" % what)


def check_status(got, want, what):
    if want == "closed":
        eq(got[0], "closed", "%s: what the client got" % what)
    elif want == "cut":
        eq(got[0], "cut", "%s: what the client got" % what)
        eq(got[1], 200, "%s: the cut response's status" % what)
    else:
        eq(got[0], "whole", "%s: what the client got" % what)
        eq(got[1].status, want, "%s: status" % what)


def check_nothing_left(env, base, what):
    """No flow, no kbal_sk_http entry, kbald's descriptors at base."""
    wait_until(lambda: not env.flows() and not env.bpftool_dump("kbal_sk_http") and
               fds(env) <= base, 5.0,
               "%s: the flow, its kbal_sk_http entries and kbald's descriptors "
               "released (flows %r, kbal_sk_http %d entries, %d descriptors, %d before)"
               % (what, env.flows(), len(env.bpftool_dump("kbal_sk_http")), fds(env), base))


def check_member_usable(env, what):
    eq(env.member(1)["status"] & ST_ERROR, 0, "%s: member 1's E bit" % what)
    r = env.get("/after", cookie=COOKIE)
    eq((r.status, r.header("X-Backend"), r.text), (200, "WAS1", "backend=WAS1 path=/after\n"),
       "%s: the next request to member 1" % what)


def run_case(env, path, want, carried, joined=False):
    what = "%s on a %s connection" % (path, "joined" if joined else
                                      "kernel-carried" if carried else "fresh")
    base = fds(env)
    kept_stat = "pkt_kept" if joined else "sk_kept"
    with env.connect(timeout=WAIT) as c:
        if carried:
            eq(kbaltest.hand_over(c, "/ka", cookie=COOKIE).status, 200, what + ": requests before")
            wait_until(lambda: env.flows() and (not joined or env.flows()[0][1]["path"] == PATH_PACKET),
                       2.0, what + ": a flow the kernel carries")
        kept = env.stats()[kept_stat]
        c.request("GET", path, [("Cookie", COOKIE)])
        got = outcome(c)
        if carried:
            eq(env.stats()[kept_stat], kept + 1, what + ": requests the kernel kept")
        check_status(got, want, what)
        if want in ("cut", "closed"):
            check_ends(c, what)
        elif path == "/fault-smuggle":
            eq(got[1].text, "first\n", what + ": the body")
            # the extra response must not answer the next request, and
            # the client's connection goes on (httpd does not reuse a
            # member connection with data waiting on it: the next request
            # goes on a new one)
            c.request("GET", "/next", [("Cookie", COOKIE)])
            nxt = outcome(c)
            eq(nxt[0], "whole", what + ": the next request's response")
            eq((nxt[1].header("X-Smuggled"), nxt[1].text), (None, "backend=WAS1 path=/next\n"),
               what + ": the next request's response")
    check_nothing_left(env, base, what)
    check_member_usable(env, what)


# path: what the client gets, as Apache answers it, on a fresh connection
# (the first request) and on one the kernel carries (a later request).
# "closed": the connection ends before a byte of a response; "cut": a 200
# head, part of its body, then the end. Apache's mod_proxy_http closes the
# client's connection without an answer where reading the member's head
# fails on a later request of a keep-alive connection (c->keepalives), and
# answers 502 on the first; a timeout is 502 on both (Apache keeps the
# client's connection after it; kbald closes it where the kernel carried it).
FAULTS = [
    ("/fault-garbage", 502, "closed"),
    ("/fault-reset", 502, "closed"),
    ("/fault-hang", 502, 502),
    ("/fault-mid", "cut", "cut"),
    ("/fault-chunked-cut", "cut", "cut"),
    ("/fault-smuggle", 200, 200),
]


def test_member_faults_fresh():
    with Env(conf=CONF) as env:
        for path, want, _ in FAULTS:
            run_case(env, path, want, carried=False)


def test_member_faults_kernel_carried():
    """On the sockmap path (the packet path's, the default's: below)"""
    conf = CONF.replace("ProxySet lbmethod=byrequests",
                        "ProxySet lbmethod=byrequests\nKbalSplice sockmap")
    with Env(conf=conf) as env:
        for path, _, want in FAULTS:
            run_case(env, path, want, carried=True)


# On a flow the packet path joined (KbalSplice packet, each request decided
# by its program): where httpd answers a timeout with 502, kbald takes the
# client's leg back onto its kept socket after Timeout and answers the 502
# of its other paths there, then closes it, the member's connection reset
# (packet_clocks.c; until 2026-12-06 both peers were reset); an answer the program cannot
# follow (a second response in the first one's segment) ends it too, no
# byte of that segment reaching the client (docs/packet.md, "Each request
# decided"); a head that does not parse goes to kbald, which closes the
# client's connection as httpd does on a later request.
FAULTS_JOINED = [
    ("/fault-garbage", "closed"),
    ("/fault-reset", "closed"),
    ("/fault-hang", 502),
    ("/fault-mid", "cut"),
    ("/fault-chunked-cut", "cut"),
    ("/fault-smuggle", "closed"),
]


def test_member_faults_joined():
    conf = CONF.replace("ProxySet lbmethod=byrequests",
                        "ProxySet lbmethod=byrequests\nKbalSplice packet")
    with Env(conf=conf) as env:
        for path, want in FAULTS_JOINED:
            run_case(env, path, want, carried=True, joined=True)
            # a connection after the fault joins and keeps its requests
            with env.connect(timeout=WAIT) as c:
                eq(kbaltest.hand_over(c, "/ka", cookie=COOKIE).status, 200, path + ": the next client")
                for i in range(3):
                    r = c.get("/k%d" % i, cookie=COOKIE)
                    eq((r.status, r.text), (200, "backend=WAS1 path=/k%d\n" % i), path + ": the next client")


def test_member_faults_later_request_copied():
    """A later request of a keep-alive connection kbald copies (KbalSplice
    off): a member that answers garbage or resets before its head ends the
    client's connection without a byte, as httpd does where c->keepalives
    (mod_proxy_http: so that the client sends it again on a new
    connection); a member that never answers gets the client httpd's 502
    after Timeout, and the client's connection goes on, as httpd keeps it.
    Before, kbald answered 502 to all three."""
    conf = CONF.replace("ProxySet lbmethod=byrequests",
                        "ProxySet lbmethod=byrequests\nKbalSplice off")
    with Env(conf=conf) as env:
        for path, want in (("/fault-garbage", "closed"), ("/fault-reset", "closed"),
                           ("/fault-hang", 502)):
            what = "%s, a connection's second request" % path
            base = fds(env)
            with env.connect(timeout=WAIT) as c:
                eq(c.get("/first", cookie=COOKIE).status, 200, what + ": the first request")
                c.request("GET", path, [("Cookie", COOKIE)])
                check_status(outcome(c), want, what)
                if want == 502:
                    # httpd keeps the client's connection after its 502
                    # (ap_proxyerror(); the member's goes)
                    r = c.get("/after", cookie=COOKIE)
                    eq((r.status, r.text), (200, "backend=WAS1 path=/after\n"),
                       what + ": the next request on the same connection")
                else:
                    check_ends(c, what)
            check_nothing_left(env, base, what)
            check_member_usable(env, what)
