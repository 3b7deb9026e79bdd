# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""kbal-backend (tools/backend/) on its own: every other test trusts what it answers,
so its endpoints are checked here first, with no kbald in between."""

import os
import threading
import time

from kbaltest import (Env, build_request, check, check_pattern, chunked, crc_line,
                      echo_check, eq, wait_until, ws_upgrade, WS_ACCEPT)


def backend():
    return Env(backends=(1,), kbald=False)


def test_backend_default_and_log():
    with backend() as env, env.connect_backend(1) as c:
        r = c.get("/hello?x=1")
        eq(r.status, 200, "status")
        eq(r.header("X-Backend"), "WAS1", "X-Backend")
        eq(r.header("Content-Type"), "text/plain", "Content-Type")
        eq(r.text, "backend=WAS1 path=/hello?x=1\n", "body")
        c.request("HEAD", "/h")
        r = c.read_response(method="HEAD")
        eq((r.status, r.header("Content-Length"), r.body), (200, "21", b""), "HEAD")
        eq(env.backend_log(1), ["GET /hello?x=1", "HEAD /h"], "log")


def test_backend_date_server_and_x_omit():
    """Date and Server first, as a web server sends them, on every final
    answer (the kernel keeps only such answers), but those X-Omit names"""
    with backend() as env, env.connect_backend(1) as c:
        for path in ("/x", "/status/404", "/redirect", "/cookies"):
            r = c.get(path)
            eq([k for k, _ in r.headers][:3], ["Date", "Server", "X-Backend"], path)
            eq(r.header("Server"), "kbal-backend", "%s: Server" % path)
            check(r.header("Date").endswith(" GMT"), "%s: Date %r" % (path, r.header("Date")))
        for omit, want in (("date", ["Server", "X-Backend"]), ("Server", ["Date", "X-Backend"]),
                           ("date, server", ["X-Backend"])):
            r = c.get("/x", headers=[("X-Omit", omit)])
            eq([k for k, _ in r.headers][:len(want)], want, "X-Omit: %s" % omit)
            eq([k for k in ("Date", "Server") if r.header(k) is not None], want[:-1],
               "X-Omit: %s: what is left" % omit)
        eq([k for k, _ in c.get("/x").headers][:2], ["Date", "Server"], "the next request's")


def test_backend_echo_headers_exact():
    with backend() as env, env.connect_backend(1) as c:
        raw = (b"GET /echo-headers HTTP/1.1\r\nHost: example.test:8080\r\n"
               b"X-Mixed-Case:  two spaces \r\nCookie: a=b\r\n\r\n")
        c.send(raw)
        eq(c.read_response().body, raw, "echoed head")


def test_backend_bytes_pattern():
    with backend() as env, env.connect_backend(1, timeout=30) as c:
        for n in (0, 1, 8191, 8193, (2 << 20) + 5):
            r = c.get("/bytes/%d" % n)
            eq((r.status, len(r.body)), (200, n), "/bytes/%d" % n)
            check_pattern(r.body, "/bytes/%d" % n)
        r = c.get("/bytes/%d" % (64 << 20))
        eq(len(r.body), 64 << 20, "64 MiB length")
        check_pattern(r.body, "64 MiB body")
        c.request("HEAD", "/bytes/%d" % (1 << 34))
        r = c.read_response(method="HEAD")
        eq(r.header("Content-Length"), str(1 << 34), "HEAD /bytes/2^34")
        eq(c.get("/after").status, 200, "keep-alive after large bodies")


def test_backend_bodies_crc():
    with backend() as env, env.connect_backend(1, timeout=30) as c:
        for body in (b"", b"x", os.urandom(100000), os.urandom(64 << 20)):
            c.request("POST", "/up", body=body)
            eq(c.read_response().text, crc_line(body), "crc of %d bytes" % len(body))
        body = os.urandom((1 << 20) + 17)
        c.request("PUT", "/chunked", [("Transfer-Encoding", "chunked")], chunked(body))
        eq(c.read_response().text, crc_line(body), "chunked crc")


def test_backend_expect_100():
    body = os.urandom(300000)
    with backend() as env, env.connect_backend(1) as c:
        c.request("POST", "/e", [("Expect", "100-continue"),
                                 ("Content-Length", str(len(body)))])
        eq(c.read_response(interim=True).status, 100, "interim before the body")
        c.send(body)
        r = c.read_response()
        eq((r.status, r.text), (200, crc_line(body)), "final response")


def test_backend_redirect_and_close():
    with backend() as env:
        with env.connect_backend(1) as c:
            r = c.get("/redirect")
            eq(r.status, 302, "status")
            eq(r.header("Location"), "http://127.0.0.1:%d/landing" % env.ports["b1"], "Location")
            r = c.get("/close")
            eq((r.status, r.header("Connection")), (200, "close"), "/close")
            eq(r.text, "backend=WAS1 path=/close\n", "/close body")
            check(c.at_eof(2.0), "no EOF after /close")
        with env.connect_backend(1) as c:
            r = c.get("/x", headers=[("Connection", "close")])
            eq(r.header("Connection"), "close", "Connection: close echoed")
            check(c.at_eof(2.0), "no EOF after Connection: close")
        with env.connect_backend(1) as c:
            c.request("GET", "/ten", version="HTTP/1.0")
            r = c.read_response()
            eq(r.status, 200, "HTTP/1.0")
            check(c.at_eof(2.0), "no EOF after HTTP/1.0")


def test_backend_pipelining():
    with backend() as env, env.connect_backend(1) as c:
        c.send(b"".join(build_request("GET", p, host="x")
                        for p in ("/p1", "/bytes/1000000", "/p3")))
        r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
        eq(r1.text, "backend=WAS1 path=/p1\n", "first")
        check_pattern(r2.body, "second")
        eq(len(r2.body), 1000000, "second length")
        eq(r3.text, "backend=WAS1 path=/p3\n", "third")
        check(c.idle(0.3), "bytes after the third response")
        eq(env.backend_log(1), ["GET /p1", "GET /bytes/1000000", "GET /p3"], "log")


def test_backend_websocket_echo():
    with backend() as env, env.connect_backend(1) as c:
        r = ws_upgrade(c)
        eq(r.status, 101, "status")
        eq(r.header("Sec-WebSocket-Accept"), WS_ACCEPT, "accept key")
        echo_check(c, os.urandom(1 << 20))


def test_backend_bad_requests():
    with backend() as env:
        for raw in (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
                    b"NOT HTTP\r\n\r\n"):
            with env.connect_backend(1) as c:
                c.send(raw)
                eq(c.read_response().status, 400, "status for %r" % raw)
                check(c.at_eof(2.0), "no EOF after 400 for %r" % raw)
        eq(env.backend_log(1), [], "bad requests logged")


def test_backend_slow_head_does_not_stall():
    with backend() as env:
        done = {}

        def slow():
            with env.connect_backend(1) as c:
                done["status"] = c.get("/slow-head").status
                done["at"] = time.monotonic()

        t0 = time.monotonic()
        t = threading.Thread(target=slow, daemon=True)
        t.start()
        wait_until(lambda: "GET /slow-head" in env.backend_log(1), 2.0, "the slow request")
        for i in range(20):
            with env.connect_backend(1) as c:
                eq(c.get("/f%d" % i).status, 200, "fast request")
        fast = time.monotonic()
        t.join(5)
        eq(done.get("status"), 200, "slow request")
        check(fast < done["at"], "fast requests waited for the slow one")
        check(done["at"] - t0 >= 0.3, "slow-head answered before 300 ms")


def test_backend_answers_a_half_closed_request_and_closes():
    # A client that half-closes behind its request (Apache answers it) must
    # get the answer and then the EOF: the FIN may come with the request,
    # and no later event says so. Seen on a fresh backend's first
    # connection (2 in 6 hung in CLOSE-WAIT before the fix): five fresh ones.
    import socket
    for i in range(5):
        with backend() as env, env.connect_backend(1, timeout=5) as c:
            c.send(b"GET /bytes/100000 HTTP/1.1\r\nHost: x\r\n\r\n")
            c.sock.shutdown(socket.SHUT_WR)
            r = c.read_response()
            eq((r.status, len(r.body)), (200, 100000), "answer %d" % i)
            check(c.at_eof(2.0), "no EOF after the answer to a half-closed request (%d)" % i)


def test_backend_proxy_protocol():
    # --proxy-protocol: the header (v1 or v2, in any pieces) comes first; a
    # connection without one gets a 400; without the option, /proxy-client
    # says none
    v2 = (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + bytes([10, 1, 2, 3, 127, 0, 0, 1]) +
          (51234).to_bytes(2, "big") + (80).to_bytes(2, "big"))
    with Env(backends=(1,), kbald=False, backend_args={1: ("--proxy-protocol",)}) as env:
        for what, head, pieces in (("v1", b"PROXY TCP4 10.1.2.3 127.0.0.1 51234 80\r\n", 1),
                                   ("v1 in pieces", b"PROXY TCP4 10.1.2.3 127.0.0.1 51234 80\r\n", 7),
                                   ("v2", v2, 1), ("v2 in pieces", v2, 5)):
            with env.connect_backend(1) as c:
                step = -(-len(head) // pieces)
                for k in range(0, len(head), step):
                    c.send(head[k:k + step])
                    time.sleep(0.02)
                for _ in range(2):
                    r = c.get("/proxy-client")
                    eq((r.status, r.text), (200, "proxy=10.1.2.3:51234\n"), what)
        for what, head in (("none", b""), ("TCP6", b"PROXY TCP6 ::1 ::1 1 2\r\n"),
                           ("v2, version 1", v2[:12] + b"\x11" + v2[13:])):
            with env.connect_backend(1) as c:
                c.send(head + build_request("GET", "/proxy-client"))
                eq(c.read_response().status, 400, "a connection with %s header" % what)
        check(all(l.endswith(" proxy=10.1.2.3:51234") for l in env.backend_log(1)),
              "log lines: %r" % env.backend_log(1))
    with backend() as env, env.connect_backend(1) as c:
        eq(c.get("/proxy-client").text, "proxy=none\n", "without --proxy-protocol")
