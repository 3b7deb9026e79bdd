# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Retransmitted segments that overlap bytes already received, on a spliced
connection, sent deterministically by a fake client that writes raw frames
into a veth (its namespace has no IP stack on it). The kernel queues such a
segment whole; the verdict-only sockmap path (tcp_read_skb) redirected its
old head again and the member got those bytes twice. kbald's stream parser
must carry every byte exactly once (docs/design.md)."""

import ctypes
import os
import select
import socket
import struct
import subprocess
import time
import zlib

from kbaltest import (EXAMPLE_CONF, Env, FLOW_SPLICED, check, eq, wait_until,
                      kernel_keeps_unrouted)

# the POST (no cookie) stays in the kernel (kbaltest.kernel_keeps_unrouted),
# framed by the stream parser from the overlapping segments' offsets
CONF = kernel_keeps_unrouted(EXAMPLE_CONF.replace("Listen 127.0.0.1:{listen}",
                                                 "Listen 0.0.0.0:{listen}"))
BAL, FAKE = "10.99.0.1", "10.99.0.2"
CLONE_NEWNET = 0x40000000


def _sh(*argv, check_rc=True):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    if check_rc and p.returncode:
        raise AssertionError("%s: %s" % (" ".join(argv), p.stdout.decode().strip()))
    return p.stdout.decode()


def _csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


class FakeClient:
    """One TCP connection from FAKE:40000, spoken in raw frames."""

    SPORT = 40000

    def __init__(self, ns, dport):
        libc = ctypes.CDLL(None, use_errno=True)
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        there = os.open("/run/netns/" + ns, os.O_RDONLY)
        try:
            check(libc.setns(there, CLONE_NEWNET) == 0, "setns into %s" % ns)
            try:
                self.raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
                self.raw.bind(("kbof0", 0x0800))
            finally:
                check(libc.setns(home, CLONE_NEWNET) == 0, "setns back")
        finally:
            os.close(home)
            os.close(there)
        self.dport = dport
        self.src, self.dst = socket.inet_aton(FAKE), socket.inet_aton(BAL)
        self.macs = b""
        self.ipid = 1
        self.seq = 1000000           # our ISN
        self.ack = 0

    def frame(self, seq, flags, payload=b"", opts=b""):
        tcp = struct.pack("!HHIIBBHHH", self.SPORT, self.dport, seq & 0xffffffff,
                          self.ack & 0xffffffff, ((20 + len(opts)) // 4) << 4, flags, 65535,
                          0, 0) + opts + payload
        c = _csum(self.src + self.dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)
        tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), self.ipid, 0x4000, 64, 6, 0,
                         self.src, self.dst)
        self.ipid += 1
        ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
        self.raw.send(self.macs + b"\x08\x00" + ip + tcp)

    def recv(self, timeout=2.0):
        """The next TCP segment from kbald to us: (seq, flags, payload), or None."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r, _, _ = select.select([self.raw], [], [], max(0.0, end - time.monotonic()))
            if not r:
                break
            f = self.raw.recv(65535)
            ip = f[14:]
            if ip[9] != 6 or ip[12:16] != self.dst:
                continue
            ihl = (ip[0] & 15) * 4
            sp, dp, seq, _ack, off, flags = struct.unpack("!HHIIBB", ip[ihl:ihl + 14])
            if sp != self.dport or dp != self.SPORT:
                continue
            total = struct.unpack("!H", ip[2:4])[0]
            return seq, flags, ip[ihl + (off >> 4) * 4:total]
        return None

    def handshake(self):
        self.frame(self.seq, 0x02, opts=struct.pack("!BBH", 2, 4, 1460))
        seg = self.recv()
        check(seg and seg[1] & 0x12 == 0x12, "no SYN-ACK from kbald: %r" % (seg,))
        self.seq += 1
        self.ack = seg[0] + 1
        self.frame(self.seq, 0x10)

    def send(self, data, lo, hi):
        """data[lo:hi] at its place in the stream after self.seq."""
        self.frame(self.seq + lo, 0x18, data[lo:hi])

    def response(self, timeout=5.0):
        """Read one HTTP response (Content-Length framed), acking it."""
        buf = b""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            seg = self.recv(max(0.0, end - time.monotonic()))
            if seg is None:
                break
            seq, _flags, payload = seg
            if payload and seq == self.ack:
                buf += payload
                self.ack += len(payload)
                self.frame(self.seq, 0x10)
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                n = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
                     if l.lower().startswith(b"content-length:")]
                if n and len(body) >= n[0]:
                    return head.split(b"\r\n")[0].decode(), body[:n[0]]
        raise AssertionError("no whole response from kbald: %r" % buf[:200])


def _overlapping(plan_name, plan):
    ns = "kbo%d" % os.getpid()
    _sh("ip", "netns", "add", ns)
    try:
        _sh("ip", "link", "add", "kbob0", "type", "veth", "peer", "name", "kbof0", "netns", ns)
        _sh("ip", "addr", "add", BAL + "/24", "dev", "kbob0")
        _sh("ip", "link", "set", "kbob0", "up")
        _sh("nsenter", "--net=/run/netns/" + ns, "ip", "link", "set", "kbof0", "up")
        # every frame as written: no offload merging or splitting
        _sh("ethtool", "-K", "kbob0", "tx", "off", "gro", "off", check_rc=False)
        bmac = _sh("ip", "-br", "link", "show", "kbob0").split()[2]
        fmac = _sh("nsenter", "--net=/run/netns/" + ns, "ip", "-br", "link", "show",
                   "kbof0").split()[2]
        _sh("ip", "neigh", "replace", FAKE, "lladdr", fmac, "dev", "kbob0", "nud", "permanent")
        with Env(conf=CONF) as env:
            fc = FakeClient(ns, env.port)
            fc.macs = bytes.fromhex(bmac.replace(":", "")) + bytes.fromhex(fmac.replace(":", ""))
            fc.handshake()
            # kbald serves the first request itself and hands the
            # connection over at the second
            for path in (b"/first", b"/second"):
                first = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n"
                fc.send(first, 0, len(first))
                status, _ = fc.response()
                eq(status, "HTTP/1.1 200 OK", "response to " + path.decode())
                fc.seq += len(first)
            wait_until(lambda: [f for _, f in env.flows() if f["state"] == FLOW_SPLICED], 3.0,
                       "the connection spliced")
            body = bytes((i * 7 + (i >> 8)) & 0xff for i in range(3000))
            req = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n" + body
            for lo, hi in plan(len(req)):
                fc.send(req, lo, hi)
                time.sleep(0.1)
            status, text = fc.response()
            eq((status, text.decode(errors="replace")),
               ("HTTP/1.1 200 OK", "len=3000 crc32=%08x\n" % (zlib.crc32(body) & 0xffffffff)),
               "the POST as the member got it, after %s segments" % plan_name)
            check(env.stats()["redirected_bytes"] >= len(req) - 100,
                  "the POST went through sockmap: %r" % env.stats())
    finally:
        _sh("ip", "netns", "del", ns, check_rc=False)
        _sh("ip", "link", "del", "kbob0", check_rc=False)


def test_overlap_in_order():
    # [0,1000) then [500,1500): its first 500 bytes were received already
    _overlapping("in-order overlapping",
                 lambda n: [(0, 1000), (500, 1500), (1500, 2000), (2000, n)])


def test_overlap_after_out_of_order():
    # [1500,2000) ahead of time, then [1000,1600) fills the hole and overlaps it
    _overlapping("out-of-order overlapping",
                 lambda n: [(0, 1000), (1500, 2000), (1000, 1600), (2000, n)])
