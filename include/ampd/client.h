/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CLIENT_H
#define AMPD_CLIENT_H

/*
 * libampd-client: a client of ampd's control socket (docs/protocol.md, "The client
 * library"). Link with `pkg-config --cflags --libs ampd-client`.
 *
 * One connection, single-threaded: a struct ampd_client belongs to one thread at a time.
 * Two ways to use it:
 *  - in the caller's own loop: poll or epoll ampd_client_fd() for POLLIN (the library
 *    never needs POLLOUT from the caller) and call ampd_client_process() when it is
 *    readable; replies reach the callback given to ampd_client_request() (or are kept for
 *    ampd_client_take()), events the callback of ampd_client_on_event();
 *  - blocking, for simple tools: ampd_client_call() (send, then wait for that reply),
 *    ampd_client_subscribe(), ampd_client_dispatch() (wait for the next input and
 *    process it).
 *
 * JSON crosses this header as text. A request's arguments are the text of a JSON object
 * (or NULL); a reply's result and an event's members are handed back as text
 * (ampd_msg_body()) with two accessors for the top-level strings and numbers, which is
 * what most clients read (the state, the title, the volume). So no JSON library's types
 * are part of the ABI: a caller parses the text with whatever it uses, and a change of
 * the library's own JSON parser is invisible.
 *
 * Ids: the library numbers requests 1, 2, 3... on a connection and matches each reply to
 * its request by id; a reply that arrives while the caller waits for another is kept
 * (for its callback or for ampd_client_take()), never lost.
 *
 * Bounds (input past one is an error, never truncated):
 *  - AMPD_CLIENT_LINE_MAX bytes of one line from the daemon (a reply or an event)
 *    without its '\n': past it, -EMSGSIZE. The receive buffer grows up to this.
 *  - AMPD_CLIENT_REQUEST_MAX bytes of one request line (the daemon's own bound): past
 *    it, -EMSGSIZE and nothing is sent.
 *  - AMPD_CLIENT_PENDING_MAX requests sent whose reply has not been delivered or taken
 *    yet (the daemon's own bound of requests in flight): one more is -EBUSY. Kept
 *    replies count until taken, so at most this many replies are ever kept.
 *  - AMPD_CLIENT_SEND_TIMEOUT_MS: a request is written whole before
 *    ampd_client_request() returns; if the socket has no room for that long, -ETIMEDOUT.
 *
 * Errors are negative errno values, the same everywhere:
 *  -ENOENT, -ECONNREFUSED, -EACCES, -ENAMETOOLONG  connect: no socket at the path, no
 *                 daemon behind it, no permission (the socket's group), path too long
 *  -ECONNRESET    the daemon closed the connection (at a line boundary)
 *  -EPROTO        the daemon closed it in the middle of a line, or sent a line that is
 *                 not a JSON object, not a reply and not an event
 *  -EMSGSIZE      a line from the daemon over AMPD_CLIENT_LINE_MAX; a request over
 *                 AMPD_CLIENT_REQUEST_MAX
 *  -EUSERS        the daemon refused the connection: it serves its maximum of clients
 *  -EPIPE         the connection broke while sending
 *  -ETIMEDOUT     no reply (or no room to send) within the time given
 *  -EBUSY         AMPD_CLIENT_PENDING_MAX requests are pending already
 *  -EAGAIN        ampd_client_take(): the reply has not come yet
 *  -ENOENT        ampd_client_take()/wait(): no request with that id is pending; an
 *                 accessor: no such member
 *  -EINVAL        a bad argument: a command name not [a-z][a-z0-9_]{0,30}, arguments
 *                 that are not a JSON object or that hold "id" or "cmd", a member of
 *                 the wrong type
 *  -EDEADLK       a blocking call (or process) from inside a callback
 *  -EINTR         a signal interrupted the wait (wait and dispatch: nothing is lost,
 *                 call again)
 *  -ENOMEM        out of memory
 * -ECONNRESET, -EPROTO, -EMSGSIZE (from the daemon), -EUSERS, -EPIPE and a send
 * -ETIMEDOUT break the connection: every later call returns the same error, except that
 * replies already received can still be taken. A reply the daemon sends with "ok": false
 * is not an error of the library: the call succeeds and ampd_msg_ok() says 0.
 *
 * The ABI. AMPD_CLIENT_ABI_VERSION is the number in the library's SONAME
 * (libampd-client.so.1); ampd_client_abi_version() is the ABI the loaded library
 * implements, to be compared with the macro a program was built with. The number is
 * raised (a new SONAME) when a change can break a program built against an older
 * header: a function removed or renamed, a parameter or return type changed, the
 * meaning of an argument, a return value or an error changed, a callback's signature
 * changed, a bound made smaller. Adding a function, making a bound larger, or new
 * members in replies and events (clients ignore members they do not know) keep it. All
 * structs are opaque, so there is no layout to keep.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AMPD_CLIENT_ABI_VERSION 1
#define AMPD_CLIENT_DEFAULT_SOCKET "/run/ampd/control"
#define AMPD_CLIENT_LINE_MAX (2 * 1024 * 1024)
#define AMPD_CLIENT_REQUEST_MAX (64 * 1024)
#define AMPD_CLIENT_PENDING_MAX 16
#define AMPD_CLIENT_SEND_TIMEOUT_MS 10000

#if defined(__GNUC__) && !defined(AMPD_CLIENT_NO_VISIBILITY)
#define AMPD_CLIENT_API __attribute__((visibility("default")))
#else
#define AMPD_CLIENT_API
#endif

struct ampd_client;
/* A reply or an event, as received. */
struct ampd_msg;

