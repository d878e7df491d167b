/*  fuzz_config - libFuzzer target for the config file reader
    (zp_options_load_text: zconfig's ZPL parser, then our checks of
    sections, keys and values).

    Any text goes in against a table with a row of every kind. It must be
    accepted, or refused with a line naming why (never a crash, never a
    hang). What is accepted, printed back as --print-config prints it and
    read again, must give the same settings.

    Build and run (from the repo root; `make fuzz` does both):
        clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c17 \
            -D_DEFAULT_SOURCE -D_GNU_SOURCE -DZP_VERSION=\"fuzz\" -Ishared \
            $(pkg-config --cflags libczmq) tests/fuzz/fuzz_config.c \
            shared/zp_options.c shared/zp_util.c \
            $(pkg-config --libs libczmq libzmq) -o /tmp/fuzz_config
        /tmp/fuzz_config -max_total_time=60 -close_fd_mask=2 /tmp/corpus_config \
            tests/corpus/config

    tests/unit/test_corpus_config.c includes this file and replays the seed
    corpus through LLVMFuzzerTestOneInput under `make test`.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_options.h"

#define FUZZ_NAME "fuzz_config"
#include "fuzz.h"

typedef struct {
    const char *text;
    uint64_t number;
    int choice;
    bool flag;
    int level;
    zlist_t *list;
} settings_t;

static const char *const s_choices [] = { "one", "two", "three", NULL };

//  A table of every kind; the "worker" stage, so its section is read.
static void
s_table (settings_t *settings, zp_option_t *options)
{
    const zp_option_t table [] = {
        ZP_OPTION_STRING ("text", 't', &settings->text, "TEXT", "a string"),
        ZP_OPTION_U64 ("number", 'n', &settings->number, "N", 1, 1000, "a number"),
        ZP_OPTION_CHOICE ("choice", 0, &settings->choice, "NAME", s_choices, "a choice"),
        ZP_OPTION_FLAG ("flag", 0, &settings->flag, "a flag"),
        ZP_OPTION_SET ("quiet", 'q', &settings->level, 0, "quieter"),
        ZP_OPTION_LIST ("item", 0, settings->list, "ITEM", "repeatable"),
        ZP_OPTION_CONFIG ("a file"),
        ZP_OPTION_HELP,
        ZP_OPTION_END
    };
    memcpy (options, table, sizeof table);
}

#define S_ROWS 9

static void
s_settings_init (settings_t *settings)
{
    memset (settings, 0, sizeof *settings);
    settings->number = 7;
    settings->level = 1;
    settings->list = zlist_new ();
    s_require (settings->list != NULL, "out of memory");
    zlist_autofree (settings->list);
}

static bool
s_same (settings_t *one, settings_t *two)
{
    if ((one->text == NULL) != (two->text == NULL)
    ||  (one->text && strcmp (one->text, two->text) != 0)
    ||  one->number != two->number || one->choice != two->choice
    ||  one->flag != two->flag || one->level != two->level
    ||  zlist_size (one->list) != zlist_size (two->list))
        return false;
    const char *a = (const char *) zlist_first (one->list);
    const char *b = (const char *) zlist_first (two->list);
    for (; a && b; a = (const char *) zlist_next (one->list),
                   b = (const char *) zlist_next (two->list))
        if (strcmp (a, b) != 0)
            return false;
    return true;
}

//  ZPL has no escapes: a value holding both kinds of quote, or a quote
//  and a space, cannot be written back; those are not compared.
static bool
s_writable (const char *value)
{
    bool single = strchr (value, '\'') != NULL, dual = strchr (value, '"') != NULL;
    return !(single && dual) && !((single || dual) && strpbrk (value, " \t#"));
}

static bool
s_all_writable (settings_t *settings)
{
    if (settings->text && !s_writable (settings->text))
        return false;
    for (const char *item = (const char *) zlist_first (settings->list); item;
         item = (const char *) zlist_next (settings->list))
        if (!s_writable (item))
            return false;
    return true;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    //  A config file is text: the reader refuses a NUL before this point.
    char *text = (char *) malloc (size + 1);
    s_require (text != NULL, "out of memory");
    memcpy (text, data, size);
    text [size] = 0;
    if (strlen (text) != size) {
        free (text);
        return 0;
    }
    settings_t first, second;
    zp_option_t options [S_ROWS], again_options [S_ROWS];
    s_settings_init (&first);
    s_settings_init (&second);
    s_table (&first, options);
    s_table (&second, again_options);
    zp_options_spec_t spec = { "worker", "", NULL, options, NULL };
    zp_options_spec_t again_spec = { "worker", "", NULL, again_options, NULL };
    zp_options_t *parser = zp_options_new (&spec);
    zp_options_t *again = zp_options_new (&again_spec);
    s_require (parser && again, "out of memory");
    if (zp_options_load_text (parser, "fuzz.zpl", text) == 0 && s_all_writable (&first)) {
        char *printed = NULL;
        size_t printed_size = 0;
        FILE *stream = open_memstream (&printed, &printed_size);
        s_require (stream != NULL, "out of memory");
        zp_options_print (parser, stream);
        fclose (stream);
        s_require (zp_options_load_text (again, "printed.zpl", printed) == 0,
                   "what --print-config printed does not read back");
        s_require (s_same (&first, &second), "read back, the settings differ");
        free (printed);
    }
    zp_options_destroy (&parser);
    zp_options_destroy (&again);
    zlist_destroy (&first.list);
    zlist_destroy (&second.list);
    free (text);
    return 0;
}
