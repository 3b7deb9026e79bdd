# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""kbal's Prometheus endpoint (issue 19): `<Location /metrics>` with
`SetHandler kbal-metrics`. Scraped after traffic the test sends (fresh
connections kbald decides, a kept-alive one the kernel carries, a download),
checked with Debian's promtool and against what the members logged; its
access rules are the manager's."""

import re
import subprocess

from kbaltest import EXAMPLE_CONF, Env, check, eq, wait_until

METRICS = EXAMPLE_CONF.replace("ProxyPass /balancer-manager !",
                               "ProxyPass /balancer-manager !\nProxyPass /metrics !") + \
    "<Location /metrics>\n    SetHandler kbal-metrics\n@RULE@</Location>\n"
CONF = METRICS.replace("@RULE@", "")


def scrape(env, conn=None):
    r = (conn.get("/metrics") if conn else env.get("/metrics"))
    eq(r.status, 200, "GET /metrics")
    eq(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8", "its type")
    return r.text


def samples(text):
    """{(name, frozenset(labels)): value}"""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-z_]+)(\{(.*)\})? (\S+)$', line)
        check(m, "a sample line: %r" % line)
        labels = frozenset(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def member(s, name, route, **extra):
    for (n, labels), v in s.items():
        d = dict(labels)
        if n == name and d.get("route") == route and all(d.get(k) == w for k, w in extra.items()):
            return v
    raise AssertionError("no %s for route %s" % (name, route))


def promtool(text):
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    eq((p.returncode, p.stdout.decode()), (0, ""), "promtool check metrics")


def test_metrics_against_the_traffic():
    """On the packet path (the default) and on the sockmap path: each
    counts the requests it kept in its own metric"""
    for splice, path, requests in (("", "packet", "kbal_packet_requests_total"),
                                   ("KbalSplice sockmap\n", "sockmap",
                                    "kbal_kernel_requests_total")):
        metrics_against_the_traffic(CONF + splice, path, requests)


def metrics_against_the_traffic(conf, path, requests):
    with Env(conf=conf) as env:
        # 6 fresh connections without a cookie: byrequests, 3 each
        for i in range(6):
            eq(env.get("/f%d" % i).status, 200, "request %d" % i)
        # a kept-alive connection on WAS1 that the kernel carries
        c = env.connect()
        for i in range(10):
            eq(c.get("/k%d" % i, cookie="ROUTEID=route.1").status, 200, "kept-alive %d" % i)
        # 6 x 1,000,000 bytes from WAS2, each on a fresh client connection
        # (a kept member connection: its bytes for earlier clients were
        # counted once, and the answer's bytes still in its socket when the
        # kernel takes it over were counted too: lost before, ~1 run in 3)
        for i in range(6):
            r = env.get("/bytes/1000000", cookie="ROUTEID=route.2")
            eq((r.status, len(r.body)), (200, 1000000), "download %d" % i)
        text = scrape(env)
        promtool(text)
        s = samples(text)
        logged = {n: len(env.backend_log(n)) for n in (1, 2)}
        eq(logged, {1: 13, 2: 9}, "requests the members logged")
        for n in (1, 2):
            eq(member(s, "kbal_member_requests_total", str(n)), logged[n],
               "kbal_member_requests_total of WAS%d" % n)
            eq(member(s, "kbal_member_up", str(n)), 1, "WAS%d up" % n)
            eq(member(s, "kbal_member_status", str(n), flag="disabled"), 0, "WAS%d disabled" % n)
        eq(s[("kbal_balancer_requests_total", frozenset({("balancer", "mycluster")}))], 22,
           "the balancer's requests")
        # the bodies, and 9 heads of about 100 bytes
        got = member(s, "kbal_member_received_bytes_total", "2")
        check(6 * 1000000 + 9 * 50 <= got <= 6 * 1000000 + 9 * 300, "bytes from WAS2: %r" % got)
        check(member(s, "kbal_member_sent_bytes_total", "1") >= 13 * 30,
              "bytes to WAS1: %r" % member(s, "kbal_member_sent_bytes_total", "1"))
        kept = s[(requests, frozenset({("decision", "kept")}))]
        check(kept >= 8, "requests the kernel kept (%s): %r" % (requests, kept))
        # the members send Date and Server: no answer needs the kernel's lines
        eq([s[("kbal_kernel_answer_stamps_total", frozenset({("result", r)}))]
            for r in ("stamped", "lost")], [0, 0], "answers the kernel stamped, lost")
        # the kept-alive connection is the path's (and the downloads',
        # spliced with sockmap, until their ends passed), the scrape's kbald's
        spliced = [s[("kbal_connections", frozenset({("path", p)}))] for p in ("sockmap", "packet")]
        check(spliced[("sockmap", "packet").index(path)] >= 1 and sum(spliced) <= 7,
              "sockmap, packet connections: %r (the kept-alive one: %s)" % (spliced, path))
        check(s[("kbal_connections", frozenset({("path", "kbald")}))] >= 1, "kbald's")
        # a counter never goes back: the kept-alive connection's bytes, live
        # before, are its member's once it ends
        before = member(s, "kbal_member_sent_bytes_total", "1")
        c.close()
        env.kbalctl("set", "mycluster", "2", "status=+D")
        s = samples(scrape(env))
        check(member(s, "kbal_member_sent_bytes_total", "1") >= before,
              "bytes to WAS1 after its connection ended: %r < %r" % (
                  member(s, "kbal_member_sent_bytes_total", "1"), before))
        eq((member(s, "kbal_member_up", "2"),
            member(s, "kbal_member_status", "2", flag="disabled")), (0, 1), "WAS2 disabled")
        # only GET
        with env.connect() as c2:
            c2.request("POST", "/metrics", body=b"x")
            r = c2.read_response()
            eq((r.status, r.header("Allow")), (405, "GET"), "POST /metrics")


def test_metrics_count_a_lingering_close():
    """A request kbald refuses (413) while its client is still sending: its
    socket lingers (shut for writing, what comes read and dropped), counted
    in kbal_lingering_connections until the client closes; the mailboxes
    are there too."""
    conf = CONF.replace("ProxyRequests Off", "ProxyRequests Off\nLimitRequestBody 1000")
    with Env(conf=conf) as env:
        with env.connect() as c:
            # the manager's form: kbald reads the body itself and refuses
            # it at its length (a proxied request's body goes to its
            # member whatever the limit, as with apache2: configuration.md)
            c.send(b"POST /balancer-manager HTTP/1.1\r\nHost: %s\r\nContent-Type: "
                   b"application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
                   % c.host_header.encode() + b"x" * 2000)
            eq(c.read_response().status, 413, "the refusal")
            text = scrape(env)
            promtool(text)
            s = samples(text)
            eq(s[("kbal_lingering_connections", frozenset())], 1, "lingering, while the client is on")
            check(s[("kbal_kernel_mailboxes", frozenset())] >= 2, "the mailboxes: %r" % text)
            eq(s[("kbal_kernel_handed_back_queues_total", frozenset({("where", "mailbox")}))], 0,
               "queues in a mailbox (none handed back)")
        wait_until(lambda: samples(scrape(env))[("kbal_lingering_connections", frozenset())] == 0,
                   5.0, "the lingering close over at the client's close")


def test_metrics_access_rules():
    with Env(conf=METRICS.replace("@RULE@", "    Require ip 10.0.0.0/8\n")) as env:
        eq(env.get("/metrics").status, 403, "/metrics from outside the rule's addresses")
        # kbald's stderr is written as it goes: the line may follow the answer
        wait_until(lambda: "kbal-metrics: 127.0.0.1 refused by its access rules" in
                   env.kbald_stderr(), 5.0, "the log line")
    with Env(conf=CONF) as env:
        # said after the listeners opened, which is when Env returns
        wait_until(lambda: "the kbal-metrics endpoint at /metrics has no access rule" in
                   env.kbald_stderr(), 5.0, "the start-up word")
