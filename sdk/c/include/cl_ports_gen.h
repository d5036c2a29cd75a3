/**
 * @file cl_ports_gen.h
 * @brief Support API for generated service bindings (codegen/emit_c.ts): not for hand-written code.
 *
 * The typed bindings that `codegen` generates (`sdk/c/services/<service>.c`, or your own output of
 * `codegen/cli.ts generate --out-c`) keep only the typed part: the per-type encoders/decoders and
 * one thin function per command or event. What is the same for every service lives here, in
 * libcopperline-ports, so a fix to it reaches every binding without regenerating them: FD
 * bookkeeping for `{"fd_index": i}`, string copies, the call with its received FDs, and the
 * parsing of the event envelope and of the protocol's `dropped` event.
 *
 * Stability: this API is for generated code and may change between minor versions of the
 * library. Its version is CLP_GEN_API_VERSION, bumped on every incompatible change; generated
 * sources check it with `#if`/`#error`, so a stale generated file fails to compile against an
 * incompatible library instead of misbehaving (regenerate it: `deno task gen`).
 *
 * Conventions are those of cl_ports.h: 0 or a negative code (CLP_E* or -errno). JSON values are
 * jansson's (`struct json_t`, forward-declared here; the generated source includes <jansson.h>).
 */
#ifndef CL_PORTS_GEN_H
#define CL_PORTS_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cl_ports.h"

/**
 * Version of this support API. Generated sources require an exact match:
 * `#if CLP_GEN_API_VERSION != N` → `#error`.
 */
#define CLP_GEN_API_VERSION 2

