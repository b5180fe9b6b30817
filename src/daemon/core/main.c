/* SPDX-License-Identifier: MIT */
/* jobd: the job server daemon. Runs in the foreground (systemd's
 * Type=notify, or a terminal); never forks itself away. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/usercmd.h"
#include "auth/users.h"
#include "daemon/config/config.h"
#include "daemon/core/jobd.h"
#include "daemon/exec/registry.h"
#include "daemon/net/tls.h"
#include "daemon/util/log.h"
#include "jobd-build.h"

#define DEFAULT_CONFIG JOBD_SYSCONFDIR "/jobd.yaml"

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: jobd [OPTION]...\n"
	        "       jobd [-c FILE] user add NAME [--admin] [--plugins "
	        "a,b*] [...]\n"
	        "       jobd [-c FILE] user rotate|revoke NAME\n"
	        "       jobd [-c FILE] user list\n"
	        "Serve jobs to clients over TCP with the plugins in the "
	        "configured directories.\n\n"
	        "  -c, --config FILE     configuration (default %s)\n"
	        "  -t, --check-config    validate the configuration and exit\n"
	        "  -l, --log-level LEVEL error|warning|notice|info|debug "
	        "(overrides the file)\n"
	        "  -V, --version         print the version and exit\n"
	        "  -h, --help            this help\n\n"
	        "`jobd user` manages the config's auth.users_file and "
	        "prints a new token once\n(docs/security.md); reload jobd "
	        "to apply it.\n\n"
	        "Signals: SIGTERM/SIGINT drain and exit, SIGHUP reloads.\n",
	        DEFAULT_CONFIG);
}

/* jobd user ...: the users file named by the config. -c/--config may
 * also come after the subcommand; it is taken out of what usercmd sees. */
static int user_command(int argc, char **argv, const char *path)
{
	struct config *cfg = NULL;
	char *error = NULL, **args;
	int i, n = 0, rc;

	args = calloc((size_t)argc + 1, sizeof(*args));
	if (!args)
		return 1;
	for (i = 0; i < argc; i++) {
		if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) &&
		    i + 1 < argc) {
			path = argv[++i];
			continue;
		}
		if (!strncmp(argv[i], "--config=", 9)) {
			path = argv[i] + 9;
			continue;
		}
		args[n++] = argv[i];
	}
	rc = config_load(path, &cfg, &error);
	if (rc < 0) {
		fprintf(stderr, "jobd: %s\n", error);
		free(error);
		free(args);
		return 1;
	}
	if (!cfg->users_file) {
		fprintf(stderr,
		        "jobd: %s has no auth section: add auth: {users_file: "
		        "/etc/jobd/users.yaml} (docs/security.md)\n",
		        path);
		rc = 2;
	} else {
		rc = usercmd_run(n, args, cfg->users_file, stdout, stderr);
	}
	config_free(cfg);
	free(args);
	return rc;
}

/* --check-config: the users file and the TLS files, read through the
 * same trusted-file step and with the same messages as a start. Returns
 * how many were refused. */
static unsigned check_secrets(const struct config *cfg)
{
	struct users *users = NULL;
	char *error = NULL;
	unsigned bad = 0;
	SSL_CTX *ctx;
	size_t i;

	if (cfg->users_file) {
		if (users_load(cfg->users_file, &users, &error) < 0) {
			log_error("auth.users_file: %s",
			          error ? error : "cannot be read");
			bad++;
		}
		free(error);
		users_free(users);
	}
	for (i = 0; cfg->listen_opts && i < cfg->n_listen; i++) {
		if (!cfg->listen_opts[i].tls)
			continue;
		if (tls_ctx_new(cfg->listen_opts[i].tls, cfg->listen[i], &ctx) <
		    0)
			bad++;
		else
			SSL_CTX_free(ctx);
	}
	return bad;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"check-config", no_argument, NULL, 't'},
	        {"log-level", required_argument, NULL, 'l'},
	        {"version", no_argument, NULL, 'V'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_CONFIG;
	struct config *cfg = NULL;
	struct jobd jd;
	char *error = NULL;
	int check = 0, level = -1, c, rc;
	sigset_t mask;

	/* "+": options end at the first word, so that `jobd user add
	 * NAME --admin` keeps its own options. */
	while ((c = getopt_long(argc, argv, "+c:tl:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'l':
			level = config_log_level_from_name(optarg);
			if (level < 0) {
				fprintf(stderr,
				        "jobd: --log-level: unknown level "
				        "\"%s\" (want error, warning, notice, "
				        "info or debug)\n",
				        optarg);
				return 2;
			}
			break;
		case 'V':
			printf("jobd %s\n", JOBD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc && !strcmp(argv[optind], "user"))
		return user_command(argc - optind - 1, argv + optind + 1, path);
	if (optind < argc) {
		fprintf(stderr, "jobd: unexpected argument \"%s\"\n",
		        argv[optind]);
		return 2;
	}

	/* Before any thread exists, so that every thread inherits the mask
	 * and the signals reach only the loop's signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	log_init(level >= 0 ? level : JOBD_LOG_INFO);
	rc = config_load(path, &cfg, &error);
	if (rc < 0) {
		fprintf(stderr, "jobd: %s\n", error);
		free(error);
		return 1;
	}
	if (check) {
		/* The plugin files too, through the same trust step and with
		 * the same messages as a start; nothing is loaded. */
		unsigned refused = registry_check(cfg);
		unsigned secrets = check_secrets(cfg);

		config_free(cfg);
		if (secrets)
			fprintf(stderr,
			        "jobd: %s: %u users or TLS file%s refused "
			        "(above)\n",
			        path, secrets, secrets == 1 ? "" : "s");
		if (secrets && !refused)
			return 1;
		if (refused) {
			fprintf(stderr,
			        "jobd: %s: %u plugin file%s or director%s "
			        "refused (above)\n",
			        path, refused, refused == 1 ? "" : "s",
			        refused == 1 ? "y" : "ies");
			return 1;
		}
		printf("%s: ok\n", path);
		return 0;
	}
	if (level < 0)
		log_set_level(cfg->log_level);
	rc = jobd_init(&jd, cfg, path, level);
	if (rc < 0) {
		log_error("cannot start: %s", strerror(-rc));
		jobd_fini(&jd);
		return 1;
	}
	rc = jobd_run(&jd);
	jobd_fini(&jd);
	log_notice("stopped");
	return rc;
}
