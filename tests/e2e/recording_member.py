# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A member that records every byte of each request it gets, for the tests
that compare what kbal and Debian's apache2 send a member byte for byte
(kbal-backend parses with llhttp, which refuses methods it does not know)."""

import select
import socket
import threading
import time
from email.utils import formatdate

from kbaltest import HOST, eq


def stamps():
    """a web server's Date and Server lines, for an answer the kernel may
    pass as it is (one without either is handed back: kbald adds httpd's)"""
    return b"Date: %s\r\nServer: recording-member\r\n" % formatdate(usegmt=True).encode()


def end_of(buf, sep):
    """where buf's first sep ends, None without one"""
    i = buf.find(sep)
    return None if i < 0 else i + len(sep)


class RecordingMember:
    """A member on 127.0.0.1:port that keeps each request's bytes as it
    got them (head, then its body by Content-Length or chunked) and
    answers each with answer(head, n) (n: the requests it got so far),
    by default a 200 of its own length saying "member N"; a list of byte
    strings is sent part by part, 0.2 s apart, and closes the connection
    where it ends with None (an answer that ends at the close). interim(head), where given:
    what it sends once it has a head, before it reads the body (a 100
    Continue; None: nothing, and the answer at once, the body read after
    it, or the connection closed where the answer's head says
    "Connection: close")."""

    def __init__(self, port, answer=None, interim=None):
        self.got = []
        self.interim = interim
        self.late_sent = 0      # parts sent after a list's first
        self.answer = answer or (lambda head, n: b"HTTP/1.1 200 OK\r\nContent-Length: %d"
                                 b"\r\n\r\nmember %d" % (len(b"member %d" % n), n))
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

    def _recv(self, s, buf, need):
        """buf grown until need(buf) is not None; None at EOF or stop"""
        while (n := need(buf)) is None:
            if self.stop:
                return None, buf
            if not select.select([s], [], [], 0.1)[0]:
                continue
            data = s.recv(65536)
            if not data:
                return None, buf
            buf += data
        return n, buf

    def _serve(self, s):
        buf = b""
        try:
            while True:
                n, buf = self._recv(s, buf, lambda b: end_of(b, b"\r\n\r\n"))
                if n is None:
                    return
                head, buf = buf[:n], buf[n:]
                low = head.lower()
                answered = False
                if self.interim:
                    early = self.interim(head)
                    if early is None:
                        out = self.answer(head, len(self.got) + 1)
                        if b"\r\nconnection: close\r\n" in out.lower().split(b"\r\n\r\n")[0] + b"\r\n":
                            self.got.append(head)   # (kept before the client has the answer)
                            s.sendall(out)
                            return   # as it said (the body unread)
                        s.sendall(out)
                        answered = True   # the body read after it
                    else:
                        s.sendall(early)
                if b"transfer-encoding: chunked" in low:
                    body = b""
                    while True:
                        n, buf = self._recv(s, buf, lambda b: end_of(b, b"\r\n"))
                        if n is None:
                            return
                        size = int(buf[:n].split(b";")[0], 16)
                        n2, buf = self._recv(s, buf, lambda b, k=n + size + 2:
                                             k if len(b) >= k else None)
                        if n2 is None:
                            return
                        body, buf = body + buf[:n2], buf[n2:]
                        if size == 0:
                            break
                else:
                    cl = [int(ln.split(b":")[1]) for ln in low.split(b"\r\n")
                          if ln.startswith(b"content-length:")]
                    n, buf = self._recv(s, buf, lambda b, k=(cl or [0])[0]:
                                        k if len(b) >= k else None)
                    if n is None:
                        return
                    body, buf = buf[:n], buf[n:]
                self.got.append(head + body)
                if answered:
                    continue
                out = self.answer(head, len(self.got))
                # a list: its parts sent 0.2 s apart (a member's late bytes)
                for i, part in enumerate(out if isinstance(out, list) else [out]):
                    if part is None:
                        return
                    if i:
                        time.sleep(0.2)
                    s.sendall(part)
                    self.late_sent += i > 0
        except OSError:
            pass
        finally:
            s.close()


def requests_before(c, n, member, what):
    """n keep-alive requests on c (GET /k, Host proxy.example), each
    answered 200, so that what follows is a later request (the kernel's to
    carry); then member's record emptied"""
    for _ in range(n):
        c.send(b"GET /k HTTP/1.1\r\nHost: proxy.example\r\n\r\n")
        eq(c.read_response().status, 200, "a request before %s" % what)
    del member.got[:]
