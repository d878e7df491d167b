/*  corpus.h - replays a fuzzer's seed corpus in a Criterion test.

    Included by tests/unit/test_corpus*.c after their fuzz target (which
    defines LLVMFuzzerTestOneInput and s_origin). corpus_replay calls the
    fuzz target itself on every file of a directory, so `make test` applies
    the fuzzer's own checks with the normal compiler, and then the caller's
    check, which may hold the file to what its name promises ("ok-*",
    "bad-*"). Run from the repo root, as scripts/run-tests does.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef void (corpus_check_fn) (const char *name, const uint8_t *data, size_t size);

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

//  Replays every file of directory through the fuzz target, then check
//  (when not NULL). Returns how many files there were; fewer than
//  min_files fails the test, so an empty or half-deleted corpus cannot
//  pass quietly.
static size_t
corpus_replay (const char *directory, size_t min_files, corpus_check_fn *check)
{
    DIR *dir = opendir (directory);
    cr_assert_not_null (dir, "can't open %s: %s (run from the repo root)",
                        directory, strerror (errno));
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
        snprintf (path, sizeof path, "%s/%s", directory, names [index]);
        size_t size;
        uint8_t *data = s_slurp (path, &size);
        cr_assert_not_null (data, "can't read %s: %s", path, strerror (errno));
        //  The fuzzer's own checks; an abort here fails the test, and
        //  s_origin puts the file name in the message.
        s_origin = path;
        LLVMFuzzerTestOneInput (data, size);
        s_origin = "fuzzer input";
        if (check)
            check (names [index], data, size);
        free (data);
        free (names [index]);
    }
    cr_assert_geq (files, min_files, "only %zu files in %s", files, directory);
    cr_log_info ("replayed %zu files of %s", files, directory);
    return files;
}
