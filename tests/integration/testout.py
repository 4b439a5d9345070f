"""What a test writes is kept for the secrets scan (tests/secrets/scan.py).

ctest gives every test AMPD_TEST_OUTPUT=<build>/test-output/<test name>
(tests/CMakeLists.txt). remove_tmp(path) is what a test calls instead of
shutil.rmtree on its temp dir at teardown: with AMPD_TEST_OUTPUT set, the regular files
under path (logs, stderr captures, the daemon's state and token files, event queues,
played PCM: everything) are first copied to $AMPD_TEST_OUTPUT/<basename of path>/, with
their modes, so the scan reads what the test wrote; sockets, FIFOs and links are not
copied (links are not followed, so nothing outside the test's dir comes along), nor a
file over KEEP_FILE_MAX (a test's own large input, such as the sparse 900 MiB body of
media/Https): those are listed, with their sizes, in NOT-KEPT.txt there. The temp
dir itself stays short (under $TMPDIR, for socket path lengths) and is removed as before.
AMPD_KEEP_TMP=1 keeps it in place instead.
"""

import os
import shutil
import stat

KEEP_FILE_MAX = 64 << 20  # bytes: a larger file is listed in NOT-KEPT.txt, not copied


def keep(path):
    """Copy the regular files under path to $AMPD_TEST_OUTPUT/<basename>; no-op without it."""
    dest_root = os.environ.get("AMPD_TEST_OUTPUT")
    if not dest_root or not os.path.isdir(path):
        return
    dest = os.path.join(dest_root, os.path.basename(os.path.normpath(path)))
    skipped = []
    for dirpath, dirs, names in os.walk(path):
        rel = os.path.relpath(dirpath, path)
        rel = "" if rel == "." else rel
        target = os.path.normpath(os.path.join(dest, rel))
        os.makedirs(target, mode=0o700, exist_ok=True)
        for name in names:
            src = os.path.join(dirpath, name)
            try:
                st = os.lstat(src)
                if stat.S_ISREG(st.st_mode) and st.st_size > KEEP_FILE_MAX:
                    skipped.append("%s %d\n" % (os.path.join(rel, name), st.st_size))
                elif stat.S_ISREG(st.st_mode):
                    shutil.copy2(src, os.path.join(target, name), follow_symlinks=False)
            except OSError:
                continue  # a file the test's own processes removed meanwhile
    if skipped:
        with open(os.path.join(dest, "NOT-KEPT.txt"), "a", encoding="utf-8") as f:
            f.writelines(skipped)


def remove_tmp(path):
    """Keep (see keep()) and remove the temp dir path, or with AMPD_KEEP_TMP leave it."""
    if not path:
        return
    keep(path)
    if os.environ.get("AMPD_KEEP_TMP"):
        print("kept", path)
        return
    shutil.rmtree(path, ignore_errors=True)
