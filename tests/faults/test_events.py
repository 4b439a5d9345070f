#!/usr/bin/env python3
"""Fault matrix, playback-event rows (tests/faults/matrix.py): the collector refuses
(4xx), fails (5xx) or does not answer (a timeout), docs/service.md §6.

usage: test_events.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]
"""

import matrix
from matrix import Row, row, setUpModule, tearDownModule  # noqa: F401 (unittest's hooks)


class TestCollector(Row):
    @row("collector: every POST answered 400",
         "playback stops with \"the service stopped playback\"; the refused events dropped, "
         "none left queued")
    def test_collector_4xx_stops(self):
        fid = matrix.fault({"path": "/collector/*", "status": 400})
        self.play()
        st = self.d.wait_state(("stopped", "error"))
        self.assertEqual(st["state"], "stopped", st)
        self.assertEqual(st.get("error"), "the service stopped playback", st)
        self.assertLess(st["tracks_played"], 3, st)  # stopped by the service, not the end
        self.assertGreater(matrix.fault_hits(fid), 0)
        self.assertEqual(self.assert_events(tracks=0), [])
        ev = self.st()["events"]
        self.assertGreater(ev["rejected"], 0, ev)
        self.assertEqual(ev["sent"], 0, ev)

    @row("collector: a burst of three 503s on the first event",
         "sent again after the backoff, in order; the album plays to its end, every event "
         "once, no underrun")
    def test_collector_5xx_retried(self):
        fid = matrix.fault({"path": "/collector/*", "status": 503, "count": 3})
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 3)
        ev = self.st()["events"]
        self.assertGreaterEqual(ev["retries"], 3, ev)
        self.assertEqual(ev["rejected"], 0, ev)

    @row("collector: the first POST gets no answer for 25 s (past the 20 s stall limit of "
         "src/net/http.c)",
         "the request times out and is sent again; the album plays on to its end meanwhile, "
         "every event once, no underrun")
    def test_collector_timeout_retried(self):
        fid = matrix.fault({"path": "/collector/*", "status": 503, "delay_ms": 25000,
                            "count": 1})
        self.play()
        st = self.d.wait_state(("stopped", "error"))
        self.assert_clean_end(st)
        self.assertEqual(self.st()["events"]["sent"], 0)  # all held behind the first
        self.assert_events(tracks=3)
        self.assertEqual(matrix.fault_hits(fid), 1)
        self.assertEqual(self.st()["events"]["retries"], 1)  # the held one, timed out
        self.assertIn("report: seq 1: Connection timed out", matrix.log_text(self.d))


if __name__ == "__main__":
    matrix.main()
