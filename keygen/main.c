/*  zpipe-keygen - write a CURVE certificate pair for one zpipe stage.

        zpipe-keygen NAME DIR

    Writes DIR/NAME.cert (the public certificate, mode 0644) and
    DIR/NAME.cert_secret (both keys, mode 0600) with czmq's zcert, as
    zcert_save names them, and says where the public one goes. Refuses to
    overwrite either file. scripts/zpipe-keygen runs it.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include <czmq.h>
#include <errno.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
"Usage: zpipe-keygen NAME DIR\n"
"Write a CURVE certificate pair for a zpipe stage: DIR/NAME.cert (public,\n"
"mode 0644) and DIR/NAME.cert_secret (secret, mode 0600). DIR is created\n"
"(mode 0700) if missing; existing files are never overwritten. NAME is\n"
"letters, digits, '.', '_' and '-'.\n");
}

static bool
s_name_ok (const char *name)
{
    if (!*name || *name == '.' || strlen (name) > 64)
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum ((unsigned char) *c) && *c != '.' && *c != '_' && *c != '-')
            return false;
    return true;
}

int
main (int argc, char *argv [])
{
    if (argc == 2 && (streq (argv [1], "-h") || streq (argv [1], "--help"))) {
        s_usage (stdout);
        return 0;
    }
    if (argc != 3) {
        fprintf (stderr, "zpipe-keygen: need NAME and DIR (see 'zpipe-keygen --help')\n");
        return EX_USAGE;
    }
    const char *name = argv [1], *dir = argv [2];
    if (!s_name_ok (name)) {
        fprintf (stderr, "zpipe-keygen: NAME '%s' must be 1 to 64 letters, digits, '.', '_'"
                 " or '-', not starting with '.'\n", name);
        return EX_USAGE;
    }
    if (mkdir (dir, 0700) != 0 && errno != EEXIST) {
        fprintf (stderr, "zpipe-keygen: can't create %s: %s\n", dir, strerror (errno));
        return EX_CANTCREAT;
    }
    char public_path [4096], secret_path [4200];
    snprintf (public_path, sizeof public_path, "%s/%s.cert", dir, name);
    snprintf (secret_path, sizeof secret_path, "%s_secret", public_path);
    struct stat info;
    if (lstat (public_path, &info) == 0 || lstat (secret_path, &info) == 0) {
        fprintf (stderr, "zpipe-keygen: %s or %s exists already; not overwritten\n",
                 public_path, secret_path);
        return EX_CANTCREAT;
    }
    zcert_t *cert = zcert_new ();
    if (!cert) {
        fprintf (stderr, "zpipe-keygen: can't make a key pair\n");
        return EX_SOFTWARE;
    }
    zcert_set_meta (cert, "name", "%s", name);
    zcert_set_meta (cert, "created-by", "zpipe-keygen");
    //  zcert_save creates the files with the default mode: with umask 077
    //  the secret is never readable by others, not even for a moment.
    mode_t old_mask = umask (077);
    int rc = zcert_save (cert, public_path);
    umask (old_mask);
    zcert_destroy (&cert);
    if (rc != 0 || chmod (secret_path, 0600) != 0 || chmod (public_path, 0644) != 0) {
        fprintf (stderr, "zpipe-keygen: can't write %s and %s: %s\n", public_path,
                 secret_path, strerror (errno));
        unlink (public_path);
        unlink (secret_path);
        return EX_CANTCREAT;
    }
    printf ("wrote %s (public) and %s (secret, mode 0600)\n"
            "\n"
            "Start the stage with --curve-cert %s; keep %s on its machine only.\n"
            "Install the public certificate %s where the others need it:\n"
            "  a worker's:      copy it into the --curve-allow DIR of the ventilator and of the sink\n"
            "  the ventilator's: copy it into the sink's --curve-allow DIR, and give it to every\n"
            "                   worker as --curve-ventilator FILE\n"
            "  the sink's:      give it to the ventilator and every worker as --curve-sink FILE\n"
            "The servers notice a new file in --curve-allow without a restart.\n",
            public_path, secret_path, public_path, secret_path, public_path);
    return 0;
}
