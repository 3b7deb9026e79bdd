# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""One member slow to answer must not hold up kbald's other connections."""

import threading
import time

from kbaltest import Env, check, eq, wait_until


def test_slow_member_does_not_stall_others():
    with Env() as env:
        slow = {}

        def client():
            try:
                slow["status"] = env.get("/slow-head").status
            except Exception as e:      # reported below
                slow["error"] = e
            slow["at"] = time.monotonic()

        t = threading.Thread(target=client, daemon=True)
        t.start()
        # /slow-head is held 300 ms from the moment its member logs it
        wait_until(lambda: "GET /slow-head" in env.backend_log(1) + env.backend_log(2),
                   2.0, "the slow request to reach its member")
        latencies = []
        for i in range(20):
            t0 = time.monotonic()
            r = env.get("/fast%d" % i)
            latencies.append(time.monotonic() - t0)
            eq(r.status, 200, "status of fast request %d" % i)
        fast_done = time.monotonic()
        t.join(5)
        check("error" not in slow, "slow request failed: %r" % slow.get("error"))
        eq(slow.get("status"), 200, "slow request status")
        check(fast_done < slow["at"],
              "20 requests finished only after the slow one (latencies %s)"
              % ["%.3f" % x for x in latencies])
