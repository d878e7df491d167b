/*  http - the sink's `--http` server (libmicrohttpd, in its own thread):
    /metrics (Prometheus text format), /status (JSON) and / (a page that
    shows both, updating itself every second).

    The HTTP thread never touches the sink's state: the sink's loop
    publishes finished texts (http_publish) and the thread serves copies of
    the latest, under a mutex. A request sets a flag the loop reads
    (http_wanted), so the texts are rebuilt when someone is looking.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef HTTP_H_INCLUDED
#define HTTP_H_INCLUDED

#include <stdbool.h>
#include <sys/socket.h>

typedef struct _http_t http_t;

//  An address to serve on: "ADDRESS:PORT", ":PORT" or "PORT" (those two on
//  127.0.0.1); ADDRESS is an IPv4 address, an IPv6 one in brackets,
//  "localhost" or "*" (every interface). Returns 0, or -1 with a reason
//  (static string) for a usage error.
typedef struct {
    struct sockaddr_storage addr;
    socklen_t size;
    char text [80];             //  as logged: "127.0.0.1:9100", "[::1]:9100"
} http_address_t;

int
    http_parse_address (const char *text, http_address_t *address, const char **reason);

//  Bind and start serving (nothing to serve until the first publish: 503).
//  Returns NULL after logging a line that names the address, with *status
//  EX_UNAVAILABLE (can't bind) or EX_OSERR. The caller destroys it.
http_t *
    http_new (const http_address_t *address, int *status);

//  Stop the thread and free everything; safe on NULL and twice.
void
    http_destroy (http_t **self_p);

//  Serve these texts from now on; takes ownership of both (malloc'd,
//  NUL-terminated). A NULL text keeps the one served before.
void
    http_publish (http_t *self, char *status_json, char *metrics);

//  True once after each request that came since the last call.
bool
    http_wanted (http_t *self);

#endif
