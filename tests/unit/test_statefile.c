/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for core/statefile: atomic replace, owner-only reads, crash safety. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/statefile.h"

#define NAME "token"

struct fixture {
  char dir[64];
};

/* ---- helpers ---- */

static void path_of(const struct fixture *f, const char *name, char *out, size_t size) {
  int n = snprintf(out, size, "%s/%s", f->dir, name);
  assert_true(n > 0 && (size_t)n < size);
}

#define MAX_ENTRIES 16
struct listing {
  char name[MAX_ENTRIES][NAME_MAX + 1];
  size_t n;
};

/* Every entry of the directory but "." and "..", in readdir order. */
static void list_dir(const char *dir, struct listing *l) {
  memset(l, 0, sizeof(*l));
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    assert_true(l->n < MAX_ENTRIES);
    snprintf(l->name[l->n++], sizeof(l->name[0]), "%s", de->d_name);
  }
  closedir(d);
}

static bool listed(const struct listing *l, const char *name) {
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(l->name[i], name))
      return true;
  return false;
}

/* A temp file of NAME as statefile.h names it: ".token.<16 hex>.tmp". */
static bool is_temp_of_name(const char *ent) {
  const char *pre = "." NAME ".";
  size_t pl = strlen(pre);
  if (strncmp(ent, pre, pl) != 0 || strlen(ent) != pl + 16 + 4)
    return false;
  for (size_t i = 0; i < 16; i++)
    if (!strchr("0123456789abcdef", ent[pl + i]))
      return false;
  return !strcmp(ent + pl + 16, ".tmp");
}

/* The directory holds exactly NAME and nothing else. */
static void assert_only_name(const struct fixture *f) {
  struct listing l;
  list_dir(f->dir, &l);
  if (l.n != 1 || strcmp(l.name[0], NAME) != 0) {
    for (size_t i = 0; i < l.n; i++)
      print_error("entry: %s\n", l.name[i]);
    fail_msg("expected only %s in %s, found %zu entries", NAME, f->dir, l.n);
  }
}

