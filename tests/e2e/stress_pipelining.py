# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""A stress of pipelining clients on the sockmap path, kept out of the suite
(its failures are rare and timing-bound: a hunting tool, not a test).

Each trial opens a connection on test_decide.py's two balancers (STRIP_RULE)
and sends 2 to 6 requests (GET /bytes/N up to 4 MB, POST bodies up to 1 MB,
small GETs; either balancer), each next one either pipelined, after the
answer's head, after some of its body, or after all of it, written from a
thread of its own so that the answers are read meanwhile; half the trials
first leave kbald a kept member connection. Every answer is checked byte
for byte (the /bytes/N pattern, the body's crc32, the member and path).

Run as root from the repository, after a build:
  KBAL_E2E_BUILD=build python3 tests/e2e/stress_pipelining.py [SEED] [TRIALS]
SPLAN=... replays one trial's plan (as printed on a failure), SV=1 runs kbald
with -v, SMODE=packet|off sets KbalSplice. On a failure kbald's log, ss and
the kbal_sk_http and kbal_stats maps are left in /tmp/zstress.*.

Found with it on 2026-12-06 (docs/design.md, "Every request decided"): the
stall of a request for the other balancer sent during a long answer (fixed),
the take-back that lost the answer's last held bytes (fixed), and, still
open, a pipelined body over 8 KiB behind an answer the kernel still sends
(the answer stalls) and a request behind such queued bytes ("what the kernel
handed back is not there").
"""
import ast, os, random, time, zlib
from kbaltest import Env, eq, check, build_request, pattern
from test_decide import two_balancers, STRIP_RULE, SAME_RULE

T = 6.0

def expect(path):
    # STRIP_RULE: /api/... -> WAS1 with /api stripped; else WAS2
    if path.startswith("/api/"):
        return "WAS1", path[4:]
    return "WAS2", path

def trial(env, rng, log, fixed=None):
    nreq = rng.randint(2, 6)
    reqs = []
    for _ in range(nreq):
        bal = rng.choice(["", "/api"])
        kind = rng.choice(["bytes", "bytes", "post", "get"])
        if kind == "bytes":
            n = rng.choice([10, 70000, 300000, 2000000, 4000000])
            reqs.append(("GET", bal + "/bytes/%d" % n, None, n))
        elif kind == "post":
            n = rng.choice([10, 20000, 200000, 1000000])
            reqs.append(("POST", bal + "/up%d" % rng.randint(0, 999), os.urandom(n), None))
        else:
            reqs.append(("GET", bal + "/g%d" % rng.randint(0, 999), None, None))
    # when the next request goes: 0 pipelined, 1 after the head, 2 after some body, 3 after all
    when = [rng.choice([0, 1, 2, 3, 3]) for _ in reqs]
    warm = rng.random() < 0.5
    rcv = rng.choice([None, None, 16384])
    if fixed:
        reqs = [(m, p, os.urandom(b) if m == "POST" else None, int(p.split("/")[-1]) if "/bytes/" in p else None) for m, p, b in fixed[0]]
        when, warm, rcv = fixed[1], fixed[2], (fixed[3] if len(fixed) > 3 else None)
    log.append(([(m, p, len(b) if b else 0) for m, p, b, _ in reqs], when, warm, rcv))
    if warm:
        with env.connect(timeout=T) as w:
            w.get("/warm")
    with env.connect(timeout=T, rcvbuf=rcv) as c:
        sent = 0
        import threading, queue
        q = queue.Queue()
        errs = []
        def sender():
            while True:
                data = q.get()
                if data is None:
                    return
                try:
                    c.sock.sendall(data)
                except Exception as e:
                    errs.append(e)
                    return
        th = threading.Thread(target=sender, daemon=True)
        th.start()
        def send_next():
            # written by a thread of its own, so that the answers are read
            # meanwhile (a client that pipelines a body and reads nothing
            # deadlocks any server)
            nonlocal sent
            m, p, b, _ = reqs[sent]
            q.put(build_request(m, p, [], body=b, host=c.host_header))
            sent += 1
        send_next()
        for i, (m, p, b, n) in enumerate(reqs):
            while sent <= i:
                send_next()
            r = c.read_head()
            while 100 <= r.status < 200:
                r = c.read_head()
            if when[i] == 1 and sent < len(reqs):
                send_next()
            cl = int(r.header("Content-Length") or -1)
            check(cl >= 0, "no content-length %r" % (r,))
            got = b""
            if when[i] == 2 and sent < len(reqs):
                got = c.read_exact(min(cl, rng.randint(1, 100000)))
                send_next()
            body = got + c.read_exact(cl - len(got))
            while sent < len(reqs) and when[i] == 0 and sent <= i + 1:
                send_next()
            be, mp = expect(p)
            eq(r.header("X-Backend"), be, "request %d %s %s backend" % (i, m, p))
            if n is not None:
                if body != pattern(n):
                    pt = pattern(n)
                    k = next(j for j in range(n) if body[j] != pt[j])
                    raise AssertionError("request %d %s: body differs (len %d) at %d: got %r want %r" % (i, p, len(body), k, body[k:k+40], pt[k:k+40]))
            elif b is not None:
                eq(body.decode(), "len=%d crc32=%08x\n" % (len(b), zlib.crc32(b)), "request %d POST %s" % (i, p))
            else:
                eq(body.decode(), "backend=%s path=%s\n" % (be, mp), "request %d GET %s" % (i, p))
            if when[i] == 3 and sent < len(reqs) and sent == i + 1:
                send_next()
        q.put(None)
        th.join(T)
        check(not errs, "sending: %r" % errs)

def stress(seed=None, n=None):
    seed = seed if seed is not None else int(os.environ.get("SSEED", "1"))
    n = n if n is not None else int(os.environ.get("SN", "100"))
    mode = os.environ.get("SMODE", "")
    conf = two_balancers(STRIP_RULE)
    if mode:
        conf = conf.replace("ProxySet lbmethod=byrequests", "ProxySet lbmethod=byrequests\nKbalSplice %s" % mode)
    rng = random.Random(seed)
    fixed = ast.literal_eval("(%s)" % os.environ["SPLAN"]) if os.environ.get("SPLAN") else None
    if os.environ.get("SV"):
        env_args = ["-v"]
    else:
        env_args = []
    t0 = time.monotonic()
    with Env(conf=conf, kbald_args=env_args) as env:
        for k in range(n):
            log = []
            try:
                trial(env, rng, log, fixed)
            except Exception as e:
                open("/tmp/zstress.log", "w").write(env.kbald_stderr())
                import subprocess
                subprocess.run("ss -tnoiepm > /tmp/zstress.ss; bpftool map dump pinned %s/kbal_sk_http > /tmp/zstress.http 2>&1; bpftool map dump pinned %s/kbal_stats > /tmp/zstress.stats 2>&1" % (env.pin_dir, env.pin_dir), shell=True)
                raise AssertionError("trial %d: %s\nplan %r" % (k, e, log))
            if time.monotonic() - t0 > 600:
                break
    print("trials", k + 1)


if __name__ == "__main__":
    import sys
    stress(int(sys.argv[1]) if len(sys.argv) > 1 else None,
           int(sys.argv[2]) if len(sys.argv) > 2 else None)
