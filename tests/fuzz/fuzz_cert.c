/*  fuzz_cert - libFuzzer target for zp_curve_parse, the reader of the
    certificate files a stage is given (--curve-cert, --curve-ventilator,
    --curve-sink, every file in --curve-allow).

    Any bytes go in, as a public and as a secret certificate. What is
    accepted must hold keys of 40 valid Z85 characters; the secret reading
    must agree with the public one on the public key; and the keys written
    back in zcert's own layout must parse to the same keys. Any difference
    aborts, which is what libFuzzer reports.

    Build and run (from the repo root; `make fuzz` does both):
        clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c17 \
            -D_DEFAULT_SOURCE -D_GNU_SOURCE -Ishared \
            $(pkg-config --cflags libczmq) tests/fuzz/fuzz_cert.c \
            shared/zp_curve.c shared/zp_zap.c shared/zp_util.c \
            $(pkg-config --libs libczmq libzmq) -o /tmp/fuzz_cert
        mkdir -p /tmp/corpus_cert
        /tmp/fuzz_cert -max_total_time=60 /tmp/corpus_cert tests/corpus/cert

    tests/unit/test_corpus_cert.c includes this file and replays the seed
    corpus through LLVMFuzzerTestOneInput under `make test`.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_curve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_cert"
#include "fuzz.h"

static bool
s_key_ok (const char *key)
{
    uint8_t bytes [32];
    return strlen (key) == 40 && zmq_z85_decode (bytes, key) != NULL;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  An exact-size copy, so that a read past the end is caught.
    char *text = (char *) malloc (size ? size : 1);
    s_require (text != NULL, "out of memory");
    if (size)
        memcpy (text, data, size);
    char public_txt [ZP_CURVE_KEY_TEXT], secret_public [ZP_CURVE_KEY_TEXT];
    char secret_txt [ZP_CURVE_KEY_TEXT];
    const char *reason = NULL;
    int as_public = zp_curve_parse (text, size, public_txt, NULL, &reason);
    s_require (as_public == 0 || (reason && *reason), "refused without a reason");
    reason = NULL;
    int as_secret = zp_curve_parse (text, size, secret_public, secret_txt, &reason);
    s_require (as_secret == 0 || (reason && *reason), "refused without a reason");
    free (text);
    if (as_secret == 0) {
        s_require (as_public == 0, "a secret certificate that is no public one");
        s_require (streq (public_txt, secret_public), "the two readings differ");
        s_require (s_key_ok (secret_txt), "accepted a secret key that is not Z85");
    }
    if (as_public != 0)
        return 0;
    s_require (s_key_ok (public_txt), "accepted a public key that is not Z85");

    //  Written back as zcert lays it out, it reads the same.
    char again [256];
    int length = snprintf (again, sizeof again,
                           "metadata\n    name = \"x\"\ncurve\n    public-key = \"%s\"\n%s%s%s",
                           public_txt, as_secret == 0 ? "    secret-key = \"" : "",
                           as_secret == 0 ? secret_txt : "", as_secret == 0 ? "\"\n" : "");
    char public_again [ZP_CURVE_KEY_TEXT], secret_again [ZP_CURVE_KEY_TEXT];
    s_require (zp_curve_parse (again, (size_t) length, public_again,
                               as_secret == 0 ? secret_again : NULL, &reason) == 0,
               "the keys written back do not parse");
    s_require (streq (public_again, public_txt), "public key differs when written back");
    if (as_secret == 0)
        s_require (streq (secret_again, secret_txt), "secret key differs when written back");
    return 0;
}
