# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""kbald between real interfaces: the client and the members in network
namespaces of their own (kbaltest.Topo), every packet across a veth pair,
with full checksums and, in the last test, loss, duplication and reordering
on every link (netem, or its emulation where the kernel has no sch_netem).
The splice is kbald's default, sockmap."""

import os
import re
import threading
import time

import kbaltest
from kbaltest import (EXAMPLE_CONF, Env, FLOW_SPLICED, Topo, check, check_pattern, crc_line, eq,
                      wait_until)

MiB = 1 << 20
HOSTS = ("client", "member1", "member2")
# on the client's and members' egress, and on the balancer's
NETEM_HOST = "delay 1ms loss 2% duplicate 1% reorder 25% 50%"
NETEM_BAL = "loss 1% duplicate 1%"

# the sockmap path, said explicitly, carrying later requests that name no
# route in the kernel (kbaltest.kernel_keeps_unrouted)
SOCKMAP_CONF = kbaltest.kernel_keeps_unrouted(EXAMPLE_CONF.replace(
    "ProxySet lbmethod=byrequests", "ProxySet lbmethod=byrequests\nKbalSplice sockmap"))


def member_no(r):
    b = r.header("X-Backend")
    check(b in ("WAS1", "WAS2"), "unexpected X-Backend %r" % b)
    return int(b[-1])


def no_csum_errors(topo, what):
    for host in HOSTS + ("balancer",):
        eq(topo.tcp_counters(host)["InCsumErrors"], 0, "InCsumErrors in %s %s" % (host, what))


def session(env, tag, ka=20, down=4 * MiB, up=2 * MiB):
    """One client connection through kbald: a first request, ka keep-alive
    requests, a download of `down` bytes and an upload of `up` random bytes,
    each checked byte for byte. Returns the member number."""
    with env.connect(timeout=30) as c:
        n = member_no(kbaltest.hand_over(c, "/%s-first" % tag))
        for i in range(ka):
            r = c.get("/%s-ka%d" % (tag, i))
            eq((r.status, r.text), (200, "backend=WAS%d path=/%s-ka%d\n" % (n, tag, i)),
               "%s: keep-alive request %d" % (tag, i))
        r = c.get("/bytes/%d" % down)
        eq((r.status, len(r.body)), (200, down), "%s: download status, length" % tag)
        check_pattern(r.body, "%s: %d byte download" % (tag, down))
        body = os.urandom(up)
        c.request("POST", "/up", body=body)
        r = c.read_response()
        eq((r.status, r.text), (200, crc_line(body)), "%s: %d byte upload" % (tag, up))
        r = c.get("/%s-last" % tag)
        eq(r.text, "backend=WAS%d path=/%s-last\n" % (n, tag), "%s: request after" % tag)
    return n


def sessions_at_once(env, n, tag, dump=lambda: "", **kw):
    """n sessions in threads; fails naming every connection that failed,
    or is still running after 45 s (dump(): more to say then)."""
    results, errors = {}, []

    def run(i):
        try:
            results[i] = session(env, "%s%d" % (tag, i), **kw)
        except BaseException as e:      # noqa: B902 - reported below
            errors.append("connection %d: %s: %s" % (i, type(e).__name__, e))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(45)
    check(not any(t.is_alive() for t in threads), "a connection still running after 45 s")
    check(not errors, "; ".join(errors) + "\n%s\nflows: %r" % (dump(), env.flows()))
    eq(sorted(results), list(range(n)), "connections done")


def test_netns_direct_baseline():
    with Topo() as topo, Env(topo=topo) as env:
        before = topo.snmp("balancer")["Ip"]["ForwDatagrams"]
        with env.connect_backend(1, timeout=30) as c:
            r = c.get("/bytes/%d" % MiB)
            eq((r.status, r.header("X-Backend"), len(r.body)), (200, "WAS1", MiB),
               "status, member, length")
            check_pattern(r.body, "1 MiB straight from WAS1")
        forwarded = topo.snmp("balancer")["Ip"]["ForwDatagrams"] - before
        check(forwarded > 20, "the balancer forwarded %d datagrams" % forwarded)
        eq(env.flows(), [], "kbal_flows (kbald was not in the way)")
        no_csum_errors(topo, "after the direct download")


