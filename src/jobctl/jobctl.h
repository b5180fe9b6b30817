/* SPDX-License-Identifier: MIT */
/*
 * jobctl: the command-line client. One function per subcommand
 * (cmd_*.c), all registered in the table in main.c; this header is what
 * they share: the parsed global options, the exit codes, and helpers that
 * report a failure and turn it into an exit code.
 */
#ifndef JOBD_JOBCTL_H
#define JOBD_JOBCTL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include <jobd/client.h>

#include "jobctl/npy.h"

/* Exit codes: part of the interface (--help, jobctl(1)). */
enum jobctl_exit {
	JOBCTL_OK = 0,           /* success */
	JOBCTL_JOB_FAILED = 1,   /* the server answered with an error */
	JOBCTL_USAGE = 2,        /* bad arguments or malformed input */
	JOBCTL_UNREACHABLE = 3,  /* no server could be reached (or kept) */
	JOBCTL_TIMEOUT = 4,      /* --timeout passed, or the job's deadline */
	JOBCTL_NOT_FINISHED = 5, /* result: the job has not finished yet */
	JOBCTL_DENIED = 6,       /* not authorized, or forbidden */
};

#define JOBCTL_DEFAULT_QUERY_TIMEOUT_MS 10000
#define JOBCTL_DEFAULT_RETRIES          5

/* One --array NAME=@FILE.npy, and the file once mapped. */
struct jobctl_array_arg {
	char name[JOBD_ARRAY_NAME_MAX + 1];
	const char *path; /* borrowed from argv */
	struct npy_file file;
};

struct jobctl {
	const char *servers; /* -s, else $JOBD_SERVER, else the default */
	int timeout_ms;      /* --timeout; JOBD_CLIENT_FOREVER when unset */
	bool timeout_set;
	int retries;     /* --retry: extra attempts on `busy` */
	bool pretty;     /* indented JSON: --pretty, --compact, or isatty */
	bool provenance; /* --provenance: print {output, provenance} */
	/* Credentials and TLS; NULL: the library's defaults ($JOBD_TOKEN,
	 * $JOBD_TOKEN_FILE, $JOBD_CA, the system's CA store). */
	const char *token_file; /* --token-file */
	const char *ca_file;    /* --ca */
	const char *cert_file;  /* --cert (mutual TLS) */
	const char *key_file;   /* --key */
	/* --array (repeatable): arrays sent with call and submit. */
	struct jobctl_array_arg arrays[JOBD_ARRAYS_MAX];
	size_t n_arrays;
	const char *out_dir; /* --out-dir: where output arrays go */
	bool force;          /* --force: replace existing NAME.npy */
	struct jobd_array sent[JOBD_ARRAYS_MAX]; /* made by arrays_load */
	struct jobd_client *client;              /* made by jobctl_connect() */
};

/* A subcommand: argv[0] is its name; returns an enum jobctl_exit. */
typedef int (*jobctl_cmd_fn)(struct jobctl *j, int argc, char **argv);

int cmd_call(struct jobctl *j, int argc, char **argv);
int cmd_ping(struct jobctl *j, int argc, char **argv);
int cmd_plugins(struct jobctl *j, int argc, char **argv);
int cmd_stats(struct jobctl *j, int argc, char **argv);
/* Detached jobs (cmd_jobs.c). */
int cmd_submit(struct jobctl *j, int argc, char **argv);
int cmd_status(struct jobctl *j, int argc, char **argv);
int cmd_wait(struct jobctl *j, int argc, char **argv);
int cmd_result(struct jobctl *j, int argc, char **argv);
int cmd_cancel(struct jobctl *j, int argc, char **argv);
int cmd_jobs(struct jobctl *j, int argc, char **argv);

/* call on a terminal or with --provenance: submits (with the --array
 * arrays), shows the progress bar, and on Ctrl-C asks whether to cancel
 * or detach (then prints the job id). *result: the result answer (NULL
 * after a detach). Returns an exit code, after printing why on failure. */
int jobctl_call_live(struct jobctl *j, const char *plugin, const json_t *input,
                     struct jobd_client_answer **result);