#ifdef __cplusplus
extern "C" {
#endif

struct json_t;

/**
 * FDs collected while encoding arguments, in wire order; the i-th is written `{"fd_index": i}`.
 * Start with `n = 0` (or at the index of the first FD to number). Holds no resources.
 */
typedef struct clp_gen_fds {
    /** The FDs (borrowed from the caller's arguments; never closed). */
    int v[CLP_MAX_FDS_PER_MESSAGE];
    /** How many of @ref v are used. */
    size_t n;
} clp_gen_fds_t;

/**
 * FDs received with a result or an event, indexed by `fd_index`. clp_gen_get_fd() takes an FD
 * (sets its slot to -1) or, when @ref dup is true, duplicates it and leaves the slot alone.
 */
typedef struct clp_gen_rfds {
    /** The FDs; -1 marks one already taken. */
    int *fds;
    /** How many slots @ref fds has. */
    size_t n;
    /** True: duplicate (the FDs belong to someone else, e.g. an event's clp_msg_t). False: the
     *  FDs and the array are owned here (from clp_gen_call()); release with clp_gen_rfds_release(). */
    bool dup;
} clp_gen_rfds_t;

/**
 * @brief Append FD @p fd to @p fds and make its wire reference `{"fd_index": i}`.
 * @param fds the FDs of the message being encoded; NULL when the message cannot carry FDs.
 * @param fd the FD (borrowed).
 * @param[out] ret receives a new reference to `{"fd_index": i}` on success.
 * @return 0; CLP_EARG (negative @p fd); CLP_EFD (@p fds NULL or full); CLP_ENOMEM.
 */
CLP_EXPORT int clp_gen_put_fd(clp_gen_fds_t *fds, int fd, struct json_t **ret);

/**
 * @brief Store a freshly made member value in an object being encoded: the one line per field of
 * a generated encoder (`clp_gen_set(o, "w", json_integer(v->w), CLP_ENOMEM)`).
 * @param obj the object (borrowed).
 * @param key the member name (borrowed).
 * @param value a new reference, taken in every case (stored, or released on failure); NULL when
 *   making it failed.
 * @param rc_if_null what a NULL @p value means: CLP_ENOMEM, or CLP_EARG when the C value had no
 *   JSON form (a string that is not UTF-8, a NaN).
 * @return 0; @p rc_if_null; CLP_ENOMEM.
 * @since CLP_GEN_API_VERSION 2.
 */
CLP_EXPORT int clp_gen_set(struct json_t *obj, const char *key, struct json_t *value, int rc_if_null);

/**
 * @brief Append the caller-numbered FDs of an arguments struct (its `fds` member, referenced
 * from inside JSON members) to @p fds.
 * @param fds the FDs of the message being encoded.
 * @param v the FDs (borrowed); may be NULL when @p n is 0.
 * @param n how many.
 * @return 0; CLP_EARG (NULL @p fds, NULL @p v with @p n > 0, or more than fit a message).
 */
CLP_EXPORT int clp_gen_fds_append(clp_gen_fds_t *fds, const int *v, size_t n);

/**
 * @brief Decode a received `{"fd_index": i}` into an FD the caller owns.
 * @param j the JSON value (borrowed).
 * @param fds the received FDs; NULL when none can have arrived.
 * @param[out] ret receives the FD (taken from @p fds, or a CLOEXEC duplicate when `fds->dup`).
 * @return 0; CLP_EPROTO (not an `fd_index` object); CLP_EFD (index out of range or already
 *   taken); -errno if the FD cannot be duplicated.
 */
CLP_EXPORT int clp_gen_get_fd(struct json_t *j, clp_gen_rfds_t *fds, int *ret);

/**
 * @brief Copy a JSON string (embedded NULs kept, NUL-terminated).
 * @param j the JSON value (borrowed).
 * @param[out] ret receives a malloc()ed copy (the caller free()s it).
 * @return 0; CLP_EPROTO (not a string); CLP_ENOMEM.
 */
CLP_EXPORT int clp_gen_get_string(struct json_t *j, char **ret);

/**
 * @brief Call a command for a generated binding: clp_call_fds() that consumes @p args and hands
 * the response's FDs over as a clp_gen_rfds_t.
 * @param client the client (borrowed).
 * @param cmd the command name (borrowed).
 * @param args the arguments: a reference that is always released (json_decref()), or NULL.
 * @param fds FDs to send (borrowed), or NULL for none.
 * @param[out] ret_result receives a new reference to `result` (the caller json_decref()s it);
 *   NULL on failure.
 * @param[out] ret_rfds receives the response's FDs (`dup` false; release with
 *   clp_gen_rfds_release() once decoded). Always initialised; empty on failure (nothing to
 *   release then). May be NULL: the FDs are closed.
 * @return as for clp_call_fds().
 */
CLP_EXPORT int clp_gen_call(clp_client_t *client, const char *cmd, struct json_t *args,
                            const clp_gen_fds_t *fds, struct json_t **ret_result,
                            clp_gen_rfds_t *ret_rfds);

/**
 * @brief Close the FDs of @p rfds not taken by clp_gen_get_fd(), free its array and zero it.
 * Does nothing for borrowed FDs (`dup` true) and on NULL.
 * @param rfds the FDs from clp_gen_call().
 */
CLP_EXPORT void clp_gen_rfds_release(clp_gen_rfds_t *rfds);

/**
 * @brief Parse the envelope of an event message: `{"event": name, "sub"?: integer, ...}`.
 * @param msg the message (borrowed), from clp_read_event() or built with clp_msg_json().
 * @param[out] ret_root receives a new reference to the whole event object (json_decref() it).
 * @param[out] ret_name receives the event name, borrowed from @p ret_root.
 * @param[out] ret_sub receives the subscription id (0 when absent).
 * @param[out] ret_rfds receives the message's FDs for the payload decoders (`dup` true: the
 *   message keeps its FDs; nothing to release).
 * @return 0; CLP_EARG (NULL argument, or a message without text); CLP_EPROTO (not JSON, not an
 *   object, no string `event`, a non-integer `sub`). Outputs are set only on success.
 */
CLP_EXPORT int clp_gen_event_open(const clp_msg_t *msg, struct json_t **ret_root,
                                  const char **ret_name, int64_t *ret_sub,
                                  clp_gen_rfds_t *ret_rfds);

/**
 * @brief Decode the protocol's `dropped` event: `{"event":"dropped","count"?: n,"reason"?: s}`.
 * @param root the event object (borrowed).
 * @param[out] ret_count receives `count` (0 when absent).
 * @param[out] ret_reason receives `reason`, borrowed from @p root (NULL when absent).
 * @return 0; CLP_EARG (NULL argument); CLP_EPROTO (`count` not an integer or `reason` not a
 *   string; the outputs are set as far as they could be read).
 */
CLP_EXPORT int clp_gen_event_dropped(struct json_t *root, int64_t *ret_count,
                                     const char **ret_reason);

#ifdef __cplusplus
}
#endif

#endif /* CL_PORTS_GEN_H */