/* Called from ampd_client_process() (and the blocking calls) for each event, in the order
 * the daemon sent them; msg is valid during the call only. */
typedef void (*ampd_event_fn)(const struct ampd_msg *msg, void *userdata);
/* Called for the reply to one request; msg is valid during the call only. */
typedef void (*ampd_reply_fn)(const struct ampd_msg *msg, void *userdata);

/* The ABI the loaded library implements (AMPD_CLIENT_ABI_VERSION when it was built). */
AMPD_CLIENT_API unsigned ampd_client_abi_version(void);
/* The library's version ("0.1.0"), for messages. */
AMPD_CLIENT_API const char *ampd_client_version(void);

/*
 * Connect to the control socket at path (NULL: AMPD_CLIENT_DEFAULT_SOCKET). The
 * connection is close-on-exec and non-blocking. 0 with *ret set, or the connect errors
 * above, -ENOMEM.
 */
AMPD_CLIENT_API int ampd_client_connect(const char *path, struct ampd_client **ret);
/* Close the connection and free everything (kept replies too). Accepts NULL. Not from
 * inside a callback. */
AMPD_CLIENT_API void ampd_client_close(struct ampd_client *c);
/* The socket, for the caller's poll/epoll (POLLIN). Owned by c: do not read or close it. */
AMPD_CLIENT_API int ampd_client_fd(const struct ampd_client *c);

/* The callback for events (NULL: events are dropped). Subscribing is a request of its
 * own ("subscribe", or ampd_client_subscribe()). */
AMPD_CLIENT_API void ampd_client_on_event(struct ampd_client *c, ampd_event_fn fn, void *userdata);

/*
 * Send {"id": N, "cmd": cmd, ...args} and return without waiting. args is the text of a
 * JSON object (its members become the request's) or NULL. With fn, the reply goes to fn
 * from a later process; without, it is kept for ampd_client_take() or
 * ampd_client_wait(). *ret_id (may be NULL) is the request's id. May be called from a
 * callback. 0, -EINVAL, -EBUSY, -EMSGSIZE, -ENOMEM, or a connection error.
 */
AMPD_CLIENT_API int ampd_client_request(struct ampd_client *c, const char *cmd, const char *args,
                                        ampd_reply_fn fn, void *userdata, uint64_t *ret_id);