def test_netns_sockmap_keepalive():
    with Topo(csum_offload=False) as topo, Env(topo=topo, conf=SOCKMAP_CONF) as env:
        with env.connect(timeout=30) as c:
            n = member_no(kbaltest.hand_over(c))
            for i in range(20):
                r = c.get("/ka%d" % i)
                eq((r.status, r.text), (200, "backend=WAS%d path=/ka%d\n" % (n, i)),
                   "keep-alive request %d" % i)
            flows = env.flows()
            eq([f["state"] for _, f in flows], [FLOW_SPLICED], "flow states")
            before = env.stats()["redirected_bytes"]
            r = c.get("/bytes/%d" % (4 * MiB))
            eq((r.status, len(r.body)), (200, 4 * MiB), "download status, length")
            check_pattern(r.body, "4 MiB spliced download")
            body = os.urandom(2 * MiB)
            c.request("POST", "/up", body=body)
            r = c.read_response()
            eq((r.status, r.text), (200, crc_line(body)), "2 MiB spliced upload")
            moved = env.stats()["redirected_bytes"] - before
            check(moved >= 6 * MiB, "redirected in the kernel: %d bytes" % moved)
            # the first request, which kbald served itself, may have
            # gone to either; everything from the second on to n
            eq(len(env.backend_log(n)) + len(env.backend_log(3 - n)), 24, "requests in all")
            check(len(env.backend_log(3 - n)) <= 1, "requests at the other member: %r"
                  % env.backend_log(3 - n))
        wait_until(lambda: env.flows() == [], 5.0, "kbal_flows to be empty")
        no_csum_errors(topo, "after the spliced transfers")


def test_netns_sockmap_netem():
    with Topo(csum_offload=False) as topo, Env(topo=topo, conf=SOCKMAP_CONF) as env:
        for host in HOSTS:
            topo.netem(host, NETEM_HOST)
            topo.netem("bal-" + host, NETEM_BAL)
        retrans0 = sum(topo.tcp_counters(h)["RetransSegs"] for h in HOSTS + ("balancer",))
        before = env.stats()["redirected_bytes"]
        sessions_at_once(env, 4, "c")
        moved = env.stats()["redirected_bytes"] - before
        check(moved >= 4 * 6 * MiB, "redirected in the kernel: %d bytes" % moved)
        retrans = sum(topo.tcp_counters(h)["RetransSegs"] for h in HOSTS + ("balancer",)) \
            - retrans0
        check(retrans > 0, "no segment retransmitted: was anything lost?\n%s"
              % topo.netem_stats("client"))
        topo.clear_netem()
        wait_until(lambda: env.flows() == [], 10.0, "kbal_flows to be empty")
        no_csum_errors(topo, "after the transfers under netem")


# ---- the packet path between real interfaces ----------------------------------

PATH_SOCKMAP, PATH_PACKET = 1, 3
WHY_MSS = 6


def packet_env(topo, kbald_args=()):
    """Apache's example with one member: the packet path joins keep-alive
    connections only where every later request is decided alike"""
    from kbaltest import EXAMPLE_CONF
    return Env(topo=topo, conf=kbaltest.packet_alike(EXAMPLE_CONF), kbald_args=kbald_args)


def test_netns_packet_keepalive():
    """Joined across veths: the program at the balancer's ingress rewrites
    and sends each packet out of the other leg's interface; full checksums
    (no offload) are verified by the client and the members. The handover
    comes before the first response is written: the program learns the
    client's clock and interface from that response's first packet."""
    with Topo(csum_offload=False) as topo, packet_env(topo, ["-v"]) as env:
        with env.connect(timeout=30) as c:
            n = member_no(kbaltest.hand_over(c))
            wait_until(lambda: [f for _, f in env.flows() if f["path"] == PATH_PACKET], 2.0,
                       "the flow on the packet path")
            for i in range(20):
                r = c.get("/ka%d" % i)
                eq((r.status, r.text), (200, "backend=WAS%d path=/ka%d\n" % (n, i)),
                   "keep-alive request %d" % i)
            r = c.get("/bytes/%d" % (4 * MiB))
            eq((r.status, len(r.body)), (200, 4 * MiB), "download status, length")
            check_pattern(r.body, "4 MiB joined download")
            body = os.urandom(2 * MiB)
            c.request("POST", "/up", body=body)
            r = c.read_response()
            eq((r.status, r.text), (200, crc_line(body)), "2 MiB joined upload")
        st = env.stats()
        check(st["pkt_rewritten"] > 1000, "packets rewritten: %r" % st)
        eq((st["redirected_bytes"], st["pkt_unparsed"]), (0, 0),
           "bytes through sockmap, packets not understood")
        check("joined packet by packet, before the response" in env.kbald_stderr(),
              "the handover before the first response")
        attached = [l for l in env.kbald_stderr().splitlines() if "attached to" in l]
        check(len(attached) >= 3, "attached to lo and the two veths it uses: %r" % attached)
        wait_until(lambda: env.flows() == [] and env.bpftool_dump("kbal_pkt") == [], 5.0,
                   "no flow and no kbal_pkt entry after the client closed")
        no_csum_errors(topo, "after the joined transfers")