/* The file's bytes, read without statefile (an independent check). */
static size_t raw_read(const char *path, uint8_t *out, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  size_t got = 0;
  for (;;) {
    assert_true(got < size);
    ssize_t n = read(fd, out + got, size - got);
    assert_true(n >= 0);
    if (n == 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  return got;
}

static void assert_content(const struct fixture *f, const char *name, const void *want,
                           size_t len) {
  char path[PATH_MAX];
  path_of(f, name, path, sizeof(path));
  static uint8_t got[STATEFILE_MAX + 2];
  size_t n = raw_read(path, got, sizeof(got));
  assert_int_equal(n, len);
  assert_memory_equal(got, want, len);
}

/* Through statefile_read, too. */
static void assert_reads(const struct fixture *f, const char *name, const void *want, size_t len) {
  struct buf b = BUF_INIT(STATEFILE_MAX);
  assert_int_equal(statefile_read(f->dir, name, &b), 0);
  assert_int_equal(b.len, len);
  if (len)
    assert_memory_equal(b.data, want, len);
  buf_done(&b);
}

static void write_raw(const struct fixture *f, const char *name, const char *text, mode_t mode) {
  char path[PATH_MAX];
  path_of(f, name, path, sizeof(path));
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  assert_true(fd >= 0);
  size_t len = strlen(text);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
}

static void rm_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      rm_tree(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof(*f));
  if (!f)
    return -1;
  snprintf(f->dir, sizeof(f->dir), "/tmp/statefile-test-XXXXXX");
  if (!mkdtemp(f->dir)) {
    free(f);
    return -1;
  }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  rm_tree(f->dir);
  free(f);
  return 0;
}

/* ---- round trip, mode, replace ---- */

static void test_round_trip_mode_umask0(void **state) {
  struct fixture *f = *state;
  mode_t old = umask(0);
  int r = statefile_write(f->dir, NAME, "refresh-token", 13);
  umask(old);
  assert_int_equal(r, 0);

  char path[PATH_MAX];
  path_of(f, NAME, path, sizeof(path));
  struct stat st;
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(st.st_uid, geteuid());
  assert_content(f, NAME, "refresh-token", 13);
  assert_reads(f, NAME, "refresh-token", 13);
  assert_only_name(f);

  /* An empty file is a valid content, and the largest one fits. */
  assert_int_equal(statefile_write(f->dir, NAME, NULL, 0), 0);
  assert_reads(f, NAME, "", 0);
  static uint8_t big[STATEFILE_MAX];
  for (size_t i = 0; i < sizeof(big); i++)
    big[i] = (uint8_t)(i * 7 + 1);
  assert_int_equal(statefile_write(f->dir, NAME, big, sizeof(big)), 0);
  assert_reads(f, NAME, big, sizeof(big));

  /* statefile_read appends and leaves the rest of the buffer alone. */
  struct buf b = BUF_INIT(STATEFILE_MAX + 2);
  assert_int_equal(buf_append_str(&b, "xy"), 0);
  assert_int_equal(statefile_write(f->dir, NAME, "abc", 3), 0);
  assert_int_equal(statefile_read(f->dir, NAME, &b), 0);
  assert_string_equal((char *)b.data, "xyabc");
  buf_done(&b);
}

static void test_replace_leaves_one_file(void **state) {
  struct fixture *f = *state;
  static char longer[4096];
  memset(longer, 'L', sizeof(longer));
  assert_int_equal(statefile_write(f->dir, NAME, longer, sizeof(longer)), 0);
  assert_only_name(f);
  /* A shorter content replaces the longer one whole: no tail of the old. */
  assert_int_equal(statefile_write(f->dir, NAME, "short", 5), 0);
  assert_only_name(f);
  assert_content(f, NAME, "short", 5);
  for (int i = 0; i < 20; i++) {
    char v[32];
    int n = snprintf(v, sizeof(v), "value-%d", i);
    assert_int_equal(statefile_write(f->dir, NAME, v, (size_t)n), 0);
    assert_only_name(f);
    assert_reads(f, NAME, v, (size_t)n);
  }
  /* Another name lives beside it and is left alone. */
  assert_int_equal(statefile_write(f->dir, "device-id", "D1", 2), 0);
  assert_int_equal(statefile_write(f->dir, NAME, "again", 5), 0);
  assert_content(f, "device-id", "D1", 2);
  struct listing l;
  list_dir(f->dir, &l);
  assert_int_equal(l.n, 2);
}

static void test_write_over_symlink_replaces_link(void **state) {
  struct fixture *f = *state;
  assert_int_equal(statefile_write(f->dir, "target", "T", 1), 0);
  char link[PATH_MAX];
  path_of(f, NAME, link, sizeof(link));
  assert_int_equal(symlink("target", link), 0);
  /* The rename replaces the link itself; the file it pointed at is not written. */
  assert_int_equal(statefile_write(f->dir, NAME, "new", 3), 0);
  struct stat st;
  assert_int_equal(lstat(link, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  assert_content(f, NAME, "new", 3);
  assert_content(f, "target", "T", 1);
}

static void test_write_errors(void **state) {
  struct fixture *f = *state;
  static uint8_t big[STATEFILE_MAX + 1];
  assert_int_equal(statefile_write(f->dir, NAME, big, sizeof(big)), -AMP_ETOOBIG);
  assert_int_equal(statefile_write(f->dir, NAME, NULL, 1), -EINVAL);
  struct listing l;
  list_dir(f->dir, &l);
  assert_int_equal(l.n, 0);

  char missing[PATH_MAX];
  path_of(f, "missing", missing, sizeof(missing));
  assert_int_equal(statefile_write(missing, NAME, "x", 1), -ENOENT);

  /* The rename fails (the name is a directory): the temp file goes, the directory stays. */
  char sub[PATH_MAX];
  path_of(f, NAME, sub, sizeof(sub));
  assert_int_equal(mkdir(sub, 0700), 0);
  int r = statefile_write(f->dir, NAME, "x", 1);
  assert_true(r == -EISDIR || r == -ENOTEMPTY || r == -EEXIST);
  list_dir(f->dir, &l);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.name[0], NAME);
  struct stat st;
  assert_int_equal(lstat(sub, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
}

/* ---- read refuses what it must not trust ---- */

static void assert_read_refused(const struct fixture *f, int want) {
  struct buf b = BUF_INIT(STATEFILE_MAX);
  assert_int_equal(statefile_read(f->dir, NAME, &b), want);
  /* Nothing read, nothing allocated. */
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  buf_done(&b);
}

static void test_read_absent(void **state) {
  struct fixture *f = *state;
  assert_read_refused(f, -ENOENT);
  char missing[PATH_MAX];
  path_of(f, "missing", missing, sizeof(missing));
  struct buf b = BUF_INIT(64);
  assert_int_equal(statefile_read(missing, NAME, &b), -ENOENT);
  buf_done(&b);
}

static void test_read_refuses_symlink(void **state) {
  struct fixture *f = *state;
  assert_int_equal(statefile_write(f->dir, "target", "secret", 6), 0);
  char link[PATH_MAX];
  path_of(f, NAME, link, sizeof(link));
  assert_int_equal(symlink("target", link), 0);
  assert_read_refused(f, -ELOOP);
  /* A dangling link too. */
  assert_int_equal(unlink(link), 0);
  assert_int_equal(symlink("nowhere", link), 0);
  assert_read_refused(f, -ELOOP);
}

static void test_read_refuses_loose_mode(void **state) {
  struct fixture *f = *state;
  write_raw(f, NAME, "secret", 0644);
  assert_read_refused(f, -EPERM);
  char path[PATH_MAX];
  path_of(f, NAME, path, sizeof(path));
  static const mode_t loose[] = {0640, 0604, 0610, 0601, 0660, 0666, 0620};
  for (size_t i = 0; i < sizeof(loose) / sizeof(loose[0]); i++) {
    assert_int_equal(chmod(path, loose[i]), 0);
    assert_read_refused(f, -EPERM);
  }
  /* Stricter than 0600 is fine. */
  assert_int_equal(chmod(path, 0400), 0);
  assert_reads(f, NAME, "secret", 6);
  assert_int_equal(chmod(path, 0600), 0);
  assert_reads(f, NAME, "secret", 6);
}

static void test_read_refuses_foreign_owner(void **state) {
  struct fixture *f = *state;
  /* The tests run as root (chown to another uid needs it): a failing chown fails here. */
  assert_int_equal(statefile_write(f->dir, NAME, "secret", 6), 0);
  char path[PATH_MAX];
  path_of(f, NAME, path, sizeof(path));
  assert_int_equal(chown(path, 65534, 65534), 0);
  assert_read_refused(f, -EPERM);
  /* Only the group changed: still ours, still fine. */
  assert_int_equal(chown(path, geteuid(), 65534), 0);
  assert_reads(f, NAME, "secret", 6);
}

static void test_read_refuses_not_regular(void **state) {
  struct fixture *f = *state;
  char path[PATH_MAX];
  path_of(f, NAME, path, sizeof(path));
  assert_int_equal(mkdir(path, 0700), 0);
  assert_read_refused(f, -EINVAL);
  assert_int_equal(rmdir(path), 0);
  /* A FIFO is refused and does not block the read (ctest's timeout would fail it). */
  assert_int_equal(mkfifo(path, 0600), 0);
  assert_read_refused(f, -EINVAL);
  assert_int_equal(unlink(path), 0);
  /* A device node (/dev/null's numbers) is refused. */
  assert_int_equal(mknod(path, S_IFCHR | 0600, makedev(1, 3)), 0);
  assert_read_refused(f, -EINVAL);
}

static void test_read_refuses_oversized(void **state) {
  struct fixture *f = *state;
  char path[PATH_MAX];
  path_of(f, NAME, path, sizeof(path));
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, STATEFILE_MAX + 1), 0);
  assert_read_refused(f, -AMP_ETOOBIG);
  /* STATEFILE_MAX is the bound even for a buffer that would take more. */
  struct buf roomy = BUF_INIT(4 * STATEFILE_MAX);
  assert_int_equal(statefile_read(f->dir, NAME, &roomy), -AMP_ETOOBIG);
  assert_null(roomy.data);
  buf_done(&roomy);
  /* A sparse 1 GiB file: refused from its size, with nothing allocated (checked by
   * assert_read_refused) and so without reading it. */
  assert_int_equal(ftruncate(fd, (off_t)1 << 30), 0);
  assert_read_refused(f, -AMP_ETOOBIG);
  /* At the bound it is read. */
  assert_int_equal(ftruncate(fd, STATEFILE_MAX), 0);
  close(fd);
  struct buf b = BUF_INIT(STATEFILE_MAX);
  assert_int_equal(statefile_read(f->dir, NAME, &b), 0);
  assert_int_equal(b.len, STATEFILE_MAX);
  buf_done(&b);

  /* The buffer's own max bounds the read too, and its content is kept on refusal. */
  assert_int_equal(statefile_write(f->dir, NAME, "0123456789", 10), 0);
  buf_init(&b, 11);
  assert_int_equal(buf_append_str(&b, "ab"), 0);
  assert_int_equal(statefile_read(f->dir, NAME, &b), -AMP_ETOOBIG);
  assert_int_equal(b.len, 2);
  assert_string_equal((char *)b.data, "ab");
  buf_done(&b);
}

/* ---- names ---- */

static void test_bad_names(void **state) {
  struct fixture *f = *state;
  char too_long[STATEFILE_NAME_MAX + 2];
  memset(too_long, 'a', sizeof(too_long) - 1);
  too_long[sizeof(too_long) - 1] = 0;
  const char *bad[] = {"",     "a/b", "/abs", "..",       ".",  ".hidden",
                       "../x", "a b", "a\nb", "\xc3\xa9", "x/", too_long};
  struct buf b = BUF_INIT(64);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(statefile_write(f->dir, bad[i], "x", 1), -EINVAL);
    assert_int_equal(statefile_read(f->dir, bad[i], &b), -EINVAL);
    assert_int_equal(statefile_remove(f->dir, bad[i]), -EINVAL);
    assert_int_equal(statefile_cleanup(f->dir, bad[i]), -EINVAL);
  }
  assert_int_equal(statefile_write(f->dir, NULL, "x", 1), -EINVAL);
  assert_int_equal(statefile_write(NULL, NAME, "x", 1), -EINVAL);
  assert_int_equal(statefile_read(f->dir, NULL, &b), -EINVAL);
  assert_int_equal(statefile_read(f->dir, NAME, NULL), -EINVAL);
  assert_null(b.data);
  struct listing l;
  list_dir(f->dir, &l);
  assert_int_equal(l.n, 0);

  /* The longest name and every allowed character work. */
  too_long[STATEFILE_NAME_MAX] = 0;
  assert_int_equal(statefile_write(f->dir, too_long, "y", 1), 0);
  assert_int_equal(statefile_write(f->dir, "aZ09._-x", "z", 1), 0);
  assert_content(f, too_long, "y", 1);
  assert_content(f, "aZ09._-x", "z", 1);
  buf_done(&b);
}

/* ---- a full disk ---- */

static void test_full_disk_keeps_old(void **state) {
  struct fixture *f = *state;
  assert_int_equal(statefile_write(f->dir, NAME, "old-content", 11), 0);

  static uint8_t data[8192];
  memset(data, 'n', sizeof(data));
  /* Files may not grow past 100 bytes: the write gets a short write, then EFBIG (with
   * SIGXFSZ ignored) the way a full disk gives ENOSPC. */
  struct rlimit old_lim, lim;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
  lim = old_lim;
  lim.rlim_cur = 100;
  void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  int r = statefile_write(f->dir, NAME, data, sizeof(data));
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_lim), 0);
  signal(SIGXFSZ, old_sig);

  assert_true(r == -EFBIG || r == -ENOSPC);
  assert_only_name(f);
  assert_content(f, NAME, "old-content", 11);
  assert_reads(f, NAME, "old-content", 11);
  /* And with room again, the write goes through. */
  assert_int_equal(statefile_write(f->dir, NAME, data, sizeof(data)), 0);
  assert_content(f, NAME, data, sizeof(data));
}