/*
 * Read what is readable now (never blocks) and deliver every complete line: replies to
 * their callbacks (or kept), events to the event callback, in the order received. 0 when
 * the socket has nothing more for now; a connection error (after delivering every line
 * that came before it); -EDEADLK from a callback.
 */
AMPD_CLIENT_API int ampd_client_process(struct ampd_client *c);

/* The kept reply to request id, now the caller's (ampd_msg_free()). Never reads the
 * socket. 0, -EAGAIN (not yet), -ENOENT (no such request is pending, or its reply goes
 * to a callback). */
AMPD_CLIENT_API int ampd_client_take(struct ampd_client *c, uint64_t id, struct ampd_msg **ret);

/*
 * Block until the reply to request id (sent without a callback) is there, processing
 * everything else that comes meanwhile (events and other replies are delivered or kept
 * as by ampd_client_process()). timeout_ms < 0 waits forever. 0 with *ret the caller's,
 * -ETIMEDOUT, -EINTR, -ENOENT, -EDEADLK, or a connection error.
 */
AMPD_CLIENT_API int ampd_client_wait(struct ampd_client *c, uint64_t id, int timeout_ms,
                                     struct ampd_msg **ret);

/* ampd_client_request() without a callback, then ampd_client_wait(). On any failure after
 * the request went out (-ETIMEDOUT, -EINTR, a connection error) its reply is dropped when
 * it comes: to wait again after a signal, use request() and wait() instead. */
AMPD_CLIENT_API int ampd_client_call(struct ampd_client *c, const char *cmd, const char *args,
                                     int timeout_ms, struct ampd_msg **ret);

/* Set the event callback and subscribe, waiting for the daemon's yes. 0, -EREMOTEIO (the
 * daemon answered with an error), or as ampd_client_call(). */
AMPD_CLIENT_API int ampd_client_subscribe(struct ampd_client *c, ampd_event_fn fn, void *userdata,
                                          int timeout_ms);

/* Block until input comes (timeout_ms < 0: forever) and process it. 0 after processing,
 * -ETIMEDOUT when nothing came, -EINTR, -EDEADLK, or a connection error. */
AMPD_CLIENT_API int ampd_client_dispatch(struct ampd_client *c, int timeout_ms);

/* ---- a received message. The strings belong to msg and live as long as it. ---- */

/* The line as the daemon sent it, without '\n'. */
AMPD_CLIENT_API const char *ampd_msg_line(const struct ampd_msg *msg);
/* An event's topic ("player", "session"); NULL for a reply. */
AMPD_CLIENT_API const char *ampd_msg_event(const struct ampd_msg *msg);
/* A reply's id (0 for an event). */
AMPD_CLIENT_API uint64_t ampd_msg_id(const struct ampd_msg *msg);
/* 1: a reply with "ok": true, or an event; 0: a reply with "ok": false. */
AMPD_CLIENT_API int ampd_msg_ok(const struct ampd_msg *msg);
/* A failed reply's error code and message ("" when absent); NULL for anything else. */
AMPD_CLIENT_API const char *ampd_msg_error_code(const struct ampd_msg *msg);
AMPD_CLIENT_API const char *ampd_msg_error_message(const struct ampd_msg *msg);
/* The JSON text of the body: a reply's "result" object ("{}" when there is none), a
 * failed reply's "error" object, an event's members without "event". */
AMPD_CLIENT_API const char *ampd_msg_body(const struct ampd_msg *msg);
/* A top-level member of the body: a string (0, *ret valid while msg is), a number. 0,
 * -ENOENT (absent), -EINVAL (another type). */
AMPD_CLIENT_API int ampd_msg_string(const struct ampd_msg *msg, const char *key, const char **ret);
AMPD_CLIENT_API int ampd_msg_number(const struct ampd_msg *msg, const char *key, double *ret);
/* Free a message taken with ampd_client_take/wait/call. Accepts NULL. */
AMPD_CLIENT_API void ampd_msg_free(struct ampd_msg *msg);

#ifdef __cplusplus
}
#endif

#endif
