/*  test_handler - the worker's handler pieces that need no sockets:
    --handler-arg parsing, the stderr tail, the output trim, and --exec
    runs of real /bin/sh commands (per task and persistent).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "../../worker/exec.h"
#include "../../worker/handler.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test (handler, arg_parse)
{
    zpipe_handler_arg_t arg;
    cr_assert_eq (handler_arg_parse ("count=words", &arg), 0);
    cr_assert_str_eq (arg.key, "count");
    cr_assert_str_eq (arg.value, "words");
    free ((char *) arg.key);
    //  The first '=' splits; the value may hold more, or be empty.
    cr_assert_eq (handler_arg_parse ("k=a=b", &arg), 0);
    cr_assert_str_eq (arg.key, "k");
    cr_assert_str_eq (arg.value, "a=b");
    free ((char *) arg.key);
    cr_assert_eq (handler_arg_parse ("empty=", &arg), 0);
    cr_assert_str_eq (arg.value, "");
    free ((char *) arg.key);
    cr_assert_eq (handler_arg_parse ("novalue", &arg), -1);
    cr_assert_eq (handler_arg_parse ("=nokey", &arg), -1);
    cr_assert_eq (handler_arg_parse ("", &arg), -1);
}

Test (handler, builtin_name)
{
    handler_spec_t spec = { .name = HANDLER_BUILTIN };
    cr_assert (handler_is_builtin (&spec));
    cr_assert_str_eq (handler_name (&spec), "sha512-chain");
    spec.exec = "cat";
    cr_assert_not (handler_is_builtin (&spec));
    cr_assert_str_eq (handler_name (&spec), "exec");
    spec.persistent = true;
    cr_assert_str_eq (handler_name (&spec), "exec-persistent");
    handler_spec_t library = { .name = "./libx.so" };
    cr_assert_not (handler_is_builtin (&library));
}

Test (handler, tail_keeps_the_end)
{
    exec_tail_t tail = { .size = 0 };
    char text [EXEC_TAIL + 1];
    cr_assert_eq (exec_tail_text (&tail, text, sizeof text), 0);
    exec_tail_append (&tail, "first line\n", 11);
    exec_tail_append (&tail, "  second\tline \n", 15);
    cr_assert_eq (exec_tail_text (&tail, text, sizeof text), 22);
    cr_assert_str_eq (text, "first line second line");
    //  More than EXEC_TAIL bytes, in pieces and at once: only the end stays.
    char big [3000];
    for (size_t i = 0; i < sizeof big; i++)
        big [i] = (char) ('a' + i % 26);
    for (size_t i = 0; i < sizeof big; i += 7)
        exec_tail_append (&tail, big + i, i + 7 <= sizeof big ? 7 : sizeof big - i);
    cr_assert_eq (exec_tail_text (&tail, text, sizeof text), EXEC_TAIL);
    cr_assert_arr_eq (text, big + sizeof big - EXEC_TAIL, EXEC_TAIL);
    exec_tail_t once = { .size = 0 };
    exec_tail_append (&once, "x", 1);
    exec_tail_append (&once, big, sizeof big);
    cr_assert_eq (exec_tail_text (&once, text, sizeof text), EXEC_TAIL);
    cr_assert_arr_eq (text, big + sizeof big - EXEC_TAIL, EXEC_TAIL);
    //  A small buffer gets a NUL-terminated start.
    char small [4];
    cr_assert_eq (exec_tail_text (&once, small, sizeof small), 3);
    cr_assert_eq (small [3], 0);
}

Test (handler, output_trim)
{
    cr_assert_eq (exec_output_trim ((const uint8_t *) "abc\n", 4), 3);
    cr_assert_eq (exec_output_trim ((const uint8_t *) "abc\n\n", 5), 4);
    cr_assert_eq (exec_output_trim ((const uint8_t *) "abc", 3), 3);
    cr_assert_eq (exec_output_trim ((const uint8_t *) "\n", 1), 0);
    cr_assert_eq (exec_output_trim ((const uint8_t *) "", 0), 0);
}

static atomic_bool s_stop;

static zpipe_task_t
s_task (const char *input)
{
    return (zpipe_task_t) { .id = 7, .iterations = 3, .input = (const uint8_t *) input,
                            .input_size = strlen (input) };
}

Test (handler, exec_per_task)
{
    signal (SIGPIPE, SIG_IGN);
    atomic_init (&s_stop, false);
    exec_t *exec = exec_new ("tr a-z A-Z; echo \"$ZPIPE_TASK/$ZPIPE_ITERATIONS\"", false, 30,
                             &s_stop, NULL);
    cr_assert_not_null (exec);
    zpipe_task_t task = s_task ("hello");
    cr_assert_eq (exec_run (exec, &task), 0, "%s", task.error);
    //  "HELLO" (tr keeps the input's missing newline), then "7/3\n" whose
    //  newline is trimmed
    cr_assert_eq (task.output_size, 8);
    cr_assert_arr_eq (task.output, "HELLO7/3", 8);
    exec_destroy (&exec);
    cr_assert_null (exec);
    exec_destroy (&exec);

    //  A non-zero exit: failed, with stderr's tail as the reason.
    exec = exec_new ("cat >/dev/null; echo one >&2; echo two >&2; exit 5", false, 30, &s_stop, NULL);
    task = s_task ("x");
    cr_assert_eq (exec_run (exec, &task), -1);
    cr_assert_str_eq (task.error, "the command exited with status 5: one two");
    exec_destroy (&exec);

    //  A command that does not read its input (EPIPE) still answers.
    exec = exec_new ("echo ignored", false, 30, &s_stop, NULL);
    char *big = (char *) malloc (1 << 20);
    memset (big, 'x', 1 << 20);
    big [(1 << 20) - 1] = 0;
    task = s_task (big);
    cr_assert_eq (exec_run (exec, &task), 0, "%s", task.error);
    cr_assert_eq (task.output_size, 7);
    free (big);
    exec_destroy (&exec);

    //  Killed by a signal
    exec = exec_new ("kill -KILL $$", false, 30, &s_stop, NULL);
    task = s_task ("x");
    cr_assert_eq (exec_run (exec, &task), -1);
    cr_assert (strstr (task.error, "killed by signal 9"), "%s", task.error);
    exec_destroy (&exec);
}

//  A persistent Python command that does not flush its stdout answers all
//  the same: commands get PYTHONUNBUFFERED=1 (it timed out before).
Test (handler, exec_persistent_python_unflushed)
{
    signal (SIGPIPE, SIG_IGN);
    atomic_init (&s_stop, false);
    unsetenv ("PYTHONUNBUFFERED");
    exec_t *exec = exec_new ("exec python3 -c 'import sys\nfor line in sys.stdin:"
                             " print(line.strip().upper())'", true, 5, &s_stop, NULL);
    for (int i = 0; i < 2; i++) {
        zpipe_task_t task = s_task (i ? "def" : "abc");
        cr_assert_eq (exec_run (exec, &task), 0, "%s", task.error ? task.error : "");
        cr_assert_eq (task.output_size, 3);
        cr_assert_eq (memcmp (task.output, i ? "DEF" : "ABC", 3), 0);
    }
    exec_destroy (&exec);
}

//  One that never answers fails with a reason that says to flush.
Test (handler, exec_persistent_silent_says_flush)
{
    signal (SIGPIPE, SIG_IGN);
    atomic_init (&s_stop, false);
    exec_t *exec = exec_new ("cat >/dev/null", true, 1, &s_stop, NULL);
    zpipe_task_t task = s_task ("x");
    cr_assert_eq (exec_run (exec, &task), -1);
    cr_assert (strstr (task.error, "timed out after 1 s with no line back")
               && strstr (task.error, "flush"), "%s", task.error);
    exec_destroy (&exec);
}

Test (handler, exec_timeout)
{
    signal (SIGPIPE, SIG_IGN);
    atomic_init (&s_stop, false);
    //  The sleep is a child of the shell: the process group goes too.
    exec_t *exec = exec_new ("sleep 300; echo late", false, 1, &s_stop, NULL);
    zpipe_task_t task = s_task ("x");
    cr_assert_eq (exec_run (exec, &task), -1);
    cr_assert_str_eq (task.error, "timed out after 1 s");
    exec_destroy (&exec);
}

Test (handler, exec_output_limit)
{
    signal (SIGPIPE, SIG_IGN);
    atomic_init (&s_stop, false);
    exec_t *exec = exec_new ("head -c 70000000 /dev/zero", false, 60, &s_stop, NULL);
    zpipe_task_t task = s_task ("");
    cr_assert_eq (exec_run (exec, &task), -1);
    cr_assert_str_eq (task.error, "output larger than 64 MiB");
    exec_destroy (&exec);
}

Test (handler, exec_persistent)
{
    signal (SIGPIPE, SIG_IGN);
    atomic_init (&s_stop, false);
    exec_t *exec = exec_new ("while IFS= read -r l; do"
                             "  case $l in die) echo dying >&2; exit 4;; esac;"
                             "  printf '%s %s\\n' \"$l\" $$; done", true, 30, &s_stop, NULL);
    zpipe_task_t task = s_task ("one");
    cr_assert_eq (exec_run (exec, &task), 0, "%s", task.error);
    char first [64];
    snprintf (first, sizeof first, "%.*s", (int) task.output_size, task.output);
    cr_assert (strncmp (first, "one ", 4) == 0, "%s", first);
    task = s_task ("two");
    cr_assert_eq (exec_run (exec, &task), 0, "%s", task.error);
    //  The same process answered: same pid after the word.
    cr_assert_eq (task.output_size, strlen (first));
    cr_assert_arr_eq (task.output + 3, first + 3, strlen (first) - 3);
    task = s_task ("two\nlines");
    cr_assert_eq (exec_run (exec, &task), -1);
    cr_assert (strstr (task.error, "newline"), "%s", task.error);
    task = s_task ("die");
    cr_assert_eq (exec_run (exec, &task), -1);
    cr_assert_str_eq (task.error, "the persistent command exited with status 4: dying");
    //  And it is started again for the next task.
    task = s_task ("three");
    cr_assert_eq (exec_run (exec, &task), 0, "%s", task.error);
    cr_assert (strncmp ((const char *) task.output, "three ", 6) == 0);
    cr_assert (strncmp ((const char *) task.output + 6, first + 4, strlen (first) - 4) != 0,
               "a new process answers");
    exec_destroy (&exec);
}
