# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Every byte the packet path's program carries counted once in its
member's counters (kbal_members bytes_to/bytes_from: the manager's To and
From, /metrics) where a joined flow ends or is given back to kbald
(docs/operating.md, "Metrics"; docs/packet.md, kbald's once-a-second
look), not only those that look saw: the same requests on a connection
kbald copies (KbalSplice off) count the same. The give-back comes at once
after a kept answer, before the next look: each try is the bad timing
(kbald's look would have to fall in the millisecond between the two)."""

import os
import re
import shutil
import tempfile

from kbaltest import EXAMPLE_CONF, Env, build_request, eq, wait_until
from test_logs import lines
from test_packet import PATH_PACKET
from tcp_watch import flow_of

PACKET = EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                              "ProxySet lbmethod=byrequests\nKbalSplice packet")
COPY = EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                            "ProxySet lbmethod=byrequests\nKbalSplice off")
FMT = '"%r %>s %I %O %B"'
ROUNDS = 3


def given_back_at(env, c, joined, last, added):
    """A connection's requests, sticky to WAS1 (its first two kbald's, the
    flow joined after them on the packet path), three kept, the last (its
    answer's first byte or its own given back) at once after them; then
    the connection's end. added: where kbald forwards the requests (copy),
    the bytes it adds to each the packet path keeps (X-Forwarded-*), from
    WAS1's To, which counts each request as its exchange ends."""
    cookie = "ROUTEID=route.1"
    for path in ("/first", "/first/2"):
        eq(c.get(path, cookie=cookie).status, 200, path)
    if joined:
        port = c.sock.getsockname()[1]
        wait_until(lambda: (flow_of(env, port) or {}).get("path") == PATH_PACKET, 3.0,
                   "the flow on the packet path")
    path, cookie2, status, close = last
    for p, ck, want, hdrs, kept in ([("/k%d" % i, cookie, 200, [], True) for i in range(3)] +
                                    [(path, cookie2, status, close, path == "/redirect")]):
        if added is not None:
            # the exchange before counted (its connection back in the
            # pool: busy 0, its bytes added at once)
            wait_until(lambda: env.member(1)["busy"] == 0, 3.0, "WAS1 idle before " + p)
        to = env.member(1)["bytes_to"]
        eq(c.get(p, cookie=ck, headers=hdrs).status, want, p)
        if added is not None and kept:
            wait_until(lambda: env.member(1)["busy"] == 0, 3.0, "WAS1 idle after " + p)
            raw = build_request("GET", p, hdrs + [("Cookie", ck)], None, c.host_header,
                                "HTTP/1.1")
            added.append(env.member(1)["bytes_to"] - to - len(raw))


LAST = (("/redirect", "ROUTEID=route.1", 302, []),   # at the answer's first byte
        ("/other", "ROUTEID=route.2", 200,           # at the request's (another member)
         [("Connection", "close")]))


