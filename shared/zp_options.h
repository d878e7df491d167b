/*  zp_options - one table of options per stage, read from the command line
    and from a ZPL config file (-c, --config FILE).

    Each stage describes its options once, as an array of zp_option_t rows
    ending with a row whose name is NULL. The table drives getopt_long, the
    --help text and the config file reader, so an option can never exist in
    one of them and be missing from another. The config key of an option is
    its long name; the file holds one section per stage:

        worker
            ventilator = "tcp://vent.example:5557"
            processes = 4

    A stage reads its own section and checks that every other top-level
    name is a stage's. The command line wins over the file. Errors name the
    option, or the file, the line and the key.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef ZP_OPTIONS_H_INCLUDED
#define ZP_OPTIONS_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    ZP_OPT_STRING,      //  const char **target; NULL in choices means any non-empty text
    ZP_OPT_U64,         //  uint64_t *target, a whole decimal number in [min, max]
    ZP_OPT_CHOICE,      //  int *target = index of the value in choices (NULL-ended)
    ZP_OPT_FLAG,        //  bool *target = true; in a file: true/false, yes/no, 1/0
    ZP_OPT_SET,         //  int *target = (int) min; no value (-q, -v); in a file as FLAG
    ZP_OPT_LIST,        //  zlist_t *target gets every value (repeatable); the
                        //  command line's values replace the file's
    ZP_OPT_HELP,        //  -h: print the usage and exit 0
    ZP_OPT_VERSION,     //  -V: print the version and exit 0
    ZP_OPT_CONFIG,      //  -c FILE: read the file before the command line
    ZP_OPT_PRINT        //  --print-config: print the options in effect, exit 0
} zp_option_kind_t;

typedef struct {
    const char *name;               //  long name and config key
    int letter;                     //  short option, or 0
    zp_option_kind_t kind;
    void *target;
    const char *arg;                //  name of the value in --help ("FILE"), NULL if none
    const char *help;               //  help text; '\n' starts an indented line
    uint64_t min, max;              //  ZP_OPT_U64 range; ZP_OPT_SET value in min
    const char *const *choices;     //  ZP_OPT_CHOICE names
} zp_option_t;

//  One row per kind, so that a table reads as a list of options. help
//  texts hold their default; '\n' starts an indented line in --help.
#define ZP_OPTION_STRING(name, letter, target, arg, help) \
    { name, letter, ZP_OPT_STRING, target, arg, help, 0, 0, NULL }
#define ZP_OPTION_U64(name, letter, target, arg, min, max, help) \
    { name, letter, ZP_OPT_U64, target, arg, help, min, max, NULL }
#define ZP_OPTION_CHOICE(name, letter, target, arg, choices, help) \
    { name, letter, ZP_OPT_CHOICE, target, arg, help, 0, 0, choices }
#define ZP_OPTION_FLAG(name, letter, target, help) \
    { name, letter, ZP_OPT_FLAG, target, NULL, help, 0, 0, NULL }
#define ZP_OPTION_SET(name, letter, target, value, help) \
    { name, letter, ZP_OPT_SET, target, NULL, help, value, 0, NULL }
#define ZP_OPTION_LIST(name, letter, target, arg, help) \
    { name, letter, ZP_OPT_LIST, target, arg, help, 0, 0, NULL }
#define ZP_OPTION_CONFIG(help) \
    { "config", 'c', ZP_OPT_CONFIG, NULL, "FILE", help, 0, 0, NULL }
#define ZP_OPTION_PRINT \
    { "print-config", 0, ZP_OPT_PRINT, NULL, NULL, \
      "print the options in effect as a config file\nsection and exit", 0, 0, NULL }
#define ZP_OPTION_HELP \
    { "help", 'h', ZP_OPT_HELP, NULL, NULL, "show this help and exit", 0, 0, NULL }
#define ZP_OPTION_VERSION \
    { "version", 'V', ZP_OPT_VERSION, NULL, NULL, "show the version and exit", 0, 0, NULL }
#define ZP_OPTION_END \
    { NULL, 0, ZP_OPT_STRING, NULL, NULL, NULL, 0, 0, NULL }

//  The rows every stage's table ends with: -c, --config; --log-syslog (into
//  *log_syslog); -q, --quiet and the verbose flag (into *verbosity, with
//  their help texts); --print-config, -h, -V and the end of the table.
#define ZP_OPTIONS_COMMON(stage, log_syslog, verbosity, verbose_letter, quiet_help, \
                          verbose_help) \
    ZP_OPTION_CONFIG ("read options from the '" stage "' section of this\n" \
        "ZPL file first (annotated example:\ndocs/" stage ".zpl); the command line wins"), \
    ZP_OPTION_FLAG ("log-syslog", 0, log_syslog, \
        "send log lines to syslog (facility daemon, ident\n" \
        "the stage's name, with the pid) instead of\nstandard error"), \
    ZP_OPTION_SET ("quiet", 'q', verbosity, 0, quiet_help), \
    ZP_OPTION_SET ("verbose", verbose_letter, verbosity, 2, verbose_help), \
    ZP_OPTION_PRINT, \
    ZP_OPTION_HELP, \
    ZP_OPTION_VERSION, \
    ZP_OPTION_END

//  --curve-cert, the same for every stage.
#define ZP_OPTION_CURVE_CERT(target) \
    ZP_OPTION_STRING ("curve-cert", 0, target, "FILE", \
        "encrypt and authenticate every link with CURVE: our\n" \
        "public certificate (FILE_secret beside it, mode 0600)")

typedef struct _zp_options_t zp_options_t;

typedef struct {
    const char *stage;              //  "ventilator", ...
    const char *synopsis;           //  lines after "Usage: <stage> [OPTION]..."
    const char *epilogue;           //  text after the option list (exit codes, ...)
    const zp_option_t *options;     //  ends with a row whose name is NULL
    //  Optional: checks what the options say together, once all are read
    //  (before --print-config prints). Returns 0, or an exit code after
    //  printing why (zp_usage_error).
    int (*check) (zp_options_t *self);
} zp_options_spec_t;

//  Create a parser for the table. The table and its targets must outlive
//  the parser. Returns NULL only when out of memory.
zp_options_t *
    zp_options_new (const zp_options_spec_t *spec);

//  Destroy the parser and what it holds (the config file's text, which
//  string targets may point into); safe on NULL and twice.
void
    zp_options_destroy (zp_options_t **self_p);

//  Read --config (if given) and then the command line into the targets.
//  Returns 0 to go on, or -1 when the program should exit with *exit_code:
//  0 after --help, --version or --print-config, EX_USAGE for a bad command line (one line
//  said why), EX_CONFIG for a config file that can't be read or holds a
//  bad key or value (one line naming the file, the line and the key).
int
    zp_options_parse (zp_options_t *self, int argc, char *argv [], int *exit_code);

//  True if the option was set, by the command line or by the file.
bool
    zp_options_given (zp_options_t *self, const char *name);

//  Print the usage (what --help prints) to stream.
void
    zp_options_usage (zp_options_t *self, FILE *stream);

//  Print the options in effect as the stage's section of a config file
//  (what --print-config prints): the options given by the file or the
//  command line as keys, the others, at their defaults, commented out.
//  Reading it back gives the same settings.
void
    zp_options_print (zp_options_t *self, FILE *stream);

//  Apply one config text as if it were the file name given to --config:
//  for tests and the fuzzer. Returns 0, or -1 after printing why.
int
    zp_options_load_text (zp_options_t *self, const char *name, const char *text);

#endif
