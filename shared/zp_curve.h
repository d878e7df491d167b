/*  zp_curve - CURVE encryption and authentication for the zpipe links.

    A stage run with --curve-* options encrypts every link it makes: the
    binding sockets (the ventilator's task endpoint, the sink's endpoint)
    are CURVE servers that admit only the clients whose public certificates
    are in the --curve-allow directory (through a ZAP handler, zp_zap); the
    connecting sockets are CURVE clients with their own certificate that
    trust only the server whose public certificate they were given. A stage
    run without them is plain text on every link: never a mixture.

    Whatever the mode, every binding socket is watched (a ZeroMQ socket
    monitor in an actor of its own): a handshake that fails -- a key not
    allowed, a plain-text peer at a CURVE server, garbage instead of ZMTP --
    is logged (at most once a second) and counted, and a connection it can't
    accept (out of descriptors: EMFILE, with the limit) is logged the same
    way. A connecting socket logs why its handshake failed, naming CURVE
    only when CURVE is involved.

    Certificates are czmq zcert files (scripts/zpipe-keygen writes them):
    NAME.cert holds the public key, NAME.cert_secret beside it the secret
    key as well and must not be readable by anyone but its owner.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef ZP_CURVE_H_INCLUDED
#define ZP_CURVE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Z85 text of a 32-byte key: 40 characters and a NUL.
#define ZP_CURVE_KEY_TEXT 41
//  Largest certificate file read, bytes.
#define ZP_CURVE_CERT_MAX 65536
//  ZAP domain of every zpipe CURVE server.
#define ZP_CURVE_DOMAIN "zpipe"

//  The CURVE options of a stage, as given on its command line (NULL when
//  not given). The strings are the caller's.
typedef struct {
    const char *cert;           //  --curve-cert: own public certificate file
    const char *allow;          //  --curve-allow: allowed clients' certificates
    const char *ventilator;     //  --curve-ventilator: the ventilator's public certificate
    const char *sink;           //  --curve-sink: the sink's public certificate
} zp_curve_options_t;

//  What a stage needs when it runs with CURVE (zp_curve_check needs).
#define ZP_CURVE_NEEDS_ALLOW      0x01    //  it binds: --curve-allow
#define ZP_CURVE_NEEDS_VENTILATOR 0x02    //  it connects to the ventilator
#define ZP_CURVE_NEEDS_SINK       0x04    //  it connects to the sink

//  Which server a client socket talks to (zp_curve_client).
typedef enum {
    ZP_CURVE_TO_VENTILATOR,
    ZP_CURVE_TO_SINK
} zp_curve_peer_t;

typedef struct _zp_curve_t zp_curve_t;

//  All or nothing: no --curve-* option (plain text), or every one the stage
//  needs. Returns 0, or EX_USAGE after one usage line that says which
//  option is missing and which link would be plain text.
int
    zp_curve_check (const zp_curve_options_t *options, unsigned needs);

//  Load what the options name: own certificate and secret key, the servers'
//  public keys, and check the allow directory. Plain text when no option
//  is set. Creates no ZeroMQ context (a worker calls it before it forks).
//  Returns NULL after logging why (the file and what is wrong with it);
//  *exit_code is then EX_CONFIG. The caller owns the result.
zp_curve_t *
    zp_curve_new (const zp_curve_options_t *options, int *exit_code);

//  Stop the actors, wipe the secret key, free. Safe on NULL and twice.
void
    zp_curve_destroy (zp_curve_t **self_p);

//  True when the stage runs with CURVE.
bool
    zp_curve_enabled (const zp_curve_t *self);

//  Prepare a socket that will be bound to endpoint (call before zp_attach).
//  With CURVE: the ZAP handler goes up first (once per process), then the
//  socket becomes a CURVE server with our key in the zpipe ZAP domain, so
//  no client is let in without being looked up. In any mode, the socket's
//  failed handshakes are logged and counted. Returns 0, or -1 after
//  logging (then *exit_code is set).
int
    zp_curve_server (zp_curve_t *self, zsock_t *sock, const char *endpoint, int *exit_code);

//  Prepare a socket that will connect to the given server (call before
//  zp_attach): with CURVE, our key pair and the server's public key. A
//  handshake refused by the server is logged with what to check.
int
    zp_curve_client (zp_curve_t *self, zsock_t *sock, zp_curve_peer_t peer,
                     const char *endpoint, int *exit_code);

//  A socket that becomes readable each time a handshake of sock (a client
//  socket prepared with zp_curve_client) succeeds, that is when a
//  connection to its server comes up, again after a reconnection too: one
//  short message a connection, to be read and dropped (unread ones are
//  dropped past the pipe's limit). NULL if sock is not watched. Owned by
//  self; read it from the thread that owns sock.
zsock_t *
    zp_curve_connected (zp_curve_t *self, zsock_t *sock);

//  True once a server refused one of this process's client sockets at the
//  handshake (our key not allowed, or CURVE against plain text): libzmq
//  never tries that connection again, so the caller should start over --
//  a worker process exits and its supervisor starts it again later, by
//  when the certificate may be installed.
bool
    zp_curve_shut_out (zp_curve_t *self);

//  Handshakes refused on this process's server sockets so far (keys not
//  allowed, plain-text or garbage peers, timeouts).
uint64_t
    zp_curve_refused (zp_curve_t *self);

//  --- Certificates ------------------------------------------------------------
//  Read the keys out of the text of a zcert file (size bytes, need not end
//  in NUL): public_txt always, secret_txt when it is not NULL (a secret
//  certificate). Returns 0, or -1 with *reason set to a static string.
//  Never reads outside [text, text + size).
int
    zp_curve_parse (const char *text, size_t size, char *public_txt, char *secret_txt,
                    const char **reason);

//  Read a certificate file (at most ZP_CURVE_CERT_MAX bytes) and parse it
//  as zp_curve_parse does. Returns 0, or -1 with *reason set (a static
//  string; errno-based ones are "can't read").
int
    zp_curve_read (const char *path, char *public_txt, char *secret_txt, const char **reason);

#endif
