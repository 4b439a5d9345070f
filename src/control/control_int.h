/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CONTROL_CONTROL_INT_H
#define AMPD_CONTROL_CONTROL_INT_H

/*
 * The pure part of control (no fds, no loop), split out so that it can be fuzzed
 * (tests/fuzz/fuzz_control.c): the line splitter and the request parser.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "control.h"
#include "core/buf.h"

/* Bytes read from a socket at once; the splitter holds at most a line and one read. */
#define CONTROL_READ_CHUNK (16 * 1024)

/*
 * Split bytes into lines of at most CONTROL_LINE_MAX bytes. Push at most
 * CONTROL_READ_CHUNK bytes at a time, then call control_lines_next() until it returns 0.
 */
struct control_lines {
  struct buf in; /* max CONTROL_LINE_MAX + CONTROL_READ_CHUNK */
  size_t pos;    /* start of the next line in in */
  size_t scan;   /* bytes from pos already known to hold no '\n' */
  bool discard;  /* inside an oversized line: drop up to its '\n' */
};

void control_lines_init(struct control_lines *s);
void control_lines_done(struct control_lines *s);
/* 0, -ENOMEM, -AMP_ETOOBIG (more than CONTROL_READ_CHUNK, or lines not taken first). */
int control_lines_push(struct control_lines *s, const void *data, size_t n);
/*
 * 1: *ret_line (len *ret_len, without '\n' and one '\r' before it; NUL-terminated, valid
 * until the next push) is the next line. 0: no complete line yet. -AMP_ETOOBIG: a line
 * over CONTROL_LINE_MAX, reported once (its bytes are dropped, up to its '\n').
 */
int control_lines_next(struct control_lines *s, const char **ret_line, size_t *ret_len);

/*
 * A parsed request. control_request_parse() fills *r in every case (the exception to
 * "ret_ on success only": a refused request is answered with the id it had when the id
 * was valid): on success code is NULL, cmd the command name, args the request object
 * without "id" and "cmd"; on failure code is "bad_json" (not one JSON value, or nested
 * past CONTROL_JSON_DEPTH) or "bad_request" (not an object; id missing or not a finite
 * number or a string of at most CONTROL_ID_MAX bytes; cmd missing or not a string) and message a
 * static explanation; "unknown_command" for a cmd that is not a valid name. id is NULL
 * (answered as null) or the id. Free with control_request_done().
 * Returns 0, -AMP_EJSON (bad_json), -AMP_EPROTO (bad_request, unknown_command), -ENOMEM.
 */
struct control_request {
  cJSON *args; /* the request object, "id" and "cmd" taken out */
  cJSON *id;   /* a number or a string, or NULL */
  char cmd[CONTROL_NAME_MAX + 1];
  const char *code;
  const char *message;
};

int control_request_parse(const char *line, size_t len, struct control_request *r);
void control_request_done(struct control_request *r);

/* [a-z][a-z0-9_]{0,CONTROL_NAME_MAX-1} */
bool control_name_ok(const char *name);
/* [a-z_]{1,CONTROL_CODE_MAX} */
bool control_code_ok(const char *code);

/*
 * The reply line (with '\n') for id (NULL: null) into out: result (an object, or NULL for
 * {}) when code is NULL, else the error. 0, -ENOMEM, -AMP_ETOOBIG (out's max).
 */
int control_format_reply(struct buf *out, const cJSON *id, const cJSON *result, const char *code,
                         const char *message);

#endif
