/*  test_curve - CURVE certificates, options and the ZAP handler.

    The certificate reader against files czmq's zcert writes and against
    broken ones; the all-or-nothing option rule; the checks on the secret
    file (mode, pair); and, on real sockets over loopback TCP in this
    process, that a zp_curve server lets in an allowed key, refuses an
    unknown key and a plain-text client, notices a certificate added to
    its allow directory, and is never set up without its ZAP handler.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_curve.h"
#include "zp_util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_dir [256];

static void
s_setup (void)
{
    zp_log_init ("test_curve", 0);
    snprintf (s_dir, sizeof s_dir, "/tmp/zp-test-curve-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
}

static void
s_teardown (void)
{
    zdir_t *dir = zdir_new (s_dir, NULL);
    if (dir) {
        zdir_remove (dir, true);
        zdir_destroy (&dir);
    }
}

TestSuite (curve, .init = s_setup, .fini = s_teardown);

//  A pair written by zcert: <dir>/<name>.cert and .cert_secret (0600).
static zcert_t *
s_pair (const char *name, char *path, size_t size)
{
    zcert_t *cert = zcert_new ();
    cr_assert_not_null (cert);
    snprintf (path, size, "%s/%s.cert", s_dir, name);
    mode_t mask = umask (077);
    cr_assert_eq (zcert_save (cert, path), 0);
    umask (mask);
    return cert;
}

static int
s_parse (const char *text, char *public_txt, char *secret_txt, const char **reason)
{
    return zp_curve_parse (text, strlen (text), public_txt, secret_txt, reason);
}

#define KEY_A "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
#define KEY_B "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"

Test (curve, reads_what_zcert_writes)
{
    char path [512], secret_path [600];
    zcert_t *cert = s_pair ("a", path, sizeof path);
    char public_txt [ZP_CURVE_KEY_TEXT], secret_txt [ZP_CURVE_KEY_TEXT];
    const char *reason = NULL;
    cr_assert_eq (zp_curve_read (path, public_txt, NULL, &reason), 0, "%s", reason);
    cr_assert_str_eq (public_txt, zcert_public_txt (cert));
    //  The public file has no secret.
    cr_assert_eq (zp_curve_read (path, public_txt, secret_txt, &reason), -1);
    snprintf (secret_path, sizeof secret_path, "%s_secret", path);
    cr_assert_eq (zp_curve_read (secret_path, public_txt, secret_txt, &reason), 0, "%s", reason);
    cr_assert_str_eq (public_txt, zcert_public_txt (cert));
    cr_assert_str_eq (secret_txt, zcert_secret_txt (cert));
    zcert_destroy (&cert);
}

Test (curve, parser_accepts_the_format_variants)
{
    char public_txt [ZP_CURVE_KEY_TEXT], secret_txt [ZP_CURVE_KEY_TEXT];
    const char *reason = NULL;
    //  CRLF, tabs, single quotes, comments, bare values, other sections.
    cr_assert_eq (s_parse ("# comment\r\nmetadata\r\n    public-key = \"" KEY_B "\"\r\n"
                           "curve # the keys\r\n\tpublic-key='" KEY_A "'\r\n"
                           "    secret-key = " KEY_B " # bare\r\n",
                           public_txt, secret_txt, &reason), 0, "%s", reason);
    cr_assert_str_eq (public_txt, KEY_A);
    cr_assert_str_eq (secret_txt, KEY_B);
    //  No LF at the end.
    cr_assert_eq (s_parse ("curve\n    public-key = \"" KEY_A "\"", public_txt, NULL, &reason), 0);
    cr_assert_str_eq (public_txt, KEY_A);
}

Test (curve, parser_refuses_what_is_not_a_certificate)
{
    char public_txt [ZP_CURVE_KEY_TEXT] = "untouched", secret_txt [ZP_CURVE_KEY_TEXT];
    const char *reason = NULL;
    struct { const char *text; const char *why; } cases [] = {
        { "", "no curve/public-key" },
        { "hello\n", "no curve/public-key" },
        { "metadata\n    public-key = \"" KEY_A "\"\n", "no curve/public-key" },
        { "curve\npublic-key = \"" KEY_A "\"\n", "no curve/public-key" },
        { "curve\n    public-key = \"" KEY_A "\n", "no curve/public-key" },
        { "curve\n    public-key = \"" KEY_A "x\"\n", "not 40 characters" },
        { "curve\n    public-key = \"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hI\"\n", "not 40" },
        { "curve\n    public-key = \"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{h~\\\"\n",
          "not 40" },
        { "curve\n    public-key = \"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{h\"\"\"\n",
          "not 40 characters" },
        { "curve\n    public-key = \"" KEY_A "\"\n    public-key = \"" KEY_B "\"\n",
          "two curve/public-key" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        reason = NULL;
        cr_assert_eq (s_parse (cases [i].text, public_txt, NULL, &reason), -1,
                      "case %zu accepted", i);
        cr_assert_not_null (strstr (reason, cases [i].why), "case %zu: '%s'", i, reason);
    }
    cr_assert_str_eq (public_txt, "untouched");
    //  A NUL byte: not text.
    const char with_nul [] = "curve\n    public-key = \"" KEY_A "\"\n\0more";
    cr_assert_eq (zp_curve_parse (with_nul, sizeof with_nul, public_txt, NULL, &reason), -1);
    cr_assert_not_null (strstr (reason, "NUL"));
    //  A secret wanted and absent.
    cr_assert_eq (s_parse ("curve\n    public-key = \"" KEY_A "\"\n", public_txt, secret_txt,
                           &reason), -1);
    cr_assert_not_null (strstr (reason, "no curve/secret-key"));
}

Test (curve, read_refuses_big_and_odd_files)
{
    char path [512], public_txt [ZP_CURVE_KEY_TEXT];
    const char *reason = NULL;
    snprintf (path, sizeof path, "%s/big.cert", s_dir);
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file);
    fprintf (file, "curve\n    public-key = \"%s\"\n", KEY_A);
    for (int i = 0; i < ZP_CURVE_CERT_MAX; i++)
        fputc ('#', file);
    fclose (file);
    cr_assert_eq (zp_curve_read (path, public_txt, NULL, &reason), -1);
    cr_assert_not_null (strstr (reason, "too big"));
    cr_assert_eq (zp_curve_read (s_dir, public_txt, NULL, &reason), -1);
    cr_assert_str_eq (reason, "not a regular file");
    snprintf (path, sizeof path, "%s/none.cert", s_dir);
    cr_assert_eq (zp_curve_read (path, public_txt, NULL, &reason), -1);
    cr_assert_str_eq (reason, "no such file");
}

Test (curve, options_are_all_or_nothing)
{
    zp_curve_options_t none = { NULL, NULL, NULL, NULL };
    cr_assert_eq (zp_curve_check (&none, ZP_CURVE_NEEDS_ALLOW | ZP_CURVE_NEEDS_SINK), 0);
    zp_curve_options_t server = { "c", "d", NULL, NULL };
    cr_assert_eq (zp_curve_check (&server, ZP_CURVE_NEEDS_ALLOW), 0);
    zp_curve_options_t worker = { "c", NULL, "v", "s" };
    cr_assert_eq (zp_curve_check (&worker, ZP_CURVE_NEEDS_VENTILATOR | ZP_CURVE_NEEDS_SINK), 0);

    zp_curve_options_t no_cert = { NULL, NULL, NULL, "s" };
    cr_assert_eq (zp_curve_check (&no_cert, ZP_CURVE_NEEDS_SINK), EX_USAGE);
    zp_curve_options_t no_allow = { "c", NULL, NULL, NULL };
    cr_assert_eq (zp_curve_check (&no_allow, ZP_CURVE_NEEDS_ALLOW), EX_USAGE);
    zp_curve_options_t no_sink = { "c", "d", NULL, NULL };
    cr_assert_eq (zp_curve_check (&no_sink, ZP_CURVE_NEEDS_ALLOW | ZP_CURVE_NEEDS_SINK),
                  EX_USAGE);
    zp_curve_options_t no_ventilator = { "c", NULL, NULL, "s" };
    cr_assert_eq (zp_curve_check (&no_ventilator,
                                  ZP_CURVE_NEEDS_VENTILATOR | ZP_CURVE_NEEDS_SINK), EX_USAGE);
    zp_curve_options_t any = { "c", "*", NULL, NULL };
    cr_assert_eq (zp_curve_check (&any, ZP_CURVE_NEEDS_ALLOW), EX_USAGE);
}

Test (curve, own_certificate_checks)
{
    char a [512], b [512], secret [600];
    zcert_t *cert_a = s_pair ("a", a, sizeof a);
    zcert_t *cert_b = s_pair ("b", b, sizeof b);
    int status = 0;
    zp_curve_options_t options = { a, s_dir, NULL, NULL };
    zp_curve_t *curve = zp_curve_new (&options, &status);
    cr_assert_not_null (curve);
    cr_assert (zp_curve_enabled (curve));
    zp_curve_destroy (&curve);
    zp_curve_destroy (&curve);
    cr_assert_null (curve);

    //  Readable by the group: refused.
    snprintf (secret, sizeof secret, "%s_secret", a);
    chmod (secret, 0640);
    status = 0;
    cr_assert_null (zp_curve_new (&options, &status));
    cr_assert_eq (status, EX_CONFIG);
    chmod (secret, 0600);

    //  The secret of another pair beside it: refused.
    char b_secret [600];
    snprintf (b_secret, sizeof b_secret, "%s_secret", b);
    cr_assert_eq (rename (b_secret, secret), 0);
    status = 0;
    cr_assert_null (zp_curve_new (&options, &status));
    cr_assert_eq (status, EX_CONFIG);

    //  No secret at all: refused.
    unlink (secret);
    status = 0;
    cr_assert_null (zp_curve_new (&options, &status));
    cr_assert_eq (status, EX_CONFIG);

    //  Plain text: no option, an object all the same.
    zp_curve_options_t none = { NULL, NULL, NULL, NULL };
    curve = zp_curve_new (&none, &status);
    cr_assert_not_null (curve);
    cr_assert (!zp_curve_enabled (curve));
    zp_curve_destroy (&curve);
    zcert_destroy (&cert_a);
    zcert_destroy (&cert_b);
}

//  --- Real sockets ------------------------------------------------------------

//  A CURVE client of server_cert with its own pair; sends "hello".
static zsock_t *
s_client (zp_curve_t **curve, const char *cert, const char *server_cert, int port)
{
    zp_curve_options_t options = { cert, NULL, NULL, server_cert };
    int status = 0;
    *curve = zp_curve_new (&options, &status);
    cr_assert_not_null (*curve);
    zsock_t *sock = zp_socket (ZMQ_DEALER, NULL, false, 1 << 20, &status);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    cr_assert_eq (zp_curve_client (*curve, sock, ZP_CURVE_TO_SINK, endpoint, &status), 0);
    cr_assert_eq (zp_attach (sock, endpoint, false, &status), 0);
    zstr_send (sock, "hello");
    return sock;
}

//  True if the server gets "hello" within ms.
static bool
s_gets_hello (zsock_t *server, int ms)
{
    zsock_set_rcvtimeo (server, ms);
    zmsg_t *msg = zmsg_recv (server);
    bool got = msg && zmsg_size (msg) == 2;
    zmsg_destroy (&msg);
    return got;
}

static int
s_server (zp_curve_t **curve, zsock_t **sock, const char *cert, const char *allow)
{
    zp_curve_options_t options = { cert, allow, NULL, NULL };
    int status = 0;
    *curve = zp_curve_new (&options, &status);
    cr_assert_not_null (*curve);
    *sock = zp_socket (ZMQ_ROUTER, NULL, true, 1 << 20, &status);
    cr_assert_eq (zp_curve_server (*curve, *sock, "tcp://127.0.0.1:*", &status), 0);
    int port = zsock_bind (*sock, "tcp://127.0.0.1:*");
    cr_assert_gt (port, 0);
    return port;
}

//  The refused count reaches at least want within ms.
static bool
s_refused (zp_curve_t *curve, uint64_t want, int ms)
{
    for (int waited = 0; waited < ms; waited += 20) {
        if (zp_curve_refused (curve) >= want)
            return true;
        zclock_sleep (20);
    }
    return false;
}

Test (curve, server_lets_in_allowed_keys_only)
{
    char server_cert [512], good [512], stranger [512], allow [300];
    zcert_t *certs [3] = {
        s_pair ("server", server_cert, sizeof server_cert),
        s_pair ("good", good, sizeof good),
        s_pair ("stranger", stranger, sizeof stranger)
    };
    snprintf (allow, sizeof allow, "%s/allow", s_dir);
    cr_assert_eq (zsys_dir_create ("%s", allow), 0);
    char allowed [400];
    snprintf (allowed, sizeof allowed, "%s/good.cert", allow);
    cr_assert_eq (zcert_save_public (certs [1], allowed), 0);

    zp_curve_t *server_curve;
    zsock_t *server;
    int port = s_server (&server_curve, &server, server_cert, allow);

    zp_curve_t *good_curve, *stranger_curve;
    zsock_t *good_sock = s_client (&good_curve, good, server_cert, port);
    cr_assert (s_gets_hello (server, 5000), "the allowed key got no message through");

    zsock_t *stranger_sock = s_client (&stranger_curve, stranger, server_cert, port);
    cr_assert (s_refused (server_curve, 1, 5000), "the unknown key was not refused");
    cr_assert (!s_gets_hello (server, 300), "the unknown key got a message through");

    //  Plain text to a CURVE server.
    int status = 0;
    zsock_t *plain = zp_socket (ZMQ_DEALER, NULL, false, 1 << 20, &status);
    zsock_connect (plain, "tcp://127.0.0.1:%d", port);
    zstr_send (plain, "hello");
    cr_assert (s_refused (server_curve, 2, 5000), "the plain-text client was not refused");
    cr_assert (!s_gets_hello (server, 300), "the plain-text client got a message through");

    //  Allow the stranger now: the directory is read again, a new
    //  connection of the same key gets in.
    snprintf (allowed, sizeof allowed, "%s/stranger.cert", allow);
    cr_assert_eq (zcert_save_public (certs [2], allowed), 0);
    zsock_destroy (&stranger_sock);
    zp_curve_destroy (&stranger_curve);
    stranger_sock = s_client (&stranger_curve, stranger, server_cert, port);
    cr_assert (s_gets_hello (server, 5000), "the newly allowed key got no message through");

    zsock_destroy (&plain);
    zsock_destroy (&good_sock);
    zsock_destroy (&stranger_sock);
    zsock_destroy (&server);
    zp_curve_destroy (&good_curve);
    zp_curve_destroy (&stranger_curve);
    zp_curve_destroy (&server_curve);
    for (int i = 0; i < 3; i++)
        zcert_destroy (&certs [i]);
}

Test (curve, duplicate_keys_in_the_allow_directory_are_not_fatal)
{
    char server_cert [512], good [512], allow [300], copy [400];
    zcert_t *server_pair = s_pair ("server", server_cert, sizeof server_cert);
    zcert_t *good_pair = s_pair ("good", good, sizeof good);
    snprintf (allow, sizeof allow, "%s/allow", s_dir);
    cr_assert_eq (zsys_dir_create ("%s", allow), 0);
    for (int i = 0; i < 3; i++) {
        snprintf (copy, sizeof copy, "%s/copy-%d.cert", allow, i);
        cr_assert_eq (zcert_save_public (good_pair, copy), 0);
    }
    zp_curve_t *server_curve, *good_curve;
    zsock_t *server;
    int port = s_server (&server_curve, &server, server_cert, allow);
    zsock_t *good_sock = s_client (&good_curve, good, server_cert, port);
    cr_assert (s_gets_hello (server, 5000));
    zsock_destroy (&good_sock);
    zsock_destroy (&server);
    zp_curve_destroy (&good_curve);
    zp_curve_destroy (&server_curve);
    zcert_destroy (&server_pair);
    zcert_destroy (&good_pair);
}

Test (curve, no_server_without_an_allow_list)
{
    //  A CURVE server without a ZAP handler would let any key in: the
    //  object made for a client (no allow directory) refuses to make one.
    char cert [512];
    zcert_t *pair = s_pair ("c", cert, sizeof cert);
    zp_curve_options_t options = { cert, NULL, NULL, cert };
    int status = 0;
    zp_curve_t *curve = zp_curve_new (&options, &status);
    cr_assert_not_null (curve);
    zsock_t *sock = zp_socket (ZMQ_ROUTER, NULL, true, 1 << 20, &status);
    cr_assert_eq (zp_curve_server (curve, sock, "tcp://127.0.0.1:*", &status), -1);
    cr_assert_eq (status, EX_SOFTWARE);
    cr_assert_eq (zsock_curve_server (sock), 0);
    zsock_destroy (&sock);
    zp_curve_destroy (&curve);
    zcert_destroy (&pair);
}

Test (curve, a_stalled_handshake_is_dropped)
{
    //  A peer that connects and never finishes its greeting is cut off
    //  after the handshake limit (5 s), instead of holding the connection.
    int status = 0;
    zp_curve_options_t none = { NULL, NULL, NULL, NULL };
    zp_curve_t *curve = zp_curve_new (&none, &status);
    zsock_t *server = zp_socket (ZMQ_ROUTER, NULL, true, 1 << 20, &status);
    cr_assert_eq (zp_curve_server (curve, server, "tcp://127.0.0.1:*", &status), 0);
    int port = zsock_bind (server, "tcp://127.0.0.1:*");
    cr_assert_gt (port, 0);

    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    cr_assert_eq (connect (fd, (struct sockaddr *) &address, sizeof address), 0);
    cr_assert_eq (write (fd, "\xff", 1), 1);
    struct timeval wait = { .tv_sec = 9, .tv_usec = 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    int64_t begin = zclock_mono ();
    char bytes [256];
    ssize_t got;
    //  The server's own greeting may come first; then the end.
    while ((got = read (fd, bytes, sizeof bytes)) > 0)
        ;
    int64_t took = zclock_mono () - begin;
    cr_assert_eq (got, 0, "the connection was not closed (read: %zd, %s)", got, strerror (errno));
    cr_assert_geq (took, 4000, "closed after %" PRId64 " ms: too soon", took);
    cr_assert_leq (took, 8000, "closed after %" PRId64 " ms", took);
    cr_assert (s_refused (curve, 1, 2000), "the stalled handshake was not counted");
    close (fd);
    zsock_destroy (&server);
    zp_curve_destroy (&curve);
}
