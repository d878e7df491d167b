/*  zp_options - one table of options per stage, for the command line and
    for a ZPL config file.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_options.h"
#include "zp_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <unistd.h>

//  A config file is a few lines a person wrote; anything this big is a
//  mistake (a binary, a log given by accident).
#define S_MAX_CONFIG_BYTES (1 << 20)

//  Where a value came from: the command line replaces a list the file filled.
typedef enum { S_FROM_FILE, S_FROM_COMMAND_LINE } s_source_t;

struct _zp_options_t {
    const zp_options_spec_t *spec;
    size_t count;                   //  rows in the table
    bool *given;                    //  per row: set by the file or the command line
    bool *from_command_line;        //  per row: set by the command line
    zconfig_t *config;              //  the file's tree: string targets point into it
    char reason [256];              //  why the last value was refused
};

zp_options_t *
zp_options_new (const zp_options_spec_t *spec)
{
    assert (spec && spec->stage && spec->options);
    zp_options_t *self = (zp_options_t *) zmalloc (sizeof (zp_options_t));
    if (!self)
        return NULL;
    self->spec = spec;
    while (spec->options [self->count].name)
        self->count++;
    self->given = (bool *) zmalloc (self->count + 1);
    self->from_command_line = (bool *) zmalloc (self->count + 1);
    if (!self->given || !self->from_command_line)
        zp_options_destroy (&self);
    return self;
}

void
zp_options_destroy (zp_options_t **self_p)
{
    assert (self_p);
    zp_options_t *self = *self_p;
    if (!self)
        return;
    zconfig_destroy (&self->config);
    free (self->given);
    free (self->from_command_line);
    free (self);
    *self_p = NULL;
}

static const zp_option_t *
s_find (zp_options_t *self, const char *name)
{
    for (size_t index = 0; index < self->count; index++)
        if (streq (self->spec->options [index].name, name))
            return &self->spec->options [index];
    return NULL;
}

//  The row getopt_long's return value stands for: a long option comes back
//  as its row's index + 256 (see zp_options_parse), a short one as its
//  letter. NULL for ':', '?' and anything else.
static const zp_option_t *
s_find_returned (zp_options_t *self, int opt)
{
    const zp_option_t *table = self->spec->options;
    if (opt >= 256 && (size_t) opt - 256 < self->count)
        return &table [opt - 256];
    for (size_t index = 0; opt < 256 && index < self->count; index++)
        if (table [index].letter && opt == table [index].letter)
            return &table [index];
    return NULL;
}

//  True if text is one of this stage's options as a command line spells
//  it ("--verbose", "--ventilator=...", "-q"): given as the value of an
//  option before it, it is almost surely a forgotten value (issue 15:
//  `worker -v --verbose` took --verbose as the ventilator's endpoint).
static bool
s_is_option (zp_options_t *self, const char *text)
{
    const zp_option_t *table = self->spec->options;
    for (size_t index = 0; index < self->count; index++) {
        size_t length = strlen (table [index].name);
        if (text [0] == '-' && text [1] == '-' && strncmp (text + 2, table [index].name, length) == 0
        &&  (text [2 + length] == 0 || text [2 + length] == '='))
            return true;
        if (table [index].letter && text [0] == '-' && text [1] == table [index].letter
        &&  text [2] == 0)
            return true;
    }
    return false;
}

bool
zp_options_given (zp_options_t *self, const char *name)
{
    assert (self);
    const zp_option_t *option = s_find (self, name);
    assert (option);            //  a stage asks only about its own options
    return self->given [option - self->spec->options];
}

static bool
s_takes_value (const zp_option_t *option)
{
    return option->kind == ZP_OPT_STRING || option->kind == ZP_OPT_U64
        || option->kind == ZP_OPT_CHOICE || option->kind == ZP_OPT_LIST
        || option->kind == ZP_OPT_CONFIG;
}

//  Store value in the option's target. Returns 0, or -1 with self->reason
//  saying what is wrong with the value.
static int
s_apply (zp_options_t *self, const zp_option_t *option, const char *value,
         s_source_t source)
{
    size_t index = (size_t) (option - self->spec->options);
    switch (option->kind) {
        case ZP_OPT_STRING:
            if (!*value) {
                snprintf (self->reason, sizeof self->reason, "needs a value");
                return -1;
            }
            *(const char **) option->target = value;
            break;
        case ZP_OPT_U64:
            if (zp_u64_parse (value, option->min, option->max,
                              (uint64_t *) option->target)) {
                snprintf (self->reason, sizeof self->reason,
                          "'%s' is not a whole number from %" PRIu64 " to %" PRIu64,
                          value, option->min, option->max);
                return -1;
            }
            break;
        case ZP_OPT_CHOICE: {
            int choice = 0;
            while (option->choices [choice] && strneq (option->choices [choice], value))
                choice++;
            if (!option->choices [choice]) {
                char names [160] = "";
                for (int name = 0; option->choices [name]; name++) {
                    if (name)
                        strncat (names, ", ", sizeof names - strlen (names) - 1);
                    strncat (names, option->choices [name], sizeof names - strlen (names) - 1);
                }
                snprintf (self->reason, sizeof self->reason, "'%s' is not one of %s",
                          value, names);
                return -1;
            }
            *(int *) option->target = choice;
            break;
        }
        case ZP_OPT_FLAG:
        case ZP_OPT_SET: {
            //  On the command line the option alone says "yes"; a file says which.
            bool yes = true;
            if (source == S_FROM_FILE) {
                if (streq (value, "true") || streq (value, "yes") || streq (value, "1"))
                    yes = true;
                else
                if (streq (value, "false") || streq (value, "no") || streq (value, "0"))
                    yes = false;
                else {
                    snprintf (self->reason, sizeof self->reason,
                              "'%s' is not one of true, false, yes, no, 1, 0", value);
                    return -1;
                }
            }
            if (yes && option->kind == ZP_OPT_FLAG)
                *(bool *) option->target = true;
            else
            if (option->kind == ZP_OPT_FLAG)
                *(bool *) option->target = false;
            else
            if (yes)
                *(int *) option->target = (int) option->min;
            break;
        }
        case ZP_OPT_LIST: {
            zlist_t *list = (zlist_t *) option->target;
            if (source == S_FROM_COMMAND_LINE && !self->from_command_line [index])
                zlist_purge (list);
            if (zlist_append (list, (void *) value)) {
                snprintf (self->reason, sizeof self->reason, "out of memory");
                return -1;
            }
            break;
        }
        case ZP_OPT_HELP:
        case ZP_OPT_VERSION:
        case ZP_OPT_CONFIG:
        case ZP_OPT_PRINT:
            break;
    }
    self->given [index] = true;
    if (source == S_FROM_COMMAND_LINE)
        self->from_command_line [index] = true;
    return 0;
}

//  --- The config file --------------------------------------------------------

//  zconfig reports a syntax error only as a line "... (N) reason" that it
//  prints on stdout (zclock_log), where it would mix with the data. Catch
//  that line from a pipe put in place of stdout for the call, so the error
//  can name the file and the line in zpipe's own words, on stderr. Returns the tree or NULL; on
//  NULL *line and reason say what zconfig said, as far as it said it.
static zconfig_t *
s_zpl_load (const char *text, size_t *line, char *reason, size_t reason_size)
{
    *line = 0;
    snprintf (reason, reason_size, "not valid ZPL");
    int pipe_fds [2];
    int saved = -1;
    fflush (stdout);
    if (pipe (pipe_fds) == 0) {
        fcntl (pipe_fds [0], F_SETFL, O_NONBLOCK);
        fcntl (pipe_fds [1], F_SETFL, O_NONBLOCK);
        saved = dup (STDOUT_FILENO);
        if (saved == -1 || dup2 (pipe_fds [1], STDOUT_FILENO) == -1) {
            if (saved != -1)
                close (saved);
            saved = -1;
        }
        close (pipe_fds [1]);
    }
    else
        pipe_fds [0] = -1;
    zconfig_t *root = zconfig_str_load (text);
    if (saved != -1) {
        fflush (stdout);
        dup2 (saved, STDOUT_FILENO);
        close (saved);
    }
    if (pipe_fds [0] != -1) {
        char said [512];
        ssize_t size = read (pipe_fds [0], said, sizeof said - 1);
        close (pipe_fds [0]);
        if (!root && size > 0) {
            said [size] = 0;
            said [strcspn (said, "\n")] = 0;
            //  "26-11-26 00:31:02 E (zconfig): (5) indent 4 spaces at once"
            char *open = strstr (said, "): (");
            char *end = NULL;
            unsigned long number = open ? strtoul (open + 4, &end, 10) : 0;
            if (open && end && end > open + 4 && end [0] == ')' && end [1] == ' ') {
                *line = (size_t) number;
                snprintf (reason, reason_size, "%s", end + 2);
            }
        }
    }
    return root;
}

//  Every node of a ZPL tree stands on a line of its own, in the order a
//  depth-first walk visits them; blank lines and comments hold none. So
//  the n-th such line is the n-th node's. lines [] gets the line number of
//  every line that holds a node; returns how many.
static size_t
s_node_lines (const char *text, size_t *lines, size_t max)
{
    size_t found = 0, number = 1;
    for (const char *start = text; *start && found < max; number++) {
        const char *end = strchr (start, '\n');
        if (!end)
            end = start + strlen (start);
        const char *first = start;
        while (first < end && (*first == ' ' || *first == '\t' || *first == '\r'))
            first++;
        if (first < end && *first != '#')
            lines [found++] = number;
        start = *end ? end + 1 : end;
    }
    return found;
}

typedef struct {
    zconfig_t *node;
    zconfig_t *parent;          //  NULL at the top level
    int depth;                  //  0 at the top level
    size_t line;                //  0 when unknown
} s_keyed_t;

//  The nodes in depth-first order (zconfig_parent is not in czmq's stable API).
static size_t
s_walk (zconfig_t *node, zconfig_t *parent, int depth, s_keyed_t *nodes, size_t at,
        size_t max)
{
    for (; node && at < max; node = zconfig_next (node)) {
        nodes [at].node = node;
        nodes [at].parent = parent;
        nodes [at].depth = depth;
        at = s_walk (zconfig_child (node), node, depth + 1, nodes, at + 1, max);
    }
    return at;
}

static int
s_config_error (zp_options_t *self, const char *name, size_t line, const char *key,
                const char *format, ...) __attribute__ ((format (printf, 5, 6)));

static int
s_config_error (zp_options_t *self, const char *name, size_t line, const char *key,
                const char *format, ...)
{
    char message [512];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    char where [64] = "";
    if (line)
        snprintf (where, sizeof where, ", line %zu", line);
    if (key)
        fprintf (stderr, "%s: config %s%s: key '%s': %s\n", self->spec->stage, name,
                 where, key, message);
    else
        fprintf (stderr, "%s: config %s%s: %s\n", self->spec->stage, name, where, message);
    return -1;
}

static bool
s_is_stage (const char *name)
{
    return streq (name, "ventilator") || streq (name, "worker") || streq (name, "sink");
}

int
zp_options_load_text (zp_options_t *self, const char *name, const char *text)
{
    assert (self && name && text);
    size_t line;
    char reason [256];
    zconfig_t *root = s_zpl_load (text, &line, reason, sizeof reason);
    if (!root)
        return s_config_error (self, name, line, NULL, "%s", reason);

    //  Pair the nodes with their lines.
    size_t max = 1;                     //  at most one node per line
    for (const char *newline = strchr (text, '\n'); newline;
         newline = strchr (newline + 1, '\n'))
        max++;
    s_keyed_t *nodes = (s_keyed_t *) zmalloc (max * sizeof (s_keyed_t));
    size_t *lines = (size_t *) zmalloc (max * sizeof (size_t));
    if (!nodes || !lines) {
        free (nodes);
        free (lines);
        zconfig_destroy (&root);
        return s_config_error (self, name, 0, NULL, "out of memory");
    }
    size_t node_count = s_walk (zconfig_child (root), NULL, 0, nodes, 0, max);
    size_t line_count = s_node_lines (text, lines, max);
    for (size_t index = 0; index < node_count; index++)
        nodes [index].line = node_count == line_count ? lines [index] : 0;
    free (lines);

    int rc = 0;
    for (size_t index = 0; index < node_count && rc == 0; index++) {
        zconfig_t *node = nodes [index].node;
        size_t at = nodes [index].line;
        const char *key = zconfig_name (node);
        if (nodes [index].depth == 0) {
            if (!s_is_stage (key))
                rc = s_config_error (self, name, at, NULL, "'%s' is not a section"
                                     " (ventilator, worker or sink)", key);
            else
            if (zconfig_value (node) && *zconfig_value (node))
                rc = s_config_error (self, name, at, key, "a section has no value");
            continue;
        }
        zconfig_t *section = nodes [index].parent;
        if (nodes [index].depth > 1 || strneq (zconfig_name (section), self->spec->stage))
            continue;           //  another stage's: that stage checks it
        else
        if (zconfig_child (node))
            rc = s_config_error (self, name, at, key, "an option has one value, no sub-keys");
        else {
            const zp_option_t *option = s_find (self, key);
            if (!option || option->kind == ZP_OPT_HELP || option->kind == ZP_OPT_VERSION
            ||  option->kind == ZP_OPT_CONFIG || option->kind == ZP_OPT_PRINT)
                rc = s_config_error (self, name, at, key, "no such option for the %s",
                                     self->spec->stage);
            else
            if (option->kind != ZP_OPT_LIST
            &&  self->given [option - self->spec->options])
                rc = s_config_error (self, name, at, key, "given twice");
            else
            if (s_apply (self, option, zconfig_value (node) ? zconfig_value (node) : "",
                         S_FROM_FILE))
                rc = s_config_error (self, name, at, key, "%s", self->reason);
        }
    }
    free (nodes);
    if (rc == 0) {
        //  String targets point into this tree: keep it as long as the parser.
        zconfig_destroy (&self->config);
        self->config = root;
    }
    else
        zconfig_destroy (&root);
    return rc;
}

static int
s_load_file (zp_options_t *self, const char *name)
{
    FILE *file = fopen (name, "rb");
    if (!file)
        return s_config_error (self, name, 0, NULL, "can't open: %s", strerror (errno));
    char *text = (char *) malloc (S_MAX_CONFIG_BYTES + 1);
    size_t size = text ? fread (text, 1, S_MAX_CONFIG_BYTES + 1, file) : 0;
    int failed = ferror (file);
    fclose (file);
    int rc;
    if (!text)
        rc = s_config_error (self, name, 0, NULL, "out of memory");
    else
    if (failed)
        rc = s_config_error (self, name, 0, NULL, "can't read it");
    else
    if (size > S_MAX_CONFIG_BYTES)
        rc = s_config_error (self, name, 0, NULL, "larger than %d bytes", S_MAX_CONFIG_BYTES);
    else
    if (memchr (text, 0, size))
        rc = s_config_error (self, name, 0, NULL, "holds a NUL byte: not a text file");
    else {
        text [size] = 0;
        rc = zp_options_load_text (self, name, text);
    }
    free (text);
    return rc;
}

//  --- The command line ----------------------------------------------------------

static void
s_print_help (FILE *stream, const char *help)
{
    for (const char *line = help; *line; ) {
        size_t length = strcspn (line, "\n");
        fprintf (stream, "%.*s\n", (int) length, line);
        line += length;
        if (*line == '\n') {
            line++;
            fprintf (stream, "%28s", "");
        }
    }
}

void
zp_options_usage (zp_options_t *self, FILE *stream)
{
    assert (self);
    fprintf (stream, "Usage: %s [OPTION]...\n%s\n", self->spec->stage, self->spec->synopsis);
    for (size_t index = 0; index < self->count; index++) {
        const zp_option_t *option = &self->spec->options [index];
        char left [64];
        snprintf (left, sizeof left, "  %c%c%c --%s%s%s",
                  option->letter ? '-' : ' ', option->letter ? option->letter : ' ',
                  option->letter ? ',' : ' ', option->name,
                  option->arg ? " " : "", option->arg ? option->arg : "");
        if (strlen (left) < 28)
            fprintf (stream, "%-28s", left);
        else
            fprintf (stream, "%s  ", left);
        s_print_help (stream, option->help);
    }
    if (self->spec->epilogue)
        fprintf (stream, "\n%s", self->spec->epilogue);
}

//  A value as ZPL writes it: quoted unless it is a plain word.
static void
s_print_value (FILE *stream, bool given, const char *name, const char *value)
{
    const char *indent = given ? "    " : "#   ";
    bool plain = *value != 0;
    for (const char *c = value; plain && *c; c++)
        plain = isalnum ((unsigned char) *c) || strchr ("-_./:+@*", *c);
    if (plain)
        fprintf (stream, "%s%s = %s\n", indent, name, value);
    else
    if (!strchr (value, '"'))
        fprintf (stream, "%s%s = \"%s\"\n", indent, name, value);
    else
        fprintf (stream, "%s%s = '%s'\n", indent, name, value);
}

void
zp_options_print (zp_options_t *self, FILE *stream)
{
    assert (self);
    fprintf (stream, "%s\n", self->spec->stage);
    for (size_t index = 0; index < self->count; index++) {
        const zp_option_t *option = &self->spec->options [index];
        const char *name = option->name;
        bool given = self->given [index];
        char number [24];
        switch (option->kind) {
            case ZP_OPT_STRING: {
                const char *value = *(const char **) option->target;
                if (value)
                    s_print_value (stream, given, name, value);
                else
                    fprintf (stream, "#   %s =\n", name);
                break;
            }
            case ZP_OPT_U64:
                snprintf (number, sizeof number, "%" PRIu64, *(uint64_t *) option->target);
                s_print_value (stream, given, name, number);
                break;
            case ZP_OPT_CHOICE:
                s_print_value (stream, given, name, option->choices [*(int *) option->target]);
                break;
            case ZP_OPT_FLAG:
                s_print_value (stream, given, name, *(bool *) option->target ? "true" : "false");
                break;
            case ZP_OPT_SET:
                s_print_value (stream, given, name, *(int *) option->target == (int) option->min
                                             ? "true" : "false");
                break;
            case ZP_OPT_LIST: {
                zlist_t *list = (zlist_t *) option->target;
                if (zlist_size (list) == 0)
                    fprintf (stream, "#   %s =\n", name);
                for (const char *value = (const char *) zlist_first (list); value;
                     value = (const char *) zlist_next (list))
                    s_print_value (stream, given, name, value);
                break;
            }
            case ZP_OPT_HELP:
            case ZP_OPT_VERSION:
            case ZP_OPT_CONFIG:
            case ZP_OPT_PRINT:
                break;
        }
    }
}

int
zp_options_parse (zp_options_t *self, int argc, char *argv [], int *exit_code)
{
    assert (self && exit_code);
    const zp_option_t *table = self->spec->options;
    struct option *longs = (struct option *) zmalloc ((self->count + 1) * sizeof (struct option));
    char *shorts = (char *) zmalloc (2 * self->count + 2);
    if (!longs || !shorts) {
        free (longs);
        free (shorts);
        *exit_code = EX_OSERR;
        return -1;
    }
    //  getopt_long returns the row's index + 256 for a long option; a short
    //  option is mapped back to its row by its letter.
    char *next = shorts;
    *next++ = ':';
    for (size_t index = 0; index < self->count; index++) {
        longs [index].name = table [index].name;
        longs [index].has_arg = s_takes_value (&table [index])
                              ? required_argument : no_argument;
        longs [index].val = (int) index + 256;
        if (table [index].letter) {
            *next++ = (char) table [index].letter;
            if (s_takes_value (&table [index]))
                *next++ = ':';
        }
    }
    //  First pass: only --config (and whether --help or --version ask us to
    //  read nothing at all). The file is read before the command line so
    //  that the command line wins.
    const char *config = NULL;
    bool just_print = false, print = false;
    opterr = 0;
    optind = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, shorts, longs, NULL)) != -1) {
        const zp_option_t *option = s_find_returned (self, opt);
        if (option && option->kind == ZP_OPT_CONFIG)
            config = optarg;
        if (option && (option->kind == ZP_OPT_HELP || option->kind == ZP_OPT_VERSION))
            just_print = true;
        if (option && option->kind == ZP_OPT_PRINT)
            print = true;
    }
    int rc = 0;
    *exit_code = 0;
    if (config && !just_print && s_load_file (self, config)) {
        *exit_code = EX_CONFIG;
        rc = -1;
    }
    optind = 0;
    while (rc == 0 && (opt = getopt_long (argc, argv, shorts, longs, NULL)) != -1) {
        const zp_option_t *option = s_find_returned (self, opt);
        const char *given = argv [optind - 1];
        if (opt == ':')
            *exit_code = zp_usage_error ("option '%s' needs a value", given);
        else
        if (!option)
            *exit_code = zp_usage_error ("unknown option '%s'", given);
        else
        if (option->kind == ZP_OPT_HELP) {
            zp_options_usage (self, stdout);
            *exit_code = 0;
        }
        else
        if (option->kind == ZP_OPT_VERSION) {
            printf ("%s (zpipe) %s\n", self->spec->stage, ZP_VERSION);
            *exit_code = 0;
        }
        else
        if (optarg && (option->kind == ZP_OPT_STRING || option->kind == ZP_OPT_LIST)
        &&  optarg == argv [optind - 1] && s_is_option (self, optarg))
            *exit_code = zp_usage_error ("--%s needs a value, and '%s' is an option: give"
                                         " --%s its value first", option->name, optarg,
                                         option->name);
        else
        if (option->kind != ZP_OPT_PRINT
        &&  s_apply (self, option, optarg ? optarg : "", S_FROM_COMMAND_LINE))
            *exit_code = zp_usage_error ("--%s: %s", option->name, self->reason);
        else
            continue;           //  --print-config prints once all is read, below
        rc = -1;
    }
    if (rc == 0 && optind < argc) {
        *exit_code = zp_usage_error ("unexpected argument '%s'", argv [optind]);
        rc = -1;
    }
    if (rc == 0 && self->spec->check) {
        *exit_code = self->spec->check (self);
        if (*exit_code)
            rc = -1;
    }
    if (rc == 0 && print) {
        zp_options_print (self, stdout);
        *exit_code = fflush (stdout) ? EX_IOERR : 0;
        rc = -1;
    }
    free (longs);
    free (shorts);
    return rc;
}
