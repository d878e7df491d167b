/*  test_options - the option tables: the command line, the config file and
    how they meet (the command line wins, a list given on the command line
    replaces the file's), --help and --print-config, and every error a user
    can make, with its exit code and the words that name the mistake.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_options.h"
#include "zp_util.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *bind;
    uint64_t count;
    int mode;
    bool resume;
    int verbosity;
    zlist_t *args;
} settings_t;

static settings_t s_settings;
static const char *const s_modes [] = { "always", "second", "never", NULL };
static zp_option_t s_options [] = {
    ZP_OPTION_STRING ("bind", 'b', &s_settings.bind, "ENDPOINT", "where\nto bind"),
    ZP_OPTION_U64 ("count", 'n', &s_settings.count, "N", 0, 100, "how many"),
    ZP_OPTION_CHOICE ("mode", 0, &s_settings.mode, "MODE", s_modes, "when"),
    ZP_OPTION_FLAG ("resume", 0, &s_settings.resume, "go on"),
    ZP_OPTION_SET ("quiet", 'q', &s_settings.verbosity, 0, "quieter"),
    ZP_OPTION_SET ("verbose", 'v', &s_settings.verbosity, 2, "louder"),
    ZP_OPTION_LIST ("arg", 'a', NULL, "KEY=VALUE", "repeatable"),
    ZP_OPTION_CONFIG ("read a file"),
    ZP_OPTION_PRINT,
    ZP_OPTION_HELP,
    ZP_OPTION_VERSION,
    ZP_OPTION_END
};
static const zp_options_spec_t s_spec = { "sink", "Test synopsis.\n", "Epilogue.\n",
                                          s_options, NULL };
static char s_dir [] = "/tmp/test_options.XXXXXX";

static void
s_reset (void)
{
    zlist_destroy (&s_settings.args);
    memset (&s_settings, 0, sizeof s_settings);
    s_settings.bind = "tcp://*:1";
    s_settings.count = 5;
    s_settings.verbosity = 1;
    s_settings.args = zlist_new ();
    zlist_autofree (s_settings.args);
    s_options [6].target = s_settings.args;
}

static void
s_setup (void)
{
    s_reset ();
    cr_assert (mkdtemp (s_dir));
    zp_log_init ("sink", 1);
}

static void
s_teardown (void)
{
    zlist_destroy (&s_settings.args);
    char command [64];
    snprintf (command, sizeof command, "rm -rf %s", s_dir);
    cr_assert_eq (system (command), 0);
}

//  Parse argv (NULL-terminated, argv [0] included); returns the exit code
//  or -1 when parsing said go on.
static int
s_parse (zp_options_t **parser_p, const char *argv [])
{
    int argc = 0;
    while (argv [argc])
        argc++;
    *parser_p = zp_options_new (&s_spec);
    cr_assert (*parser_p);
    int exit_code = -2;
    int rc = zp_options_parse (*parser_p, argc, (char **) argv, &exit_code);
    return rc == 0 ? -1 : exit_code;
}

static const char *
s_file (const char *name, const char *text)
{
    static char path [128];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *file = fopen (path, "w");
    cr_assert (file);
    fputs (text, file);
    fclose (file);
    return path;
}

TestSuite (options, .init = s_setup, .fini = s_teardown);

Test (options, defaults_stay_without_options)
{
    zp_options_t *parser;
    const char *argv [] = { "sink", NULL };
    cr_assert_eq (s_parse (&parser, argv), -1);
    cr_expect_str_eq (s_settings.bind, "tcp://*:1");
    cr_expect_eq (s_settings.count, 5);
    cr_expect_not (zp_options_given (parser, "count"));
    zp_options_destroy (&parser);
    zp_options_destroy (&parser);
}

Test (options, command_line_sets_every_kind)
{
    zp_options_t *parser;
    const char *argv [] = { "sink", "-b", "tcp://x:2", "--count=7", "--mode", "never",
                            "--resume", "-v", "-a", "k=1", "--arg", "k=2", NULL };
    cr_assert_eq (s_parse (&parser, argv), -1);
    cr_expect_str_eq (s_settings.bind, "tcp://x:2");
    cr_expect_eq (s_settings.count, 7);
    cr_expect_eq (s_settings.mode, 2);
    cr_expect (s_settings.resume);
    cr_expect_eq (s_settings.verbosity, 2);
    cr_expect_eq (zlist_size (s_settings.args), 2);
    cr_expect_str_eq ((char *) zlist_first (s_settings.args), "k=1");
    cr_expect (zp_options_given (parser, "count"));
    zp_options_destroy (&parser);
}

Test (options, file_sets_every_kind_and_the_command_line_wins)
{
    const char *path = s_file ("all.zpl",
        "# every kind\n"
        "ventilator\n"
        "    anything = goes   # the ventilator checks its own section\n"
        "sink\n"
        "    bind = \"tcp://file:3\"\n"
        "    count = 9\n"
        "    mode = second\n"
        "    resume = yes\n"
        "    quiet = true\n"
        "    arg = a=1\n"
        "    arg = b=2\n");
    zp_options_t *parser;
    const char *argv [] = { "sink", "-c", path, NULL };
    cr_assert_eq (s_parse (&parser, argv), -1);
    cr_expect_str_eq (s_settings.bind, "tcp://file:3");
    cr_expect_eq (s_settings.count, 9);
    cr_expect_eq (s_settings.mode, 1);
    cr_expect (s_settings.resume);
    cr_expect_eq (s_settings.verbosity, 0);
    cr_expect_eq (zlist_size (s_settings.args), 2);
    zp_options_destroy (&parser);

    s_reset ();
    const char *over [] = { "sink", "--count", "11", "--config", path, "-a", "c=3",
                            "-v", NULL };
    cr_assert_eq (s_parse (&parser, over), -1);
    cr_expect_str_eq (s_settings.bind, "tcp://file:3");
    cr_expect_eq (s_settings.count, 11, "the command line wins, before or after -c");
    cr_expect_eq (s_settings.verbosity, 2);
    cr_expect_eq (zlist_size (s_settings.args), 1, "the command line's list replaces");
    cr_expect_str_eq ((char *) zlist_first (s_settings.args), "c=3");
    zp_options_destroy (&parser);
}

Test (options, print_config_reads_back_the_same, .init = cr_redirect_stdout)
{
    zp_options_t *parser;
    const char *argv [] = { "sink", "-b", "tcp://a b:1", "--mode", "never", "-a", "x",
                            "--print-config", NULL };
    cr_assert_eq (s_parse (&parser, argv), 0);
    zp_options_destroy (&parser);
    fflush (stdout);
    cr_expect_stdout_eq_str (
        "sink\n"
        "    bind = \"tcp://a b:1\"\n"
        "#   count = 5\n"
        "    mode = never\n"
        "#   resume = false\n"
        "#   quiet = false\n"
        "#   verbose = false\n"
        "    arg = x\n");
}

Test (options, help_lists_every_option_and_exits_0, .init = cr_redirect_stdout)
{
    zp_options_t *parser;
    const char *help [] = { "sink", "-h", NULL };
    cr_assert_eq (s_parse (&parser, help), 0);
    zp_options_destroy (&parser);
    fflush (stdout);
    cr_expect_stdout_eq_str (
        "Usage: sink [OPTION]...\n"
        "Test synopsis.\n"
        "\n"
        "  -b, --bind ENDPOINT       where\n"
        "                            to bind\n"
        "  -n, --count N             how many\n"
        "      --mode MODE           when\n"
        "      --resume              go on\n"
        "  -q, --quiet               quieter\n"
        "  -v, --verbose             louder\n"
        "  -a, --arg KEY=VALUE       repeatable\n"
        "  -c, --config FILE         read a file\n"
        "      --print-config        print the options in effect as a config file\n"
        "                            section and exit\n"
        "  -h, --help                show this help and exit\n"
        "  -V, --version             show the version and exit\n"
        "\n"
        "Epilogue.\n");
}

//  Each bad command line: exit 64 and one line that names the mistake.
Test (options, bad_command_lines_are_usage_errors, .init = cr_redirect_stderr)
{
    const char *cases [][4] = {
        { "--count", "101", NULL },
        { "--count", "-1", NULL },
        { "--count", "0x10", NULL },
        { "--mode", "sometimes", NULL },
        { "--bind", "", NULL },
        { "--nope", NULL },
        { "--count", NULL },
        { "stray", NULL },
        { "--bind", "--verbose", NULL },
        { "-b", "-q", NULL },
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        const char *argv [5] = { "sink" };
        for (int arg = 0; arg < 3 && cases [index][arg]; arg++)
            argv [arg + 1] = cases [index][arg];
        zp_options_t *parser;
        cr_expect_eq (s_parse (&parser, argv), EX_USAGE, "case %zu", index);
        zp_options_destroy (&parser);
    }
    fflush (stderr);
    cr_expect_stderr_eq_str (
        "sink: --count: '101' is not a whole number from 0 to 100 (see 'sink --help')\n"
        "sink: --count: '-1' is not a whole number from 0 to 100 (see 'sink --help')\n"
        "sink: --count: '0x10' is not a whole number from 0 to 100 (see 'sink --help')\n"
        "sink: --mode: 'sometimes' is not one of always, second, never (see 'sink --help')\n"
        "sink: --bind: needs a value (see 'sink --help')\n"
        "sink: unknown option '--nope' (see 'sink --help')\n"
        "sink: option '--count' needs a value (see 'sink --help')\n"
        "sink: unexpected argument 'stray' (see 'sink --help')\n"
        "sink: --bind needs a value, and '--verbose' is an option: give --bind its value"
        " first (see 'sink --help')\n"
        "sink: --bind needs a value, and '-q' is an option: give --bind its value"
        " first (see 'sink --help')\n");
}

//  An option's value that only looks like an option is taken as written.
Test (options, a_value_given_with_equals_is_taken_as_it_is)
{
    const char *argv [] = { "sink", "--bind=--verbose", NULL };
    zp_options_t *parser;
    cr_expect_eq (s_parse (&parser, argv), -1);
    cr_expect_str_eq (s_settings.bind, "--verbose");
    zp_options_destroy (&parser);
    const char *other [] = { "sink", "-b", "-x", NULL };
    cr_expect_eq (s_parse (&parser, other), -1);
    cr_expect_str_eq (s_settings.bind, "-x");
    zp_options_destroy (&parser);
}

//  Each bad file: exit 78 and one line naming the file, the line, the key.
Test (options, bad_files_name_file_line_and_key, .init = cr_redirect_stderr)
{
    const char *cases [] = {
        "sink\n    count = 101\n",
        "sink\n\n# note\n    bogus = 1\n",
        "sink\n  count = 1\n",
        "snk\n    count = 1\n",
        "sink\n    count = 1\n    count = 2\n",
        "sink\n    resume = maybe\n",
        "sink\n    help = true\n",
        "sink\n    count\n        deeper = 1\n",
        "sink\n    bind = \"open\n",
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        char name [16];
        snprintf (name, sizeof name, "bad%zu.zpl", index);
        const char *path = s_file (name, cases [index]);
        const char *argv [] = { "sink", "-c", path, NULL };
        zp_options_t *parser;
        cr_expect_eq (s_parse (&parser, argv), EX_CONFIG, "case %zu", index);
        zp_options_destroy (&parser);
    }
    const char *argv [] = { "sink", "-c", "/nonexistent/x.zpl", NULL };
    zp_options_t *parser;
    cr_expect_eq (s_parse (&parser, argv), EX_CONFIG);
    zp_options_destroy (&parser);
    fflush (stderr);
    const char *said [] = {
        "line 2: key 'count': '101' is not a whole number from 0 to 100",
        "line 4: key 'bogus': no such option for the sink",
        "line 2: indent 4 spaces at once",
        "line 1: 'snk' is not a section (ventilator, worker or sink)",
        "line 3: key 'count': given twice",
        "line 2: key 'resume': 'maybe' is not one of true, false, yes, no, 1, 0",
        "line 2: key 'help': no such option for the sink",
        "line 2: key 'count': an option has one value, no sub-keys",
        "line 2: missing \"",
    };
    char expected [4096] = "";
    for (size_t index = 0; index < sizeof said / sizeof said [0]; index++)
        snprintf (expected + strlen (expected), sizeof expected - strlen (expected),
                  "sink: config %s/bad%zu.zpl, %s\n", s_dir, index, said [index]);
    snprintf (expected + strlen (expected), sizeof expected - strlen (expected),
              "sink: config /nonexistent/x.zpl: can't open: No such file or directory\n");
    cr_expect_stderr_eq_str (expected);
}

Test (options, help_does_not_read_a_broken_file, .init = cr_redirect_stdout)
{
    const char *path = s_file ("broken.zpl", "sink\n    bogus = 1\n");
    const char *argv [] = { "sink", "-c", path, "--help", NULL };
    zp_options_t *parser;
    cr_expect_eq (s_parse (&parser, argv), 0);
    zp_options_destroy (&parser);
}
