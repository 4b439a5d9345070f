#!/usr/bin/env python3
"""Fault matrix, transport rows (tests/faults/matrix.py): the network between the daemon
and the service's hosts fails (refused, reset, stalled, cut mid-body, 5xx).

usage: test_transport.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]
"""

import matrix
from matrix import Row, row, setUpModule, tearDownModule  # noqa: F401 (unittest's hooks)


class TestCdn(Row):
    @row("CDN: a burst of five 503s on one segment",
         "retried with backoff, the album plays to its end, no underrun")
    def test_segment_503_burst(self):
        fid = matrix.fault({"path": "/cdn/*", "status": 503, "count": 5,
                            "header": {"name": "Range", "value": matrix.tdf.T1_SEG3}})
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 5)


if __name__ == "__main__":
    matrix.main()
