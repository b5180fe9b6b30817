/* SPDX-License-Identifier: MIT */
#include "daemon/util/shm.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* The first page of every mapping: what shm_free needs. */
struct shm_head {
	uint64_t magic;
	uint64_t size; /* the caller's bytes */
	int fd;
};

#define SHM_MAGIC 0x6a6f62642d73686dull /* "jobd-shm" */

static struct shm_head *shm_head_of(const void *block)
{
	return (struct shm_head *)(void *)((char *)(uintptr_t)block -
	                                   SHM_DATA_OFFSET);
}

void *shm_alloc(uint64_t size, const char *name)
{
	struct shm_head *h;
	uint64_t total;
	void *map;
	int fd, err;

	if (size == 0 || size > UINT64_MAX / 2) {
		errno = EINVAL;
		return NULL;
	}
	total = SHM_DATA_OFFSET + size;
	fd = memfd_create(name ? name : "jobd-array", MFD_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (ftruncate(fd, (off_t)total) < 0)
		goto fail;
	/* Every byte is about to be written (a block is exactly the size of
	 * its arrays): faulting the pages in at once costs less than one
	 * fault per 4 KiB page on the way. */
	map = mmap(NULL, total, PROT_READ | PROT_WRITE,
	           MAP_SHARED | MAP_POPULATE, fd, 0);
	if (map == MAP_FAILED)
		goto fail;
	h = map;
	h->magic = SHM_MAGIC;
	h->size = size;
	h->fd = fd;
	return (char *)map + SHM_DATA_OFFSET;
fail:
	err = errno;
	close(fd);
	errno = err;
	return NULL;
}

void shm_free(void *block)
{
	struct shm_head *h;
	int fd;

	if (!block)
		return;
	h = shm_head_of(block);
	fd = h->fd;
	munmap(h, SHM_DATA_OFFSET + h->size);
	close(fd);
}

int shm_fd(const void *block)
{
	return shm_head_of(block)->fd;
}

uint64_t shm_size(const void *block)
{
	return shm_head_of(block)->size;
}

void *shm_alloc_cb(void *ud, uint64_t size)
{
	(void)ud;
	return shm_alloc(size, "jobd-array");
}

void shm_release_cb(void *ud, void *block, uint64_t size)
{
	(void)ud;
	(void)size;
	shm_free(block);
}
