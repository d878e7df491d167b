/*  test_corpus_cert - replays the seed corpus of the certificate reader's fuzzer.

    Every file in tests/corpus/cert goes through the fuzz target itself
    (tests/fuzz/fuzz_cert.c, included below), so `make test` applies the
    same checks the fuzzer does, with the normal compiler: what is accepted
    holds valid keys that read the same when written back. On top of that,
    file names carry an expectation: "ok-*" must parse as a public
    certificate, "bad-*" must be refused. Run from the repo root, as
    scripts/run-tests does.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "../fuzz/fuzz_cert.c"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#define CORPUS_DIR "tests/corpus/cert"

//  Reads a whole file into an exact-size buffer, so that a sanitizer build
//  catches any read past its end. Returns NULL if it cannot.
static uint8_t *
s_slurp (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    struct stat info;
    if (fstat (fileno (file), &info) || info.st_size < 0) {
        fclose (file);
        return NULL;
    }
    *size = (size_t) info.st_size;
    uint8_t *data = malloc (*size? *size: 1);
    if (data && *size && fread (data, 1, *size, file) != *size) {
        free (data);
        data = NULL;
    }
    fclose (file);
    return data;
}

static int
s_compare_names (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

Test (corpus_cert, replay)
{
    DIR *dir = opendir (CORPUS_DIR);
    cr_assert_not_null (dir, "can't open %s: %s (run from the repo root)",
                        CORPUS_DIR, strerror (errno));
    //  Sorted, so a failure names the same file on every run
    char *names [4096];
    size_t files = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)) != NULL) {
        if (entry->d_name [0] == '.')
            continue;
        cr_assert_lt (files, sizeof names / sizeof names [0], "corpus too large");
        names [files] = strdup (entry->d_name);
        cr_assert_not_null (names [files]);
        files++;
    }
    closedir (dir);
    qsort (names, files, sizeof names [0], s_compare_names);

    for (size_t index = 0; index < files; index++) {
        char path [1024];
        snprintf (path, sizeof path, "%s/%s", CORPUS_DIR, names [index]);
        size_t size;
        uint8_t *data = s_slurp (path, &size);
        cr_assert_not_null (data, "can't read %s: %s", path, strerror (errno));
        //  The fuzzer's own checks; an abort here fails the test, and
        //  s_origin puts the file name in the message.
        s_origin = path;
        LLVMFuzzerTestOneInput (data, size);
        s_origin = "fuzzer input";
        char public_txt [ZP_CURVE_KEY_TEXT];
        const char *reason = NULL;
        int rc = zp_curve_parse ((const char *) data, size, public_txt, NULL, &reason);
        if (strncmp (names [index], "ok-", 3) == 0)
            cr_expect_eq (rc, 0, "%s refused: %s", path, reason);
        if (strncmp (names [index], "bad-", 4) == 0)
            cr_expect_eq (rc, -1, "%s accepted", path);
        free (data);
        free (names [index]);
    }
    //  An empty or half-deleted corpus must not pass quietly
    cr_assert_geq (files, 5, "only %zu files in %s", files, CORPUS_DIR);
    cr_log_info ("replayed %zu files", files);
}
