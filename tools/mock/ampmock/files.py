"""GET|HEAD /files/<path>: files under --root, with single byte ranges.

- Range "bytes=a-b", "bytes=a-", "bytes=-n" -> 206 with Content-Range: bytes a-b/total.
- A range that starts at or past the end (or "-0", or any range of an empty file) -> 416
  with Content-Range: bytes */total.
- Several ranges ("bytes=0-1,5-9"), another unit, or a malformed header -> 200 with the
  whole file (RFC 9110 lets a server ignore Range; we never send multipart/byteranges).
- If-Range that does not match the ETag or Last-Modified -> 200 with the whole file.
- A fault rule with "ignore_range": true -> 200 with the whole file.
- The path is percent-decoded; "..", ".", empty segments, absolute paths, backslashes and
  NUL are refused with 403, and so is anything whose real path (symlinks resolved) is
  outside the root. Missing files and directories are 404.
"""

import email.utils
import os
import re
import urllib.parse

from .router import FileBody, HttpError, Response

_CONTENT_TYPES = {
    ".mpd": "application/dash+xml",
    ".mp4": "audio/mp4",
    ".m4a": "audio/mp4",
    ".m4s": "audio/mp4",
    ".json": "application/json",
    ".xml": "application/xml",
    ".txt": "text/plain; charset=utf-8",
    ".wav": "audio/wav",
}
_NUM = r"[0-9]{1,19}"
_SPEC = re.compile(r"^(%s)?-(%s)?$" % (_NUM, _NUM))

# Results of parse_range other than a (first, last) pair.
WHOLE = "whole"
UNSATISFIABLE = "unsatisfiable"


def parse_range(value, size):
    """Range header -> (first, last) inclusive, WHOLE (ignore it) or UNSATISFIABLE."""
    unit, eq, specs = value.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return WHOLE
    parts = [p.strip() for p in specs.split(",")]
    if len(parts) != 1:
        return WHOLE
    m = _SPEC.match(parts[0])
    if not m or (m.group(1) is None and m.group(2) is None):
        return WHOLE
    first, last = m.group(1), m.group(2)
    if first is None:  # suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            return UNSATISFIABLE
        return max(0, size - n), size - 1
    first = int(first)
    if last is not None and int(last) < first:
        return WHOLE  # syntactically invalid: ignore the header
    if first >= size:
        return UNSATISFIABLE
    return first, size - 1 if last is None else min(int(last), size - 1)


def resolve(root, rest):
    """Map the part of the URL after /files/ to a real path under root, or HttpError."""
    try:
        rel = urllib.parse.unquote(rest, errors="strict")
    except UnicodeDecodeError:
        raise HttpError(404, "not found") from None
    if not rel:
        raise HttpError(404, "not found")
    segments = rel.split("/")
    if ("\0" in rel or "\\" in rel or rel.startswith("/")
            or any(s in ("", ".", "..") for s in segments)):
        raise HttpError(403, "path refused")
    real = os.path.realpath(os.path.join(root, *segments))
    if os.path.commonpath([root, real]) != root:
        raise HttpError(403, "path leaves the root")
    if not os.path.isfile(real):
        raise HttpError(404, "not found")
    return real


def make_handler(root):
    root = os.path.realpath(root)

    def serve(req):
        path = resolve(root, req.rest)
        try:
            st = os.stat(path)
        except OSError:
            raise HttpError(404, "not found") from None
        size = st.st_size
        etag = '"%x-%x"' % (st.st_mtime_ns, size)
        modified = email.utils.formatdate(st.st_mtime, usegmt=True)
        ctype = _CONTENT_TYPES.get(os.path.splitext(path)[1].lower(), "application/octet-stream")
        headers = [("Accept-Ranges", "bytes"), ("ETag", etag), ("Last-Modified", modified),
                   ("Content-Type", ctype)]
        rng = req.headers.get("Range")
        if_range = req.headers.get("If-Range")
        if rng is None or req.ignore_range or (if_range and if_range not in (etag, modified)):
            return Response(200, FileBody(path, 0, size), headers)
        r = parse_range(rng, size)
        if r == WHOLE:
            return Response(200, FileBody(path, 0, size), headers)
        if r == UNSATISFIABLE:
            headers = [h for h in headers if h[0] != "Content-Type"]
            headers.append(("Content-Range", "bytes */%d" % size))
            return Response.text("range not satisfiable\n", 416, headers)
        first, last = r
        headers.append(("Content-Range", "bytes %d-%d/%d" % (first, last, size)))
        return Response(206, FileBody(path, first, last - first + 1), headers)

    return serve


def register(app):
    app.route(("GET", "HEAD"), "/files/", make_handler(app.args.root), prefix=True)