def run(conf, joined):
    """The members' (bytes_to, bytes_from) grown by ROUNDS connections of
    each kind; the access log's lines; the requests the program kept and
    the flows it gave back; the bytes kbald adds to the requests the
    packet path keeps (copy: else [])."""
    d = tempfile.mkdtemp(prefix="kbal-bytes-")
    os.chmod(d, 0o755)
    added = None if joined else []
    try:
        with Env(conf=conf + "CustomLog %s/access.log %s\n" % (d, FMT)) as env:
            m0 = [env.member(r) for r in (1, 2)]
            st0 = env.stats()
            for _ in range(ROUNDS):
                for last in LAST:
                    with env.connect(timeout=30) as c:
                        given_back_at(env, c, joined, last, added)
            wait_until(lambda: env.flows() == [] and
                       all(env.member(r)["busy"] == 0 for r in (1, 2)), 5.0,
                       "no flow after the clients closed")
            st1 = env.stats()
            grown = [(env.member(r)["bytes_to"] - m0[r - 1]["bytes_to"],
                      env.member(r)["bytes_from"] - m0[r - 1]["bytes_from"]) for r in (1, 2)]
            want = ROUNDS * len(LAST) * (2 if joined else 6)
            wait_until(lambda: len([l for l in lines(d + "/access.log")
                                    if not l.startswith('"FLOW')]) >= want, 5.0,
                       "the access log's lines")
            return (grown, lines(d + "/access.log"), st1["pkt_kept"] - st0["pkt_kept"],
                    st1["pkt_back"] - st0["pkt_back"], added)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_given_back_flow_counts_every_byte_once():
    """A decided flow given back at a member's 302 kbald must write
    (ProxyPassReverse), and one given back at a request for the other
    member, each at once after a kept answer: both members' To and From
    grow as on KbalSplice off. Before, the bytes the program carried since
    kbald's last look (up to a second's) were never counted: WAS1's From
    short by the kept answers (660 bytes where the copy path counts 821 for
    /k then /redirect). The access log: the lines kbald writes the copy
    path's (%I %O %B), and each flow given back has its FLOW line with the
    kept requests' bytes (before, none)."""
    packet, plines, kept, back, _ = run(PACKET, True)
    eq(back, ROUNDS * len(LAST), "flows given back")
    eq(kept, ROUNDS * len(LAST) * 3 + ROUNDS, "requests the program kept (the /k ones, "
       "and each /redirect, whose answer was given back)")
    copy, clines, _, _, added = run(COPY, False)
    eq(len(added), kept, "requests measured on the copy path")
    # the requests the program kept reached WAS1 as the client sent them
    # (a member connection kbald opened, joined and closed after the
    # answer given back is counted by its socket's counters, its SYN and
    # FINs not: kbal_sock_payload())
    to = copy[0][0] - sum(added)
    eq(packet[0][0], to, "WAS1's To on the packet path, KbalSplice off's %d less what "
       "kbald adds to each request it forwards (%r)" % (copy[0][0], added))
    eq([packet[0][1], packet[1]], [copy[0][1], copy[1]],
       "WAS1's From, WAS2's (To, From) on the packet path vs KbalSplice off")
    # the lines kbald writes on both paths: the first two of a connection,
    # the one given back at its request. (The one given back at its answer,
    # /redirect, has none on the packet path: kbald never read that request,
    # the program kept it.)
    mine = lambda ls: sorted(l for l in ls if not re.match(r'^(GET /k\d|GET /redirect|FLOW)', l))
    eq(mine(plines), mine(clines), "the access log's %r %>s %I %O %B")
    # and the requests the program kept: the FLOW line of each flow given
    # back, their bytes as the client sent them and the member answered
    # (KbalSplice off's %O of each)
    sizes = dict((l.split()[1], (int(l.split()[-3]), int(l.split()[-2]))) for l in clines)
    flows = sorted(l for l in plines if l.startswith("FLOW"))
    k_in, k_out = 3 * sizes["/k0"][0], 3 * sizes["/k0"][1]
    eq(flows, sorted(["FLOW packet - - %d %d %d" % (k_in + sizes["/redirect"][0], k_out, k_out),
                      "FLOW packet - - %d %d %d" % (k_in, k_out, k_out)] * ROUNDS),
       "the FLOW lines of the flows given back (%I %O %B)")


# (disablereuse=On: no member connection kept, each counted by its socket)
ONE_MEMBER = EXAMPLE_CONF.replace("BalancerMember http://127.0.0.1:{b2} route=2\n", "").replace(
    "route=1", "route=1 disablereuse=On")


def test_member_counters_count_data_bytes_not_syn_or_fin():
    """A member's To and From (kbal_members bytes_to/bytes_from) are the
    bytes it got and sent, on each path (KbalSplice off, sockmap, packet):
    a member recording every byte it got, three requests on a keep-alive
    connection, the third answered with "Connection: close" and the
    member's close (a FIN each way on the member's connection).
    Before, a member connection counted by its socket's counters
    (tcpi_bytes_acked, bytes_received) counted its SYN and both FINs as
    bytes: To 1 or 2 more, From 1 more (kbal_sock_payload())."""
    from recording_member import RecordingMember
    sent = []

    def answer(head, n):
        # the third: the member's last on that connection, which it closes
        body = b"answer %d of the member" % n
        out = b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (
            b"Connection: close\r\n" if n == 3 else b"", len(body), body)
        sent.append(len(out))
        return [out, None] if n == 3 else out

    for splice in ("off", "sockmap", "packet"):
        conf = ONE_MEMBER.replace("ProxySet lbmethod=byrequests",
                                  "ProxySet lbmethod=byrequests\nKbalSplice " + splice)
        del sent[:]
        with Env(conf=conf, backends=()) as env:
            with RecordingMember(env.ports["b1"], answer=answer) as m:
                with env.connect(timeout=10) as c:
                    for i in range(3):
                        eq(c.get("/r%d" % i).status, 200, "%s: request %d" % (splice, i))
                wait_until(lambda: env.flows() == [] and env.member(1)["busy"] == 0 and
                           len(m.got) == 3, 5.0, "%s: the connection over" % splice)
                want = (sum(len(g) for g in m.got), sum(sent))
                # (a member connection kbald keeps is counted at once by
                # what it wrote and read; one that ends, by its socket)
                counted = lambda: (env.member(1)["bytes_to"], env.member(1)["bytes_from"])
                try:
                    wait_until(lambda: counted() == want, 3.0, "%s: the bytes counted" % splice)
                except AssertionError:
                    raise AssertionError("%s: WAS1's (To, From) %r, the member got and sent %r"
                                         % (splice, counted(), want))
