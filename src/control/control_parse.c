/* SPDX-License-Identifier: Apache-2.0 */
#include "control_int.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "cloud/json.h"
#include "core/err.h"

void control_lines_init(struct control_lines *s) {
  *s = (struct control_lines){0};
  buf_init(&s->in, CONTROL_LINE_MAX + CONTROL_READ_CHUNK);
}

void control_lines_done(struct control_lines *s) {
  buf_done(&s->in);
}

int control_lines_push(struct control_lines *s, const void *data, size_t n) {
  const uint8_t *p = data;
  if (n > CONTROL_READ_CHUNK)
    return -AMP_ETOOBIG;
  /* The lines taken so far are dropped here, not one by one, so that a read of many
   * short lines costs one move. */
  if (s->pos) {
    buf_consume(&s->in, s->pos);
    s->pos = 0;
  }
  if (s->discard) {
    const uint8_t *nl = memchr(p, '\n', n);
    if (!nl)
      return 0;
    s->discard = false;
    n -= (size_t)(nl + 1 - p);
    p = nl + 1;
  }
  if (s->in.len > CONTROL_LINE_MAX)
    return -AMP_ETOOBIG; /* control_lines_next() was not called until 0 */
  return buf_append(&s->in, p, n);
}

int control_lines_next(struct control_lines *s, const char **ret_line, size_t *ret_len) {
  size_t avail = s->in.len - s->pos;
  char *start = (char *)s->in.data + s->pos;
  /* Only the bytes not looked at before are searched: a line arriving a byte at a time
   * costs its length, not its length squared. */
  char *nl = avail > s->scan ? memchr(start + s->scan, '\n', avail - s->scan) : NULL;
  if (!nl) {
    s->scan = avail;
    if (avail <= CONTROL_LINE_MAX)
      return 0;
    /* Over the bound with no end in sight: drop it and what follows up to its '\n'. */
    buf_reset(&s->in);
    s->pos = 0;
    s->scan = 0;
    s->discard = true;
    return -AMP_ETOOBIG;
  }
  size_t len = (size_t)(nl - start);
  s->pos += len + 1;
  s->scan = 0;
  if (len > CONTROL_LINE_MAX)
    return -AMP_ETOOBIG;
  *nl = '\0';
  if (len && start[len - 1] == '\r')
    start[--len] = '\0';
  *ret_line = start;
  *ret_len = len;
  return 1;
}

bool control_name_ok(const char *name) {
  size_t n = strnlen(name, CONTROL_NAME_MAX + 1);
  if (n == 0 || n > CONTROL_NAME_MAX || name[0] < 'a' || name[0] > 'z')
    return false;
  for (size_t i = 1; i < n; i++) {
    char ch = name[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'))
      return false;
  }
  return true;
}

bool control_code_ok(const char *code) {
  size_t n = strnlen(code, CONTROL_CODE_MAX + 1);
  if (n == 0 || n > CONTROL_CODE_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((code[i] >= 'a' && code[i] <= 'z') || code[i] == '_'))
      return false;
  return true;
}

static int refuse(struct control_request *r, int err, const char *code, const char *message) {
  r->code = code;
  r->message = message;
  return err;
}

int control_request_parse(const char *line, size_t len, struct control_request *r) {
  *r = (struct control_request){0};
  cJSON *root = NULL;
  int err = json_parse_exact(line, len, CONTROL_JSON_DEPTH, &root);
  if (err == -ENOMEM)
    return refuse(r, err, "internal", "out of memory");
  if (err < 0)
    return refuse(r, -AMP_EJSON, "bad_json", "not one JSON value");
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return refuse(r, -AMP_EPROTO, "bad_request", "a request is a JSON object");
  }
  r->args = root;
  cJSON *id = cJSON_DetachItemFromObjectCaseSensitive(root, "id");
  /* A number that is not finite ("1e999" parses to infinity) would be answered with the
   * id null (JSON has no infinity): the client could not match its reply. */
  bool number = cJSON_IsNumber(id) && isfinite(id->valuedouble);
  if (id && !number &&
      !(cJSON_IsString(id) && strnlen(id->valuestring, CONTROL_ID_MAX + 1) <= CONTROL_ID_MAX)) {
    cJSON_Delete(id);
    id = NULL;
  } else if (id) {
    r->id = id;
  }
  /* A second "id" or "cmd" member would make the request mean two things. */
  if (!r->id || cJSON_GetObjectItemCaseSensitive(root, "id"))
    return refuse(r, -AMP_EPROTO, "bad_request", "id: one number or string");
  cJSON *cmd = cJSON_DetachItemFromObjectCaseSensitive(root, "cmd");
  bool one = cmd && !cJSON_GetObjectItemCaseSensitive(root, "cmd");
  if (!one || !cJSON_IsString(cmd)) {
    cJSON_Delete(cmd);
    return refuse(r, -AMP_EPROTO, "bad_request", "cmd: one string");
  }
  bool named = control_name_ok(cmd->valuestring);
  if (named)
    memcpy(r->cmd, cmd->valuestring, strlen(cmd->valuestring) + 1);
  cJSON_Delete(cmd);
  if (!named)
    return refuse(r, -AMP_EPROTO, "unknown_command", "no such command");
  return 0;
}

void control_request_done(struct control_request *r) {
  cJSON_Delete(r->args);
  cJSON_Delete(r->id);
  *r = (struct control_request){0};
}

int control_format_reply(struct buf *out, const cJSON *id, const cJSON *result, const char *code,
                         const char *message) {
  int err = -ENOMEM;
  cJSON *o = cJSON_CreateObject();
  cJSON *idc = id ? cJSON_Duplicate(id, 0) : cJSON_CreateNull();
  if (!o || !idc || !cJSON_AddItemToObject(o, "id", idc)) {
    cJSON_Delete(idc);
    goto out;
  }
  if (!code) {
    cJSON *res = result ? cJSON_Duplicate(result, 1) : cJSON_CreateObject();
    if (!cJSON_AddTrueToObject(o, "ok") || !res || !cJSON_AddItemToObject(o, "result", res)) {
      cJSON_Delete(res);
      goto out;
    }
  } else {
    cJSON *e = cJSON_CreateObject();
    if (!cJSON_AddFalseToObject(o, "ok") || !e || !cJSON_AddItemToObject(o, "error", e)) {
      cJSON_Delete(e);
      goto out;
    }
    if (!cJSON_AddStringToObject(e, "code", code) ||
        !cJSON_AddStringToObject(e, "message", message ? message : ""))
      goto out;
  }
  char *text = cJSON_PrintUnformatted(o);
  if (!text)
    goto out;
  size_t before = out->len;
  err = buf_append_str(out, text);
  if (!err)
    err = buf_append_u8(out, '\n');
  if (err && out->data) { /* never half a line */
    out->len = before;
    out->data[before] = '\0';
  }
  cJSON_free(text);
out:
  cJSON_Delete(o);
  return err;
}
