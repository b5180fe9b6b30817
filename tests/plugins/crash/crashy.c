/*
 * crashy: a plugin that crashes, hangs or eats memory on request, so that
 * the tests can check what a worker process contains (docs/isolation.md).
 * Never load it into a daemon in thread mode outside a test: most of its
 * modes take the whole process down, which is the point.
 *
 * Input {"do": WHAT}:
 *   "echo"      answers its input
 *   "segv"      writes through a NULL pointer
 *   "abort"     abort()
 *   "exit3"     exit(3)
 *   "stack"     recurses until the stack overflows
 *   "hang"      never returns and never calls cancelled()
 *   "hang_child" starts a child process (logs "child PID"), then hangs
 *   "alloc"     allocates and touches 1 MiB blocks without bound, and
 *               abort()s when malloc fails, as an xmalloc() would
 *   "alloc_check" the same, but returns plugin_failed when malloc fails
 *   "grow"      touches "mb" MiB, frees it, answers {"mb": mb}
 *   "burn"      spins until it has used "ms" milliseconds of CPU
 *   "sleep"     waits "ms" milliseconds, polling cancelled() (cancelled)
 *   "talk"      logs a line, reports progress 0.5, answers its job id
 *   "big"       answers a string of "n" bytes
 *   "segv_once" writes through a NULL pointer unless the file "path"
 *               exists, creating it first: the second run succeeds
 * Options {"init": "segv" | "fail"} crash or fail in init;
 * {"worker_init": "fail"} fails worker_init; {"ticker": true} starts a
 * thread in init that logs "tick N" every 20 ms, jobs or not.
 * With CRASHY_RETRY_SAFE=1 in the environment the descriptor says
 * JOBD_PLUGIN_RETRY_SAFE (a crashed detached job may run again).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jobd/plugin.h>

static const struct jobd_host *the_host;

static void crash_segv(void)
{
	volatile int *p = NULL;

	*p = 1;
}

/* Each frame holds a large buffer the compiler cannot drop. */
static int recurse(int depth)
{
	volatile char pad[4096];

	if (depth < 0) /* never: only to keep the recursion a function */
		return 0;
	pad[0] = (char)depth;
	pad[sizeof(pad) - 1] = (char)depth;
	return recurse(depth + 1) + pad[0] + pad[sizeof(pad) - 1];
}

static void hang(void)
{
	struct timespec t = {0, 10 * 1000000L};

	for (;;)
		nanosleep(&t, NULL);
}

struct block {
	struct block *next;
};

/* Allocates until malloc fails; returns how many MiB it got. The blocks
 * are kept (a leak) until the process ends. */
static long eat(int abort_on_fail)
{
	struct block *head = NULL, *b;
	long mb = 0;

	for (;;) {
		b = malloc(1 << 20);
		if (!b) {
			if (abort_on_fail)
				abort();
			break;
		}
		memset(b, 0x5a, 1 << 20);
		b->next = head;
		head = b;
		mb++;
	}
	while (head) {
		b = head->next;
		free(head);
		head = b;
	}
	return mb;
}

