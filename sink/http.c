/*  http - the sink's `--http` server (see http.h).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "http.h"
#include "zp_util.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  Connections at once, and how long an idle one is kept (seconds).
#define CONNECTION_LIMIT   64
#define CONNECTION_TIMEOUT 10

struct _http_t {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;       //  guards the two texts
    char *status_json;
    char *metrics;
    char *page;                 //  s_page in one piece
    size_t page_size;
    atomic_bool wanted;
};

//  The page at /: self-contained (no outside assets), polls /status every
//  second and draws the batch and the worker table from it. Text goes in
//  with textContent only, so a host name cannot inject markup.
static const char *const s_page [] = {
"<!DOCTYPE html>\n"
"<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<title>zpipe sink</title>\n"
"<style>\n"
"body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\n"
"h1{font-size:1.3em;margin:0 0 .6em}\n"
"#bar{height:1.4em;background:#ddd;border-radius:4px;overflow:hidden;max-width:50em}\n"
"#fill{height:100%;width:0;background:#2a7ae2;transition:width .4s}\n"
"#batch-line{margin:.5em 0 1em}\n"
"table{border-collapse:collapse;margin-top:.5em}\n"
"th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right}\n"
"th:first-child,td:first-child{text-align:left}\n"
"tr.gone td,tr.left td{color:#999}\n"
"tr.gone td.state{color:#c00}\n"
"#foot{margin-top:1em;color:#777;font-size:.9em}\n"
"</style></head><body>\n",
"<h1>zpipe sink <span id=\"sink\"></span></h1>\n"
"<div id=\"bar\"><div id=\"fill\"></div></div>\n"
"<div id=\"batch-line\">waiting for the first update</div>\n"
"<div id=\"processes\"></div>\n"
"<table id=\"workers\"><thead><tr><th>host</th><th>pid</th><th>state</th><th>engine</th>"
"<th>tasks</th><th>results</th><th>hashes/s</th><th>held</th><th>running</th>"
"<th>RSS</th><th>uptime</th><th>last heard</th></tr></thead><tbody></tbody></table>\n"
"<div id=\"foot\">updates: <span id=\"refreshes\">0</span>, last at "
"<span id=\"updated\">never</span> <span id=\"error\"></span></div>\n"
"<script>\n",
"'use strict';\n"
"let refreshes = 0;\n"
"function si(v) {\n"
"  const p = ['', ' k', ' M', ' G', ' T']; let i = 0;\n"
"  while (v >= 1000 && i < p.length - 1) { v /= 1000; i++; }\n"
"  return (i && v < 10 ? v.toFixed(2) : i && v < 100 ? v.toFixed(1) : v.toFixed(0)) + p[i];\n"
"}\n"
"function bytes(v) {\n"
"  const p = ['B', 'KiB', 'MiB', 'GiB']; let i = 0;\n"
"  while (v >= 1024 && i < p.length - 1) { v /= 1024; i++; }\n"
"  return v.toFixed(i ? 1 : 0) + ' ' + p[i];\n"
"}\n"
"function dur(s) {\n"
"  s = Math.round(s); const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;\n"
"  return (h ? h + 'h' : '') + m + ':' + String(s % 60).padStart(2, '0');\n"
"}\n"
"function cell(tr, text, cls) {\n"
"  const td = document.createElement('td'); td.textContent = text;\n"
"  if (cls) td.className = cls; tr.appendChild(td);\n"
"}\n"
"",
"function draw(st) {\n"
"  document.getElementById('sink').textContent = 'on ' + st.sink.host + ' (pid ' +\n"
"    st.sink.pid + ')';\n"
"  const b = st.batch, line = document.getElementById('batch-line');\n"
"  let pct = 0;\n"
"  if (!b) line.textContent = 'no batch yet';\n"
"  else {\n"
"    pct = b.progress === null ? 0 : b.progress * 100;\n"
"    let t = 'batch ' + b.batch + ': ' + b.results + (b.tasks === null ? '' : ' / ' +\n"
"      b.tasks) + ' tasks';\n"
"    if (b.progress !== null) t += ' (' + pct.toFixed(1) + ' %)';\n"
"    t += ', ' + si(b.hashes_per_second) + 'H/s, ' + dur(b.elapsed_s) + ' elapsed';\n"
"    if (b.complete) t += ', complete';\n"
"    else if (b.eta_s !== null) t += ', ETA ' + dur(b.eta_s);\n"
"    line.textContent = t;\n"
"  }\n"
"  document.getElementById('fill').style.width = pct + '%';\n"
"  const p = st.processes;\n"
"  document.getElementById('processes').textContent = 'worker processes: ' + p.alive +\n"
"    ' alive, ' + p.left + ' left, ' + p.gone + ' gone';\n"
"  const body = document.querySelector('#workers tbody');\n"
"  body.textContent = '';\n"
"  for (const w of st.workers) {\n"
"    const tr = document.createElement('tr');\n"
"    tr.className = 'worker ' + w.state;\n"
"    tr.dataset.host = w.host; tr.dataset.pid = w.pid; tr.dataset.state = w.state;\n"
"    cell(tr, w.host); cell(tr, w.pid); cell(tr, w.state, 'state'); cell(tr, w.engine);\n"
"    cell(tr, w.tasks); cell(tr, w.results); cell(tr, si(w.hashes_per_second));\n"
"    cell(tr, w.held); cell(tr, w.running); cell(tr, bytes(w.rss_bytes));\n"
"    cell(tr, dur(w.uptime_s)); cell(tr, w.last_heard_s.toFixed(1) + ' s ago');\n"
"    body.appendChild(tr);\n"
"  }\n"
"}\n"
"",
"async function refresh() {\n"
"  try {\n"
"    const r = await fetch('status', {cache: 'no-store'});\n"
"    if (!r.ok) throw new Error('HTTP ' + r.status);\n"
"    draw(await r.json());\n"
"    refreshes++;\n"
"    document.getElementById('refreshes').textContent = refreshes;\n"
"    document.getElementById('updated').textContent = new Date().toLocaleTimeString();\n"
"    document.getElementById('error').textContent = '';\n"
"  } catch (e) {\n"
"    document.getElementById('error').textContent = '(the sink does not answer: ' +\n"
"      e.message + ')';\n"
"  }\n"
"  setTimeout(refresh, 1000);\n"
"}\n"
"refresh();\n"
"</script></body></html>\n"
};

int
http_parse_address (const char *text, http_address_t *address, const char **reason)
{
    assert (text);
    assert (address);
    memset (address, 0, sizeof *address);
    char host [64] = "127.0.0.1";
    const char *port_text = text;
    const char *colon = strrchr (text, ':');
    if (colon) {
        size_t size = (size_t) (colon - text);
        if (size >= sizeof host) {
            *reason = "the address is too long";
            return -1;
        }
        if (size > 0) {
            memcpy (host, text, size);
            host [size] = 0;
        }
        port_text = colon + 1;
    }
    bool digits = *port_text != 0 && strlen (port_text) <= 5;
    for (const char *c = port_text; digits && *c; c++)
        digits = *c >= '0' && *c <= '9';
    long port = digits ? strtol (port_text, NULL, 10) : 0;
    if (port < 1 || port > 65535) {
        *reason = "the port is not a number from 1 to 65535";
        return -1;
    }
    if (streq (host, "localhost"))
        snprintf (host, sizeof host, "127.0.0.1");
    else
    if (streq (host, "*"))
        snprintf (host, sizeof host, "0.0.0.0");
    size_t size = strlen (host);
    if (host [0] == '[' && size > 2 && host [size - 1] == ']') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &address->addr;
        host [size - 1] = 0;
        if (inet_pton (AF_INET6, host + 1, &in6->sin6_addr) != 1) {
            *reason = "not an IPv6 address in brackets";
            return -1;
        }
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons ((uint16_t) port);
        address->size = sizeof *in6;
        snprintf (address->text, sizeof address->text, "[%s]:%ld", host + 1, port);
        return 0;
    }
    struct sockaddr_in *in = (struct sockaddr_in *) &address->addr;
    if (inet_pton (AF_INET, host, &in->sin_addr) != 1) {
        *reason = "not an IPv4 address, [IPv6 address], localhost or *";
        return -1;
    }
    in->sin_family = AF_INET;
    in->sin_port = htons ((uint16_t) port);
    address->size = sizeof *in;
    snprintf (address->text, sizeof address->text, "%s:%ld", host, port);
    return 0;
}

static enum MHD_Result
s_reply (struct MHD_Connection *connection, unsigned int code, const char *type,
         const char *body, size_t size)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (size, (void *) body,
                                                                      MHD_RESPMEM_MUST_COPY);
    if (!response)
        return MHD_NO;
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response (connection, code, response);
    MHD_destroy_response (response);
    return rc;
}

//  One of the two texts the loop published, copied under the lock.
static enum MHD_Result
s_reply_text (http_t *self, struct MHD_Connection *connection, char *const *text,
              const char *type)
{
    pthread_mutex_lock (&self->lock);
    enum MHD_Result rc;
    if (*text)
        rc = s_reply (connection, MHD_HTTP_OK, type, *text, strlen (*text));
    else {
        static const char later [] = "starting up: try again in a second\n";
        rc = s_reply (connection, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
                      later, sizeof later - 1);
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

static enum MHD_Result
s_on_request (void *cls, struct MHD_Connection *connection, const char *url,
              const char *method, const char *version, const char *upload_data,
              size_t *upload_data_size, void **con_cls)
{
    (void) version;
    (void) upload_data;
    (void) con_cls;
    http_t *self = (http_t *) cls;
    if (!streq (method, MHD_HTTP_METHOD_GET) && !streq (method, MHD_HTTP_METHOD_HEAD)) {
        static const char text [] = "only GET and HEAD\n";
        *upload_data_size = 0;
        return s_reply (connection, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                        text, sizeof text - 1);
    }
    if (streq (url, "/"))
        return s_reply (connection, MHD_HTTP_OK, "text/html; charset=utf-8", self->page,
                        self->page_size);
    if (streq (url, "/status")) {
        atomic_store (&self->wanted, true);
        return s_reply_text (self, connection, &self->status_json, "application/json");
    }
    if (streq (url, "/metrics")) {
        atomic_store (&self->wanted, true);
        return s_reply_text (self, connection, &self->metrics,
                             "text/plain; version=0.0.4; charset=utf-8");
    }
    static const char text [] = "not found: try /, /status or /metrics\n";
    return s_reply (connection, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", text,
                    sizeof text - 1);
}

http_t *
http_new (const http_address_t *address, int *status)
{
    assert (address);
    assert (status);
    //  Our own listening socket: so that a failure to bind says why, in
    //  the line that names the address.
    int family = address->addr.ss_family;
    int fd = socket (family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        zp_error ("can't serve HTTP on %s: socket: %s", address->text, strerror (errno));
        *status = EX_OSERR;
        return NULL;
    }
    int on = 1;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (family == AF_INET6)
        setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    if (bind (fd, (const struct sockaddr *) &address->addr, address->size) == -1
    ||  listen (fd, 32) == -1) {
        zp_error ("can't serve HTTP on %s: %s", address->text, strerror (errno));
        close (fd);
        *status = EX_UNAVAILABLE;
        return NULL;
    }
    http_t *self = (http_t *) calloc (1, sizeof (http_t));
    if (!self) {
        close (fd);
        *status = EX_OSERR;
        return NULL;
    }
    //  The page is written in pieces: ISO C guarantees string literals of
    //  4095 bytes only.
    for (size_t i = 0; i < sizeof s_page / sizeof s_page [0]; i++)
        self->page_size += strlen (s_page [i]);
    self->page = (char *) malloc (self->page_size + 1);
    if (!self->page) {
        close (fd);
        free (self);
        *status = EX_OSERR;
        return NULL;
    }
    size_t at = 0;
    for (size_t i = 0; i < sizeof s_page / sizeof s_page [0]; i++) {
        size_t size = strlen (s_page [i]);
        memcpy (self->page + at, s_page [i], size);
        at += size;
    }
    self->page [at] = 0;
    pthread_mutex_init (&self->lock, NULL);
    //  poll(2), not libmicrohttpd's default select(2): the sink raises its
    //  descriptor limit past FD_SETSIZE (zp_nofile_raise), and select
    //  can't watch a connection whose descriptor is above it.
    unsigned int flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    self->daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_on_request, self,
                                     MHD_OPTION_LISTEN_SOCKET, (MHD_socket) fd,
                                     MHD_OPTION_CONNECTION_LIMIT, (unsigned int) CONNECTION_LIMIT,
                                     MHD_OPTION_CONNECTION_TIMEOUT,
                                     (unsigned int) CONNECTION_TIMEOUT,
                                     MHD_OPTION_END);
    if (!self->daemon) {
        zp_error ("can't serve HTTP on %s: libmicrohttpd would not start", address->text);
        close (fd);
        pthread_mutex_destroy (&self->lock);
        free (self->page);
        free (self);
        *status = EX_OSERR;
        return NULL;
    }
    zp_info ("serving /metrics, /status and / on http://%s/", address->text);
    return self;
}

void
http_destroy (http_t **self_p)
{
    assert (self_p);
    http_t *self = *self_p;
    if (self) {
        //  Stops the thread and closes the listening socket.
        MHD_stop_daemon (self->daemon);
        pthread_mutex_destroy (&self->lock);
        free (self->status_json);
        free (self->metrics);
        free (self->page);
        free (self);
        *self_p = NULL;
    }
}

void
http_publish (http_t *self, char *status_json, char *metrics)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    if (status_json) {
        free (self->status_json);
        self->status_json = status_json;
    }
    if (metrics) {
        free (self->metrics);
        self->metrics = metrics;
    }
    pthread_mutex_unlock (&self->lock);
}

bool
http_wanted (http_t *self)
{
    assert (self);
    return atomic_exchange (&self->wanted, false);
}
