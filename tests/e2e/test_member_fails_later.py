# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A member that fails before its answer to a LATER request of a keep-alive
connection (kbal-backend's /fault-reset: a reset; /fault-garbage: no head
httpd reads): Debian's apache2 sends the client nothing and ends its
connection with a FIN (mod_proxy_http: "Closing connection to client
because reading from backend server failed", where c->keepalives; then its
lingering close), never a reset; the client may send the request again on
a new connection. kbald does the same on the copy path (KbalSplice off)
and on the sockmap path; before, it reset the client's connection
(conn_abort()). Watched on the wire: no RST to the client's port. (On a
flow the packet path joined, the member's reset still reaches the client:
docs/operating.md.)"""


from apache import apache_beside
from kbaltest import Conn, Env, check, eq
from tcp_watch import Capture
from test_member_faults import CONF, COOKIE, WAIT

RST = 0x04


def later_fails(port, path):
    """A first request answered, then path on the same connection: how the
    connection ended ("FIN", "RST", or "nothing"), what the client read,
    and the RSTs sent to the client's port"""
    cap = Capture([port])
    try:
        with Conn(port, timeout=WAIT) as c:
            cport = c.sock.getsockname()[1]
            eq(c.get("/first", cookie=COOKIE).status, 200, "the first request")
            c.request("GET", path, [("Cookie", COOKIE)])
            data, end = c.read_to_end()
            rsts = [p for p in cap.pkts if p[4] == cport and p[7] & RST]
    finally:
        cap.close()
    return end, data, len(rsts)


def as_apache(splice):
    conf = CONF.replace("ProxySet lbmethod=byrequests",
                        "ProxySet lbmethod=byrequests\nKbalSplice " + splice)
    with Env(conf=conf) as env, apache_beside(env) as aport:
        for path in ("/fault-reset", "/fault-garbage"):
            got = {}
            for port, who in ((aport, "Apache"), (env.port, "kbal")):
                got[who] = later_fails(port, path)
                eq(got[who], ("FIN", b"", 0),
                   "%s, %s as a later request: (the end, what the client read, RSTs to "
                   "it)" % (who, path))
            eq(got["kbal"], got["Apache"], "%s: kbal against Apache" % path)
            # the member serves the next client
            with Conn(env.port, timeout=WAIT) as c:
                r = c.get("/after", cookie=COOKIE)
                eq(r.status, 200, path + ": the next client's request")
            check(env.kbald.poll() is None, "kbald still runs")


def test_member_fails_later_copied():
    as_apache("off")


def test_member_fails_later_sockmap():
    as_apache("sockmap")
