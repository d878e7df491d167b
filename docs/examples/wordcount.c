/*  wordcount - an example zpipe handler library: counts what is in each
    task's input line.

    Build:  make examples            (build/examples/libwordcount.so)
       or:  cc -shared -fPIC -I shared -o libwordcount.so docs/examples/wordcount.c
    Run:    worker --handler ./build/examples/libwordcount.so --handler-arg count=words

    --handler-arg count=words   (default) words: runs of non-blank bytes
    --handler-arg count=bytes   bytes
    --handler-arg count=lines   lines: newlines, plus one for a last line without one

    The result of a task is the count in decimal, like `wc -w`. This file is
    in the public domain: copy it as the start of your own handler.
*/
#include "zpipe_handler.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { COUNT_WORDS, COUNT_BYTES, COUNT_LINES } count_t;

typedef struct {
    count_t count;
    char output [32];           //  the last result: ours until the next call
} state_t;

static void *
s_init (const zpipe_handler_arg_t *args, size_t args_n, char *error, size_t error_size)
{
    state_t *state = (state_t *) calloc (1, sizeof (state_t));
    if (!state) {
        snprintf (error, error_size, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < args_n; i++) {
        if (strcmp (args [i].key, "count") != 0) {
            snprintf (error, error_size, "unknown argument '%s' (wordcount takes count=)",
                      args [i].key);
            free (state);
            return NULL;
        }
        if (strcmp (args [i].value, "words") == 0)
            state->count = COUNT_WORDS;
        else
        if (strcmp (args [i].value, "bytes") == 0)
            state->count = COUNT_BYTES;
        else
        if (strcmp (args [i].value, "lines") == 0)
            state->count = COUNT_LINES;
        else {
            snprintf (error, error_size, "count=%s: not words, bytes or lines", args [i].value);
            free (state);
            return NULL;
        }
    }
    return state;
}

static int
s_process (void *argument, zpipe_task_t *task)
{
    state_t *state = (state_t *) argument;
    size_t count = 0;
    if (state->count == COUNT_BYTES)
        count = task->input_size;
    else
    if (state->count == COUNT_LINES) {
        for (size_t i = 0; i < task->input_size; i++)
            count += task->input [i] == '\n';
        if (task->input_size && task->input [task->input_size - 1] != '\n')
            count++;
    }
    else {
        int in_word = 0;
        for (size_t i = 0; i < task->input_size; i++) {
            int blank = isspace (task->input [i]);
            if (!blank && !in_word)
                count++;
            in_word = !blank;
        }
    }
    int size = snprintf (state->output, sizeof state->output, "%zu", count);
    task->output = (const uint8_t *) state->output;
    task->output_size = (size_t) size;
    return 0;
}

static void
s_fini (void *state)
{
    free (state);
}

static const zpipe_handler_t s_handler = {
    .abi_version = ZPIPE_HANDLER_ABI_VERSION,
    .name = "wordcount",
    .init = s_init,
    .process = s_process,
    .fini = s_fini
};

const zpipe_handler_t *zpipe_handler (void);

const zpipe_handler_t *
zpipe_handler (void)
{
    return &s_handler;
}