/* ---- crashes ---- */

static enum statefile_stage kill_at;

static void kill_hook(enum statefile_stage s) {
  if (s == kill_at)
    raise(SIGKILL);
}

/* Fork a child that writes content and is SIGKILLed at stage s. */
static void crash_write_at(const struct fixture *f, enum statefile_stage s, const char *content) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    kill_at = s;
    statefile_test_hook = kill_hook;
    statefile_write(f->dir, NAME, content, strlen(content));
    _exit(0); /* the hook never fired: the parent sees a normal exit and fails */
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void test_crash_before_rename(void **state) {
  struct fixture *f = *state;
  static const enum statefile_stage before[] = {STATEFILE_STAGE_CREATED, STATEFILE_STAGE_WRITTEN,
                                                STATEFILE_STAGE_SYNCED};
  for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++) {
    assert_int_equal(statefile_write(f->dir, NAME, "old-content", 11), 0);
    crash_write_at(f, before[i], "new-content!");

    /* The old file is intact and the crash left its temp file behind. */
    assert_content(f, NAME, "old-content", 11);
    assert_reads(f, NAME, "old-content", 11);
    struct listing l;
    list_dir(f->dir, &l);
    assert_int_equal(l.n, 2);
    assert_true(listed(&l, NAME));
    const char *tmp = is_temp_of_name(l.name[0]) ? l.name[0] : l.name[1];
    assert_true(is_temp_of_name(tmp));
    if (before[i] != STATEFILE_STAGE_CREATED)
      assert_content(f, tmp, "new-content!", 12);
    char tpath[PATH_MAX];
    path_of(f, tmp, tpath, sizeof(tpath));
    struct stat st;
    assert_int_equal(lstat(tpath, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    /* The next write removes the stale temp file. */
    assert_int_equal(statefile_write(f->dir, NAME, "third", 5), 0);
    assert_only_name(f);
    assert_content(f, NAME, "third", 5);
  }

  /* After the rename the new content is in place and nothing is left over. */
  crash_write_at(f, STATEFILE_STAGE_RENAMED, "renamed");
  assert_only_name(f);
  assert_content(f, NAME, "renamed", 7);
}

static void test_cleanup_and_remove(void **state) {
  struct fixture *f = *state;
  assert_int_equal(statefile_write(f->dir, NAME, "old", 3), 0);
  crash_write_at(f, STATEFILE_STAGE_SYNCED, "stale");
  /* Files that are not NAME's temp files, each a near miss, must survive. */
  static const char *keep[] = {
      ".token.b.0123456789abcdef.tmp", /* the temp of the name "token.b" */
      ".token.0123456789abcde.tmp",    /* 15 digits */
      ".token.0123456789ABCDEF.tmp",   /* upper case */
      ".token.0123456789abcdef.tmpx",  ".tokenx.0123456789abcdef.tmp", "token.tmp", "token.b",
  };
  for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
    write_raw(f, keep[i], "k", 0600);
  size_t nkeep = sizeof(keep) / sizeof(keep[0]);
  struct listing l;
  list_dir(f->dir, &l);
  assert_int_equal(l.n, nkeep + 2);

  assert_int_equal(statefile_cleanup(f->dir, NAME), 0);
  list_dir(f->dir, &l);
  assert_int_equal(l.n, nkeep + 1);
  assert_true(listed(&l, NAME));
  for (size_t i = 0; i < l.n; i++)
    assert_false(is_temp_of_name(l.name[i]));
  assert_content(f, NAME, "old", 3);

  /* remove takes the file and its stale temp files, nothing else. */
  crash_write_at(f, STATEFILE_STAGE_SYNCED, "stale");
  assert_int_equal(statefile_remove(f->dir, NAME), 0);
  list_dir(f->dir, &l);
  assert_int_equal(l.n, nkeep);
  assert_false(listed(&l, NAME));
  for (size_t i = 0; i < l.n; i++)
    assert_false(is_temp_of_name(l.name[i]));
  assert_read_refused(f, -ENOENT);
  assert_int_equal(statefile_remove(f->dir, NAME), -ENOENT);
}

/* xorshift, seeded: the kill delays vary run to run only through scheduling. */
static uint32_t rnd_state = 2463534242u;
static uint32_t rnd(void) {
  rnd_state ^= rnd_state << 13;
  rnd_state ^= rnd_state >> 17;
  rnd_state ^= rnd_state << 5;
  return rnd_state;
}

static void test_kill_at_random_points(void **state) {
  struct fixture *f = *state;
  /* Two contents of different lengths: a mix, a truncation or an empty file shows. */
  static uint8_t a[40000], b[23456];
  memset(a, 'A', sizeof(a));
  memset(b, 'B', sizeof(b));
  a[sizeof(a) - 1] = 'a';
  b[sizeof(b) - 1] = 'b';
  assert_int_equal(statefile_write(f->dir, NAME, a, sizeof(a)), 0);

  char path[PATH_MAX];
  path_of(f, NAME, path, sizeof(path));
  static uint8_t got[STATEFILE_MAX + 1];
  unsigned saw_a = 0, saw_b = 0, killed = 0;
  for (int i = 0; i < 300; i++) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      /* Write the two contents in turn until killed. */
      for (unsigned k = (unsigned)i;; k++) {
        if (k & 1)
          statefile_write(f->dir, NAME, a, sizeof(a));
        else
          statefile_write(f->dir, NAME, b, sizeof(b));
      }
    }
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(rnd() % 15000) * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    killed += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;

    size_t n = raw_read(path, got, sizeof(got));
    if (n == sizeof(a) && !memcmp(got, a, n))
      saw_a++;
    else if (n == sizeof(b) && !memcmp(got, b, n))
      saw_b++;
    else
      fail_msg("round %d: the file holds %zu bytes, neither content whole", i, n);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
  }
  print_message("kills: %u left A, %u left B\n", saw_a, saw_b);
  assert_int_equal(killed, 300);
  /* Both contents were seen: the children did replace the file while being killed. */
  assert_true(saw_a > 0);
  assert_true(saw_b > 0);
  /* Whatever temp files the kills left, one more write clears them. */
  assert_int_equal(statefile_write(f->dir, NAME, "end", 3), 0);
  assert_only_name(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip_mode_umask0, setup, teardown),
      cmocka_unit_test_setup_teardown(test_replace_leaves_one_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_over_symlink_replaces_link, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_absent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_refuses_symlink, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_refuses_loose_mode, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_refuses_foreign_owner, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_refuses_not_regular, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_refuses_oversized, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
      cmocka_unit_test_setup_teardown(test_full_disk_keeps_old, setup, teardown),
      cmocka_unit_test_setup_teardown(test_crash_before_rename, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cleanup_and_remove, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill_at_random_points, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
