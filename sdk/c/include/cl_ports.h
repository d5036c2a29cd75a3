/**
 * @file cl_ports.h
 * @brief libcopperline-ports: C client for CopperlineOS "ports v0" services.
 *
 * Ports v0 is NDJSON over a Unix stream socket, with file descriptors passed by SCM_RIGHTS
 * (see schemas/PROTOCOL.md). This library is a synchronous client: one request in flight per
 * client at a time; events that arrive while a request waits are queued for clp_read_event().
 * Tools that speak the wire form themselves (replays, portctl-like programs) use the raw pair
 * clp_send_raw() / clp_read_message() instead: bytes out as given, every message back in order.
 *
 * @par Conventions
 * - Public names start with `clp_`; everything else is internal.
 * - Functions that can fail return `0` on success or a negative error code (see @ref clp_errors).
 * - Results come back through out-parameters named `ret_*`, always the last parameters.
 * - Ownership is in the names: whatever a function hands back that must be released is released
 *   with the matching `*_free` / clp_close(), or with free() / json_decref() where stated.
 *   "Borrowed" means the caller keeps ownership (arguments) or must not release it (results).
 * - A client is not thread-safe: use it from one thread at a time (or lock around it).
 *
 * @par JSON
 * Requests and responses are plain JSON text (clp_msg_t). The convenience calls clp_call(),
 * clp_call_fds() and clp_msg_value() use jansson's `json_t`; this header only forward-declares
 * `struct json_t`, so including it does not need jansson. Code that uses those calls includes
 * `<jansson.h>` itself and links jansson too: `pkg-config --cflags --libs copperline-ports jansson`.
 * Every received line is checked as it arrives, by jansson's rules: a line jansson would refuse
 * never reaches the caller (CLP_EPROTO, with jansson's explanation in clp_last_error()). The
 * `json_t` of a message is built only when clp_msg_value() first asks for it, so a caller that
 * reads just the text (clp_request(), clp_read_message()) never pays for a parse tree.
 *
 * @par File descriptors
 * FDs you send are borrowed: the library never closes them. FDs you receive (clp_msg_t::fds)
 * belong to the message: clp_msg_free() closes them unless you took one with clp_msg_take_fd().
 * Every socket and FD the library creates or receives has FD_CLOEXEC set.
 */
#ifndef CL_PORTS_H
#define CL_PORTS_H

#include <stddef.h>
#include <stdint.h>

#include "cl_ports_version.h"

/** @cond INTERNAL */
#if defined(__GNUC__) && __GNUC__ >= 4
#define CLP_EXPORT __attribute__((visibility("default")))
#else
#define CLP_EXPORT
#endif
/** @endcond */

