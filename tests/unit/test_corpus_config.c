/*  test_corpus_config - replays the seed corpus of the config reader's fuzzer.

    Every file in tests/corpus/config goes through the fuzz target itself
    (tests/fuzz/fuzz_config.c): refused, or accepted and read back the same
    from what --print-config prints. File names carry an expectation too:
    "ok-*" must be accepted, "bad-*" refused.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "../fuzz/fuzz_config.c"
#include "corpus.h"

static void
s_check (const char *name, const uint8_t *data, size_t size)
{
    settings_t settings;
    zp_option_t options [S_ROWS];
    s_settings_init (&settings);
    s_table (&settings, options);
    zp_options_spec_t spec = { "worker", "", NULL, options, NULL };
    zp_options_t *parser = zp_options_new (&spec);
    char *text = strndup ((const char *) data, size);
    cr_assert (parser && text);
    int rc = zp_options_load_text (parser, name, text);
    if (strncmp (name, "ok-", 3) == 0)
        cr_expect_eq (rc, 0, "%s refused", name);
    if (strncmp (name, "bad-", 4) == 0)
        cr_expect_eq (rc, -1, "%s accepted", name);
    free (text);
    zp_options_destroy (&parser);
    zlist_destroy (&settings.list);
}

Test (corpus_config, replay)
{
    corpus_replay ("tests/corpus/config", 10, s_check);
}
