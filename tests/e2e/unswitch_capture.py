# spike (unswitch), ad hoc: a capture of lo around one take-back (packets as they leave tc egress: rewritten). KBAL_E2E_BUILD=... python3 tests/e2e/unswitch_capture.py
import sys, time, struct, socket
sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
import kbaltest
from kbaltest import Env
from test_unswitch import CONF, flow_of, ask_unswitch, Capture, WHY_UNSWITCHED
with Env(conf=CONF, kbald_wrap=["env", "KBAL_UNSWITCH=1"]) as env:
    cap = Capture([env.port, env.ports["b1"]])
    with env.connect(timeout=30) as c:
        port = c.sock.getsockname()[1]
        kbaltest.hand_over(c)
        for i in range(2):
            c.get("/j%d" % i)
        time.sleep(0.1)
        mark = len(cap.pkts)
        ask_unswitch(env, port)
        kbaltest.wait_until(lambda: flow_of(env, port)["why"] == WHY_UNSWITCHED, 2, "back")
        mport = flow_of(env, port)["member_lport"]
        r = c.get("/after")
        print(r.status, r.text.strip())
    time.sleep(0.5)
    cap.close()
    print("\n".join(l for l in env.kbald_stderr().splitlines() if "unswitch:" in l))
    print("client port", port, "kbald->member port", mport)
    for j in range(max(0, mark - 6), len(cap.pkts)):
        q = cap.pkts[j]
        if not q[0]:
            continue
        fl = "".join(n for b, n in ((1, "F"), (2, "S"), (4, "R"), (8, "P"), (16, ".")) if q[7] & b)
        o = cap.times[j][2]
        ts = struct.unpack("!II", o[4:12]) if o[:4] == b"\x01\x01\x08\x0a" else None
        print("%s%5d > %5d  seq %10u ack %10u [%s] len %d ts %s" % ("---take-back---\n" if j == mark else "", q[2], q[4], q[5], q[6], fl, q[8], ts))
