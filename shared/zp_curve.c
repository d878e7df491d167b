/*  zp_curve - CURVE encryption and authentication for the zpipe links.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_curve.h"
#include "zp_util.h"
#include "zp_zap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

//  Sockets watched per process: a stage has two at most.
#define MAX_MONITORS 4
//  ZMQ_ZAP_ENFORCE_DOMAIN is draft API in libzmq 4.3's header, but the
//  Debian library takes it: without a ZAP handler, fail the handshake
//  instead of letting any key in.
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#   define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

//  What a monitor actor needs; owned by zp_curve_t, which outlives the actor.
typedef struct {
    char inproc [64];           //  where the socket's events come out
    char endpoint [256];        //  for the log
    bool server;
    const char *option;         //  client: the option naming the server's certificate
    const char *cert;           //  client: our certificate file
    bool curve;
    _Atomic uint64_t *refused;
    _Atomic bool *shut_out;
    zsock_t *sock;              //  the socket watched
    _Atomic bool tell_up;       //  client: tell the owner of each connection up
} monitor_t;

struct _zp_curve_t {
    bool enabled;
    char public_txt [ZP_CURVE_KEY_TEXT];
    char secret_txt [ZP_CURVE_KEY_TEXT];
    char ventilator_txt [ZP_CURVE_KEY_TEXT];
    char sink_txt [ZP_CURVE_KEY_TEXT];
    char *cert;
    char *allow;
    zactor_t *zap;              //  the ZAP handler, once a server socket is made
    zactor_t *actors [MAX_MONITORS];
    monitor_t *monitors [MAX_MONITORS];
    size_t monitors_size;
    _Atomic uint64_t refused;
    _Atomic bool shut_out;
};

//  --- Certificates ------------------------------------------------------------

static bool
s_key_ok (const char *text)
{
    uint8_t key [32];
    return text && strlen (text) == 40 && zmq_z85_decode (key, text) != NULL;
}

//  The zcert file format is ZPL (czmq's zconfig text): "#" comments,
//  sections at column 0, "name = value" lines indented below them. Only
//  what a certificate needs is read: curve/public-key and curve/secret-key.
//  czmq's own reader (zconfig) is not used: it prints parse errors on
//  stdout, which is for data.

//  The value of "name = value" (value quoted with " or ', or bare up to a
//  space or #). Returns false if the line is not that shape.
static bool
s_property (const char *line, size_t size, const char **name, size_t *name_size,
            const char **value, size_t *value_size)
{
    size_t at = 0;
    while (at < size && line [at] != ' ' && line [at] != '=' && line [at] != '\t')
        at++;
    *name = line;
    *name_size = at;
    while (at < size && (line [at] == ' ' || line [at] == '\t'))
        at++;
    if (*name_size == 0 || at == size || line [at] != '=')
        return false;
    at++;
    while (at < size && (line [at] == ' ' || line [at] == '\t'))
        at++;
    if (at < size && (line [at] == '"' || line [at] == '\'')) {
        char quote = line [at++];
        const char *close = (const char *) memchr (line + at, quote, size - at);
        if (!close)
            return false;
        *value = line + at;
        *value_size = (size_t) (close - (line + at));
        return true;
    }
    *value = line + at;
    while (at < size && line [at] != ' ' && line [at] != '\t' && line [at] != '#')
        at++;
    *value_size = (size_t) ((line + at) - *value);
    return true;
}

//  Takes a key value into dest (ZP_CURVE_KEY_TEXT bytes). Returns NULL or
//  the reason it is not a key.
static const char *
s_take_key (const char *value, size_t size, char *dest, bool *seen, const char *twice,
            const char *bad)
{
    if (*seen)
        return twice;
    *seen = true;
    if (size != 40)
        return bad;
    char text [ZP_CURVE_KEY_TEXT];
    memcpy (text, value, 40);
    text [40] = 0;
    if (!s_key_ok (text))
        return bad;
    memcpy (dest, text, ZP_CURVE_KEY_TEXT);
    return NULL;
}

int
zp_curve_parse (const char *text, size_t size, char *public_txt, char *secret_txt,
                const char **reason)
{
    if (memchr (text, 0, size)) {
        *reason = "not a certificate (it contains a NUL byte)";
        return -1;
    }
    char public_key [ZP_CURVE_KEY_TEXT], secret_key [ZP_CURVE_KEY_TEXT];
    bool in_curve = false, have_public = false, have_secret = false;
    const char *why = NULL;
    size_t at = 0;
    while (at < size && !why) {
        const char *line = text + at;
        const char *newline = (const char *) memchr (line, '\n', size - at);
        size_t length = newline ? (size_t) (newline - line) : size - at;
        at += length + (newline ? 1 : 0);
        if (length && line [length - 1] == '\r')
            length--;
        size_t indent = 0;
        while (indent < length && (line [indent] == ' ' || line [indent] == '\t'))
            indent++;
        const char *content = line + indent;
        size_t content_size = length - indent;
        if (content_size == 0 || content [0] == '#')
            continue;
        if (indent == 0) {
            //  A section: "curve", perhaps followed by spaces or a comment.
            size_t word = 0;
            while (word < content_size && content [word] != ' ' && content [word] != '\t'
                   && content [word] != '#')
                word++;
            in_curve = word == 5 && memcmp (content, "curve", 5) == 0;
            continue;
        }
        const char *name, *value;
        size_t name_size, value_size;
        if (!in_curve
        ||  !s_property (content, content_size, &name, &name_size, &value, &value_size))
            continue;
        if (name_size == 10 && memcmp (name, "public-key", 10) == 0)
            why = s_take_key (value, value_size, public_key, &have_public,
                              "two curve/public-key entries",
                              "curve/public-key is not 40 characters of Z85");
        else
        if (name_size == 10 && memcmp (name, "secret-key", 10) == 0)
            why = s_take_key (value, value_size, secret_key, &have_secret,
                              "two curve/secret-key entries",
                              "curve/secret-key is not 40 characters of Z85");
    }
    if (!why && !have_public)
        why = "not a certificate (no curve/public-key)";
    if (!why && secret_txt && !have_secret)
        why = "not a secret certificate (no curve/secret-key)";
    if (why) {
        explicit_bzero (secret_key, sizeof secret_key);
        *reason = why;
        return -1;
    }
    memcpy (public_txt, public_key, ZP_CURVE_KEY_TEXT);
    if (secret_txt)
        memcpy (secret_txt, secret_key, ZP_CURVE_KEY_TEXT);
    explicit_bzero (secret_key, sizeof secret_key);
    return 0;
}

//  Reads and parses an open file; closes it.
static int
s_read_fd (int fd, char *public_txt, char *secret_txt, const char **reason)
{
    char *text = (char *) malloc (ZP_CURVE_CERT_MAX + 1);
    size_t size = 0;
    ssize_t got = 0;
    while (text && size <= ZP_CURVE_CERT_MAX
           && (got = read (fd, text + size, ZP_CURVE_CERT_MAX + 1 - size)) > 0)
        size += (size_t) got;
    close (fd);
    int rc = -1;
    if (!text)
        *reason = "out of memory";
    else
    if (got < 0)
        *reason = "can't read it";
    else
    if (size > ZP_CURVE_CERT_MAX)
        *reason = "too big for a certificate (over 64 KiB)";
    else
        rc = zp_curve_parse (text, size, public_txt, secret_txt, reason);
    if (text) {
        //  It may have held a secret key.
        explicit_bzero (text, ZP_CURVE_CERT_MAX + 1);
        free (text);
    }
    return rc;
}

int
zp_curve_read (const char *path, char *public_txt, char *secret_txt, const char **reason)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd == -1 && errno == ELOOP)
        //  A symbolic link is fine for a public certificate.
        fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd == -1) {
        *reason = errno == ENOENT ? "no such file" : "can't open it";
        return -1;
    }
    struct stat info;
    if (fstat (fd, &info) != 0 || !S_ISREG (info.st_mode)) {
        close (fd);
        *reason = "not a regular file";
        return -1;
    }
    return s_read_fd (fd, public_txt, secret_txt, reason);
}

//  Own certificate: the public file, and the secret one beside it, which
//  only its owner may read. Returns 0 or -1 after logging.
static int
s_load_own (zp_curve_t *self, const char *path)
{
    const char *reason;
    size_t length = strlen (path);
    if (length > 7 && streq (path + length - 7, "_secret")) {
        zp_error ("--curve-cert: %s is the secret half: pass %.*s, the public"
                  " certificate (its secret is read from beside it)", path,
                  (int) (length - 7), path);
        return -1;
    }
    if (zp_curve_read (path, self->public_txt, NULL, &reason)) {
        zp_error ("--curve-cert: %s: %s", path, reason);
        return -1;
    }
    char secret_path [4096];
    if (snprintf (secret_path, sizeof secret_path, "%s_secret", path) >= (int) sizeof secret_path) {
        zp_error ("--curve-cert: %s: path too long", path);
        return -1;
    }
    int fd = open (secret_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd == -1) {
        zp_error ("--curve-cert: can't open the secret key %s beside %s: %s"
                  " (scripts/zpipe-keygen writes both)", secret_path, path, strerror (errno));
        return -1;
    }
    struct stat info;
    if (fstat (fd, &info) != 0 || !S_ISREG (info.st_mode)) {
        close (fd);
        zp_error ("--curve-cert: %s is not a regular file", secret_path);
        return -1;
    }
    if (info.st_mode & 077) {
        close (fd);
        zp_error ("--curve-cert: %s can be read by others (mode %04o): a secret key must"
                  " be mode 0600 (chmod 600 %s)", secret_path,
                  (unsigned) (info.st_mode & 07777), secret_path);
        return -1;
    }
    char public_in_secret [ZP_CURVE_KEY_TEXT];
    if (s_read_fd (fd, public_in_secret, self->secret_txt, &reason)) {
        zp_error ("--curve-cert: %s: %s", secret_path, reason);
        return -1;
    }
    char derived [ZP_CURVE_KEY_TEXT];
    if (!streq (public_in_secret, self->public_txt)) {
        zp_error ("--curve-cert: %s and %s are not a pair (different public keys)",
                  path, secret_path);
        return -1;
    }
    if (zmq_curve_public (derived, self->secret_txt) != 0
    ||  !streq (derived, self->public_txt)) {
        zp_error ("--curve-cert: %s: the secret key does not belong to the public key",
                  secret_path);
        return -1;
    }
    return 0;
}

static int
s_load_server (const char *option, const char *path, char *public_txt)
{
    const char *reason;
    if (zp_curve_read (path, public_txt, NULL, &reason)) {
        zp_error ("%s: %s: %s", option, path, reason);
        return -1;
    }
    return 0;
}

//  --- Options -----------------------------------------------------------------

int
zp_curve_check (const zp_curve_options_t *options, unsigned needs)
{
    const char *given = options->cert ? "--curve-cert"
                      : options->allow ? "--curve-allow"
                      : options->ventilator ? "--curve-ventilator"
                      : options->sink ? "--curve-sink" : NULL;
    if (!given)
        return 0;               //  plain text everywhere
    if (!options->cert)
        return zp_usage_error ("%s needs --curve-cert FILE too: with CURVE every link is"
                               " encrypted, and this stage has no certificate of its own",
                               given);
    if ((needs & ZP_CURVE_NEEDS_ALLOW) && !options->allow)
        return zp_usage_error ("--curve-cert needs --curve-allow DIR too: a CURVE server"
                               " without an allow list would let any key in");
    if ((needs & ZP_CURVE_NEEDS_VENTILATOR) && !options->ventilator)
        return zp_usage_error ("--curve-cert needs --curve-ventilator FILE too: the link to"
                               " the ventilator would be plain text");
    if ((needs & ZP_CURVE_NEEDS_SINK) && !options->sink)
        return zp_usage_error ("--curve-cert needs --curve-sink FILE too: the link to the"
                               " sink would be plain text");
    if (options->allow && streq (options->allow, "*"))
        return zp_usage_error ("--curve-allow: '*' (any key) is not an allow list");
    return 0;
}

zp_curve_t *
zp_curve_new (const zp_curve_options_t *options, int *exit_code)
{
    zp_curve_t *self = (zp_curve_t *) calloc (1, sizeof (zp_curve_t));
    if (!self) {
        *exit_code = EX_OSERR;
        return NULL;
    }
    atomic_init (&self->refused, 0);
    atomic_init (&self->shut_out, false);
    if (!options->cert)
        return self;            //  plain text
    self->enabled = true;
    *exit_code = EX_CONFIG;
    self->cert = strdup (options->cert);
    if (!self->cert || s_load_own (self, options->cert))
        goto failed;
    if (options->ventilator
    &&  s_load_server ("--curve-ventilator", options->ventilator, self->ventilator_txt))
        goto failed;
    if (options->sink && s_load_server ("--curve-sink", options->sink, self->sink_txt))
        goto failed;
    if (options->allow) {
        DIR *dir = opendir (options->allow);
        if (!dir) {
            zp_error ("--curve-allow: can't read the directory %s: %s", options->allow,
                      strerror (errno));
            goto failed;
        }
        closedir (dir);
        self->allow = strdup (options->allow);
        if (!self->allow)
            goto failed;
    }
    return self;
failed:
    zp_curve_destroy (&self);
    return NULL;
}

void
zp_curve_destroy (zp_curve_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zp_curve_t *self = *self_p;
    for (size_t i = 0; i < self->monitors_size; i++) {
        zactor_destroy (&self->actors [i]);
        free (self->monitors [i]);
    }
    zactor_destroy (&self->zap);
    explicit_bzero (self->secret_txt, sizeof self->secret_txt);
    free (self->cert);
    free (self->allow);
    free (self);
    *self_p = NULL;
}

zsock_t *
zp_curve_connected (zp_curve_t *self, zsock_t *sock)
{
    for (size_t i = 0; i < self->monitors_size; i++)
        if (self->monitors [i]->sock == sock && !self->monitors [i]->server) {
            atomic_store (&self->monitors [i]->tell_up, true);
            return zactor_sock (self->actors [i]);
        }
    return NULL;
}

bool
zp_curve_enabled (const zp_curve_t *self)
{
    return self && self->enabled;
}

bool
zp_curve_shut_out (zp_curve_t *self)
{
    return self && atomic_load (&self->shut_out);
}

uint64_t
zp_curve_refused (zp_curve_t *self)
{
    return self ? atomic_load (&self->refused) : 0;
}

//  --- Watching handshakes -----------------------------------------------------

//  One limiter per kind of failure, so that a flood of one kind does not
//  hide the first of another.
enum { LIMIT_AUTH, LIMIT_MISMATCH, LIMIT_PROTOCOL, LIMIT_HANDSHAKE, LIMIT_ACCEPT, LIMITERS };

static zp_ratelimit_t *
s_limiter (zp_ratelimit_t *limiters, uint16_t event, uint32_t value)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        return &limiters [LIMIT_AUTH];
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
    &&  value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        return &limiters [LIMIT_MISMATCH];
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        return &limiters [LIMIT_PROTOCOL];
    if (event == ZMQ_EVENT_ACCEPT_FAILED)
        return &limiters [LIMIT_ACCEPT];
    return &limiters [LIMIT_HANDSHAKE];
}

//  ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL carries libzmq's errno: EPIPE when
//  the peer closed the connection (a read of 0 bytes), ECONNRESET when it
//  reset it; after the handshake timer, whatever the I/O thread last set
//  (EAGAIN, from the read that found nothing).
static bool
s_peer_closed (uint32_t value)
{
    return value == EPIPE || value == ECONNRESET;
}

//  A failed accept(2) on a server socket (ZMQ_EVENT_ACCEPT_FAILED, the
//  value its errno). libzmq leaves the connection in the listen queue and
//  tries again at once, so this comes in a stream until it can take it:
//  the limiter keeps it to a line a second.
static void
s_accept_failed (monitor_t *monitor, zp_ratelimit_t *limiter, uint32_t value)
{
    int err = (int) value;
    if (err == EMFILE)
        zp_warn_limited (limiter, "can't accept a connection at %s: too many open files"
                         " (EMFILE): the limit is %" PRIu64 " descriptors (ulimit -n;"
                         " LimitNOFILE= in a systemd unit); raise it, each peer process"
                         " takes one", monitor->endpoint, zp_nofile_limit ());
    else
    if (err == ENFILE)
        zp_warn_limited (limiter, "can't accept a connection at %s: the system's file"
                         " table is full (ENFILE): raise fs.file-max, or find what holds"
                         " the descriptors", monitor->endpoint);
    else
    if (err == ENOBUFS || err == ENOMEM)
        zp_warn_limited (limiter, "can't accept a connection at %s: %s", monitor->endpoint,
                         strerror (err));
    else
        //  The peer gave up before we took it (ECONNABORTED, EPROTO), or a
        //  signal: nothing for an operator to do.
        zp_debug ("%s: can't accept a connection: %s", monitor->endpoint, strerror (err));
}

static void
s_server_event (monitor_t *monitor, zp_ratelimit_t *limiters, uint16_t event, uint32_t value)
{
    zp_ratelimit_t *limiter = s_limiter (limiters, event, value);
    if (event == ZMQ_EVENT_ACCEPT_FAILED) {
        s_accept_failed (monitor, limiter, value);
        return;
    }
    const char *why;
    char buffer [128];
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        why = "its key is not allowed (not in --curve-allow)";
    else
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
    &&  value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        why = monitor->curve ? "it does not speak CURVE (a plain-text peer?)"
                             : "it asked for a security mechanism (CURVE?) where this"
                               " stage speaks plain text";
    else
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
    &&  value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
        why = "its CURVE hello does not decrypt (has it a wrong --curve-ventilator or"
              " --curve-sink certificate?)";
    else
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        snprintf (buffer, sizeof buffer, "it broke the ZMTP handshake (protocol error 0x%08x)",
                  value);
        why = buffer;
    }
    else
    //  A plain-text client that meets a CURVE server may see the mismatch
    //  first and close: all the server sees then is the close.
    if (s_peer_closed (value))
        why = monitor->curve ? "the handshake failed: the peer closed the connection (a"
                               " plain-text peer, not ZMTP, or it gave up)"
                             : "the handshake failed: the peer closed the connection (not"
                               " ZMTP, or it gave up)";
    else {
        snprintf (buffer, sizeof buffer, "the handshake failed: not finished within %d s"
                  " (not ZMTP, or too slow)", ZP_HANDSHAKE_MS / 1000);
        why = buffer;
    }
    atomic_fetch_add (monitor->refused, 1);
    zp_warn_limited (limiter, "refused a connection at %s: %s", monitor->endpoint, why);
}

static void
s_client_event (monitor_t *monitor, zp_ratelimit_t *limiters, uint16_t event, uint32_t value)
{
    zp_ratelimit_t *limiter = s_limiter (limiters, event, value);
    //  A refusal (an ERROR from the server, a protocol error) is final for
    //  libzmq; a dropped connection is retried.
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        atomic_store (monitor->shut_out, true);
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        zp_warn_limited (limiter, "%s refused our key: is %s in its --curve-allow"
                         " directory?", monitor->endpoint, monitor->cert);
    else
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
    &&  value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        zp_warn_limited (limiter, "%s %s", monitor->endpoint,
                         monitor->curve ? "does not speak CURVE: start it with --curve-cert"
                                        : "wants CURVE: start this stage with --curve-cert and"
                                          " the servers' certificates");
    else
    //  A CURVE server that can't decrypt our hello closes the connection.
    //  One that meets a plain-text client says CURVE in its greeting (the
    //  mismatch above): a plain-text stage is never told of CURVE here.
    if (monitor->curve
    &&  (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || s_peer_closed (value)))
        zp_warn_limited (limiter, "the CURVE handshake with %s failed (%s): is %s the public"
                         " certificate of the server there?", monitor->endpoint,
                         event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "a protocol error"
                                                                     : "it closed the connection",
                         monitor->option);
    else
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        zp_warn_limited (limiter, "the handshake with %s failed: it broke the ZMTP handshake"
                         " (protocol error 0x%08x)", monitor->endpoint, value);
    else
    if (s_peer_closed (value))
        zp_warn_limited (limiter, "the handshake with %s failed: it closed the connection"
                         " (is it a zpipe stage? its log may say why)", monitor->endpoint);
    else
        zp_warn_limited (limiter, "no handshake with %s within %d s: is the server there"
                         " stopped, overloaded or out of descriptors (it then logs EMFILE)?",
                         monitor->endpoint, ZP_HANDSHAKE_MS / 1000);
}

static void
s_monitor_actor (zsock_t *pipe, void *args)
{
    monitor_t *monitor = (monitor_t *) args;
    //  zactor_new waits for this first signal; the second says whether
    //  the watch is on (s_watch waits for it).
    zsock_signal (pipe, 0);
    zsock_t *events = zsock_new (ZMQ_PAIR);
    if (!events || zsock_connect (events, "%s", monitor->inproc) != 0) {
        zsock_destroy (&events);
        zsock_signal (pipe, 1);
        return;
    }
    zsock_signal (pipe, 0);
    zp_ratelimit_t limiters [LIMITERS];
    memset (limiters, 0, sizeof limiters);
    zpoller_t *poller = zpoller_new (pipe, events, NULL);
    while (poller) {
        void *which = zpoller_wait (poller, -1);
        if (which == events) {
            zmsg_t *msg = zmsg_recv (events);
            zframe_t *head = msg ? zmsg_first (msg) : NULL;
            if (head && zframe_size (head) == 6) {
                uint16_t event;
                uint32_t value;
                memcpy (&event, zframe_data (head), 2);
                memcpy (&value, zframe_data (head) + 2, 4);
                if (event == ZMQ_EVENT_MONITOR_STOPPED) {
                    zmsg_destroy (&msg);
                    continue;
                }
                if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
                    //  Never blocks: one unread notice is as good as many.
                    if (atomic_load (&monitor->tell_up))
                        zmq_send (zsock_resolve (pipe), "up", 2, ZMQ_DONTWAIT);
                    zmsg_destroy (&msg);
                    continue;
                }
                //  Failed accepts come in a stream (s_accept_failed): no
                //  line for each.
                if (event != ZMQ_EVENT_ACCEPT_FAILED)
                    zp_debug ("%s: handshake event 0x%x, value 0x%x", monitor->endpoint,
                              event, value);
                if (monitor->server)
                    s_server_event (monitor, limiters, event, value);
                else
                    s_client_event (monitor, limiters, event, value);
            }
            zmsg_destroy (&msg);
        }
        else
        if (which == pipe || zpoller_terminated (poller))
            break;              //  $TERM, or interrupted
    }
    zpoller_destroy (&poller);
    zsock_destroy (&events);
}

static int
s_watch (zp_curve_t *self, zsock_t *sock, const char *endpoint, bool server,
         const char *option)
{
    if (self->monitors_size == MAX_MONITORS)
        return 0;
    monitor_t *monitor = (monitor_t *) calloc (1, sizeof (monitor_t));
    if (!monitor)
        return -1;
    snprintf (monitor->inproc, sizeof monitor->inproc, "inproc://zp-monitor-%p", (void *) sock);
    snprintf (monitor->endpoint, sizeof monitor->endpoint, "%s", endpoint);
    monitor->server = server;
    monitor->option = option;
    monitor->cert = self->cert;
    monitor->curve = self->enabled;
    monitor->refused = &self->refused;
    monitor->shut_out = &self->shut_out;
    int events = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
               | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    //  A server that can't accept (out of descriptors) is silent otherwise:
    //  its clients only see their handshakes time out.
    if (server)
        events |= ZMQ_EVENT_ACCEPT_FAILED;
    else
        events |= ZMQ_EVENT_HANDSHAKE_SUCCEEDED;     //  for zp_curve_connected
    monitor->sock = sock;
    zactor_t *actor = NULL;
    if (zmq_socket_monitor (zsock_resolve (sock), monitor->inproc, events) == 0) {
        actor = zactor_new (s_monitor_actor, monitor);
        if (actor && zsock_wait (actor) != 0)
            zactor_destroy (&actor);
    }
    if (!actor) {
        zp_error ("can't watch the handshakes on %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        free (monitor);
        return -1;
    }
    self->actors [self->monitors_size] = actor;
    self->monitors [self->monitors_size++] = monitor;
    return 0;
}

//  --- Sockets -----------------------------------------------------------------

int
zp_curve_server (zp_curve_t *self, zsock_t *sock, const char *endpoint, int *exit_code)
{
    if (self->enabled) {
        //  Order matters: a CURVE server that finds no ZAP handler lets any
        //  key in. The handler is bound before the socket can be.
        if (!self->allow) {
            zp_error ("CURVE server at %s without an allow list", endpoint);
            *exit_code = EX_SOFTWARE;
            return -1;
        }
        if (!self->zap) {
            self->zap = zp_zap_new (self->allow);
            if (!self->zap) {
                *exit_code = EX_CONFIG;
                return -1;
            }
        }
        zsock_set_curve_publickey (sock, self->public_txt);
        zsock_set_curve_secretkey (sock, self->secret_txt);
        zsock_set_curve_server (sock, 1);
        zsock_set_zap_domain (sock, ZP_CURVE_DOMAIN);
        //  Belt and braces: should the handler ever be gone, refuse all.
        int enforce = 1;
        if (zmq_setsockopt (zsock_resolve (sock), ZMQ_ZAP_ENFORCE_DOMAIN, &enforce,
                            sizeof enforce) != 0)
            zp_debug ("this libzmq has no ZMQ_ZAP_ENFORCE_DOMAIN; relying on the handler");
        if (zsock_curve_server (sock) != 1) {
            zp_error ("can't make %s a CURVE server: %s (is libzmq built with CURVE?)",
                      endpoint, zmq_strerror (zmq_errno ()));
            *exit_code = EX_UNAVAILABLE;
            return -1;
        }
    }
    if (s_watch (self, sock, endpoint, true, NULL)) {
        *exit_code = EX_OSERR;
        return -1;
    }
    return 0;
}

int
zp_curve_client (zp_curve_t *self, zsock_t *sock, zp_curve_peer_t peer, const char *endpoint,
                 int *exit_code)
{
    const char *server_txt = peer == ZP_CURVE_TO_VENTILATOR ? self->ventilator_txt
                                                            : self->sink_txt;
    const char *option = peer == ZP_CURVE_TO_VENTILATOR ? "--curve-ventilator" : "--curve-sink";
    if (self->enabled) {
        if (!*server_txt) {
            zp_error ("CURVE client of %s without %s", endpoint, option);
            *exit_code = EX_SOFTWARE;
            return -1;
        }
        zsock_set_curve_publickey (sock, self->public_txt);
        zsock_set_curve_secretkey (sock, self->secret_txt);
        zsock_set_curve_serverkey (sock, server_txt);
    }
    if (s_watch (self, sock, endpoint, false, option)) {
        *exit_code = EX_OSERR;
        return -1;
    }
    return 0;
}
