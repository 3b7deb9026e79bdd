# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A member's head with a line httpd refuses or cannot read, and its
interim (1xx) heads, and its 101's, side by side with Debian's apache2
(issue 17).

mod_proxy_http's ap_proxy_read_headers() gives up at a line without ':'
(or with a NUL): its handler returns 502, httpd's own page without notes,
and the client's connection goes on, on any request of it (kbald reset a
later one's). A line it reads but its HTTP_HEADER filter's check_headers()
refuses (a space before ':', a control byte in a name or a value, a byte
no token holds in a name, no name at all) gets httpd's 500, without
Content-Length, and the connection ends (kbald answered 502, and passed
": v" on). An interim head goes as ap_send_interim_response() writes it:
"HTTP/1.1 " and the member's code and reason, each line "Name: value" as
ap_proxy_read_headers() read it (trimmed; a refused line too, as read),
Date written again (date_canon()), Connection, Keep-Alive, Upgrade and TE
left out (kbald passed it as the member wrote it). A 101 is written the
same way, "Connection: Upgrade" and the member's Upgrade value last
(test_member_switching_as_apache; an Upgrade request is kbald's on every
path). On the copy path against apache2, on the sockmap path (the kernel
hands such a head back: kbald's) and on the packet path (given back at its
first byte)."""

from email.utils import formatdate

from apache import apache_beside
from kbaltest import EXAMPLE_CONF, Conn, Env, check, eq, with_upgrade
from test_member_dates import COOKIE, members
from test_member_heads import CONF as SOCKMAP_CONF
from test_packet_decided import decided_conf, joined_with_route

STAMPS = b"Date: %s\r\nServer: m\r\n" % formatdate(usegmt=True).encode()
OK = b"HTTP/1.1 200 OK\r\n"

# the final head's lines by the path's first segment, and httpd's status
FINAL = {
    "space": (b"Foo : v\r\n", 500),
    "ctl": (b"X-A: a\x01b\r\n", 500),
    # a CR alone within a value (ap_rgetline() ends a line at the LF
    # only): the sockmap path reset the client at it (a lost framing)
    "cr": (b"X-A: a\rb\r\n", 500),
    "ctlname": (b"X\x01A: v\r\n", 500),
    "noname": (b": v\r\n", 500),
    "token": (b"X@A: v\r\n", 500),
    "nocolon": (b"NoColon\r\n", 502),
    "nul": (b"X-A: a\x00b\r\n", 502),
}
# an interim head before a canonical final one, and httpd's for it (each
# case's literal: no model of httpd in the test); "icanon": as httpd's
INTERIM = {
    "icanon": (b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
               b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"),
    "ilines": (b"HTTP/1.1 103 Early Hints\r\nLink:</a>; rel=preload  \r\nX-B:\t2\r\n"
               b"Connection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nUpgrade: h2c\r\n"
               b"TE: x\r\nX-Hop: 1\r\n\r\n",
               b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\nX-B: 2\r\n\r\n"),
    "inoreason": (b"HTTP/1.1 103\r\nLink: </a>\r\n\r\n", b"HTTP/1.1 103 \r\nLink: </a>\r\n\r\n"),
    # an HTTP/1.0 member's (kbald answered nothing after it: the parser
    # took the final head for a closed connection's bytes)
    "iv10": (b"HTTP/1.0 103 Early Hints\r\nLink: </a>\r\n\r\n",
             b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"),
    "idate": (b"HTTP/1.1 103 Early Hints\r\nDate: Sunday, 06-Nov-94 08:49:37 GMT\r\n\r\n",
              b"HTTP/1.1 103 Early Hints\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"),
    "irefused": (b"HTTP/1.1 103 Early Hints\r\nFoo : v\r\nX-A:  a\x01b \r\n\r\n",
                 b"HTTP/1.1 103 Early Hints\r\nFoo : v\r\nX-A: a\x01b\r\n\r\n"),
}


# a 101's lines between the member's Upgrade and Connection lines and its
# head's end, and httpd's head for it: ap_send_interim_response() writes
# it as an interim one (each line as read, even one check_headers() would
# refuse, the hop-by-hop ones dropped), mod_proxy_http's "Connection:
# Upgrade" and the member's Upgrade value last. kbald passed the member's
# head as it was, and answered 502 to a line llhttp refuses.
SWITCH = b"HTTP/1.1 101 Switching Protocols\r\n"
SWITCHED = {
    "ucanon": (b"", b""),
    "uspace": (b"Foo : v\r\n", b"Foo : v\r\n"),
    "uctl": (b"X-A:  a\x01b \r\n", b"X-A: a\x01b\r\n"),
    "uform": (b"X-A:1  \r\nKeep-Alive: timeout=5\r\n", b"X-A: 1\r\n"),
    "uvt": (b"X-A:\x0bv\x0b\r\n", b"X-A: v\r\n"),
}


def final_head(backend, body, lines=b""):
    return OK + STAMPS + lines + b"X-Backend: %s\r\nContent-Length: %d\r\n\r\n" % (
        backend, len(body))


def member(backend):
    """answers /CASE/...: FINAL's lines in its head, or INTERIM's head
    before a canonical one; any other path a canonical answer"""
    def answer(h, n):
        path = h.split(b" ")[1]
        case = path.split(b"/")[1].decode()
        body = b"%s %s\n" % (backend, path)
        if case in SWITCHED:
            # the tunnel's bytes apart, then the member's close
            return [SWITCH + b"Upgrade: websocket\r\nConnection: Upgrade\r\n" +
                    SWITCHED[case][0] + b"\r\n", b"tunnel", None]
        if case in INTERIM:
            # apart: a segment of its own (the packet path judges a head
            # at a segment's start, and gives back one behind another)
            return [INTERIM[case][0], final_head(backend, body) + body]
        return final_head(backend, body, FINAL.get(case, (b"",))[0]) + body
    return answer


def answer(c, path, cookie=COOKIE):
    """path asked on Conn c: the bytes of its answer as they came (interim
    heads, the final head, its body by Content-Length, or to the
    connection's end without), and whether the connection ended after it"""
    c.request("GET", path, headers=[("Cookie", cookie)] if cookie else [])
    return answer_read(c)


def answer_read(c):
    """answer()'s reading, of a request already sent"""
    out = b""
    while True:
        while b"\r\n\r\n" not in c.buf:
            check(c._fill(), "EOF within an answer's head (got %r)" % (out + bytes(c.buf)))
        n = c.buf.index(b"\r\n\r\n") + 4
        head = bytes(c.buf[:n])
        del c.buf[:n]
        out += head
        if not head.startswith(b"HTTP/1.1 1"):
            break
    cl = [int(ln.split(b":")[1]) for ln in head.lower().split(b"\r\n")
          if ln.startswith(b"content-length:")]
    if not cl:
        return out + c.read_until_eof(), True
    return out + c.read_exact(cl[0]), c.at_eof(0.3)


def shape(got):
    """an answer with kbal's or httpd's own Date and Server: its status
    line, its lines' names, its body, the connection's end"""
    data, ended = got
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    return lines[0], [ln.split(b":")[0] for ln in lines[1:]], body, ended


def want_final(case, got, what):
    """the answer to /CASE/1 is httpd's: a 500 whose end is the
    connection's, a 502 after which it goes on"""
    status = FINAL[case][1]
    eq(shape(got)[0], b"HTTP/1.1 500 Internal Server Error" if status == 500 else
       b"HTTP/1.1 502 Bad Gateway", what + ": the status line")
    eq(got[1], status == 500, what + ": the connection ends after it")


def test_member_refused_lines_as_apache():
    """the copy path (KbalSplice off), a connection's first request and a
    later one, against Debian's apache2: the same status line, lines (names),
    page, and end of the connection; after a 502 the connection goes on"""
    conf = EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                                "ProxySet lbmethod=byrequests\nKbalSplice off")
    with Env(conf=conf, backends=()) as env:
        m1, m2 = members(env, member)
        with m1, m2, apache_beside(env) as aport:
            for case in FINAL:
                for later in (False, True):
                    got = {}
                    for port, who in ((aport, "Apache"), (env.port, "kbal")):
                        what = "%s's /%s/1%s" % (who, case, ", a later request" if later else "")
                        with Conn(port, timeout=10) as c:
                            if later:
                                eq(answer(c, "/canon/1")[0][:17], OK, what + ": the one before")
                            got[who] = answer(c, "/%s/1" % case)
                            want_final(case, got[who], what)
                            if not got[who][1]:
                                data, _ = answer(c, "/canon/2")
                                eq(data[:17], OK, what + ": the request after it")
                    eq(shape(got["kbal"]), shape(got["Apache"]),
                       "kbal's /%s/1 against Apache's" % case)


