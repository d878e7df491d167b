/*  badabi - a handler library built for another ABI version, which the
    worker must refuse at load (tests/e2e/handlers.sh).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zpipe_handler.h"

static int
s_process (void *state, zpipe_task_t *task)
{
    (void) state;
    (void) task;
    return 0;
}

static const zpipe_handler_t s_handler = {
    .abi_version = ZPIPE_HANDLER_ABI_VERSION + 1000,
    .name = "badabi",
    .process = s_process
};

const zpipe_handler_t *zpipe_handler (void);

const zpipe_handler_t *
zpipe_handler (void)
{
    return &s_handler;
}
