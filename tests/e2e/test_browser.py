# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""The balancer-manager in a real browser: Debian's chromium, headless,
driven through chromium-driver by python3-selenium. The browser loads the
page, drains a member with its form (its own Referer and the form's nonce,
nothing made up by the test), and the new state shows on the page, in
kbalctl and in bpftool; a screenshot of the page is kept with the test's
files (KBAL_E2E_SHOT=PATH copies it there)."""

import os
import shutil
import tempfile

from kbaltest import Env, check, eq, wait_until

ST_DRAIN = 1 << 4


def browser(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--no-first-run", "--window-size=1400,900", "--user-data-dir=" + profile):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def test_manager_in_a_browser():
    from selenium.webdriver.common.by import By

    profile = tempfile.mkdtemp(prefix="kbal-chromium-")
    os.environ.setdefault("HOME", profile)
    drv = None
    try:
        with Env() as env:
            url = "http://127.0.0.1:%d/balancer-manager" % env.port
            drv = browser(profile)
            drv.set_page_load_timeout(30)
            drv.get(url)
            eq(drv.title, "Balancer Manager", "the page's title")
            w1 = env.member_url(1)
            form = drv.find_element(By.XPATH, "//form[.//input[@name='w' and @value='%s']]" % w1)
            form.find_element(By.XPATH, ".//input[@name='w_status_N' and @value='1']").click()
            form.find_element(By.XPATH, ".//input[@type='submit']").click()
            wait_until(lambda: "changed:" in drv.page_source, 10.0, "the page after the form")
            check("changed: balancer://mycluster, member %s" % w1 in drv.page_source,
                  "the page says what changed")
            # the member's row: Drn in its status cell
            row = drv.find_element(By.XPATH, "//tr[td[1][normalize-space()='%s']]" % w1)
            check("Drn" in row.text, "member 1's row on the page: %r" % row.text)
            eq(env.member(1)["status"] & ST_DRAIN, ST_DRAIN, "kbal_members (bpftool)")
            check("Drn" in env.kbalctl("members"), "kbalctl members")
            shot = os.path.join(env.dir, "balancer-manager.png")
            check(drv.save_screenshot(shot), "the screenshot")
            check(os.path.getsize(shot) > 10000, "a screenshot of the page")
            if os.environ.get("KBAL_E2E_SHOT"):
                shutil.copy(shot, os.environ["KBAL_E2E_SHOT"])
            # and back, with the form again
            form = drv.find_element(By.XPATH, "//form[.//input[@name='w' and @value='%s']]" % w1)
            form.find_element(By.XPATH, ".//input[@name='w_status_N' and @value='0']").click()
            form.find_element(By.XPATH, ".//input[@type='submit']").click()
            wait_until(lambda: env.member(1)["status"] & ST_DRAIN == 0, 10.0,
                       "member 1 enabled again")
    finally:
        if drv is not None:
            drv.quit()
        shutil.rmtree(profile, ignore_errors=True)
