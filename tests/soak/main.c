/* SPDX-License-Identifier: MIT */
/*
 * jobd-soak: the long soak (docs/hardening.md). Starts its own jobd (the
 * build's, through the integration test harness) or soaks a running one,
 * then prints answered, failed, RSS and open fds at start and end.
 *
 *   jobd-soak [-t SECONDS] [-c CLIENTS] [-r RELOAD_MS] [-s SEED]
 *             [-p PORT -P PID]
 *
 * Exit status 0 when nothing unexpected happened, 1 otherwise.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "soak.h"

static void usage(void)
{
	fprintf(stderr, "usage: jobd-soak [-t SECONDS] [-c CLIENTS] "
	                "[-r RELOAD_MS] [-s SEED] [-p PORT -P PID]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct soak_opts o = {.seconds = 60,
	                      .clients = 16,
	                      .reload_ms = 3000,
	                      .seed = 1,
	                      .log = stderr,
	                      .notify_fd = -1};
	struct harness_opts ho = {.yaml = SOAK_YAML};
	struct soak_result r;
	struct jobd_proc p;
	bool own = true;
	int opt, rc, st = 0;

	while ((opt = getopt(argc, argv, "t:c:r:s:p:P:h")) != -1) {
		switch (opt) {
		case 't':
			o.seconds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'c':
			o.clients = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			o.reload_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			o.seed = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			o.port = (uint16_t)strtoul(optarg, NULL, 10);
			own = false;
			break;
		case 'P':
			o.pid = (pid_t)strtol(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (!own && !o.pid)
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (own) {
		/* The paths of the build this binary belongs to. */
		setenv("JOBD_BIN", SOAK_JOBD_BIN, 0);
		setenv("JOBD_PLUGIN_DIR", SOAK_PLUGIN_DIR, 0);
		setenv("JOBD_TEST_PLUGIN_DIR", SOAK_TEST_PLUGIN_DIR, 0);
		if (harness_start(&p, &ho) < 0) {
			fprintf(stderr, "jobd-soak: cannot start jobd\n");
			return 1;
		}
		o.pid = p.pid;
		o.port = p.port;
		o.config = p.config_path;
		o.notify_fd = p.notify_fd;
		fprintf(stderr, "jobd-soak: jobd pid %d on 127.0.0.1:%u\n",
		        (int)p.pid, p.port);
	}
	fprintf(stderr, "jobd-soak: %u s, %u clients, reload every %u ms\n",
	        o.seconds, o.clients, o.reload_ms);
	rc = soak_run(&o, &r);
	soak_print(stdout, &r);
	if (own) {
		st = harness_stop(&p, 0, 60000);
		printf("soak: jobd exit status %d\n", st);
	}
	return rc == 0 && st == 0 ? 0 : 1;
}