#ifdef __cplusplus
extern "C" {
#endif

/** jansson's JSON value type (`json_t` in `<jansson.h>`); only used by the jansson-based calls. */
struct json_t;

/**
 * @defgroup clp_errors Error codes
 *
 * Every fallible function returns 0 on success or a negative code:
 * - a negated errno value (`-ENOENT`, `-ECONNREFUSED`, `-EACCES`, ...) for a failing system call:
 *   connecting is the usual source (no socket file, nobody listening, no permission); these
 *   are all in the range -4095..-1;
 * - one of the `CLP_E*` codes below (all <= -10000) for conditions the library itself detects.
 *
 * clp_strerror() turns either kind into text. There is deliberately no `CLP_ECONN`: a failed
 * connect returns the precise `-errno`.
 * @{
 */
/** The server sent something malformed or unexpected (bad JSON, not an object, no `ok`/`event`,
 *  a response with an id that was never sent). Only that line is lost; the client stays usable. */
#define CLP_EPROTO (-10001)
/** A message exceeded the size limit (clp_options_t::max_message). When sending, nothing was sent;
 *  when receiving, the line was skipped without buffering it. The client stays usable. */
#define CLP_ETOOBIG (-10002)
/** No response (or event) within the timeout. For a request, the library also sends the server
 *  a `cancel` for it (best effort, without waiting); a late response is dropped silently when it
 *  arrives. The client stays usable. */
#define CLP_ETIMEDOUT (-10003)
/** The connection is closed (peer closed it, possibly mid-message, or a fatal I/O error). Every
 *  later call on the client fails with this code too (events queued before remain readable). */
#define CLP_ECLOSED (-10004)
/** The server answered `ok:false`. The protocol error is available from clp_last_error(); the
 *  response itself is returned as well where the call has a `ret_resp`. */
#define CLP_EREMOTE (-10005)
/** Invalid argument (NULL client, request that is not a JSON object, bad `id` or `fds` field, ...). */
#define CLP_EARG (-10006)
/** Out of memory. */
#define CLP_ENOMEM (-10007)
/** File-descriptor problem: an FD to send is invalid, too many FDs, or a received message
 *  announced more FDs (`fds:N`) than arrived (including control-data truncation). The line's
 *  FDs are closed; the client stays usable. */
#define CLP_EFD (-10008)
/** @} */

/** Pass as a timeout to wait without limit. */
#define CLP_TIMEOUT_INFINITE (-1)
/** Default request timeout, in milliseconds. */
#define CLP_DEFAULT_TIMEOUT_MS 5000
/** Default maximum message size in bytes, not counting the `\n` (PROTOCOL.md section 2). */
#define CLP_DEFAULT_MAX_MESSAGE 65536
/** Default bound of the client-side event queue (events that arrive while a request waits). */
#define CLP_DEFAULT_MAX_EVENTS 1024
/** Most FDs one message may carry (the kernel's SCM_MAX_FD). */
#define CLP_MAX_FDS_PER_MESSAGE 253

/** Opaque connection to one service. Created by clp_connect() / clp_connect2(), released by
 *  clp_close(). */
typedef struct clp_client clp_client_t;

/**
 * Connection options. Initialise with clp_options_init() (or zero it: a zero field means
 * "default").
 */
typedef struct clp_options {
    /** Request timeout in ms; also bounds connect(). 0 = default (5000),
     *  CLP_TIMEOUT_INFINITE = none. */
    int timeout_ms;
    /** Largest message sent or accepted, in bytes without the `\n`. 0 = default (65536). */
    size_t max_message;
    /** Most events queued while requests wait; more are dropped and counted
     *  (clp_events_dropped()). 0 = default (1024). */
    size_t max_events;
} clp_options_t;

/**
 * One NDJSON message: JSON object text plus the FDs that travel with it.
 *
 * Messages you build with clp_msg_json() only point at your text (no copy, nothing owned, `fds`
 * unused). Messages the library returns (responses, events) own everything: `data` is a
 * NUL-terminated copy of the line, `fds` the received descriptors; release them with
 * clp_msg_free().
 */
typedef struct clp_msg {
    /** JSON text of the message (one object, no trailing newline). */
    const char *data;
    /** Length of `data` in bytes. */
    size_t len;
    /** Received file descriptors, in the order of `{"fd_index": i}`; an entry is -1 once taken
     *  with clp_msg_take_fd(). Owned by the message. NULL when `nfds` is 0. */
    int *fds;
    /** Number of entries in `fds`. */
    size_t nfds;
    /** Internal (parsed form, ownership); do not touch. */
    void *internal_;
} clp_msg_t;

/**
 * @brief The library's version string at run time ("MAJOR.MINOR.PATCH").
 * @return a static string; never NULL.
 */
CLP_EXPORT const char *clp_version(void);

/**
 * @brief Describe an error code.
 * @param code a value returned by this library (CLP_E* or a negated errno); 0 gives "Success".
 * @return a static, human-readable string (never NULL, not to be freed).
 */
CLP_EXPORT const char *clp_strerror(int code);

/**
 * @brief Fill @p opts with the defaults (5000 ms timeout, 65536-byte messages, 1024 events).
 * @param opts options to initialise; ignored if NULL.
 */
CLP_EXPORT void clp_options_init(clp_options_t *opts);

/**
 * @brief Connect to a service, reporting errors by code.
 *
 * Address forms (PROTOCOL.md section 1):
 * - `@name`: Linux abstract socket; `name` is used with its exact length (no NUL padding);
 * - a bare service name of lowercase letters, digits and `-` (for example `copperd`,
 *   `compat-uae`): the environment variable `<SERVICE>_SOCKET` (upper case, `-` as `_`) if set
 *   (its value may itself be a path or `@name`), else `/run/copperline/<service>.sock`;
 * - anything else is a socket path (write `./x` for a file in the current directory whose name
 *   looks like a service name).
 *
 * @param address service address as above (borrowed).
 * @param opts options, or NULL for the defaults (borrowed; copied).
 * @param[out] ret_client receives the new client (owned by the caller: clp_close()); set to NULL
 *   on failure.
 * @return 0; CLP_EARG (NULL or empty address, bad options); -ENAMETOOLONG (path longer than a
 *   `sockaddr_un` holds); CLP_ETIMEDOUT; CLP_ENOMEM; or the connect(2) errno negated
 *   (-ENOENT, -ECONNREFUSED, -EACCES, ...).
 */
CLP_EXPORT int clp_connect2(const char *address, const clp_options_t *opts,
                            clp_client_t **ret_client);

/**
 * @brief Connect to a service with default options (the seed API).
 * @param address see clp_connect2() (borrowed).
 * @return a new client (owned by the caller: clp_close()), or NULL with `errno` set to the
 *   positive errno (or to EINVAL / ETIMEDOUT / ENOMEM for the corresponding library errors).
 */
CLP_EXPORT clp_client_t *clp_connect(const char *address);

/**
 * @brief Close the connection and free the client: closes the socket and every FD still queued
 *   or held in queued events. Safe on NULL.
 * @param client client to release (ownership ends here).
 */
CLP_EXPORT void clp_close(clp_client_t *client);

/**
 * @brief The client's socket, for poll()/epoll (POLLIN). It still belongs to the client: do not
 *   read from it, write to it, close it or change its flags (the library bounds every wait
 *   itself: MSG_DONTWAIT, poll() and SO_RCVTIMEO).
 *
 * Events can already be waiting inside the library (received during a request): check
 * clp_pending(), or call clp_read_event() with timeout 0 until it returns CLP_ETIMEDOUT, before
 * going back to poll.
 * @param client the client (borrowed).
 * @return the socket FD (>= 0), or CLP_EARG if @p client is NULL.
 */
CLP_EXPORT int clp_fd(const clp_client_t *client);

/**
 * @brief Change the request timeout.
 * @param client the client (borrowed).
 * @param timeout_ms timeout in ms (> 0), or CLP_TIMEOUT_INFINITE.
 * @return 0 or CLP_EARG.
 */
CLP_EXPORT int clp_set_timeout(clp_client_t *client, int timeout_ms);

/**
 * @brief Wrap JSON text as a message (the seed helper). No copy and nothing owned: @p text must
 *   outlive the message; clp_msg_free() on the result does nothing.
 * @param text NUL-terminated JSON object text (borrowed).
 * @return the message, by value.
 */
CLP_EXPORT clp_msg_t clp_msg_json(const char *text);

/**
 * @brief Like clp_msg_json() for text of explicit length (need not be NUL-terminated).
 * @param text JSON object text (borrowed).
 * @param len its length in bytes.
 * @return the message, by value.
 */
CLP_EXPORT clp_msg_t clp_msg_json_n(const char *text, size_t len);

/**
 * @brief Release what a message owns: its text, its parsed form, and every FD not yet taken
 *   (they are closed). Resets @p msg to all zeros. Safe on NULL, on zeroed messages and on
 *   clp_msg_json() messages (nothing owned: only the reset happens).
 * @param msg the message.
 */
CLP_EXPORT void clp_msg_free(clp_msg_t *msg);

/**
 * @brief Take ownership of one received FD out of a message; the message will no longer close it.
 * @param msg the message (its `fds[index]` becomes -1).
 * @param index the FD's `fd_index` (0 <= index < nfds).
 * @param[out] ret_fd receives the FD, now owned by the caller (close() it).
 * @return 0; CLP_EARG (NULL argument); CLP_EFD (index out of range or FD already taken).
 */
CLP_EXPORT int clp_msg_take_fd(clp_msg_t *msg, size_t index, int *ret_fd);

/**
 * @brief The parsed JSON object of a message the library returned (borrowed: valid until
 *   clp_msg_free(); json_incref() it to keep it). Needs `<jansson.h>` to use.
 *
 * The first call on a message parses its text with jansson (the line was already checked when it
 * arrived, so this succeeds); later calls return the same object. Not thread-safe on one message.
 * @param msg the message (borrowed).
 * @return the object; NULL for messages built with clp_msg_json(), or if memory ran out.
 */
CLP_EXPORT struct json_t *clp_msg_value(const clp_msg_t *msg);

/**
 * @brief Send a request and wait for its response.
 *
 * @p req must be one JSON object in the ports v0 request form (`cmd`, optional `id`, `args`,
 * `caps`). If it has no `id` the library assigns the next integer of this connection (1, 2,
 * ...). The response is matched by id; events that arrive meanwhile are queued for
 * clp_read_event(); a late response to an earlier request that failed or timed out is dropped.
 *
 * The text is sent as given: the library only inserts the fields it owns (`id`, `fds`) right after
 * the opening brace and turns raw newlines (whitespace outside strings) into spaces. It parses the
 * text only when it may contain an `id` or `fds` key, to check them; other malformed text is sent,
 * and the server answers `BAD_FRAME` (CLP_EREMOTE). Without clp_request_fds() the request must
 * not carry `fds`.
 *
 * @param client the client (borrowed).
 * @param req the request (borrowed).
 * @param[out] ret_resp receives the response on 0 and on CLP_EREMOTE (owned by the caller:
 *   clp_msg_free()); zeroed otherwise. May be NULL to discard it.
 * @return 0 (`ok:true`); CLP_EREMOTE (`ok:false`: see clp_last_error()); CLP_EARG; CLP_ETOOBIG;
 *   CLP_ETIMEDOUT; CLP_ECLOSED; CLP_EPROTO; CLP_EFD; CLP_ENOMEM; or a negated errno.
 */
CLP_EXPORT int clp_request(clp_client_t *client, const clp_msg_t *req, clp_msg_t *ret_resp);

/**
 * @brief Like clp_request(), sending @p nfds file descriptors with the request.
 *
 * The library sets `"fds": nfds` in the envelope and sends the line and the FDs in one
 * sendmsg(2) (PROTOCOL.md section 7). Refer to them in `args` as `{"fd_index": i}`. The FDs are
 * borrowed: the library does not close them (the server gets duplicates). If @p req already has
 * an `fds` field it must equal @p nfds.
 *
 * @param client the client (borrowed).
 * @param req the request (borrowed).
 * @param fds the FDs to send (borrowed); may be NULL when @p nfds is 0.
 * @param nfds how many, at most CLP_MAX_FDS_PER_MESSAGE.
 * @param[out] ret_resp as for clp_request().
 * @return as for clp_request(); CLP_EFD if an FD is invalid (nothing was sent).
 */
CLP_EXPORT int clp_request_fds(clp_client_t *client, const clp_msg_t *req, const int *fds,
                               size_t nfds, clp_msg_t *ret_resp);

/**
 * @brief Call a command with jansson values: sends `{"id":N,"cmd":cmd,"args":args}`.
 * @param client the client (borrowed).
 * @param cmd command name (borrowed).
 * @param args arguments object (borrowed: the library does not steal the reference), or NULL
 *   for none.
 * @param[out] ret_result receives `result` on success as a new reference (caller json_decref()s);
 *   NULL on failure. May be NULL to discard it. A response without `result` gives `{}`.
 * @return as for clp_request(). FDs that arrive with the response are closed; use
 *   clp_call_fds() for FD-carrying commands.
 */
CLP_EXPORT int clp_call(clp_client_t *client, const char *cmd, struct json_t *args,
                        struct json_t **ret_result);

/**
 * @brief clp_call() with FDs in both directions.
 * @param client the client (borrowed).
 * @param cmd command name (borrowed).
 * @param args arguments object (borrowed) or NULL.
 * @param fds FDs to send (borrowed), `{"fd_index": i}` in @p args; NULL if @p nfds is 0.
 * @param nfds how many FDs to send.
 * @param[out] ret_result as for clp_call().
 * @param[out] ret_fds receives a malloc()ed array of the response's FDs, all owned by the caller
 *   (close() each, free() the array); NULL when there are none. May be NULL: the FDs are closed.
 * @param[out] ret_nfds receives the number of FDs in @p ret_fds. May be NULL.
 * @return as for clp_request_fds().
 */
CLP_EXPORT int clp_call_fds(clp_client_t *client, const char *cmd, struct json_t *args,
                            const int *fds, size_t nfds, struct json_t **ret_result, int **ret_fds,
                            size_t *ret_nfds);

/**
 * @brief The error of the last request-style call on this client.
 *
 * After CLP_EREMOTE: the server's `error.code` (e.g. "NOT_FOUND") and `error.message`. After a
 * local failure the codes of PROTOCOL.md are used: "TIMEOUT" (CLP_ETIMEDOUT), "CLOSED"
 * (CLP_ECLOSED), and "PROTOCOL", "TOO_LARGE", "BAD_FD" for CLP_EPROTO, CLP_ETOOBIG, CLP_EFD, with
 * a message saying what happened. After a success both are NULL.
 *
 * @param client the client (borrowed).
 * @param[out] ret_code receives the code (borrowed: valid until the next call on @p client); may
 *   be NULL.
 * @param[out] ret_message receives the message (borrowed, as above); may be NULL.
 * @return 0, or CLP_EARG if @p client is NULL.
 */
CLP_EXPORT int clp_last_error(const clp_client_t *client, const char **ret_code,
                              const char **ret_message);

/**
 * @brief Subscribe to events: sends `subscribe` with `args.events` and optional filters.
 * @param client the client (borrowed).
 * @param events event names (borrowed), at least one.
 * @param n number of names.
 * @param filter_json a JSON object whose members are added to `args` as filters (for example
 *   `{"tag":"tick"}`), or NULL. It must not contain `events`.
 * @param[out] ret_sub receives the subscription id (`result.sub`); may be NULL.
 * @return as for clp_request(); CLP_EPROTO if the result has no integer `sub`.
 */
CLP_EXPORT int clp_subscribe(clp_client_t *client, const char *const *events, size_t n,
                             const char *filter_json, int64_t *ret_sub);

/**
 * @brief End a subscription (`unsubscribe`). No event of @p sub is delivered by the server
 *   after its response; events of it already queued in the library are still returned.
 * @param client the client (borrowed).
 * @param sub the subscription id from clp_subscribe().
 * @return as for clp_request(); CLP_EREMOTE with code NOT_FOUND for an unknown @p sub.
 */
CLP_EXPORT int clp_unsubscribe(clp_client_t *client, int64_t sub);

/**
 * @brief Return the next event: first those queued during requests, then from the socket.
 * @param client the client (borrowed).
 * @param timeout_ms how long to wait: 0 = do not block, CLP_TIMEOUT_INFINITE = no limit.
 * @param[out] ret_event receives the event (owned by the caller: clp_msg_free()); zeroed on
 *   failure.
 * @return 0; CLP_ETIMEDOUT (nothing within @p timeout_ms, also for 0); CLP_ECLOSED (closed and
 *   nothing queued); CLP_EPROTO / CLP_ETOOBIG / CLP_EFD for a bad line (skipped; call again);
 *   CLP_EARG.
 */
CLP_EXPORT int clp_read_event(clp_client_t *client, int timeout_ms, clp_msg_t *ret_event);

/**
 * @brief Send bytes exactly as given: the low-level half of a raw exchange (a replay of wire
 *   cases, a portctl-style tool), read back with clp_read_message().
 *
 * Nothing is added, checked or rewritten: no `id` is inserted, the text is not parsed, raw
 * newlines are not replaced, and no newline is appended. The caller frames the messages itself:
 * `"{\"cmd\":\"ping\"}\n"` is one request; several lines, a partial line (completed by a later
 * call), a `\r\n` ending or invalid UTF-8 are all sent as they are. The size is not limited by
 * clp_options_t::max_message (that limit applies to what the client receives), so a line over
 * the server's limit can be sent to test it.
 *
 * The whole buffer is sent before the call returns (partial writes and `EINTR` are handled),
 * within the client's request timeout (clp_set_timeout()). No FDs travel with it.
 *
 * Responses to raw requests are not matched by the library: read them with clp_read_message()
 * before the next clp_request() / clp_call() on this client, which would otherwise take them for
 * answers to ids not in flight (CLP_EPROTO). Choose ids that do not collide with the integers
 * the library assigns to requests without `id` (1, 2, ... per connection).
 *
 * @param client the client (borrowed).
 * @param data the bytes to send (borrowed; need not be NUL-terminated); may be NULL when
 *   @p len is 0.
 * @param len how many bytes; 0 sends nothing and returns 0.
 * @return 0 (every byte sent); CLP_EARG (NULL @p client, or NULL @p data with @p len > 0);
 *   CLP_ECLOSED (the connection is closed, or the peer closed it); CLP_ETIMEDOUT (the socket
 *   stayed full for the whole timeout); or a negated errno. If the failure came after part of
 *   the buffer was sent, the stream is out of step and the client counts as closed (later calls
 *   fail with CLP_ECLOSED).
 */
CLP_EXPORT int clp_send_raw(clp_client_t *client, const void *data, size_t len);

/**
 * @brief Return the next message of any kind, response or event, in arrival order: the
 *   low-level counterpart of clp_send_raw().
 *
 * Events queued during earlier requests come first (they arrived before anything still unread),
 * then lines from the socket. Unlike clp_request() and clp_read_event(), responses are not
 * matched or judged: a response with `"id": null`, one with an id the client never sent through
 * clp_request(), duplicates and out-of-order answers are all returned as they come. The one
 * exception: late answers to requests the library itself gave up on (a clp_request() that timed
 * out or failed, and the `cancel` it sent then) are dropped, as clp_read_event() drops them.
 *
 * Framing is as for every read: `\r\n` accepted, blank lines skipped, FDs claimed by the
 * message's `fds` count (clp_msg_t::fds). The returned text is the line without its ending;
 * clp_msg_value() gives the parsed object.
 *
 * @param client the client (borrowed).
 * @param timeout_ms how long to wait: 0 = do not block, CLP_TIMEOUT_INFINITE = no limit.
 * @param[out] ret_msg receives the message (owned by the caller: clp_msg_free()); zeroed on
 *   failure.
 * @return 0; CLP_ETIMEDOUT (nothing within @p timeout_ms; with 0 also while only part of a line
 *   has arrived); CLP_ECLOSED (closed, and nothing queued or buffered); for a bad line, which is
 *   skipped (call again): CLP_EPROTO (not JSON, not an object, or neither `ok` nor `event`),
 *   CLP_ETOOBIG (over clp_options_t::max_message), CLP_EFD (it announced more FDs than arrived;
 *   those that did are closed); CLP_EARG (NULL argument, timeout below CLP_TIMEOUT_INFINITE).
 *   clp_last_error() describes the failure (`TIMEOUT`, `PROTOCOL`, `TOO_LARGE`, `BAD_FD`,
 *   `CLOSED`); after a success it reports nothing.
 */
CLP_EXPORT int clp_read_message(clp_client_t *client, int timeout_ms, clp_msg_t *ret_msg);

/**
 * @brief Stop sending: half-close the connection (shutdown(2) with `SHUT_WR`), keep reading.
 *
 * The server reads end of input: it ends the connection's subscriptions, answers every request
 * it has already received (slow ones included), then closes its side (PROTOCOL.md section 2). Messages it sent until then are
 * still returned by clp_read_message() / clp_read_event(); after the last one they fail with
 * CLP_ECLOSED. Reading until CLP_ECLOSED is therefore a way to know that the server has finished
 * with the connection (a replay uses it so that one case's subscriptions are gone before the
 * next case starts), and to collect every answer to requests sent with clp_send_raw() without
 * knowing how many there are.
 *
 * Afterwards every call that sends (clp_send_raw(), clp_request(), clp_call(), ...) fails with
 * CLP_ECLOSED; the client stays readable. Release it with clp_close() as usual.
 *
 * @param client the client (borrowed).
 * @return 0 (also when already shut down); CLP_EARG (NULL @p client); CLP_ECLOSED (the
 *   connection is already closed); or a negated errno.
 */
CLP_EXPORT int clp_shutdown_send(clp_client_t *client);

/**
 * @brief Whether clp_read_event() / clp_read_message() can return something without reading the
 *   socket (queued events or complete lines already buffered): poll() on clp_fd() will not
 *   report those.
 * @param client the client (borrowed).
 * @return 1 if so, 0 if not or if @p client is NULL.
 */
CLP_EXPORT int clp_pending(const clp_client_t *client);

/**
 * @brief How many events were dropped because the client-side queue was full
 *   (clp_options_t::max_events) since the client was created.
 * @param client the client (borrowed).
 * @return the count (0 if @p client is NULL).
 */
CLP_EXPORT uint64_t clp_events_dropped(const clp_client_t *client);

/**
 * @brief `ping` the service.
 * @param client the client (borrowed).
 * @param[out] ret_name receives the service name, malloc()ed (caller free()s); may be NULL.
 * @param[out] ret_version receives its version, malloc()ed (caller free()s); may be NULL.
 * @param[out] ret_protocol receives its protocol number (compare with CLP_PROTOCOL); may be NULL.
 * @return as for clp_request(); CLP_EPROTO if the answer lacks these fields.
 */
CLP_EXPORT int clp_ping(clp_client_t *client, char **ret_name, char **ret_version,
                        int *ret_protocol);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CL_PORTS_H */
