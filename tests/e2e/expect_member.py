# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A member for the Expect: 100-continue tests (test_expect.py): for each
request it notes what it got before it said anything (the head, and any
body bytes sent with it: a proxy that holds the body until the member's
100 Continue sends none), then acts by the request's path:

  /c...   "100 Continue" (where a body is to come), then the body read,
          then 200
  /k...   a final 417 at once (HTTP/1.1, the connection kept), then the
          body read if one comes within a second
  /x...   a final 401 with "Connection: close" at once, the body unread
  /s...   nothing (silent until the proxy gives up), on the member whose
          silent flag is set; like /c on another

Each request's record: (member name, path, the Expect line it got, the
body bytes it had before it answered, the body it read after)."""

import select
import socket
import threading

from kbaltest import HOST

WAIT = 0.5   # how long the member listens for a body before it answers


class ExpectMember:
    def __init__(self, port, name, silent=False):
        self.name = name
        self.silent = silent
        self.got = []
        self.stop = False
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((HOST, port))
        self.ls.listen(64)
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.ls.close()
        for t in self.threads:
            t.join(5)
        return False

    def _accept(self):
        while not self.stop:
            try:
                if not select.select([self.ls], [], [], 0.1)[0]:
                    continue
                s, _ = self.ls.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(s,), daemon=True)
            self.threads.append(t)
            t.start()

    def _read(self, s, buf, until, timeout):
        """buf grown until until(buf) or timeout seconds pass; None at EOF"""
        waited = 0.0
        while not until(buf) and waited < timeout and not self.stop:
            if not select.select([s], [], [], 0.05)[0]:
                waited += 0.05
                continue
            data = s.recv(65536)
            if not data:
                return None
            buf += data
        return buf

    def _serve(self, s):
        buf = b""
        try:
            while not self.stop:
                buf = self._read(s, buf, lambda b: b"\r\n\r\n" in b, 1e9)
                if buf is None or b"\r\n\r\n" not in buf:
                    return
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                path = lines[0].split(b" ")[1].decode()
                low = [ln.lower() for ln in lines[1:]]
                expect = [ln for ln in lines[1:] if ln.lower().startswith(b"expect:")]
                cl = [int(ln.split(b":")[1]) for ln in low if ln.startswith(b"content-length:")]
                chunked = any(ln.startswith(b"transfer-encoding:") and b"chunked" in ln
                              for ln in low)

                def whole(b):
                    return (b.endswith(b"0\r\n\r\n") if chunked else
                            len(b) >= (cl or [0])[0])

                # what came with the head, before any answer
                early = self._read(s, buf, whole, WAIT)
                if early is None:
                    self.got.append((self.name, path, expect, buf, None))
                    return
                rec = [self.name, path, expect, early, b""]
                self.got.append(rec)
                kind = path[1]
                if kind in "sh" and self.silent:
                    self._read(s, early, lambda b: False, 30.0)   # until the proxy goes
                    return
                if kind == "g":
                    s.sendall(b"\x16\x03\x01 this is not HTTP \x00\xff\r\n\r\n")
                    return
                if kind == "r":
                    return
                if kind == "x":
                    s.sendall(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic "
                              b"realm=\"m\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                if kind == "k":
                    s.sendall(b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 4\r\n\r\nnope")
                    rest = self._read(s, early, whole, 1.0)
                    if rest is None:
                        return
                    rec[4], buf = rest[len(early):], b""
                    if not whole(rest):
                        return
                    continue
                if cl or chunked:
                    s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                rest = self._read(s, early, whole, 5.0)
                if rest is None or not whole(rest):
                    rec[4] = None if rest is None else rest[len(early):]
                    return
                rec[4], buf = rest[len(early):], b""
                body = b"%s %s" % (self.name.encode(), path.encode())
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except OSError:
            pass
        finally:
            s.close()
