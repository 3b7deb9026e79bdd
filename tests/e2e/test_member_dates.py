# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A member's Date, Expires and Last-Modified values, and the place of its
Date and Server lines, as httpd sends them on (issue 17): mod_proxy_http's
process_proxy_header() writes each date again with date_canon()
(apr_date_parse_http(), then apr_rfc822_date(): an RFC 850 or asctime()
date, or an RFC 1123 one with a wrong weekday, becomes "Www, DD Mon YYYY
HH:MM:SS GMT"; a value apr does not read goes as it is), and
basic_http_header() writes Date then Server first (nginx sends Server
first). On the copy path (kbald writes every head), on the sockmap path
(the kernel keeps a head only where it is provably the same, hands the
others back, and moves Date and Server up itself once kbald has seen the
member do it) and on the packet path (a decided flow given back at such an
answer), each head byte for byte against what httpd writes, and the copy
path's against Debian's apache2."""

from email.utils import formatdate

from apache import apache_beside
from kbaltest import EXAMPLE_CONF, Conn, Env, check, eq
from recording_member import RecordingMember
from test_member_heads import CONF as SOCKMAP_CONF, raw_answer
from test_packet_decided import decided_conf, joined_with_route

COOKIE = "ROUTEID=route.1"
NOW = formatdate(usegmt=True).encode()   # the member's Date where it is right
SUN = b"Sun, 06 Nov 1994 08:49:37 GMT"   # RFC 7231's example, canonical

# the member's head by the request's path's first segment: [(name, value)]
# in its order, and httpd's head for it (its lines in httpd's order, the
# dates as date_canon() writes them). Each case's literal: no model of
# apr in the test.
CASES = {
    # RFC 850, asctime(), a wrong weekday: written again
    "rfc850": ([(b"Date", b"Sunday, 06-Nov-94 08:49:37 GMT"), (b"Server", b"m"),
                (b"Expires", b"Sun Nov  6 08:49:37 1994"),
                (b"Last-Modified", b"Mon, 06 Nov 1994 08:49:37 GMT")],
               [(b"Date", SUN), (b"Server", b"m"), (b"Expires", SUN),
                (b"Last-Modified", SUN)]),
    # asctime() Date, an RFC 1123 date in another zone (apr reads it as
    # GMT), a name in another case (kept)
    "asctime": ([(b"Date", b"Sun Nov  6 08:49:37 1994"), (b"Server", b"m"),
                 (b"expires", b"Sun, 06 Nov 1994 08:49:37 PST")],
                [(b"Date", SUN), (b"Server", b"m"), (b"expires", SUN)]),
    # what apr does not read: as it is (the kernel cannot tell: kbald's)
    "unread": ([(b"Date", b"yesterday"), (b"Server", b"m"), (b"Expires", b"0"),
                (b"Last-Modified", b"Wed, 31 Dec 1969 23:59:59 GMT")],
               [(b"Date", b"yesterday"), (b"Server", b"m"), (b"Expires", b"0"),
                (b"Last-Modified", b"Wed, 31 Dec 1969 23:59:59 GMT")]),
    # nginx: Server, then Date, then the rest
    "nginx": ([(b"Server", b"nginx"), (b"Date", NOW), (b"Content-Type", b"text/plain")],
              [(b"Date", NOW), (b"Server", b"nginx"), (b"Content-Type", b"text/plain")]),
    # Date not first
    "late": ([(b"Content-Type", b"text/plain"), (b"Date", NOW), (b"Server", b"m"),
              (b"Last-Modified", SUN)],
             [(b"Date", NOW), (b"Server", b"m"), (b"Content-Type", b"text/plain"),
              (b"Last-Modified", SUN)]),
    # already as httpd writes it: the kernel keeps it
    "canon": ([(b"Date", NOW), (b"Server", b"m"), (b"Expires", SUN),
               (b"Last-Modified", b"Thu, 29 Feb 2024 23:59:59 GMT")],
              [(b"Date", NOW), (b"Server", b"m"), (b"Expires", SUN),
               (b"Last-Modified", b"Thu, 29 Feb 2024 23:59:59 GMT")]),
}


def head(lines, backend, body):
    """a 200's head with lines, then X-Backend and Content-Length"""
    return b"HTTP/1.1 200 OK\r\n" + b"".join(b"%s: %s\r\n" % kv for kv in lines) + \
        b"X-Backend: %s\r\nContent-Length: %d\r\n\r\n" % (backend, len(body))


def member_answering(head_of):
    """member(backend): a member answering each path /CASE/... with the
    head head_of(CASE, backend, body) and a body naming the path"""
    def member(backend):
        def answer(h, n):
            path = h.split(b" ")[1]
            body = b"%s %s\n" % (backend, path)
            return head_of(path.split(b"/")[1].decode(), backend, body) + body
        return answer
    return member


# each path with its CASES head ("canon" for any other path)
member = member_answering(lambda case, backend, body:
                          head(CASES.get(case, CASES["canon"])[0], backend, body))


def want(path, backend=b"WAS1"):
    """httpd's head for path's answer"""
    return head(CASES[path.split("/")[1]][1], backend, b"%s %s\n" % (backend, path.encode()))


def ask(c, path, cookie=COOKIE):
    """path asked on Conn c: its answer's head as it came"""
    c.request("GET", path, headers=[("Cookie", cookie)] if cookie else [])
    return raw_answer(c)[0]


def members(env, member=member):
    """the two members, each answering as member(its name)"""
    return RecordingMember(env.ports["b1"], member(b"WAS1")), \
        RecordingMember(env.ports["b2"], member(b"WAS2"))


def copied_as_apache(member, cases, want):
    """kbald's copies (a connection's first answer) of each case's answer
    ("/CASE/1") from members answering as member, against Debian's apache2
    on the same configuration and members, and against want(path), httpd's
    head as the test writes it"""
    conf = EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                                "ProxySet lbmethod=byrequests\nKbalSplice off")
    with Env(conf=conf, backends=()) as env:
        m1, m2 = members(env, member)
        with m1, m2, apache_beside(env) as aport:
            for case in cases:
                path = "/%s/1" % case
                for port, who in ((aport, "Apache"), (env.port, "kbal")):
                    with Conn(port, timeout=10) as c:
                        eq(ask(c, path), want(path), "%s's %s" % (who, path))