/* Prints a finished job's answer (a result message, and the arrays that
 * came with it): its output, or with --provenance {"job", "output",
 * "provenance"}. When arrays came, they are written as NAME.npy into
 * --out-dir first and the output is printed as {"output", "arrays"} (with
 * "provenance" and "job" as above), "arrays" naming each file. Returns an
 * exit code. */
int jobctl_print_answer(const struct jobctl *j,
                        const struct jobd_client_answer *a);

/* ---- arrays.c: binary arrays at the command line's edge ---- */

/* Parses one --array argument, NAME=@FILE.npy, into j. Returns JOBCTL_OK
 * or JOBCTL_USAGE after saying why. */
int jobctl_array_arg(struct jobctl *j, const char *arg);

/* Maps every --array file and checks --out-dir, before any connection:
 * a bad file is refused with its reason. Fills j->sent. Returns
 * JOBCTL_OK or JOBCTL_USAGE. */
int jobctl_arrays_load(struct jobctl *j);

/* Unmaps what jobctl_arrays_load mapped. */
void jobctl_arrays_fini(struct jobctl *j);

/*
 * Writes the answer's arrays as DIR/NAME.npy (DIR: --out-dir, default the
 * current directory). Without --force nothing is written when any of the
 * files exists. On JOBCTL_OK *written is a new object {NAME: {"file",
 * "dtype", "shape"}} (NULL when the answer has no arrays). Returns an
 * exit code after saying why on failure.
 */
int jobctl_arrays_save(const struct jobctl *j,
                       const struct jobd_client_answer *a, json_t **written);

/* The live progress bar (progress.c): one line on stderr with the bar,
 * the percentage, the elapsed time and the message, only when stderr is
 * a terminal; every function is a no-op otherwise. */
struct jobctl_bar {
	bool on;
	bool drawn;
	bool has_fraction;
	double fraction;
	char message[128];
	int64_t t0, last_draw; /* monotonic ms */
};

void jobctl_bar_init(struct jobctl_bar *b);
/* fraction < 0: unknown. message may be NULL. */
void jobctl_bar_update(struct jobctl_bar *b, double fraction,
                       const char *message);
/* Redraws the elapsed time if a second has passed. */
void jobctl_bar_tick(struct jobctl_bar *b);
/* Erases the line, before anything else is printed. */
void jobctl_bar_clear(struct jobctl_bar *b);
/* A jobd_client_progress_fn; userdata is the bar. */
void jobctl_bar_progress_fn(void *userdata, uint64_t id, double fraction,
                            const char *message);

/* Prints "jobctl: <message>" on stderr, one line. */
void jobctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Makes j->client for j->servers. Returns JOBCTL_OK or an exit code
 * (after printing why). */
int jobctl_client(struct jobctl *j);

/* Reports the client's last failure (status) on stderr, prefixed with
 * what (may be NULL), and returns the exit code for it. */
int jobctl_fail(struct jobctl *j, int status, const char *what);

/* The exit code for a client status and, for server errors, its code. */
int jobctl_exit_for(int status, enum jobd_error code);

/* The timeout for quick requests (ping, stats): --timeout or 10 s. */
int jobctl_query_timeout(const struct jobctl *j);

/* Prints a JSON value on stdout, indented if j->pretty, then a newline.
 * Returns JOBCTL_OK, or JOBCTL_JOB_FAILED if it cannot be written. */
int jobctl_print_json(const struct jobctl *j, const json_t *v);

/* Parses a duration: "1.5" (seconds), "500ms", "10s", "2m", "1h".
 * Returns 0 and *ms (>= 1), or -1. */
int jobctl_parse_duration(const char *s, int *ms);

/*
 * Reads the INPUT of `call`: JSON text, "@file", or "-" for standard
 * input; NULL arg means stdin when it is not a terminal. Returns a new
 * reference, or NULL after printing one line that names the source, the
 * line and column of a JSON error (the caller exits JOBCTL_USAGE).
 */
json_t *jobctl_read_input(const char *arg);

#endif
