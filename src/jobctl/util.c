/* SPDX-License-Identifier: MIT */
/* What jobctl's subcommands share: errors, exit codes, output. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobctl/jobctl.h"
#include "jobd-build.h"

void jobctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("jobctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int jobctl_exit_for(int status, enum jobd_error code)
{
	switch (status) {
	case JOBD_CLIENT_OK:
		return JOBCTL_OK;
	case JOBD_CLIENT_E_SERVER:
		if (code == JOBD_E_UNAUTHORIZED || code == JOBD_E_FORBIDDEN)
			return JOBCTL_DENIED;
		return code == JOBD_E_TIMEOUT ? JOBCTL_TIMEOUT
		                              : JOBCTL_JOB_FAILED;
	case JOBD_CLIENT_E_AUTH:
		return JOBCTL_DENIED;
	case JOBD_CLIENT_E_TIMEOUT:
		return JOBCTL_TIMEOUT;
	case JOBD_CLIENT_E_CONNECT:
	case JOBD_CLIENT_E_CONNECTION_LOST:
	case JOBD_CLIENT_E_PROTOCOL:
		return JOBCTL_UNREACHABLE;
	case JOBD_CLIENT_E_INVALID:
		return JOBCTL_USAGE;
	default:
		return JOBCTL_JOB_FAILED;
	}
}

int jobctl_fail(struct jobctl *j, int status, const char *what)
{
	const char *msg = jobd_client_errmsg(j->client);
	const char *name = jobd_client_error_name(j->client);
	enum jobd_error code = jobd_client_error_code(j->client);

	if (!msg[0])
		msg = jobd_client_status_str(status);
	if (status == JOBD_CLIENT_E_SERVER && code == JOBD_E_UNKNOWN_PLUGIN)
		/* The server's text already says it all, with the list of
		 * plugins that do exist. */
		jobctl_err("%s", msg);
	else if (status == JOBD_CLIENT_E_SERVER && what)
		jobctl_err("%s: %s: %s", what, name, msg);
	else if (status == JOBD_CLIENT_E_SERVER)
		jobctl_err("%s: %s", name, msg);
	else
		jobctl_err("%s", msg);
	return jobctl_exit_for(status, code);
}

int jobctl_client(struct jobctl *j)
{
	int r;

	j->client = jobd_client_new();
	if (!j->client) {
		jobctl_err("out of memory");
		return JOBCTL_JOB_FAILED;
	}
	jobd_client_set_name(j->client, "jobctl " JOBD_VERSION);
	r = jobd_client_set_servers(j->client, j->servers);
	if (r == JOBD_CLIENT_OK && j->token_file)
		r = jobd_client_set_token_file(j->client, j->token_file);
	if (r == JOBD_CLIENT_OK && j->ca_file)
		r = jobd_client_set_ca_file(j->client, j->ca_file);
	if (r == JOBD_CLIENT_OK && (j->cert_file || j->key_file)) {
		if (!j->cert_file || !j->key_file) {
			jobctl_err("--cert and --key go together");
			return JOBCTL_USAGE;
		}
		r = jobd_client_set_client_cert(j->client, j->cert_file,
		                                j->key_file);
	}
	if (r != JOBD_CLIENT_OK) {
		jobctl_err("%s", jobd_client_errmsg(j->client));
		return JOBCTL_USAGE;
	}
	return JOBCTL_OK;
}

int jobctl_query_timeout(const struct jobctl *j)
{
	return j->timeout_set ? j->timeout_ms : JOBCTL_DEFAULT_QUERY_TIMEOUT_MS;
}

int jobctl_print_json(const struct jobctl *j, const json_t *v)
{
	size_t flags = JSON_ENCODE_ANY;
	char *text;
	int r;

	flags |= j->pretty ? JSON_INDENT(2) : JSON_COMPACT;
	text = json_dumps(v, flags);
	if (!text) {
		jobctl_err("cannot encode the output");
		return JOBCTL_JOB_FAILED;
	}
	r = printf("%s\n", text) < 0 || fflush(stdout) != 0;
	free(text);
	if (r) {
		jobctl_err("cannot write the output");
		return JOBCTL_JOB_FAILED;
	}
	return JOBCTL_OK;
}

int jobctl_parse_duration(const char *s, int *ms)
{
	char *end;
	double v = strtod(s, &end), scale;

	if (end == s || !isfinite(v) || v < 0)
		return -1;
	if (!strcmp(end, "") || !strcmp(end, "s"))
		scale = 1000;
	else if (!strcmp(end, "ms"))
		scale = 1;
	else if (!strcmp(end, "m"))
		scale = 60000;
	else if (!strcmp(end, "h"))
		scale = 3600000;
	else
		return -1;
	v *= scale;
	if (v < 1 || v > 2147483647.0)
		return -1;
	*ms = (int)v;
	return 0;
}
