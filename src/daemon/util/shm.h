/* SPDX-License-Identifier: MIT */
/*
 * Shared-memory blocks: the home of binary arrays (protocol v2) in the
 * daemon. Each block is its own memfd, mapped MAP_SHARED; the fd is kept
 * open for the block's life, so that a worker process can be handed it
 * (SCM_RIGHTS) and map the same pages instead of receiving a copy through
 * a socket. The first page of the mapping holds the block's bookkeeping;
 * the caller's bytes start at SHM_DATA_OFFSET in the file (page aligned,
 * so 64-byte aligned as the protocol's sections need).
 *
 * Thread-safe: a block is allocated on one thread and may be released on
 * another; nothing is shared between blocks.
 */
#ifndef JOBD_DAEMON_UTIL_SHM_H
#define JOBD_DAEMON_UTIL_SHM_H

#include <stddef.h>
#include <stdint.h>

/* Where a block's bytes begin inside its memfd: the offset a process
 * that maps the fd gives to mmap(). */
#define SHM_DATA_OFFSET 4096u

/* A new block of size bytes (size > 0), zero-filled, or NULL with errno
 * set. name shows in /proc/PID/fd ("jobd-array"). */
void *shm_alloc(uint64_t size, const char *name);

/* Unmaps the block and closes its fd. Accepts NULL. */
void shm_free(void *block);

/* The memfd of a block (owned by the block: dup() it to keep it past
 * shm_free), and its size. */
int shm_fd(const void *block);
uint64_t shm_size(const void *block);

/* The allocator the frame decoder takes (frame_data_ops' shape): alloc
 * and release with ud unused. */
void *shm_alloc_cb(void *ud, uint64_t size);
void shm_release_cb(void *ud, void *block, uint64_t size);

#endif
