# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""KbalSplice packet on loopback: after the first exchange the two TCP
connections are joined packet by packet by bpf/packet.bpf.c, kbald's
sockets frozen; every later byte must arrive exactly once, in order."""

import os
import socket
import struct
import time

from kbaltest import EXAMPLE_CONF, Env, check, check_pattern, crc_line, eq, wait_until

MiB = 1 << 20
PATH_SOCKMAP, PATH_PACKET = 1, 3
CONF = EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                            "ProxySet lbmethod=byrequests\nKbalSplice packet")


def pkt_entries(env):
    return env.bpftool_dump("kbal_pkt")


def joined(env, c):
    """The connection's flow took the packet path, and the kernel's sockmap
    carried nothing."""
    wait_until(lambda: [f for _, f in env.flows() if f["path"] == PATH_PACKET], 2.0,
               "a flow on the packet path")
    eq(len(pkt_entries(env)), 4, "kbal_pkt entries of one joined flow")


def all_gone(env, what):
    wait_until(lambda: env.flows() == [] and pkt_entries(env) == [], 4.0,
               "no flow and no kbal_pkt entry after " + what)


def test_packet_keepalive_byte_exact():
    with Env(conf=CONF) as env:
        with env.connect(timeout=30) as c:
            n = int(c.get("/first").header("X-Backend")[-1])
            joined(env, c)
            for i in range(30):
                r = c.get("/ka%d" % i)
                eq((r.status, r.text), (200, "backend=WAS%d path=/ka%d\n" % (n, i)), "request %d" % i)
            r = c.get("/bytes/%d" % (16 * MiB))
            eq(len(r.body), 16 * MiB, "16 MiB download")
            check_pattern(r.body, "16 MiB download on the packet path")
            body = os.urandom(8 * MiB + 3)
            c.request("POST", "/up", body=body)
            r = c.read_response()
            eq((r.status, r.text), (200, crc_line(body)), "8 MiB upload on the packet path")
            st = env.stats()
            check(st["pkt_rewritten"] > 100, "packets rewritten: %r" % st)
            eq(st["redirected_bytes"], 0, "bytes through sockmap")
            eq(st["pkt_unparsed"], 0, "packets not understood")
            eq(len(env.backend_log(n)), 33, "requests at WAS%d" % n)
        all_gone(env, "the client closed")


def test_packet_member_closes_first():
    with Env(conf=CONF) as env:
        with env.connect() as c:
            n = int(c.get("/").header("X-Backend")[-1])
            joined(env, c)
            r = c.get("/close")
            eq((r.status, r.text), (200, "backend=WAS%d path=/close\n" % n), "/close")
            check(c.at_eof(2.0), "no EOF after the member closed")
        all_gone(env, "the member closed")


def test_packet_client_reset():
    with Env(conf=CONF) as env:
        c = env.connect()
        c.get("/")
        joined(env, c)
        c.get("/two")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        all_gone(env, "the client's RST")
        eq(env.get("/after").status, 200, "a request after the reset")


def test_packet_many_connections():
    with Env(conf=CONF) as env:
        conns = []
        for i in range(60):
            c = env.connect()
            eq(c.get("/c%d" % i).status, 200, "first request of connection %d" % i)
            conns.append(c)
        wait_until(lambda: len([f for _, f in env.flows() if f["path"] == PATH_PACKET]) == 60,
                   5.0, "60 flows on the packet path")
        for rnd in range(3):
            for i, c in enumerate(conns):
                r = c.get("/r%d-%d" % (rnd, i))
                eq(r.status, 200, "request %d of connection %d" % (rnd, i))
                check(r.text.endswith("path=/r%d-%d\n" % (rnd, i)), "body %r" % r.text)
        for c in conns:
            c.close()
        all_gone(env, "60 clients closed")


def test_packet_path_not_for_busy_flows():
    # pipelined requests and a first request with a body stay on sockmap
    with Env(conf=CONF) as env:
        with env.connect() as c:
            c.send(b"GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\n")
            eq(c.read_response().status, 200, "pipelined 1")
            eq(c.read_response().status, 200, "pipelined 2")
            wait_until(lambda: [f["path"] for _, f in env.flows()] == [PATH_SOCKMAP], 2.0,
                       "the pipelined flow on sockmap")
        with env.connect() as c:
            c.request("POST", "/up", body=b"x" * 1000)
            eq(c.read_response().status, 200, "POST first")
            eq(c.get("/after").status, 200, "request after POST")
            eq([f["path"] for _, f in env.flows()], [PATH_SOCKMAP], "the POST flow's path")
        all_gone(env, "the sockmap flows closed")


def test_packet_after_a_large_first_response():
    # a first response bigger than kbald's buffer is still followed to its
    # end, and the flow joined after it
    with Env(conf=CONF) as env:
        with env.connect(timeout=30) as c:
            r = c.get("/bytes/%d" % MiB)
            eq(len(r.body), MiB, "1 MiB first response")
            check_pattern(r.body, "1 MiB first response")
            joined(env, c)
            r = c.get("/bytes/%d" % (4 * MiB))
            check_pattern(r.body, "4 MiB on the packet path")
            eq(env.stats()["redirected_bytes"], 0, "bytes through sockmap")
        all_gone(env, "the client closed")


def test_packet_leaves_lo_as_it_found_it():
    import subprocess

    def tc(*args):
        return subprocess.run(["tc"] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT).stdout.decode()
    # without a qdisc: kbald makes one and takes it away
    with Env(conf=CONF) as env:
        check("clsact" in tc("qdisc", "show", "dev", "lo"), "no clsact while kbald runs")
        eq(env.get("/").status, 200, "a request")
    check("clsact" not in tc("qdisc", "show", "dev", "lo"), "clsact left on lo")
    # with someone else's qdisc: only kbald's filter goes
    tc("qdisc", "add", "dev", "lo", "clsact")
    try:
        with Env(conf=CONF) as env:
            check(tc("filter", "show", "dev", "lo", "egress").strip(), "no filter while kbald runs")
        check("clsact" in tc("qdisc", "show", "dev", "lo"), "someone else's clsact removed")
        eq(tc("filter", "show", "dev", "lo", "egress").strip(), "", "kbald's filter left on lo")
    finally:
        tc("qdisc", "del", "dev", "lo", "clsact")
