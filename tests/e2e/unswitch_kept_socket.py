# spike (unswitch), ad hoc: the kept client socket during a join (ss -tino), mode 1 (kbald ACKs it at the switch) or 2 (no ACK); then the take-back. KBAL_E2E_BUILD=... python3 tests/e2e/unswitch_kept_socket.py 1
import sys, os, time, subprocess
sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
import kbaltest
from kbaltest import Env
from test_unswitch import CONF, flow_of, ask_unswitch, tcp_counters, WHY_UNSWITCHED
mode = sys.argv[1]
with Env(conf=CONF, kbald_wrap=["env", "KBAL_UNSWITCH=" + mode]) as env:
    before = tcp_counters()
    with env.connect(timeout=30) as c:
        port = c.sock.getsockname()[1]
        kbaltest.hand_over(c)
        for i in range(3):
            c.get("/x%d" % i)
        for t in (0.05, 1.0, 3.0):
            time.sleep(t)
            out = subprocess.run(["ss", "-tino", "sport = :%d and dport = :%d" % (env.port, port)],
                                 capture_output=True, text=True).stdout
            print("after %.2fs:" % t, " ".join(out.split()[5:]))
        after = tcp_counters()
        print({k: after[k] - before[k] for k in ("RetransSegs", "TCPTimeouts", "TCPLossProbes")})
        ask_unswitch(env, port)
        time.sleep(0.3)
        print("flow:", flow_of(env, port))
        try:
            for i in range(5):
                r = c.get("/after%d" % i)
                print(r.status, r.text.strip())
        except Exception as e:
            print("after the take-back:", repr(e))
    print("\n".join(env.kbald_stderr().splitlines()[-6:]))
