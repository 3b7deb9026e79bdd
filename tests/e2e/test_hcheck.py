# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""mod_proxy_hcheck's health checks (issue 17): hcmethod= TCP or an HTTP
request (hcuri=), every hcinterval=; hcfails= failures take a member out of
every pick (the C flag in kbal_members: kbald's, the kernel's, the manager's
and kbalctl's view), hcpasses= passes put it back, as httpd's hc_check().
The members are real kbal-backends: one that accepts connections and
answers garbage to its check's URL, one that dies and comes back."""

import time

from kbaltest import EXAMPLE_CONF, Env, check, eq, stop_proc, wait_until

ST_C = 1 << 7                 # KBAL_ST_HC_FAIL (include/kbal_shared.h)


def fresh_members(env, n, tag):
    """n requests, each on a fresh connection, without a cookie: the members"""
    got = []
    for i in range(n):
        r = env.get("/%s%d" % (tag, i))
        eq(r.status, 200, "request %s%d" % (tag, i))
        got.append(int(r.header("X-Backend")[3:]))
    return got


def status(env, n):
    return env.members()[n - 1]["status"]


def test_http_check_takes_a_garbage_answering_member_out():
    conf = EXAMPLE_CONF.replace(
        "LoadModule proxy_module", "LoadModule proxy_hcheck_module modules/mod_proxy_hcheck.so\n"
        "LoadModule proxy_module").replace(
        "route=1", "route=1 hcmethod=GET hcuri=/health hcinterval=1").replace(
        "route=2", "route=2 hcmethod=GET hcuri=/fault-garbage hcinterval=1 hcfails=2")
    with Env(conf=conf) as env:
        # before the first checks (one interval after the start): both serve
        eq(sorted(fresh_members(env, 2, "a")), [1, 2], "members before any check")
        wait_until(lambda: status(env, 2) & ST_C, 6.0, "WAS2 taken out by its checks")
        eq(status(env, 1) & ST_C, 0, "WAS1's status")
        eq(fresh_members(env, 6, "b"), [1] * 6, "members once WAS2 failed its checks")
        check("health check DISABLING http://127.0.0.1" in env.kbald_stderr(),
              "kbald's word: " + env.kbald_stderr())
        check(env.backend_log(2).count("GET /fault-garbage") >= 2,
              "WAS2's checks: %r" % env.backend_log(2))
        check("GET /health" in env.backend_log(1), "WAS1's checks: %r" % env.backend_log(1))
        out = env.kbalctl("status")
        check("HcFl" in out, "kbalctl status: " + out)
        # a kept-alive connection on WAS2's route: no request of it reaches WAS2
        with env.connect() as c:
            for i in range(4):
                r = c.get("/k%d" % i, cookie="ROUTEID=route.2")
                eq((r.status, r.header("X-Backend")), (200, "WAS1"), "route.2 request %d" % i)
        # still failing: it stays out
        time.sleep(1.5)
        eq(status(env, 2) & ST_C, ST_C, "WAS2 after more failed checks")


def test_tcp_check_follows_a_member_down_and_back():
    conf = EXAMPLE_CONF.replace(
        "route=2", "route=2 hcmethod=TCP hcinterval=1 hcpasses=2")
    with Env(conf=conf) as env:
        stop_proc(env.procs[2])
        wait_until(lambda: status(env, 2) & ST_C, 6.0, "WAS2 taken out when it stopped")
        # no request is tried on it and fails over: none waits, none fails
        eq(fresh_members(env, 6, "d"), [1] * 6, "members while WAS2 is down")
        eq(env.member(2)["errors"], 0, "requests that found WAS2 down")
        env._start_backend(2)
        wait_until(lambda: not status(env, 2) & ST_C, 8.0, "WAS2 back after two passed checks")
        check("health check ENABLING" in env.kbald_stderr(), "kbald's word on the way back")
        eq(sorted(set(fresh_members(env, 6, "u"))), [1, 2], "members once WAS2 is back")


def test_conditions_on_status_and_body():
    # ProxyHCExpr as mod_proxy_hcheck's documentation writes them: WAS2's
    # answer names it in its body, which its condition refuses; WAS1's
    # status passes its own
    conf = EXAMPLE_CONF.replace(
        "ProxyRequests Off", "ProxyRequests Off\n"
        "ProxyHCExpr ok234 {%{REQUEST_STATUS} =~ /^[234]/}\n"
        "ProxyHCExpr not_was2 {hc('body') !~ /backend=WAS2/}").replace(
        "route=1", "route=1 hcmethod=GET hcuri=/h hcinterval=1 hcexpr=ok234").replace(
        "route=2", "route=2 hcmethod=GET hcuri=/h hcinterval=1 hcexpr=not_was2")
    with Env(conf=conf) as env:
        wait_until(lambda: status(env, 2) & ST_C, 6.0, "WAS2 taken out by its condition")
        check("its condition failed (hcexpr=)" in env.kbald_stderr(), env.kbald_stderr())
        check(env.backend_log(1).count("GET /h") >= 1, "WAS1 checked: %r" % env.backend_log(1))
        eq(status(env, 1) & ST_C, 0, "WAS1 passes its condition")
        eq(fresh_members(env, 4, "c"), [1] * 4, "members")