/* CPU time, not wall time: a busy machine must not change what it uses. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *ticker(void *arg)
{
	struct timespec t = {0, 20 * 1000000L};

	for (int i = 0;; i++) {
		the_host->log(the_host, JOBD_LOG_INFO, "tick %d", i);
		nanosleep(&t, NULL);
	}
	return NULL;
}

static int crashy_init(const struct jobd_host *host, const json_t *options,
                       void **state)
{
	const char *what = json_string_value(json_object_get(options, "init"));

	the_host = host;
	if (what && !strcmp(what, "segv"))
		crash_segv();
	if (what && !strcmp(what, "fail")) {
		host->fail(NULL, "no model file at %s", "/nonexistent");
		return JOBD_E_PLUGIN_FAILED;
	}
	if (json_is_true(json_object_get(options, "ticker"))) {
		pthread_t t;

		if (pthread_create(&t, NULL, ticker, NULL) != 0)
			return JOBD_E_PLUGIN_FAILED;
		pthread_detach(t);
	}
	*state = json_incref((json_t *)options);
	return 0;
}

static void crashy_destroy(void *state)
{
	json_decref(state);
}

static int crashy_worker_init(void *state, void **worker_state)
{
	const char *what =
	        json_string_value(json_object_get(state, "worker_init"));

	return what && !strcmp(what, "fail") ? JOBD_E_PLUGIN_FAILED : 0;
}

static int crashy_process(void *s, void *w, struct jobd_job *job,
                          const json_t *input, json_t **output)
{
	const char *what = json_string_value(json_object_get(input, "do"));
	json_int_t n;

	if (!what)
		what = "echo";
	if (!strcmp(what, "segv"))
		crash_segv();
	if (!strcmp(what, "abort"))
		abort();
	if (!strcmp(what, "segv_once")) {
		const char *path =
		        json_string_value(json_object_get(input, "path"));
		int fd = path ? open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)
		              : -1;

		if (fd >= 0) {
			close(fd);
			crash_segv();
		}
		what = "echo";
	}
	if (!strcmp(what, "exit3"))
		exit(3);
	if (!strcmp(what, "stack")) {
		*output = json_integer(recurse(0));
		return JOBD_OK;
	}
	if (!strcmp(what, "hang"))
		hang();
	if (!strcmp(what, "hang_child")) {
		pid_t pid = fork();

		if (pid == 0)
			hang();
		job->host->log(job->host, JOBD_LOG_INFO, "child %ld",
		               (long)pid);
		hang();
	}
	if (!strcmp(what, "alloc") || !strcmp(what, "alloc_check")) {
		long mb = eat(!strcmp(what, "alloc"));

		job->host->fail(job, "out of memory after %ld MiB", mb);
		return JOBD_E_PLUGIN_FAILED;
	}
	if (!strcmp(what, "grow")) {
		volatile char *v;
		size_t size;
		char *p;

		n = json_integer_value(json_object_get(input, "mb"));
		size = (size_t)n << 20;
		p = malloc(size);
		if (!p) {
			job->host->fail(job, "cannot allocate %zu bytes", size);
			return JOBD_E_PLUGIN_FAILED;
		}
		/* Through volatile: a compiler may drop malloc + memset +
		 * free as dead code. */
		v = p;
		for (size_t i = 0; i < size; i += 4096)
			v[i] = 1;
		free(p);
		*output = json_pack("{sI}", "mb", n);
		return JOBD_OK;
	}
	if (!strcmp(what, "burn")) {
		double end;
		volatile unsigned long spin = 0;

		n = json_integer_value(json_object_get(input, "ms"));
		end = cpu_s() + n / 1000.0;
		while (cpu_s() < end)
			spin++;
		*output = json_pack("{sI}", "ms", n);
		return JOBD_OK;
	}
	if (!strcmp(what, "sleep")) {
		struct timespec slice = {0, 5 * 1000000L};

		n = json_integer_value(json_object_get(input, "ms"));
		for (; n > 0; n -= 5) {
			if (jobd_job_cancelled(job)) {
				job->host->fail(job, "stopped");
				return JOBD_E_CANCELLED;
			}
			nanosleep(&slice, NULL);
		}
		*output = json_string("slept");
		return JOBD_OK;
	}
	if (!strcmp(what, "talk")) {
		const char *id = job->host->job_id(job);

		job->host->log(job->host, JOBD_LOG_NOTICE, "talking %d", 42);
		jobd_job_progress(job, 0.5, "half");
		*output = json_pack("{ss?}", "job", id);
		return JOBD_OK;
	}
	if (!strcmp(what, "big")) {
		char *text;

		n = json_integer_value(json_object_get(input, "n"));
		text = malloc((size_t)n + 1);
		if (!text)
			return JOBD_E_PLUGIN_FAILED;
		memset(text, 'x', (size_t)n);
		text[n] = '\0';
		*output = json_string(text);
		free(text);
		return JOBD_OK;
	}
	*output = json_deep_copy(input);
	return JOBD_OK;
}

static struct jobd_plugin crashy = {
        .abi_major = JOBD_PLUGIN_ABI_MAJOR,
        .abi_minor = JOBD_PLUGIN_ABI_MINOR,
        .size = sizeof(struct jobd_plugin),
        .name = "crashy",
        .version = "1",
        .description = "crashes, hangs and leaks on request",
        .init = crashy_init,
        .destroy = crashy_destroy,
        .worker_init = crashy_worker_init,
        .process = crashy_process,
};

JOBD_EXTERN_C JOBD_EXPORT const struct jobd_plugin *jobd_plugin_entry(void);
const struct jobd_plugin *jobd_plugin_entry(void)
{
	const char *safe = getenv("CRASHY_RETRY_SAFE");

	if (safe && !strcmp(safe, "1"))
		crashy.flags |= JOBD_PLUGIN_RETRY_SAFE;
	return &crashy;
}
