#!/usr/bin/env python3
"""Fault matrix, CDN rows (tests/faults/matrix.py): the CDN answers a manifest or a
segment with an error, a Retry-After beyond the buffer, an expired token, a wrong
Content-Range, the whole file, or a short body.

usage: test_cdn.py CATALOG_DIR AMPD AMPCTL CDM_DIR [unittest options]
"""

import faultkit as fk
import matrix
from matrix import Row, row, setUpModule, tearDownModule  # noqa: F401 (unittest's hooks)

T1_SEG2 = matrix.tdf.T1_SEG2
T1_SEG3 = matrix.tdf.T1_SEG3
T1_SEG4 = matrix.tdf.T1_SEG4
FINISHED = r"^SG*F$"


def seg(rng):
    return {"name": "Range", "value": rng}


class TestCdnBurst(Row):
    # The five 503s wait out net/http's three retries (full jitter, at most 250 + 500 +
    # 1000 ms), one fetcher round (at most 1000 ms) and one more retry (at most 250 ms):
    # up to 3 s of wall time. t1's third segment is asked for with its first two, 20 s of
    # audio, ahead: 2.5 s of wall time at the matrix's 8x, which the jitter overran now
    # and then (a clean clone's run: waits of 58 + 497 + 929 + 981 + 146 ms, the segment
    # in 2.62 s, one underrun), and 5 s at 4x, which covers the worst case.
    speed = 4

    @row("CDN: a burst of five 503s on t1's third segment",
         "retried with backoff, the album plays to its end, no underrun")
    def test_segment_503_burst(self):
        fid = matrix.fault({"path": "/cdn/*", "status": 503, "count": 5,
                            "header": seg(T1_SEG3)})
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 5)


class TestCdn(Row):
    @row("CDN: three 503s on t1's manifest",
         "retried, the album plays to its end, no underrun")
    def test_manifest_503_burst(self):
        # the first CDN requests are t1's manifest (checked below)
        fid = matrix.fault({"path": "/cdn/*", "status": 503, "count": 3})
        seq = matrix.last_seq()
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 3)
        hit = [e["path"] for e in matrix.requests_since(seq) if e["fault"] == fid]
        self.assertTrue(all(p.endswith("/manifest.mpd") for p in hit), hit)
        self.assertEqual(len(fk.sessions(fk.T1)), 1)  # the same audio object throughout

    @row("CDN: a 503 with Retry-After 8 s on t1's last segment (8 s of wall time is 64 s "
         "of audio, beyond the 30 s buffer)",
         "the request waits the 8 s, the buffer runs dry: underruns counted in status, then "
         "the album plays on to its end with every track and no error")
    def test_segment_retry_after_beyond_buffer(self):
        fid = matrix.fault({"path": "/cdn/*", "status": 503, "retry_after": 8, "count": 1,
                            "header": seg(T1_SEG4)})
        seq = matrix.last_seq()
        self.play()
        st = self.d.wait_state(("stopped", "error"))
        self.assertEqual(matrix.fault_hits(fid), 1)
        self.assertEqual(st["state"], "stopped", st)
        self.assertNotIn("error", st)
        self.assertEqual(st["tracks_played"], 3, st)
        self.assertGreater(st["underruns"], 0, st)  # surfaced, not hidden
        seg4 = [e["status"] for e in matrix.requests_since(seq) if e.get("range") == T1_SEG4]
        self.assertEqual(seg4, [503, 206], seg4)
        self.assert_events(tracks=3)

    @row("CDN: its token expires mid-track (lifetime 2 s: the segments after it get 403)",
         "a fresh audio object (another session, its own license), t1 goes on at the same "
         "segment, the album plays to its end, no underrun")
    def test_token_expires_mid_track(self):
        fk.api_config(cdn_token_lifetime=2)
        seq = matrix.last_seq()
        self.play_to_end()
        log = matrix.requests_since(seq)
        refused = {e["path"].split("/")[2] for e in log
                   if e["path"].endswith(".mp4") and e["status"] == 403}
        self.assertTrue(refused, "no segment got a 403: the token did not expire mid-track")
        tracks = {s["track"] for s in fk.sessions() if s["rid"] in refused}
        lic = {e["path"].split("/")[2] for e in log
               if e["path"].startswith("/license/") and e["status"] == 200}
        for t in tracks:  # each refused track went on in a fresh session, its own license
            ss = fk.sessions(t)
            self.assertGreaterEqual(len(ss), 2, ss)
            self.assertNotEqual(ss[0]["kid"], ss[1]["kid"])
            self.assertTrue({s["rid"] for s in ss} <= lic, (ss, lic))
        # no range was asked twice within one session (it went on where it was)
        asked = [(e["path"].split("/")[2], e.get("range")) for e in log
                 if e["path"].startswith("/cdn/") and e["status"] == 206]
        self.assertEqual(len(asked), len(set(asked)), asked)

    @row("CDN: a 401 on t1's third segment",
         "taken as the signed URL refused: a fresh audio object (another session), t1 goes "
         "on at that segment, the album plays to its end, no underrun")
    def test_segment_401(self):
        fid = matrix.fault({"path": "/cdn/*", "status": 401, "count": 1,
                            "header": seg(T1_SEG3)})
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 1)
        ss = fk.sessions(fk.T1)
        self.assertEqual(len(ss), 2, ss)  # the 401 asked for a fresh audio object

    @row("CDN: a 401 on t1's manifest",
         "a fresh audio object, its manifest, the album plays to its end, no underrun")
    def test_manifest_401(self):
        fid = matrix.fault({"path": "/cdn/*", "status": 401, "count": 1})
        seq = matrix.last_seq()
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 1)
        hit = [e["path"] for e in matrix.requests_since(seq) if e["fault"] == fid]
        self.assertTrue(hit[0].endswith("/manifest.mpd"), hit)
        self.assertEqual(len(fk.sessions(fk.T1)), 2)