def test_netns_packet_stop_resets_both_peers():
    """kbald stopping ends a joined flow across the veths at once: each peer
    gets a probe from kbald's address, answers it, and the balancer's stack
    resets it (no socket holds the 4-tuple any more)."""
    with Topo(csum_offload=False) as topo, packet_env(topo) as env:
        c = env.connect(timeout=5)
        n = member_no(kbaltest.hand_over(c))
        wait_until(lambda: [f for _, f in env.flows() if f["path"] == PATH_PACKET], 2.0,
                   "the flow on the packet path")
        eq(c.get("/two").status, 200, "a request on the joined flow")
        lport = env.flows()[0][1]["member_lport"]
        member = "member%d" % n

        def member_has_it():
            out = topo.sh(member, "ss", "-tnH", "state", "established",
                          "( dport = :%d )" % lport)
            return bool(out.strip())
        check(member_has_it(), "the member's connection before the stop")
        time.sleep(0.5)   # quiet: no delayed ACK left to meet no socket after the stop
        env.stop_kbald()
        eq(c.what_arrives(3.0), "reset", "what the idle client got when kbald stopped")
        c.close()
        wait_until(lambda: not member_has_it(), 3.0, "the member's connection to end")
        no_csum_errors(topo, "after the probes")
        env._start_kbald()   # for the Env's own stop


def test_netns_packet_restart_in_place():
    """A restart in place (SIGHUP) with a flow joined across the veths: the
    new image takes the program's links on lo and on both veths (ingress
    and egress), puts its program in each, and the flow goes on."""
    import signal

    with Topo(csum_offload=False) as topo, packet_env(topo) as env:
        with env.connect(timeout=30) as c:
            n = member_no(kbaltest.hand_over(c))
            wait_until(lambda: [f for _, f in env.flows() if f["path"] == PATH_PACKET], 2.0,
                       "the flow on the packet path")
            eq(c.get("/two").status, 200, "a request on the joined flow")
            links = kbaltest.tcx_links(env.kbald.pid)
            check(len(links) >= 5, "links on lo and on two veths both ways: %r" % links)
            pid = env.kbald.pid
            os.kill(pid, signal.SIGHUP)
            wait_until(lambda: "restarted:" in env.kbald_stderr(), 10.0, "the new image")
            eq(env.kbald.pid, pid, "kbald's PID")
            after = kbaltest.tcx_links(env.kbald.pid)
            eq(sorted(after), sorted(links), "the same links")
            check(all(after[l] != links[l] for l in links), "each runs the new program")
            for i in range(5):
                r = c.get("/after%d" % i)
                eq((r.status, r.text), (200, "backend=WAS%d path=/after%d\n" % (n, i)),
                   "request %d after the restart" % i)
            r = c.get("/bytes/%d" % (2 * MiB))
            check_pattern(r.body, "2 MiB across the veths after the restart")
        wait_until(lambda: env.flows() == [] and env.bpftool_dump("kbal_pkt") == [], 5.0,
                   "no flow left")
        no_csum_errors(topo, "after the restart")


