# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A member's answer without Date or without Server (issue 17), side by side
with Debian's apache2: httpd's basic_http_header() keeps a proxied answer's
own Date and Server and writes its own where the member sent none (the time
now; the banner ServerTokens says), each right after the status line (a
member's dates, and Date and Server sent elsewhere: test_member_dates.py). kbald
does so on the answers it copies; on a sticky keep-alive connection whose
requests the kernel keeps (KbalSplice sockmap), once kbald saw an answer of
the connection lacking either, the kernel adds them to the later ones as
they are sent to the client (an sk_msg program: bpf/stamp.bpf.h), and
keeps them. kbal-backend sends both unless the request's X-Omit names them;
a recording member answers as application servers do (Date among the last
lines, no Server: Go's net/http, Tomcat)."""

import contextlib
import email.utils
import os
import re
import signal
import time
from email.utils import formatdate

from apache import apache_beside
from kbaltest import (EXAMPLE_CONF, Conn, Env, build_request, check, chunked, eq, pattern,
                      wait_until)
from recording_member import RecordingMember
from test_own_heads import check_date, kbal_version

CONF = EXAMPLE_CONF.replace("ProxySet lbmethod=byrequests",
                            "ProxySet lbmethod=byrequests\nKbalSplice sockmap")
COOKIE = "ROUTEID=route.1"
MEMBER = "kbal-backend"

# (path, what the member leaves out) in turn on one connection: the first
# request kbald copies, the later ones the kernel keeps (their answers
# handed back where one lacks a line)
STEPS = [
    ("/a", "date, server"),
    ("/b", ""),
    ("/c", ""),
    ("/d", "date, server"),
    ("/e", "date"),
    ("/f", "server"),
    ("/g", ""),
]


def asked(port, env=None):
    """[(names of the answer's lines in order, Date, Server, sk_kept and
    sk_back after it (kbald's; None for Apache))] of each STEP"""
    out = []
    with Conn(port, timeout=10) as c:
        for path, omit in STEPS:
            r = c.get(path, cookie=COOKIE, headers=[("X-Omit", omit)] if omit else [])
            eq((r.status, r.header("X-Backend")), (200, "WAS1"), "%s: the route's member" % path)
            st = env.stats() if env else None
            out.append(([k for k, _ in r.headers], r.header("Date"), r.header("Server"),
                        st and st["kept"], st and st["back"], st and st["sk_stamped"]))
    return out


def check_as_apache(tokens, banner, apache_says):
    conf = CONF.replace("ProxyRequests Off", "ProxyRequests Off\nServerTokens %s" % tokens)
    with Env(conf=conf) as env, apache_beside(env) as aport:
        theirs = asked(aport)
        ours = asked(env.port, env)
    for (path, omit), t, o in zip(STEPS, theirs, ours):
        what = "%s (X-Omit: %s)" % (path, omit)
        eq(t[0][:2], ["Date", "Server"], "Apache's %s: Date and Server first (the test's "
           "expectation)" % what)
        check(apache_says(t[2]) if "server" in omit else t[2] == MEMBER,
              "Apache's %s: Server %r (the test's expectation)" % (what, t[2]))
        eq(o[0], t[0], "kbal's %s against Apache's: its lines" % what)
        eq(o[2], banner if "server" in omit else MEMBER, "kbal's %s: Server" % what)
        check_date(o[1], "kbal's %s" % what)
    # the kernel kept requests after the first (kbald copies the first,
    # and may serve the second on the member connection it kept), /d's
    # among them, and kept its answer too, without Date and Server: the
    # first answer lacked them, so the kernel adds them on this
    # connection; /e's and /f's as well
    eq(ours[2][3] >= 1, True, "the kernel kept /b or /c: sk_kept %d" % ours[2][3])
    eq(ours[3][3] > ours[2][3], True, "the kernel kept /d's request: sk_kept %d" % ours[3][3])
    eq(ours[5][4] - ours[2][4], 0, "answers of /d, /e, /f handed back: sk_back")
    eq(ours[5][5] - ours[2][5], 3, "answers the kernel gave Date and Server: sk_stamped")

def test_member_without_date_or_server_as_apache():
    check_as_apache("Full", "kbal/%s (Linux)" % kbal_version(),
                    lambda s: s is not None and s.startswith("Apache/2.4."))


def test_member_without_date_or_server_server_tokens_prod():
    check_as_apache("Prod", "kbal", lambda s: s == "Apache")


# ------------------------------------------------- a member without Server

BIG = 1 << 20


def app_answer(sent):
    """A member's answers as application servers write them, by the
    request's path: no Server, Date among the last lines (Go's net/http;
    /nodate: Server, no Date; /chunked: a chunked body; /big/N: 1 MiB);
    each head it sent kept in sent[path]."""
    def answer(head, n):
        path = head.split(b" ")[1].decode()
        date = b"Date: %s\r\n" % formatdate(usegmt=True).encode()
        if path.startswith("/big/"):
            body = pattern(BIG)
        else:
            body = b"answer %d to %s\n" % (n, path.encode())
        if path.startswith("/chunked/"):
            h = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + date + \
                b"Transfer-Encoding: chunked\r\n\r\n"
            sent[path] = h
            return h + chunked(body * 300)
        if path.startswith("/nodate/"):
            h = b"HTTP/1.1 200 OK\r\nServer:   gunicorn \r\nContent-Length: %d\r\n" \
                b"Content-Type: text/plain\r\n\r\n" % len(body)
        else:
            h = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain; " \
                b"charset=utf-8\r\n%s\r\n" % (len(body), date)
        sent[path] = h
        return h + body
    return answer


@contextlib.contextmanager
def app_connection():
    """kbald on CONF, its member 1 an application server (app_answer()),
    and a client's connection to kbald: (env, the connection, each head
    the member sent by path, the banner kbald's Server line says)"""
    sent = {}
    with Env(conf=CONF, backends=(2,)) as env, \
            RecordingMember(env.ports["b1"], app_answer(sent)), Conn(env.port, timeout=10) as c:
        yield env, c, sent, b"kbal/%s (Linux)" % kbal_version().encode()


def httpd_head(member, date, banner):
    """own_head_proxied() of a member's head: the status line, Date (the
    member's first, else date), Server (the member's first, else banner;
    a value without the blanks around it, as httpd's
    ap_proxy_read_headers() keeps it), the other lines in their order"""
    lines = member[:-4].split(b"\r\n")
    values = {}
    for ln in lines[1:]:
        name, _, v = ln.partition(b":")
        values.setdefault(name.lower(), v.strip(b" \t"))
    rest = [ln for ln in lines[1:] if ln.split(b":")[0].lower() not in (b"date", b"server")]
    return b"\r\n".join([lines[0], b"Date: " + values.get(b"date", date),
                         b"Server: " + values.get(b"server", banner)] + rest) + b"\r\n\r\n"


def raw_answer(c):
    """the next answer on Conn c: its head's bytes as they came, and its
    body (by Content-Length, or de-chunked)"""
    while b"\r\n\r\n" not in c.buf:
        check(c._fill(), "EOF within an answer's head (got %r)" % bytes(c.buf[:200]))
    n = c.buf.index(b"\r\n\r\n") + 4
    head = bytes(c.buf[:n])
    del c.buf[:n]
    low = head.lower()
    if b"transfer-encoding: chunked" in low:
        return head, c._read_chunked()
    cl = [int(ln.split(b":")[1]) for ln in low.split(b"\r\n") if ln.startswith(b"content-length:")]
    return head, c.read_exact(cl[0])


def check_stamped(got, sent, path, banner):
    """got, an answer's head as kbal sent it, is what httpd (and kbald)
    write for the member's head sent[path], with a Date of now where the
    member sent none"""
    date = re.search(rb"\r\nDate: ([^\r]*)\r\n", got)
    check(date is not None, "%s: a Date line in %r" % (path, got))
    value = date.group(1).decode()
    check_date(value, path)
    if b"\r\ndate:" not in sent[path].lower():
        when = email.utils.parsedate_to_datetime(value).timestamp()
        check(abs(when - time.time()) < 2, "%s: Date %r within 2 s of now" % (path, value))
    eq(got, httpd_head(sent[path], date.group(1), banner), "%s: the head" % path)


def test_member_without_server_kept_by_the_kernel():
    paths = ["/go/%d" % i for i in range(1, 9)] + ["/nodate/1", "/go/9", "/big/1",
                                                    "/chunked/1", "/go/10", "/nodate/2",
                                                    "/big/2", "/go/11"]
    with app_connection() as (env, c, sent, banner):
        before = None
        for i, path in enumerate(paths):
            c.request("GET", path, headers=[("Cookie", COOKIE)])
            head, body = raw_answer(c)
            check_stamped(head, sent, path, banner)
            if path.startswith("/big/"):
                check(body == pattern(BIG), "%s: the body, byte for byte" % path)
            elif path.startswith("/chunked/"):
                eq(body, (b"answer %d to %s\n" % (i + 1, path.encode())) * 300,
                   "%s: the body" % path)
            else:
                eq(body, b"answer %d to %s\n" % (i + 1, path.encode()), "%s: the body" % path)
            if i == 2:
                before = env.stats()   # the kernel's from here on
        after = env.stats()
        kept = len(paths) - 3
        eq(after["back"] - before["back"], 0, "answers handed back to kbald: sk_back")
        eq(after["kept"] - before["kept"], kept, "requests the kernel kept: sk_kept")
        eq(after["sk_stamped"] - before["sk_stamped"], kept,
           "answers the kernel gave Date and Server: sk_stamped")
        eq(after["sk_stamp_lost"], 0, "heads the sk_msg program did not find: sk_stamp_lost")


def test_member_without_server_pipelined():
    with app_connection() as (env, c, sent, banner):
        for path in ("/go/1", "/go/2", "/go/3"):
            c.request("GET", path, headers=[("Cookie", COOKIE)])
            check_stamped(raw_answer(c)[0], sent, path, banner)
        before = env.stats()
        batch = ["/go/p%d" % i for i in range(8)] + ["/big/p", "/nodate/p", "/chunked/p",
                                                     "/go/last"]
        c.send(b"".join(build_request("GET", p, [("Cookie", COOKIE)], host=c.host_header)
                        for p in batch))
        for path in batch:
            head, body = raw_answer(c)
            check_stamped(head, sent, path, banner)
            if path == "/big/p":
                check(body == pattern(BIG), "%s: the body, byte for byte" % path)
        # pipelined requests go to kbald (it reads them with the one
        # before, or the kernel hands back one behind an answer under
        # way); then the kernel takes the connection again, and adds the
        # lines to its answers
        mid = env.stats()
        for path in ("/go/after1", "/go/after2", "/go/after3", "/go/after4"):
            c.request("GET", path, headers=[("Cookie", COOKIE)])
            check_stamped(raw_answer(c)[0], sent, path, banner)
        after = env.stats()
        eq(after["sk_stamp_lost"], 0, "heads the sk_msg program did not find: sk_stamp_lost")
        check(after["sk_stamped"] - mid["sk_stamped"] >= 3,
              "answers after the pipelined ones the kernel gave Date and Server: "
              "sk_stamped %d -> %d (%d before them)"
              % (mid["sk_stamped"], after["sk_stamped"], before["sk_stamped"]))
        eq(after["back"] - mid["back"], 0, "answers after them handed back: sk_back")


def test_kbald_own_answer_on_a_stamped_connection():
    """kbald's own answer (the balancer-manager's page, a request the kernel
    hands back) on a connection whose answers the kernel stamps: one Date
    and one Server, kbald's; the kernel takes the connection again after
    it and stamps the member's answers again"""
    with app_connection() as (env, c, sent, banner):
        for path in ("/go/1", "/go/2", "/go/3", "/go/4"):
            c.request("GET", path, headers=[("Cookie", COOKIE)])
            check_stamped(raw_answer(c)[0], sent, path, banner)
        before = env.stats()
        c.request("GET", "/balancer-manager", headers=[("Cookie", COOKIE)])
        r = c.read_response()
        eq(r.status, 200, "the balancer-manager's page")
        eq((len(r.header_all("Date")), r.header_all("Server")), (1, [banner.decode()]),
           "kbald's own page: one Date, one Server")
        eq([k for k, _ in r.headers][:2], ["Date", "Server"], "kbald's own page: Date and "
           "Server first")
        for path in ("/go/5", "/go/6", "/go/7", "/go/8"):
            c.request("GET", path, headers=[("Cookie", COOKIE)])
            check_stamped(raw_answer(c)[0], sent, path, banner)
        after = env.stats()
        check(after["sk_stamped"] - before["sk_stamped"] >= 2,
              "member answers after kbald's own page the kernel stamped: %d"
              % (after["sk_stamped"] - before["sk_stamped"]))
        eq(after["sk_stamp_lost"], 0, "sk_stamp_lost")


def test_stamped_connection_across_a_restart_in_place():
    """a restart in place (SIGHUP) hands a stamped connection over: the new
    image finds its kbal_stamp_at entry (stamp_adopt()), its answers are
    stamped as before, and its end waits for all the kernel sent"""
    with app_connection() as (env, c, sent, banner):
        for path in ("/go/1", "/go/2", "/go/3", "/big/1"):
            c.request("GET", path, headers=[("Cookie", COOKIE)])
            head, body = raw_answer(c)
            check_stamped(head, sent, path, banner)
        before = env.stats()
        check(before["sk_stamped"] >= 2, "stamped before the restart: %d" % before["sk_stamped"])
        seen = env.kbald_stderr().count("restarted: took over")
        os.kill(env.kbald.pid, signal.SIGHUP)
        wait_until(lambda: env.kbald_stderr().count("restarted: took over") > seen, 10.0,
                   "the restart in kbald's log")
        for path in ("/go/4", "/big/2", "/nodate/1", "/go/5"):
            c.request("GET", path, headers=[("Cookie", COOKIE)])
            head, body = raw_answer(c)
            check_stamped(head, sent, path, banner)
            if path == "/big/2":
                check(body == pattern(BIG), "%s: the body, byte for byte" % path)
        after = env.stats()
        eq(after["back"] - before["back"], 0, "answers handed back after the restart")
        eq(after["sk_stamped"] - before["sk_stamped"], 4, "answers stamped after the restart")
        eq(after["sk_stamp_lost"], 0, "sk_stamp_lost")
        # the last request asks to close: kbald takes it (once the client
        # has all the kernel sent, the bytes added counted), writes its
        # answer with Connection: close, and ends the connection
        c.request("GET", "/go/6", headers=[("Cookie", COOKIE), ("Connection", "close")])
        head, body = raw_answer(c)
        date = re.search(rb"\r\nDate: ([^\r]*)\r\n", head).group(1)
        eq(head, httpd_head(sent["/go/6"], date, banner)[:-2] + b"Connection: close\r\n\r\n",
           "/go/6: kbald's head")
        check(c.at_eof(5.0), "the connection ends after the answer to Connection: close")
