/*  zp_zap - the ZAP handler (RFC 27) of a zpipe CURVE server: lets in the
    clients whose public keys are in an allow directory, refuses everyone
    else, and notices when the directory changes.

    Why not czmq's zauth: zauth reads the directory with zcertstore, which
    aborts the whole process (an assert) when two files in it carry the same
    key -- at start-up or at any reload, say when an operator copies a
    certificate beside itself -- and the hook to replace its loader is draft
    API, not in Debian's czmq. This handler keeps zauth's model (one actor
    per process, bound to inproc://zeromq.zap.01 before any server socket
    is bound, directory reloaded on change) and refuses, with a log line,
    what zauth would crash on or silently take: duplicate keys, secret
    certificates left in the directory, files that are not certificates.

    The allow directory: every regular file in it (not in subdirectories)
    whose name does not start with '.' or end in "_secret" is read as a
    public certificate; at most ZP_ZAP_MAX_FILES files. It is looked at
    again before every handshake and once a second, and reloaded when a
    file name, size, inode or modification time, or the directory itself,
    changed.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef ZP_ZAP_H_INCLUDED
#define ZP_ZAP_H_INCLUDED

#include <czmq.h>

#define ZP_ZAP_MAX_FILES 10000

//  Start the handler on allow_dir (the string is copied). Returns NULL after
//  logging when it cannot (the directory can't be read, or another ZAP
//  handler is bound in this process). Stop it with zactor_destroy.
zactor_t *
    zp_zap_new (const char *allow_dir);

#endif
