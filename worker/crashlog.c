/*  crashlog - which tasks crashed a handler, in memory shared across fork.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "crashlog.h"
#include "zp_util.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>

typedef struct {
    atomic_int command_group;       //  its --exec command's process group, or 0
    atomic_uint_least32_t count;     //  marks valid, 0 ... CRASHLOG_MARKS
    zp_ref_t refs [CRASHLOG_MARKS];
} marks_t;

typedef struct {
    //  The supervisor fills batch and task, then publishes attempts
    //  (release); a reader that sees attempts > 0 (acquire) sees them.
    uint64_t batch, task;
    atomic_uint_least32_t attempts;
    atomic_int wstatus;          //  of the last crash
} entry_t;

struct _crashlog_t {
    size_t processes;
    size_t size;                //  of the mapping
    atomic_size_t used;         //  entries ever written (the ring's head)
    entry_t entries [CRASHLOG_TASKS];
    marks_t marks [];           //  one per process
};

crashlog_t *
crashlog_new (size_t processes)
{
    size_t size = sizeof (crashlog_t) + processes * sizeof (marks_t);
    void *memory = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
        zp_error ("mmap of %zu shared bytes: %s", size, strerror (errno));
        return NULL;
    }
    //  Anonymous memory is zero: every count is 0.
    crashlog_t *self = (crashlog_t *) memory;
    self->processes = processes;
    self->size = size;
    return self;
}

void
crashlog_destroy (crashlog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    munmap (*self_p, (*self_p)->size);
    *self_p = NULL;
}

void
crashlog_running (crashlog_t *self, size_t process, const zp_ref_t *refs, size_t count)
{
    assert (process < self->processes && count <= CRASHLOG_MARKS);
    marks_t *marks = &self->marks [process];
    //  Clear first, fill, then publish: a death in between blames fewer
    //  tasks, never a task that was not in the call.
    atomic_store (&marks->count, 0);
    if (count == 0)
        return;
    memcpy (marks->refs, refs, count * sizeof (zp_ref_t));
    atomic_store (&marks->count, (uint_least32_t) count);
}

static entry_t *
s_find (const crashlog_t *self, zp_ref_t ref)
{
    size_t used = atomic_load (&self->used);
    size_t count = used < CRASHLOG_TASKS ? used : CRASHLOG_TASKS;
    for (size_t i = 0; i < count; i++) {
        entry_t *entry = (entry_t *) &self->entries [i];
        if (atomic_load (&entry->attempts) && entry->batch == ref.batch && entry->task == ref.task)
            return entry;
    }
    return NULL;
}

size_t
crashlog_reap (crashlog_t *self, size_t process, int wstatus)
{
    assert (process < self->processes);
    marks_t *marks = &self->marks [process];
    int group = atomic_exchange (&marks->command_group, 0);
    if (group > 0)
        kill (-group, SIGKILL);
    size_t count = atomic_load (&marks->count);
    if (count > CRASHLOG_MARKS)
        count = CRASHLOG_MARKS;
    for (size_t i = 0; i < count; i++) {
        zp_ref_t ref = marks->refs [i];
        entry_t *entry = s_find (self, ref);
        if (!entry) {
            size_t used = atomic_load (&self->used);
            entry = &self->entries [used % CRASHLOG_TASKS];
            atomic_store (&entry->attempts, 0);     //  unpublished while rewritten
            entry->batch = ref.batch;
            entry->task = ref.task;
            atomic_store (&self->used, used + 1);
        }
        atomic_store (&entry->wstatus, wstatus);
        atomic_fetch_add (&entry->attempts, 1);
    }
    atomic_store (&marks->count, 0);
    return count;
}

atomic_int *
crashlog_command_group (crashlog_t *self, size_t process)
{
    assert (process < self->processes);
    return &self->marks [process].command_group;
}

bool
crashlog_running_elsewhere (const crashlog_t *self, size_t process, zp_ref_t ref)
{
    for (size_t other = 0; other < self->processes; other++) {
        if (other == process)
            continue;
        const marks_t *marks = &self->marks [other];
        size_t count = atomic_load (&marks->count);
        for (size_t i = 0; i < count && i < CRASHLOG_MARKS; i++)
            if (marks->refs [i].batch == ref.batch && marks->refs [i].task == ref.task)
                return true;
    }
    return false;
}

uint32_t
crashlog_attempts (const crashlog_t *self, zp_ref_t ref, int *wstatus)
{
    if (atomic_load (&self->used) == 0)
        return 0;
    entry_t *entry = s_find (self, ref);
    if (!entry)
        return 0;
    if (wstatus)
        *wstatus = atomic_load (&entry->wstatus);
    return (uint32_t) atomic_load (&entry->attempts);
}