def test_netns_packet_netem():
    """Loss, duplication and reordering on every link, from the first
    packet on: the handovers happen under loss (a lost end of the first
    response is retransmitted by kbald's socket, HOLD), and the joined
    flows recover by the peers' own retransmissions."""
    with Topo(csum_offload=False) as topo, packet_env(topo) as env:
        for host in HOSTS:
            topo.netem(host, NETEM_HOST)
            topo.netem("bal-" + host, NETEM_BAL)
        retrans0 = sum(topo.tcp_counters(h)["RetransSegs"] for h in HOSTS)
        sessions_at_once(env, 6, "p", down=2 * MiB, up=MiB, dump=lambda: "kbal_pkt: %r" % (
            [(e["formatted"]["key"], e["formatted"]["value"])
             for e in env.bpftool_dump("kbal_pkt")],))
        st = env.stats()
        check(st["pkt_rewritten"] > 1000, "packets rewritten: %r" % st)
        eq(st["pkt_unparsed"], 0, "packets not understood")
        retrans = sum(topo.tcp_counters(h)["RetransSegs"] for h in HOSTS) - retrans0
        check(retrans > 0, "no segment retransmitted by the peers: was anything lost?")
        topo.clear_netem()
        wait_until(lambda: env.flows() == [] and env.bpftool_dump("kbal_pkt") == [], 10.0,
                   "no flow and no kbal_pkt entry at the end")
        no_csum_errors(topo, "after the joined transfers under netem")
        # the members' counters count the streams' bytes: a retransmitted
        # byte (a few percent here) once; heads and small bodies are the rest
        ms = env.members().values()
        got_from = sum(int(m["bytes_from"]) for m in ms)
        got_to = sum(int(m["bytes_to"]) for m in ms)
        check(6 * 2 * MiB <= got_from < 6 * 2 * MiB + 128 * 1024,
              "bytes from the members %d for 6 x 2 MiB down" % got_from)
        check(6 * MiB <= got_to < 6 * MiB + 128 * 1024,
              "bytes to the members %d for 6 x 1 MiB up" % got_to)


def test_netns_packet_mss_mismatch_stays_on_sockmap():
    """A client link with a smaller MTU: the member's segments (MSS 1460,
    as kbald advertised) would not fit the client's (1360): not joined,
    and the flow map says why."""
    with Topo() as topo, packet_env(topo) as env:
        topo.sh("client", "ip", "link", "set", "dev", topo.dev["client"], "mtu", "1400")
        from kbaltest import _run_cmd
        _run_cmd(["ip", "link", "set", "dev", topo.bal_dev["client"], "mtu", "1400"])
        with env.connect(timeout=30) as c:
            kbaltest.hand_over(c)
            wait_until(lambda: [f for _, f in env.flows() if f["state"] == FLOW_SPLICED], 2.0,
                       "the flow handed over")
            eq([(f["path"], f["why"]) for _, f in env.flows()], [(PATH_SOCKMAP, WHY_MSS)],
               "path and why of the flow")
            r = c.get("/bytes/%d" % MiB)
            check_pattern(r.body, "1 MiB on sockmap")
        out = env.kbalctl("flows")
        eq(env.stats()["pkt_rewritten"], 0, "packets rewritten")
        check("mss" in out or out.strip().endswith("0 flow(s)"), "kbalctl flows: %r" % out)


def test_netns_manager_names_the_path_keep_alive_connections_take():
    """On a host with a KbalHost id (10.77.1.1, the balancer's own address
    here) the packet program keeps no client socket for kbald and decides no
    request: the default (KbalSplice unset) joins no keep-alive connection,
    which takes sockmap, framed, however alike the configuration routes its
    later requests; KbalSplice packet, asked for by name, joins it there.
    The manager's Splice column names the path the connections really take
    (it said "packet (default)" for the first). The manager is on another
    address (127.0.0.1, a <VirtualHost> of its own), where its <Location>
    and its rule are not the joined connections' (packet_alike())."""
    manager = ("KbalHost 1 {listen_addr}\nListen 127.0.0.1:{b4}\n<VirtualHost 127.0.0.1:{b4}>\n"
               "<Location /balancer-manager>\n    ProxyPass !\n"
               "    SetHandler balancer-manager\n</Location>\n</VirtualHost>\n")
    alike = kbaltest.packet_alike(EXAMPLE_CONF)
    for conf, label, path in ((alike.replace("KbalSplice packet\n", ""),
                               "packet (keep-alive: sockmap, each request decided)", PATH_SOCKMAP),
                              (alike, "packet", PATH_PACKET)):
        with Topo() as topo, Env(topo=topo, conf=conf + "\n" + manager, backends=(1,)) as env:
            with kbaltest.Conn(env.ports["b4"], host="127.0.0.1") as m:
                r = m.get("/balancer-manager")
            eq(r.status, 200, "the manager on its own address")
            check("<td>%s</td>" % label in r.text,
                  "Splice column, want %r: %r" % (label, re.findall(r"<td>(packet[^<]*)</td>", r.text)))
            with env.connect(timeout=10) as c:
                kbaltest.hand_over(c)
                for i in range(3):
                    eq(c.get("/ka%d" % i).status, 200, "keep-alive request %d" % i)
                eq([f["path"] for _, f in env.flows()], [path], "the flow's path (%s)" % label)
