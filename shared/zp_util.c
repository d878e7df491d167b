/*  zp_util - logging, option parsing, clocks and sockets shared by the stages.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_util.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *s_stage = "zpipe";
static int s_verbosity = 1;
static bool s_syslog = false;
static void (*s_hook) (void);

void
zp_log_hook (void (*hook) (void))
{
    s_hook = hook;
}

void
zp_log_init (const char *stage, int verbosity)
{
    s_stage = stage;
    s_verbosity = verbosity;
    //  czmq logs to stdout by default; stdout is for data. Through the
    //  environment, not zsys_set_logstream: that one starts czmq (a ZeroMQ
    //  context and its threads), which the worker's supervisor must not do
    //  before it forks -- the processes would inherit a context they can
    //  neither use nor free -- and czmq resets its settings in a forked
    //  child anyway, where the environment survives.
    setenv ("ZSYS_LOGSTREAM", "stderr", 1);
}

void
zp_log_syslog (void)
{
    //  The stage name is a literal: openlog keeps the pointer.
    openlog (s_stage, LOG_PID, LOG_DAEMON);
    s_syslog = true;
}

//  The line czmq's zsys log writes ("I: 26-11-25 21:44:09 ..."), written
//  here: zsys_info and friends start czmq (a ZeroMQ context) on first use,
//  which the worker's supervisor must not do before it forks. One fprintf
//  per line, so lines from an actor's thread do not interleave.
static void
s_log (char level, const char *format, va_list args)
{
    char message [1024];
    vsnprintf (message, sizeof message, format, args);
    if (s_syslog) {
        //  syslog adds the time, the stage and the pid itself.
        int priority = level == 'E' ? LOG_ERR : level == 'W' ? LOG_WARNING
                     : level == 'I' ? LOG_INFO : LOG_DEBUG;
        syslog (priority, "%s", message);
        return;
    }
    time_t now = time (NULL);
    struct tm local;
    char stamp [32] = "";
    if (localtime_r (&now, &local))
        strftime (stamp, sizeof stamp, "%y-%m-%d %H:%M:%S", &local);
    if (s_hook)
        s_hook ();
    fprintf (stderr, "%c: %s %s[%d]: %s\n", level, stamp, s_stage, (int) getpid (), message);
}

#define S_LOG_FN(name, level, min_verbosity) \
    void name (const char *format, ...) \
    { \
        if (s_verbosity < (min_verbosity)) \
            return; \
        va_list args; \
        va_start (args, format); \
        s_log (level, format, args); \
        va_end (args); \
    }

S_LOG_FN (zp_error, 'E', 0)
S_LOG_FN (zp_warn, 'W', 0)
S_LOG_FN (zp_info, 'I', 1)
S_LOG_FN (zp_debug, 'D', 2)

void
zp_warn_limited (zp_ratelimit_t *limiter, const char *format, ...)
{
    int64_t now = zp_mono_us () / 1000;
    if (limiter->last_ms && now - limiter->last_ms < 1000) {
        limiter->suppressed++;
        return;
    }
    char message [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    if (limiter->suppressed)
        zp_warn ("%s (%" PRIu64 " more like it not shown)", message, limiter->suppressed);
    else
        zp_warn ("%s", message);
    limiter->last_ms = now;
    limiter->suppressed = 0;
}

int
zp_u64_parse (const char *text, uint64_t min, uint64_t max, uint64_t *value)
{
    //  strtoull accepts leading spaces, signs and "0x"; a count given by a
    //  person or a script is plain decimal, so anything else is refused.
    bool plain = text && *text;
    for (const char *c = text; plain && *c; c++)
        if (*c < '0' || *c > '9')
            plain = false;
    if (!plain)
        return -1;
    errno = 0;
    unsigned long long number = strtoull (text, NULL, 10);
    if (errno || number < min || number > max)
        return -1;
    *value = (uint64_t) number;
    return 0;
}

int
zp_usage_error (const char *format, ...)
{
    char message [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    fprintf (stderr, "%s: %s (see '%s --help')\n", s_stage, message, s_stage);
    return EX_USAGE;
}

int64_t
zp_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
zp_cpu_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double
zp_wall_s (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    //  Whole microseconds on purpose: the resolution the reports promise.
    return (double) ts.tv_sec + (double) (ts.tv_nsec / 1000) / 1e6;   //  NOLINT(bugprone-integer-division)
}

const char *
zp_hostname (void)
{
    static char name [256];
    if (!*name && gethostname (name, sizeof name - 1) != 0)
        strcpy (name, "unknown");
    return name;
}

uint64_t
zp_nofile_limit (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return 0;
    return (uint64_t) limit.rlim_cur;
}

void
zp_nofile_raise (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0) {
        zp_debug ("getrlimit RLIMIT_NOFILE: %s", strerror (errno));
        return;
    }
    if (limit.rlim_cur == limit.rlim_max) {
        zp_debug ("open descriptors: the limit is %" PRIu64 " (soft and hard)",
                  (uint64_t) limit.rlim_cur);
        return;
    }
    rlim_t was = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit (RLIMIT_NOFILE, &limit) != 0) {
        //  An infinite hard limit is not a valid soft one on Linux.
        zp_debug ("open descriptors: can't raise the limit from %" PRIu64 " to the hard"
                  " limit: %s", (uint64_t) was, strerror (errno));
        return;
    }
    zp_debug ("open descriptors: raised the limit from %" PRIu64 " to %" PRIu64
              " (the hard limit); every peer process takes one", (uint64_t) was,
              (uint64_t) limit.rlim_cur);
}

zsock_t *
zp_socket (int type, const char *endpoint, bool bind, int64_t max_msg_size, int *exit_code)
{
    zsock_t *sock = zsock_new (type);
    if (!sock) {
        zp_error ("zmq_socket: %s", zmq_strerror (zmq_errno ()));
        *exit_code = EX_OSERR;
        return NULL;
    }
    //  czmq sets linger 0 on every socket: what is still queued at close
    //  would be dropped. One second is long enough on any live link and
    //  bounded on a dead one.
    zsock_set_linger (sock, 1000);
    //  ZMTP heartbeats: a peer that vanished without closing its TCP
    //  connection (power, cable, SIGSTOP) is noticed within seconds.
    zsock_set_heartbeat_ivl (sock, 1000);
    zsock_set_heartbeat_timeout (sock, 3000);
    zsock_set_heartbeat_ttl (sock, 6000);
    zsock_set_maxmsgsize (sock, (int) max_msg_size);
    //  A peer gets this long to finish the ZMTP (and CURVE) handshake; one
    //  that opens connections and says nothing ties up nothing for long.
    zsock_set_handshake_ivl (sock, ZP_HANDSHAKE_MS);
    //  Bounded queues, set here rather than left to the defaults: per
    //  connection, at most this many messages wait to be sent or read. A
    //  peer that floods a ROUTER fills its own queue and is then not read
    //  from (TCP pushes back), while the others' queues are served.
    zsock_set_sndhwm (sock, 1000);
    zsock_set_rcvhwm (sock, type == ZMQ_ROUTER ? 100 : 1000);
    if (type == ZMQ_ROUTER)
        //  A message to a peer that is gone fails at once (EHOSTUNREACH)
        //  instead of vanishing, so the caller can put the task back.
        zsock_set_router_mandatory (sock, 1);

    if (endpoint && zp_attach (sock, endpoint, bind, exit_code) == -1)
        zsock_destroy (&sock);
    return sock;
}

int
zp_attach (zsock_t *sock, const char *endpoint, bool bind, int *exit_code)
{
    int rc = bind ? zsock_bind (sock, "%s", endpoint) : zsock_connect (sock, "%s", endpoint);
    if (rc == -1) {
        int err = zmq_errno ();
        zp_error ("can't %s %s: %s", bind ? "bind" : "connect to", endpoint, zmq_strerror (err));
        *exit_code = (err == EINVAL || err == EPROTONOSUPPORT || err == ENOCOMPATPROTO)
                   ? EX_USAGE : EX_UNAVAILABLE;
        return -1;
    }
    return 0;
}

int
zp_recv (zsock_t *sock, zmq_msg_t *routing_id, zmq_msg_t *msg)
{
    void *handle = zsock_resolve (sock);
    if (routing_id) {
        if (zmq_msg_recv (routing_id, handle, ZMQ_DONTWAIT) == -1)
            return -1;
        if (!zmq_msg_more (routing_id))
            return -2;
        if (zmq_msg_recv (msg, handle, 0) == -1)
            return -1;
    }
    else
    if (zmq_msg_recv (msg, handle, ZMQ_DONTWAIT) == -1)
        return -1;

    //  zpipe messages are one frame; drain and refuse anything longer.
    if (zmq_msg_more (msg)) {
        zmq_msg_t rest;
        zmq_msg_init (&rest);
        do {
            if (zmq_msg_recv (&rest, handle, 0) == -1)
                break;
        } while (zmq_msg_more (&rest));
        zmq_msg_close (&rest);
        return -2;
    }
    return (int) zmq_msg_size (msg);
}

const char *
zp_peer_name (zmq_msg_t *routing_id)
{
    static char name [2 * 32 + 1];
    const uint8_t *bytes = (const uint8_t *) zmq_msg_data (routing_id);
    size_t size = zmq_msg_size (routing_id);
    if (size > 32)
        size = 32;
    for (size_t i = 0; i < size; i++)
        snprintf (name + 2 * i, 3, "%02x", bytes [i]);
    name [2 * size] = 0;
    return name;
}