def test_member_interim_as_apache():
    """interim heads as httpd writes them, byte for byte against Debian's
    apache2 and against the literal above, on a first and a later request"""
    conf = EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                                "ProxySet lbmethod=byrequests\nKbalSplice off")
    with Env(conf=conf, backends=()) as env:
        m1, m2 = members(env, member)
        with m1, m2, apache_beside(env) as aport:
            for case, (_, want) in INTERIM.items():
                for port, who in ((aport, "Apache"), (env.port, "kbal")):
                    with Conn(port, timeout=10) as c:
                        for path in ("/%s/1" % case, "/%s/2" % case):
                            data, ended = answer(c, path)
                            body = b"WAS1 %s\n" % path.encode()
                            eq(data, want + final_head(b"WAS1", body) + body,
                               "%s's %s" % (who, path))
                            check(not ended, "%s's %s: the connection goes on" % (who, path))


def test_member_refused_lines_sockmap():
    """a sticky keep-alive connection on the sockmap path: a head with such
    a line is handed back (kbald's: sk_back), answered 500 (the connection
    ends) or 502 (it goes on, the kernel's again); an interim head httpd
    writes otherwise is handed back and written as httpd writes it, one
    it writes as it is stays the kernel's"""
    with Env(conf=SOCKMAP_CONF, backends=()) as env:
        m1, m2 = members(env, member)
        with m1, m2:
            for case in list(FINAL) + list(INTERIM):
                with env.connect(timeout=10) as c:
                    for i in range(3):
                        eq(answer(c, "/canon/%d" % i)[0][:17], OK, "warm-up %d" % i)
                    st0 = env.stats()
                    path = "/%s/1" % case
                    got = answer(c, path)
                    backs = env.stats()["sk_back"] - st0["sk_back"]
                    if case in FINAL:
                        want_final(case, got, path)
                        eq(backs, 1, path + ": handed back")
                        if got[1]:
                            continue
                    else:
                        body = b"WAS1 %s\n" % path.encode()
                        eq(got, (INTERIM[case][1] + final_head(b"WAS1", body) + body, False),
                           path)
                        eq(backs, case != "icanon", path + ": handed back")
                    st0 = env.stats()
                    for p in ("/canon/%s/a" % case, "/canon/%s/b" % case, "/canon/%s/c" % case):
                        eq(answer(c, p)[0][:17], OK, "%s after %s" % (p, path))
                    eq(env.stats()["sk_back"] - st0["sk_back"], 0,
                       "canonical answers after %s: the kernel's" % path)