def handed_back_once(env, c, case, want):
    """on the sockmap path's Conn c, "/CASE/1"'s answer handed back (kbald
    writes want(path)), then the connection the kernel's again: two
    "/canon/" answers kept"""
    st0 = env.stats()
    path = "/%s/1" % case
    eq(ask(c, path), want(path), path)
    eq(env.stats()["back"] - st0["back"], 1, "%s handed back" % path)
    st0 = env.stats()
    for p in ("/canon/%s" % case, "/canon/%s/2" % case):
        eq(ask(c, p), want(p), "canon after " + case)
    eq(env.stats()["back"] - st0["back"], 0,
       "canonical answers after %s: the kernel's" % case)


def handed_back_each(member, cases, want, kept=()):
    """KbalSplice sockmap, members answering as member: on a sticky
    keep-alive connection the kernel carries, a "/canon/" answer and
    each path of kept stay the kernel's, and each case's is handed back
    once (handed_back_once())"""
    with Env(conf=SOCKMAP_CONF, backends=()) as env:
        m1, m2 = members(env, member)
        with m1, m2, env.connect(timeout=10) as c:
            for i in range(3):
                eq(ask(c, "/canon/%d" % i), want("/canon/%d" % i), "warm-up %d" % i)
            for path in ("/canon/k",) + tuple(kept):
                st0 = env.stats()
                eq(ask(c, path), want(path), path)
                eq(env.stats()["back"] - st0["back"], 0, "%s: the kernel's" % path)
            for case in cases:
                handed_back_once(env, c, case, want)


def given_back_each(member, cases, want, kept=()):
    """KbalSplice packet, members answering as member: for each case, a
    decided joined flow on which a "/canon/" answer passes, "/CASE/1"'s is
    given back at its first byte and written by kbald as want(path), and
    the connection goes on; on one more, each path of kept passes (kept,
    not given back) as want(path)"""
    with Env(conf=decided_conf(EXAMPLE_CONF), backends=()) as env:
        m1, m2 = members(env, member)
        with m1, m2:
            if kept:
                with env.connect(timeout=10) as c:
                    backend, cookie = joined_with_route(env, c)
                    for path in kept:
                        st0 = env.stats()
                        eq(ask(c, path, cookie), want(path, backend.encode()), path)
                        st1 = env.stats()
                        eq((st1["pkt_kept"] - st0["pkt_kept"],
                            st1["pkt_back"] - st0["pkt_back"]), (1, 0),
                           "%s: kept, not given back" % path)
            for case in cases:
                with env.connect(timeout=10) as c:
                    backend, cookie = joined_with_route(env, c)
                    b = backend.encode()
                    st0 = env.stats()
                    eq(ask(c, "/canon/1", cookie), want("/canon/1", b), "canon")
                    st1 = env.stats()
                    eq((st1["pkt_kept"] - st0["pkt_kept"], st1["pkt_back"] - st0["pkt_back"]),
                       (1, 0), "a canonical answer: kept, not given back")
                    path = "/%s/1" % case
                    eq(ask(c, path, cookie), want(path, b), path)
                    eq(env.stats()["pkt_back"] - st1["pkt_back"], 1, "%s given back" % path)
                    eq(ask(c, "/canon/2", cookie), want("/canon/2", b), "the connection goes on")


def test_member_dates_copied_as_apache():
    """kbald's copies against Debian's apache2 and against httpd's head as
    written above"""
    copied_as_apache(member, CASES, want)


def test_member_dates_sockmap():
    """a sticky keep-alive connection on the sockmap path: each answer
    httpd writes otherwise is handed back (kbald writes it), a canonical
    one stays the kernel's; after nginx's order once, the kernel moves its
    Date and Server up itself (the client's sk_msg program)"""
    with Env(conf=SOCKMAP_CONF, backends=()) as env:
        m1, m2 = members(env)
        with m1, m2, env.connect(timeout=10) as c:
            for i in range(3):
                eq(ask(c, "/canon/%d" % i), want("/canon/%d" % i), "warm-up %d" % i)
            for case in ("rfc850", "asctime", "unread"):
                handed_back_once(env, c, case, want)
            st0 = env.stats()
            for path in ("/nginx/1", "/nginx/2", "/nginx/3", "/late/1", "/nginx/4", "/late/2"):
                eq(ask(c, path), want(path), path)
            st1 = env.stats()
            eq(st1["back"] - st0["back"], 1, "the first nginx answer handed back")
            # (the request after a hand-back may be kbald's, served before
            # the kernel takes the connection again)
            check(st1["sk_stamped"] - st0["sk_stamped"] >= 4,
                  "the later ones' Date and Server moved up by the kernel: sk_stamped %d"
                  % (st1["sk_stamped"] - st0["sk_stamped"]))
            eq(st1["sk_stamp_lost"], 0, "sk_stamp_lost")


def test_member_dates_packet():
    """a decided joined flow (KbalSplice packet): a canonical answer
    passes, each other one is given back at its first byte and written by
    kbald as httpd writes it"""
    given_back_each(member, ("rfc850", "asctime", "unread", "nginx", "late"), want)
