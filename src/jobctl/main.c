/* SPDX-License-Identifier: MIT */
/*
 * jobctl: send jobs to jobd and ask it how it is doing.
 *
 * To add a subcommand: write `int cmd_NAME(struct jobctl *, int, char **)`
 * in its own cmd_*.c (argv[0] is the subcommand's name, the global options
 * are already parsed into struct jobctl), declare it in jobctl.h, and add
 * one row to `commands` below; --help lists it from that row.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobctl/jobctl.h"
#include "jobd-build.h"

struct command {
	const char *name;
	jobctl_cmd_fn run;
	const char *args;    /* synopsis after the name */
	const char *summary; /* one line for --help */
};

static const struct command commands[] = {
        {"call", cmd_call, "PLUGIN [INPUT]",
         "run PLUGIN on INPUT and print its output"},
        {"ping", cmd_ping, "", "check that a server answers"},
        {"plugins", cmd_plugins, "",
         "list the server's plugins with their counters"},
        {"stats", cmd_stats, "", "print the server's statistics as JSON"},
        {"submit", cmd_submit, "PLUGIN [INPUT]",
         "run PLUGIN on INPUT detached; print the job id"},
        {"status", cmd_status, "JOB", "print a job's state as JSON"},
        {"wait", cmd_wait, "JOB",
         "wait for a job (progress bar), print its output"},
        {"result", cmd_result, "JOB", "print a finished job's output"},
        {"cancel", cmd_cancel, "JOB", "cancel a job"},
        {"jobs", cmd_jobs, "[state=S] [plugin=P]",
         "list jobs, newest first (limit=N)"},
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: jobctl [OPTIONS] COMMAND [ARGS]\n"
	           "\n"
	           "Send jobs to a jobd server and query it.\n"
	           "\n"
	           "Commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		char head[64];

		snprintf(head, sizeof(head), "%s %s", commands[i].name,
		         commands[i].args);
		fprintf(f, "  %-24s %s\n", head, commands[i].summary);
	}
	fprintf(f,
	        "\n"
	        "INPUT is JSON text, @FILE to read it from FILE, or - for "
	        "standard\n"
	        "input (the default when standard input is not a terminal). "
	        "It is\n"
	        "checked before anything is sent.\n"
	        "\n"
	        "Options (before or after COMMAND):\n"
	        "  -s, --server SERVERS   host:port[,host:port...], IPv6 in "
	        "brackets,\n"
	        "                         tls://host:port over TLS; tried in "
	        "order\n"
	        "                         (default: $JOBD_SERVER, else %s)\n"
	        "  -t, --timeout DURATION give up after DURATION: 30 (s), "
	        "500ms, 10s, 2m, 1h\n"
	        "                         (call: no limit by default; others: "
	        "10s)\n"
	        "  -r, --retry[=N]        on `busy`, retry up to N times "
	        "(default %d) with\n"
	        "                         backoff, waiting at least the "
	        "server's retry_after_ms\n"
	        "  -p, --pretty           indent JSON output (default on a "
	        "terminal)\n"
	        "  -c, --compact          one-line JSON output (default "
	        "otherwise)\n"
	        "      --provenance       call, wait, result: print "
	        "{output, provenance}\n"
	        "                         (plugin build, input hash, times, "
	        "CPU, host)\n"
	        "      --token-file FILE  send the access token in FILE "
	        "(mode 600)\n"
	        "                         (default: $JOBD_TOKEN, else the "
	        "file\n"
	        "                         $JOBD_TOKEN_FILE names)\n"
	        "      --ca FILE          CA certificates for tls:// servers "
	        "(default:\n"
	        "                         $JOBD_CA, else the system's)\n"
	        "      --cert FILE, --key FILE\n"
	        "                         client certificate and key, for "
	        "servers that\n"
	        "                         ask for one (mutual TLS)\n"
	        "      --array NAME=@FILE.npy\n"
	        "                         call, submit: send the NumPy array "
	        "in FILE as NAME\n"
	        "                         (repeatable; needs a server of "
	        "protocol version 2)\n"
	        "      --out-dir DIR      call, wait, result: write output "
	        "arrays as\n"
	        "                         DIR/NAME.npy (default: the current "
	        "directory)\n"
	        "      --force            overwrite existing NAME.npy files\n"
	        "  -h, --help             show this help\n"
	        "  -V, --version          show the version\n"
	        "\n"
	        "Exit status:\n"
	        "  0  success\n"
	        "  1  the job failed (the server answered with an error)\n"
	        "  2  usage error, or malformed INPUT\n"
	        "  3  cannot reach a server\n"
	        "  4  timeout (--timeout, or the job's deadline on the "
	        "server)\n"
	        "  5  result: the job has not finished yet\n"
	        "  6  not authorized (no token, a wrong one), or forbidden "
	        "(that\n"
	        "     plugin or job is not yours)\n"
	        "\n"
	        "On a terminal, call and wait show a progress bar on stderr; "
	        "Ctrl-C during\n"
	        "call asks whether to cancel the job or leave it running "
	        "detached.\n"
	        "\n"
	        "See jobctl(1).\n",
	        JOBD_CLIENT_DEFAULT_SERVER, JOBCTL_DEFAULT_RETRIES);
}

