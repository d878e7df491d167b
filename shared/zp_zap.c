/*  zp_zap - the ZAP handler of a zpipe CURVE server.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_zap.h"
#include "zp_curve.h"
#include "zp_util.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
//  How often the directory is looked at while no handshake comes.
#define RESCAN_MS 1000

typedef struct {
    zsock_t *pipe;
    zsock_t *handler;           //  REP, bound to the ZAP endpoint
    char *dir;
    zhashx_t *keys;             //  Z85 public key -> file name
    uint64_t signature;         //  of the directory as last loaded
    bool loaded;
    zp_ratelimit_t refusals;
    zp_ratelimit_t problems;
    zhashx_t *logged;           //  refused key -> when it was last logged (ms)
    int64_t burst_ms;           //  start of the current second of key lines
    unsigned burst;             //  key lines logged in it
} self_t;

static void s_free_name (void **item);

//  A refused key is worth a line of its own -- the operator needs to see
//  every key that knocks -- but only once a minute, and at most 10 new ones
//  a second: a peer trying fresh keys in a loop gets the one-line-a-second
//  limiter, like any other flood.
static void
s_log_refused (self_t *self, const char *key, const char *address)
{
    int64_t now = zp_mono_us () / 1000;
    if (!self->logged) {
        self->logged = zhashx_new ();
        if (!self->logged)
            return;
        zhashx_set_destructor (self->logged, s_free_name);
    }
    int64_t *last = (int64_t *) zhashx_lookup (self->logged, key);
    if (last && now - *last < 60000)
        return;
    if (now - self->burst_ms >= 1000) {
        self->burst_ms = now;
        self->burst = 0;
    }
    if (self->burst >= 10) {
        zp_warn_limited (&self->refusals, "refused CURVE client key %s from %s: no"
                         " certificate with that key in %s", key, address, self->dir);
        return;
    }
    self->burst++;
    zp_warn ("refused CURVE client key %s from %s: no certificate with that key in %s",
             key, address, self->dir);
    if (zhashx_size (self->logged) >= 4096)
        zhashx_purge (self->logged);
    if (last)
        *last = now;
    else {
        int64_t *stamp = (int64_t *) malloc (sizeof (int64_t));
        if (stamp) {
            *stamp = now;
            if (zhashx_insert (self->logged, key, stamp) != 0)
                free (stamp);
        }
    }
}

//  FNV-1a over bytes, folded into an accumulator.
static uint64_t
s_fold (uint64_t hash, const void *data, size_t size)
{
    const uint8_t *bytes = (const uint8_t *) data;
    for (size_t i = 0; i < size; i++)
        hash = (hash ^ bytes [i]) * UINT64_C (1099511628211);
    return hash;
}

static bool
s_candidate (const char *name)
{
    size_t length = strlen (name);
    return name [0] != '.' && !(length >= 7 && streq (name + length - 7, "_secret"));
}

//  What identifies the directory's state: its own stat and, for every
//  entry, name, inode, size and modification time. Returns 0 and the
//  signature, or -1 if the directory can't be read.
static int
s_signature (const char *dir, uint64_t *signature)
{
    DIR *handle = opendir (dir);
    if (!handle)
        return -1;
    uint64_t hash = UINT64_C (14695981039346656037);
    struct stat info;
    if (fstat (dirfd (handle), &info) == 0) {
        hash = s_fold (hash, &info.st_mtim, sizeof info.st_mtim);
        hash = s_fold (hash, &info.st_ino, sizeof info.st_ino);
    }
    //  readdir's order is stable for an unchanged directory; a change of
    //  order comes with a change of the directory's mtime anyway.
    struct dirent *entry;
    size_t seen = 0;
    while ((entry = readdir (handle)) != NULL && seen++ < 2 * ZP_ZAP_MAX_FILES) {
        hash = s_fold (hash, entry->d_name, strlen (entry->d_name) + 1);
        if (fstatat (dirfd (handle), entry->d_name, &info, 0) == 0) {
            hash = s_fold (hash, &info.st_ino, sizeof info.st_ino);
            hash = s_fold (hash, &info.st_size, sizeof info.st_size);
            hash = s_fold (hash, &info.st_mtim, sizeof info.st_mtim);
        }
    }
    closedir (handle);
    *signature = hash;
    return 0;
}

static void
s_free_name (void **item)
{
    free (*item);
    *item = NULL;
}

//  Load every certificate of the directory into a new key table. Problems
//  with single files are logged and the files skipped. Returns the table,
//  or NULL when the directory can't be read.
static zhashx_t *
s_load (self_t *self)
{
    DIR *handle = opendir (self->dir);
    if (!handle) {
        zp_error ("--curve-allow: can't read %s: %s; no client is let in", self->dir,
                  strerror (errno));
        return NULL;
    }
    zhashx_t *keys = zhashx_new ();
    if (!keys) {
        closedir (handle);
        return NULL;
    }
    zhashx_set_destructor (keys, s_free_name);
    struct dirent *entry;
    size_t files = 0;
    while ((entry = readdir (handle)) != NULL) {
        const char *name = entry->d_name;
        char path [4096];
        if (snprintf (path, sizeof path, "%s/%s", self->dir, name) >= (int) sizeof path)
            continue;
        struct stat info;
        if (stat (path, &info) != 0 || !S_ISREG (info.st_mode))
            continue;
        if (!s_candidate (name)) {
            if (name [0] != '.')
                zp_warn ("--curve-allow: %s is a secret certificate; it does not belong"
                         " here (only public ones do) and is ignored", path);
            continue;
        }
        if (++files > ZP_ZAP_MAX_FILES) {
            zp_warn ("--curve-allow: more than %d files in %s; the rest are ignored",
                     ZP_ZAP_MAX_FILES, self->dir);
            break;
        }
        char public_txt [ZP_CURVE_KEY_TEXT];
        const char *reason;
        if (zp_curve_read (path, public_txt, NULL, &reason)) {
            zp_warn ("--curve-allow: %s: %s; ignored", path, reason);
            continue;
        }
        const char *other = (const char *) zhashx_lookup (keys, public_txt);
        if (other) {
            zp_warn ("--curve-allow: %s has the same key as %s; ignored", path, other);
            continue;
        }
        char *copy = strdup (name);
        if (copy && zhashx_insert (keys, public_txt, copy) != 0)
            free (copy);
    }
    closedir (handle);
    return keys;
}

//  Reload if the directory changed since the last load (or force).
static void
s_refresh (self_t *self, bool force)
{
    uint64_t signature = 0;
    if (s_signature (self->dir, &signature) != 0) {
        if (self->loaded || force)
            zp_warn_limited (&self->problems, "--curve-allow: can't read %s: %s;"
                             " keeping the keys loaded before", self->dir, strerror (errno));
        return;
    }
    if (self->loaded && !force && signature == self->signature)
        return;
    zhashx_t *keys = s_load (self);
    if (!keys)
        return;
    size_t count = zhashx_size (keys);
    if (self->loaded)
        zp_info ("--curve-allow: %s changed; %zu client keys allowed now", self->dir, count);
    else
        zp_info ("CURVE: %zu client keys allowed (from %s)", count, self->dir);
    if (count == 0)
        zp_warn ("--curve-allow: no certificate in %s: no client can connect", self->dir);
    zhashx_destroy (&self->keys);
    self->keys = keys;
    self->signature = signature;
    self->loaded = true;
}

static char *
s_pop_string (zmsg_t *msg)
{
    char *text = zmsg_popstr (msg);
    return text ? text : strdup ("");
}

//  One ZAP request: version, sequence, domain, address, identity,
//  mechanism, credentials. Anything but a well-formed CURVE request for
//  the zpipe domain whose key is in the directory is refused.
static void
s_authenticate (self_t *self)
{
    zmsg_t *request = zmsg_recv (self->handler);
    if (!request)
        return;
    size_t frames = zmsg_size (request);
    char *version = s_pop_string (request);
    char *sequence = s_pop_string (request);
    char *domain = s_pop_string (request);
    char *address = s_pop_string (request);
    char *identity = s_pop_string (request);
    char *mechanism = s_pop_string (request);
    zframe_t *key = zmsg_pop (request);

    const char *status = "400", *text = "No access";
    char key_txt [ZP_CURVE_KEY_TEXT] = "";
    const char *name = NULL;
    bool curve = streq (mechanism, "CURVE");
    if (!streq (version, "1.0")
    ||  (curve && (frames != 7 || !key || zframe_size (key) != 32
                   || !streq (domain, ZP_CURVE_DOMAIN)))) {
        status = "500";
        text = "Bad request";
    }
    else
    if (!curve)
        zp_warn_limited (&self->refusals, "refused a %s client from %s: only CURVE is"
                         " allowed here", mechanism, address);
    else {
        zmq_z85_encode (key_txt, zframe_data (key), 32);
        s_refresh (self, false);
        name = self->keys ? (const char *) zhashx_lookup (self->keys, key_txt) : NULL;
        if (name) {
            status = "200";
            text = "OK";
            zp_debug ("CURVE client %s from %s allowed (%s)", key_txt, address, name);
        }
        else
            s_log_refused (self, key_txt, address);
    }
    //  The user id is the certificate's file name, for the record; no
    //  metadata.
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, sequence);
    zmsg_addstr (reply, status);
    zmsg_addstr (reply, text);
    zmsg_addstr (reply, name ? name : "");
    zmsg_addmem (reply, NULL, 0);
    zmsg_send (&reply, self->handler);

    zframe_destroy (&key);
    free (version);
    free (sequence);
    free (domain);
    free (address);
    free (identity);
    free (mechanism);
    zmsg_destroy (&request);
}

static void
s_actor (zsock_t *pipe, void *args)
{
    self_t self_data = { .pipe = pipe, .dir = (char *) args }, *self = &self_data;
    //  zactor_new waits for this first signal; the second says whether
    //  the handler is up (zp_zap_new waits for it).
    zsock_signal (pipe, 0);
    self->handler = zsock_new (ZMQ_REP);
    if (!self->handler || zsock_bind (self->handler, ZAP_ENDPOINT) != 0) {
        zp_error ("can't start the ZAP handler: %s", zmq_strerror (zmq_errno ()));
        zsock_destroy (&self->handler);
        free (self->dir);
        zsock_signal (pipe, 1);
        return;
    }
    s_refresh (self, true);
    zsock_signal (pipe, self->loaded ? 0 : 1);
    zpoller_t *poller = self->loaded ? zpoller_new (pipe, self->handler, NULL) : NULL;
    while (poller) {
        void *which = zpoller_wait (poller, RESCAN_MS);
        if (which == pipe) {
            char *command = zstr_recv (pipe);
            bool stop = !command || streq (command, "$TERM");
            zstr_free (&command);
            if (stop)
                break;
        }
        else
        if (which == self->handler)
            s_authenticate (self);
        else
        if (zpoller_terminated (poller))
            break;
        else
            s_refresh (self, false);
    }
    zpoller_destroy (&poller);
    zsock_unbind (self->handler, ZAP_ENDPOINT);
    zsock_destroy (&self->handler);
    zhashx_destroy (&self->keys);
    zhashx_destroy (&self->logged);
    free (self->dir);
}

zactor_t *
zp_zap_new (const char *allow_dir)
{
    char *dir = strdup (allow_dir);
    if (!dir)
        return NULL;
    //  The actor owns dir from here on, whatever happens.
    zactor_t *actor = zactor_new (s_actor, dir);
    if (actor && zsock_wait (actor) != 0)
        zactor_destroy (&actor);
    return actor;
}