def test_member_refused_lines_packet():
    """a decided joined flow (KbalSplice packet): such a head, and an
    interim head httpd writes otherwise, is given back at its first byte
    and answered as httpd answers it; a canonical interim head passes"""
    with Env(conf=decided_conf(EXAMPLE_CONF), backends=()) as env:
        m1, m2 = members(env, member)
        with m1, m2:
            for case in list(FINAL) + list(INTERIM):
                with env.connect(timeout=10) as c:
                    backend, cookie = joined_with_route(env, c)
                    b = backend.encode()
                    st0 = env.stats()
                    eq(answer(c, "/canon/1", cookie)[0][:17], OK, "canon")
                    st1 = env.stats()
                    eq((st1["pkt_kept"] - st0["pkt_kept"], st1["pkt_back"] - st0["pkt_back"]),
                       (1, 0), "a canonical answer: kept, not given back")
                    path = "/%s/1" % case
                    got = answer(c, path, cookie)
                    backs = env.stats()["pkt_back"] - st1["pkt_back"]
                    if case in FINAL:
                        want_final(case, got, path)
                        eq(backs, 1, path + ": given back")
                        if got[1]:
                            continue
                    else:
                        body = b"%s %s\n" % (b, path.encode())
                        eq(got, (INTERIM[case][1] + final_head(b, body) + body, False), path)
                        eq(backs, case != "icanon", path + ": given back")
                    eq(answer(c, "/canon/2", cookie)[0][:17], OK, "the connection goes on")


def switched(c, case, cookie=COOKIE):
    """/CASE/1 asked with an Upgrade on Conn c: all that comes to the end"""
    c.request("GET", "/%s/1" % case, headers=[("Cookie", cookie), ("Upgrade", "websocket"),
                                             ("Connection", "Upgrade")])
    return c.read_until_eof()


def switched_want(case):
    return SWITCH + SWITCHED[case][1] + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\ntunnel"


def test_member_switching_as_apache():
    """a 101 (the member's upgrade= lets the client's Upgrade through),
    byte for byte against Debian's apache2 and against the literal above:
    its head, the tunnel's bytes, the end with the member's"""
    conf = with_upgrade(EXAMPLE_CONF).replace("ProxySet lbmethod=byrequests",
                                              "ProxySet lbmethod=byrequests\nKbalSplice off")
    with Env(conf=conf, backends=()) as env:
        m1, m2 = members(env, member)
        with m1, m2, apache_beside(env) as aport:
            for case in SWITCHED:
                for port, who in ((aport, "Apache"), (env.port, "kbal")):
                    with Conn(port, timeout=10) as c:
                        eq(switched(c, case), switched_want(case), "%s's /%s/1" % (who, case))


def carried_by_the_kernel(env, c, conf):
    """c made a connection the kernel carries on conf's path: on sockmap
    after three kept requests, on the packet path a decided joined flow;
    (the cookie its later requests take, the counter of a request handed
    back to kbald there)"""
    if "KbalSplice sockmap" in conf:
        for i in range(3):
            eq(answer(c, "/canon/%d" % i)[0][:17], OK, "warm-up %d" % i)
        return COOKIE, "sk_back"
    return joined_with_route(env, c)[1], "pkt_back"


def test_member_switching_kernel_paths():
    """the Upgrade request on a connection the kernel carried (sockmap:
    after kept requests; packet: a decided joined flow): handed back,
    its 101 written as httpd writes it"""
    for conf in (SOCKMAP_CONF, decided_conf(EXAMPLE_CONF)):
        with Env(conf=with_upgrade(conf), backends=()) as env:
            m1, m2 = members(env, member)
            with m1, m2:
                for case in ("uspace", "uform"):
                    with env.connect(timeout=10) as c:
                        cookie, back = carried_by_the_kernel(env, c, conf)
                        st0 = env.stats()
                        eq(switched(c, case, cookie), switched_want(case), case)
                        eq(env.stats()[back] - st0[back], 1, "%s: %s" % (case, back))