static const struct option options[] = {
        {"server", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'},
        {"retry", optional_argument, NULL, 'r'},
        {"pretty", no_argument, NULL, 'p'},
        {"compact", no_argument, NULL, 'c'},
        {"provenance", no_argument, NULL, 'P'},
        {"token-file", required_argument, NULL, 'T'},
        {"ca", required_argument, NULL, 'a'},
        {"cert", required_argument, NULL, 'C'},
        {"key", required_argument, NULL, 'K'},
        {"array", required_argument, NULL, 'A'},
        {"out-dir", required_argument, NULL, 'O'},
        {"force", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
};

/*
 * Parses options from argv[optind] on, stopping at the first operand
 * ('+': an INPUT such as -5 is not an option; `--` ends options).
 * Returns -1 to go on, or an exit code (after --help, --version, or an
 * error).
 */
static int parse_options(struct jobctl *j, int argc, char **argv)
{
	char *end;
	long n;
	int c;

	while ((c = getopt_long(argc, argv, "+s:t:r::pchV", options, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			j->servers = optarg;
			break;
		case 't':
			if (jobctl_parse_duration(optarg, &j->timeout_ms) < 0) {
				jobctl_err("--timeout: \"%s\" is not a "
				           "duration (e.g. 30, 500ms, 10s, 2m)",
				           optarg);
				return JOBCTL_USAGE;
			}
			j->timeout_set = true;
			break;
		case 'r':
			if (!optarg) {
				j->retries = JOBCTL_DEFAULT_RETRIES;
				break;
			}
			n = strtol(optarg, &end, 10);
			if (*end || end == optarg || n < 0 || n > 1000) {
				jobctl_err("--retry: \"%s\" is not a number "
				           "from 0 to 1000",
				           optarg);
				return JOBCTL_USAGE;
			}
			j->retries = (int)n;
			break;
		case 'p':
			j->pretty = true;
			break;
		case 'c':
			j->pretty = false;
			break;
		case 'P':
			j->provenance = true;
			break;
		case 'T':
			j->token_file = optarg;
			break;
		case 'a':
			j->ca_file = optarg;
			break;
		case 'C':
			j->cert_file = optarg;
			break;
		case 'K':
			j->key_file = optarg;
			break;
		case 'A':
			if (jobctl_array_arg(j, optarg) != JOBCTL_OK)
				return JOBCTL_USAGE;
			break;
		case 'O':
			j->out_dir = optarg;
			break;
		case 'F':
			j->force = true;
			break;
		case 'h':
			usage(stdout);
			return JOBCTL_OK;
		case 'V':
			printf("jobctl %s\n", JOBD_VERSION);
			return JOBCTL_OK;
		default:
			fprintf(stderr, "Try 'jobctl --help'.\n");
			return JOBCTL_USAGE;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct jobctl j = {
	        .timeout_ms = JOBD_CLIENT_FOREVER,
	        .pretty = isatty(STDOUT_FILENO),
	};
	const struct command *cmd = NULL;
	char **args;
	int r, nargs = 0, i;
	size_t k;

	j.servers = getenv("JOBD_SERVER");
	if (!j.servers || !j.servers[0])
		j.servers = JOBD_CLIENT_DEFAULT_SERVER;
	r = parse_options(&j, argc, argv);
	if (r >= 0)
		return r;
	if (optind >= argc) {
		jobctl_err("no command given");
		fprintf(stderr, "Try 'jobctl --help'.\n");
		return JOBCTL_USAGE;
	}
	for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (!strcmp(commands[k].name, argv[optind]))
			cmd = &commands[k];
	if (!cmd) {
		jobctl_err("unknown command \"%s\"", argv[optind]);
		fprintf(stderr, "Try 'jobctl --help'.\n");
		return JOBCTL_USAGE;
	}
	/* Operands of the command, with options allowed among them (e.g.
	 * `jobctl call sleep 5 --timeout 1s`). */
	args = calloc((size_t)argc + 1, sizeof(*args));
	if (!args) {
		jobctl_err("out of memory");
		return JOBCTL_JOB_FAILED;
	}
	args[nargs++] = argv[optind];
	i = optind + 1;
	while (i < argc) {
		optind = i;
		r = parse_options(&j, argc, argv);
		if (r >= 0)
			goto out;
		i = optind;
		if (i < argc && !strcmp(argv[i - 1], "--")) {
			while (i < argc)
				args[nargs++] = argv[i++];
			break;
		}
		if (i < argc)
			args[nargs++] = argv[i++];
	}
	if (j.n_arrays && cmd->run != cmd_call && cmd->run != cmd_submit) {
		jobctl_err("--array goes with call or submit, not %s",
		           cmd->name);
		r = JOBCTL_USAGE;
		goto out;
	}
	r = cmd->run(&j, nargs, args);
	jobd_client_free(j.client);
	jobctl_arrays_fini(&j);
out:
	free(args);
	return r;
}
