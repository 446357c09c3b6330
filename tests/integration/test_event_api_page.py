"""event-api's live page in a real browser: Debian's chromium, headless, driven through the
DevTools protocol (cdp.py). Events fired with event-fire appear on the page, the tag filter
(client and server side) works, pause holds events back; a screenshot is kept in the build's
meson-logs folder as the test's artifact."""
import os
import unittest

import cdp
from tb import DEADLINE, main
from test_event_api import ApiBase

ARTIFACT = os.path.join(os.environ.get("TAGBUS_BUILD_ROOT", "/tmp"), "meson-logs", "event-api-page.png")


@unittest.skipUnless(cdp.Browser.available(), "chromium is not installed (dev.sh test installs it)")
class PageTest(ApiBase):
    def test_live_page(self):
        self.start_bus()
        api = self.start_api()
        with cdp.Browser() as browser:
            page = browser.new_page(api.url + "/?token=goodtoken")
            self.assertEqual(page.evaluate("document.title"), "tagbus event-api")
            page.wait_for("document.querySelector('#status').textContent.includes('live')", deadline=DEADLINE)
            self.wait_log(api, b"stream for 127.0.0.1")
            self.fire('{"fun": "test.ping", "n": 1}', "salt/job/20261206/new")
            self.fire('{"id": "web1", "return": true}', "salt/job/20261206/ret/web1")
            self.fire('{"act": "accept", "id": "web1"}', "salt/auth")
            page.wait_for("document.querySelectorAll('#events .event').length >= 3")
            tags = page.evaluate("[...document.querySelectorAll('#events .event')].map(e => e.dataset.tag)")
            self.assertEqual(tags, ["salt/job/20261206/new", "salt/job/20261206/ret/web1", "salt/auth"])
            shown = page.evaluate("document.querySelector('#events .event[data-tag=\"salt/auth\"] pre.data').textContent")
            self.assertIn('"act": "accept"', shown)
            page.wait_for("document.querySelector('#counts [data-prefix=\"salt/job\"] .count') && "
                          "document.querySelector('#counts [data-prefix=\"salt/job\"] .count').textContent.trim() === '2'")
            # the filter: the page reconnects with tag= and only matching events are shown
            page.type("#filter", "salt/job/*/ret/*")
            self.wait_log(api, b"stream for 127.0.0.1:")  # the new, filtered stream
            self.fire('{"id": "db1"}', "salt/job/20261206/ret/db1")
            self.fire('{"id": "db1"}', "salt/auth")
            page.wait_for("[...document.querySelectorAll('#events .event:not([hidden])')]"
                          ".some(e => e.dataset.tag === 'salt/job/20261206/ret/db1')")
            visible = page.evaluate("[...document.querySelectorAll('#events .event:not([hidden])')].map(e => e.dataset.tag)")
            self.assertTrue(all(t.startswith("salt/job/") and "/ret/" in t for t in visible), visible)
            # pause: counted, not shown; resume shows them
            page.click("#pause")
            self.fire('{"held": 1}', "salt/job/20261206/ret/held")
            page.wait_for("window.tagbusPage.received >= 4")
            self.assertFalse(page.evaluate("[...document.querySelectorAll('#events .event')]"
                                           ".some(e => e.dataset.tag === 'salt/job/20261206/ret/held')"))
            page.click("#pause")
            page.wait_for("[...document.querySelectorAll('#events .event')]"
                          ".some(e => e.dataset.tag === 'salt/job/20261206/ret/held')")
            os.makedirs(os.path.dirname(ARTIFACT), exist_ok=True)
            page.screenshot(ARTIFACT)
            self.assertGreater(os.path.getsize(ARTIFACT), 1000)


if __name__ == "__main__":
    main()
