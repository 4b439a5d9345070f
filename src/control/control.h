/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CONTROL_CONTROL_H
#define AMPD_CONTROL_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

/*
 * control: the daemon's control socket (docs/protocol.md). A Unix stream socket on the
 * loop thread speaking JSON lines: one request object per line, exactly one reply line
 * per request, and for subscribed clients event lines in the order they were published.
 *
 * Every function here belongs to the loop's thread (core/loop.h); nothing blocks. All
 * fds are non-blocking and close-on-exec.
 *
 * Bounds (each input past one is refused, never truncated):
 *  - CONTROL_LINE_MAX: bytes of one request line without its '\n'. A longer line gets one
 *    "too_long" error reply (id null), the rest of it up to its '\n' is discarded, and the
 *    connection is kept.
 *  - CONTROL_CLIENTS_MAX: connections at once. One more is answered with one "busy" error
 *    line (id null) and closed.
 *  - CONTROL_OUT_MAX: bytes of replies and events queued for one client. A client that stops
 *    reading and fills it is dropped (one log line); the loop never waits for it.
 *  - CONTROL_INFLIGHT_MAX: requests of one client whose reply is still to come. One more is
 *    answered "busy" at once.
 *  - CONTROL_COMMANDS_MAX commands (the 4 built-ins among them), names of 1..CONTROL_NAME_MAX bytes
 * of [a-z0-9_] (the first a letter); CONTROL_ID_MAX bytes of a string id; CONTROL_JSON_DEPTH levels
 * of nesting in a request; error codes of 1..CONTROL_CODE_MAX bytes of [a-z_].
 *
 * Request contents are never logged above debug (a reference may be a signed URL).
 */
#define CONTROL_LINE_MAX (64 * 1024)
#define CONTROL_CLIENTS_MAX 32
#define CONTROL_OUT_MAX (1024 * 1024)
#define CONTROL_INFLIGHT_MAX 16
#define CONTROL_COMMANDS_MAX 64
#define CONTROL_NAME_MAX 31
#define CONTROL_ID_MAX 256
#define CONTROL_JSON_DEPTH 16
#define CONTROL_CODE_MAX 31

/* Where the daemon puts the socket by default: in its runtime directory. */
#define CONTROL_DEFAULT_PATH "/run/ampd/control"

struct loop;
struct control;
struct control_req;

/*
 * A command handler, called on the loop thread for each request naming it. args is the
 * request object without "id" and "cmd", owned by control and valid only during the call
 * (copy what is needed later). The handler must answer req exactly once, at once or
 * later, with control_reply() or control_reply_error(); a request whose client has gone
 * away is still valid until answered (the reply is dropped). Bad arguments are answered
 * with the code "bad_args".
 */
typedef void (*control_cmd_fn)(struct control_req *req, const cJSON *args, void *userdata);

/*
 * Listen at path (at most 107 bytes): the socket is bound with the mode 0660 (under a
 * umask: call before other threads start, the umask is the process's). An existing
 * socket at path that nobody listens on (a stale one) is replaced; anything else is
 * refused: -EADDRINUSE when a server answers there, -EEXIST for a file that is not a
 * socket. -ENAMETOOLONG, -ENOMEM, or the -errno of socket/bind/listen. On failure
 * nothing is left at path that was not there before.
 */
int control_new(struct loop *l, const char *path, struct control **ret);
/* control_new() with the socket's group set to the group named group (NULL or "": the
 * process's own, as control_new()), before the socket appears at path: 0660 with that
 * group is who may connect. The daemon must be in the group (or be root). -ENOENT for no
 * such group, -EPERM when it is not the daemon's, else as control_new(). */
int control_new_group(struct loop *l, const char *path, const char *group, struct control **ret);

/*
 * Close every connection (unsent output is dropped), free requests not answered yet
 * (answering one of them afterwards is a use after free: stop whatever would answer
 * first), and unlink the socket if it is still the one bound. Not from inside a handler.
 * Accepts NULL.
 */
void control_free(struct control *c);

/*
 * Register a command. name is copied. 0, -EINVAL (bad name, NULL fn), -EEXIST (the name is
 * taken, the built-ins too: version, help, subscribe, unsubscribe), -AMP_ETOOBIG (past
 * CONTROL_COMMANDS_MAX).
 */
int control_add_command(struct control *c, const char *name, control_cmd_fn fn, void *userdata);

/*
 * Answer req: {"id": <its id>, "ok": true, "result": result}. result must be an object or
 * NULL (then {}); control takes it (freed in every case). req is freed in every case.
 * 0 (queued), -ENOTCONN (the client is gone, or was dropped on this reply because its
 * output was full: dropped), -EINVAL (result is not an object: "internal" is answered
 * instead).
 */
int control_reply(struct control_req *req, cJSON *result);

/*
 * Answer req with {"id", "ok": false, "error": {"code": code, "message": message}}. code
 * is a short [a-z_]+ (bad_args, not_found, ...); an invalid one is answered as "internal"
 * with -EINVAL returned. message may be NULL (then ""); it goes to the client, never to the
 * log. req is freed in every case. Otherwise as control_reply().
 */
int control_reply_error(struct control_req *req, const char *code, const char *message);

/* The client's credentials read at accept (SO_PEERCRED). -ENOTCONN when it is gone. */
int control_req_peer(const struct control_req *req, pid_t *ret_pid, uid_t *ret_uid);

/*
 * Send {"event": topic, ...event's members} to every subscribed client, behind what each
 * was sent before. event must be an object (or NULL: no members); it stays the caller's.
 * topic: 1..CONTROL_NAME_MAX bytes as a command name. A subscriber whose output would
 * pass CONTROL_OUT_MAX is dropped instead. 0, -EINVAL, -ENOMEM.
 */
int control_publish(struct control *c, const char *topic, const cJSON *event);

/* Subscribed clients now (publishing to none costs only the check), and connections (one
 * being closed counts until the next loop pass). */
size_t control_subscribers(const struct control *c);
size_t control_clients(const struct control *c);

#endif
