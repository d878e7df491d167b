/*  zp_util - what the three stages share besides the protocol and the hash:
    logging, strict option parsing, clocks, sockets set up the zpipe way.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef ZP_UTIL_H_INCLUDED
#define ZP_UTIL_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <sysexits.h>

//  Largest task input any stage accepts, and the largest frame a socket
//  accepts (ZMQ_MAXMSGSIZE): a RESULTS frame carries the input back.
#define ZP_MAX_TASK_BYTES  (UINT64_C (64) << 20)
#define ZP_MAX_FRAME_BYTES (2 * ZP_MAX_TASK_BYTES + (UINT64_C (1) << 20))

//  --- Logging ---------------------------------------------------------------
//  Every line goes to stderr through czmq's zsys log, as
//  "<level> <date> <stage>[<pid>]: <message>", so stdout carries only data.
//  verbosity: 0 = errors and warnings only (-q), 1 = normal, 2 = debug (-v).
void
    zp_log_init (const char *stage, int verbosity);
//  From now on (in processes forked later too), send the lines to syslog
//  instead: openlog (stage, LOG_PID, LOG_DAEMON), levels mapped to
//  LOG_ERR, LOG_WARNING, LOG_INFO and LOG_DEBUG (--log-syslog). Call it
//  after zp_log_init.
void
    zp_log_syslog (void);
void
    zp_error (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
void
    zp_warn (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
void
    zp_info (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
void
    zp_debug (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

//  Call hook (NULL: none) before every log line: a display that shares
//  stderr with the log (the sink's progress bar) clears its line there.
void
    zp_log_hook (void (*hook) (void));

//  A warning at most once per second per limiter; the lines it held back are
//  counted and reported with the next one that gets through. The caller owns
//  the limiter (zero-initialised).
typedef struct {
    int64_t last_ms;
    uint64_t suppressed;
} zp_ratelimit_t;
void
    zp_warn_limited (zp_ratelimit_t *limiter, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  --- Options -----------------------------------------------------------------
//  Parse a whole decimal number in [min, max]: no sign, no spaces, no
//  suffix, no overflow. Returns 0, or -1 (and *value is left alone).
int
    zp_u64_parse (const char *text, uint64_t min, uint64_t max, uint64_t *value);

//  Print "<stage>: <message> (see '<stage> --help')" as one line on stderr,
//  the stage being the one given to zp_log_init. Returns EX_USAGE.
int
    zp_usage_error (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

//  --- Clocks ------------------------------------------------------------------
//  Monotonic microseconds (durations), and wall-clock seconds since the Unix
//  epoch with microsecond resolution (reports).
int64_t
    zp_mono_us (void);
//  CPU time of the calling thread, microseconds (measurements on a shared
//  machine: the others' load costs cache and frequency, not time slices).
int64_t
    zp_cpu_us (void);
double
    zp_wall_s (void);

//  This machine's host name (static buffer, never NULL).
const char *
    zp_hostname (void);

//  --- Descriptors -------------------------------------------------------------
//  The soft limit on this process's open descriptors (RLIMIT_NOFILE), or 0
//  when there is none or it can't be read.
uint64_t
    zp_nofile_limit (void);

//  Raise the soft limit on open descriptors to the hard one, for a stage
//  that every worker process connects to (one descriptor each): the soft
//  limit (1024 by default, kept low for select(2)) is the one a process may
//  raise itself; the hard one is the administrator's. Neither server uses
//  select(2) (the sink's HTTP thread polls). Logs what it did at debug
//  level; a failure is not fatal. Call it before any child is started, or
//  the child inherits the raised limit.
void
    zp_nofile_raise (void);

//  --- Sockets -----------------------------------------------------------------
//  How long a peer has to finish the ZMTP (and CURVE) handshake, ms.
#define ZP_HANDSHAKE_MS 5000

//  Create a socket of the given type the zpipe way: bounded linger so that
//  what must get out does, ZeroMQ heartbeats on TCP links so a dead peer is
//  noticed in seconds, and the given maximum message size. Then bind or
//  connect it to endpoint. Returns NULL after logging a line that names the
//  endpoint and the reason; *exit_code is then EX_USAGE for an endpoint that
//  is not valid and EX_UNAVAILABLE for one that cannot be bound or reached.
zsock_t *
    zp_socket (int type, const char *endpoint, bool bind, int64_t max_msg_size,
               int *exit_code);

//  The second half of zp_socket, for a caller that sets more options on a
//  socket made with zp_socket (type, NULL, ...) first. Returns 0, or -1 as
//  zp_socket does (the socket is then left to the caller to destroy).
int
    zp_attach (zsock_t *sock, const char *endpoint, bool bind, int *exit_code);

//  Receive one frame without blocking into msg (an initialised zmq_msg_t).
//  Returns its size, or -1 when nothing is waiting (or on interrupt). For
//  a ROUTER, routing_id receives the peer's id first (msg then holds the
//  body); a message with more frames than expected is drained and dropped
//  and returns -2.
int
    zp_recv (zsock_t *sock, zmq_msg_t *routing_id, zmq_msg_t *msg);

//  Routing id as lowercase hex for logs (static buffer).
const char *
    zp_peer_name (zmq_msg_t *routing_id);

#endif
