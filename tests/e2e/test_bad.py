# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""Requests two parsers could frame differently never reach a member: once
spliced, the member frames the bytes on its own."""

import kbaltest
from kbaltest import Env, check, eq


def rejected(raw, conf=None, before=()):
    """raw gets a 400 and the connection's end, after the requests before
    (each answered 200 on the same connection); nothing of it reaches a
    member"""
    with Env(**({"conf": conf} if conf else {})) as env:
        with env.connect() as c:
            for p in before:
                eq(c.get(p).status, 200, "GET %s before" % p)
            seen = env.backend_log(1) + env.backend_log(2)
            c.send(raw)
            r = c.read_response()
            eq(r.status, 400, "status for %r" % raw)
            check(c.at_eof(2.0), "connection not closed after 400")
        eq(env.backend_log(1) + env.backend_log(2), seen, "requests that reached a member")


def test_bad_request_content_length_and_chunked():
    rejected(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")


def test_bad_request_space_before_colon():
    rejected(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")


def test_bad_request_invalid_chunk_size():
    # the head is fine: the error is in the body, which kbald checks before
    # anything of the request goes to the member
    rejected(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"5\r\nhello\r\nzz\r\nbad\r\n0\r\n\r\n")


def test_bad_request_two_content_lengths():
    rejected(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")


def test_bad_request_http11_without_host():
    rejected(b"GET / HTTP/1.1\r\nUser-Agent: t\r\n\r\n")


BAD_CHUNK = (b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"5\r\nhello\r\nzz\r\nbad\r\n0\r\n\r\n")


def test_bad_chunk_where_kbald_decides_every_request():
    # KbalSplice off: kbald forwards every request on a member connection
    # it keeps, and its 400 must end the client's connection all the same
    # (it waited for a FIN from the kept member connection: none came)
    off = kbaltest.EXAMPLE_CONF.replace("ProxyRequests Off", "ProxyRequests Off\nKbalSplice off")
    rejected(BAD_CHUNK, conf=off)
    rejected(BAD_CHUNK, conf=off, before=("/a", "/b", "/c"))