class TestCdnDamaged(Row):
    """A segment damaged at the origin (TLS carries the damage intact): the track cannot
    go on past it; the error names what the damage broke, the album goes on."""

    def t1_fails_rest_plays(self, fid, code):
        self.play()
        st = self.d.wait_state(("stopped", "error"))
        self.assertEqual(matrix.fault_hits(fid), 1)
        self.assertEqual(st["state"], "stopped", st)
        self.assertEqual(st["tracks_played"], 2, st)
        self.assert_no_underrun(st)
        ev = self.assert_events(tracks=3)
        self.assertRegex(fk.letters(ev, fk.T1), r"^SG*E$")  # it played up to the damage
        self.assertEqual(fk.error_codes(ev, fk.T1), ["E%d" % code], ev)
        for t in (fk.T2, fk.T3):
            self.assertRegex(fk.letters(ev, t), FINISHED)

    @row("CDN: one byte of FLAC frame data damaged in t1's second segment (clear lead)",
         "the frame's CRC fails (a decode error), t1 fails there (PLAYBACK_ERROR), t2 and "
         "t3 play to their end, no underrun")
    def test_flac_crc_error(self):
        fid = matrix.fault({"path": "/cdn/*", "count": 1, "header": seg(T1_SEG2),
                            "flip_byte": 100000})  # in the mdat (it starts at 960)
        self.t1_fails_rest_plays(fid, fk.AMP_EDECODE)

    @row("CDN: one byte of ciphertext damaged in t1's first encrypted segment",
         "the decrypted frame fails its CRC (a decrypted sample that does not decode), t1 "
         "fails there (PLAYBACK_ERROR), t2 and t3 play to their end, no underrun")
    def test_ciphertext_damaged(self):
        fid = matrix.fault({"path": "/cdn/*", "count": 1, "header": seg(T1_SEG4),
                            "flip_byte": 200000})  # in the mdat (it starts at 1365)
        self.t1_fails_rest_plays(fid, fk.AMP_EDECRYPT)

    @row("CDN: the sample count of the 'senc' box (the CENC IVs) damaged in t1's first "
         "encrypted segment",
         "the demuxer refuses the segment (an MP4 error), t1 fails there (PLAYBACK_ERROR), t2 "
         "and t3 play to their end, no underrun")
    def test_senc_count_damaged(self):
        # 'senc' is at 704 in the segment (both key variants): its sample_count's last
        # byte at 715, 76 samples made 179
        fid = matrix.fault({"path": "/cdn/*", "count": 1, "header": seg(T1_SEG4),
                            "flip_byte": 715})
        self.t1_fails_rest_plays(fid, fk.AMP_EMP4)


class TestCdnBytes(Row):
    """Faults in the bytes: the PCM must come out bit for bit (the pipe backend)."""

    paced = False

    @row("CDN: a 206 for t1's second segment with a wrong Content-Range (the first "
         "segment's start)",
         "refused, asked again, the album bit-exact")
    def test_wrong_content_range(self):
        fid = matrix.fault({"path": "/cdn/*", "count": 1, "header": seg(T1_SEG2),
                            "content_range": "bytes 989-563503/2015968"})
        seq = matrix.last_seq()
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 1)
        seg2 = [e["status"] for e in matrix.requests_since(seq) if e.get("range") == T1_SEG2]
        self.assertEqual(seg2, [206, 206], seg2)

    @row("CDN: every ranged GET answered 200 with the whole file (Range ignored)",
         "each fetcher asks again without a Range and keeps its segment's bytes (one "
         "warning per track), the album bit-exact")
    def test_ignores_range(self):
        fid = matrix.fault({"path": "/cdn/*", "ignore_range": True})
        seq = matrix.last_seq()
        self.play_to_end()
        media = [e for e in matrix.requests_since(seq) if e["path"].endswith(".mp4")]
        self.assertTrue(media and all(e["status"] == 200 for e in media), media)
        self.assertGreater(len(media), 3, media)
        self.assertGreater(matrix.fault_hits(fid), 0)
        self.assertEqual(fk.log_text(self.d).count("the CDN ignores Range"), 3)

    @row("CDN: t1's second segment 1000 bytes short (framing intact, Content-Length "
         "matching what is sent)",
         "the missing bytes asked for again, the album bit-exact")
    def test_short_segment(self):
        fid = matrix.fault({"path": "/cdn/*", "count": 1, "header": seg(T1_SEG2),
                            "short_body": 1000})
        seq = matrix.last_seq()
        self.play_to_end()
        self.assertEqual(matrix.fault_hits(fid), 1)
        t1 = [e.get("range") for e in matrix.requests_since(seq)
              if e["path"].endswith("flac_16_44.mp4") and e["fault"] is None and
              e.get("range", "").endswith("-1085919")]
        self.assertEqual(t1, ["bytes=1084920-1085919"], t1)


if __name__ == "__main__":
    matrix.main()
