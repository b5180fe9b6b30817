/* SPDX-License-Identifier: MIT */
#include "auth/usercmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/token.h"
#include "auth/users.h"

static void usage(FILE *err)
{
	fputs("usage: jobd user add NAME [--admin] [--plugins a,b*] "
	      "[--max-running N]\n"
	      "                [--max-queued N] [--unix-user U] "
	      "[--cert-subject S] [--no-token] [--hex]\n"
	      "       jobd user rotate NAME\n"
	      "       jobd user revoke NAME\n"
	      "       jobd user list\n",
	      err);
}

/* The directory of path, opened and locked for the whole command. */
static int lock_dir(const char *path, FILE *err)
{
	char *copy = strdup(path);
	int fd;

	if (!copy) {
		fprintf(err, "jobd user: out of memory\n");
		return -1;
	}
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(err, "jobd user: %s: cannot open its directory: %s\n",
		        path, strerror(errno));
	} else if (flock(fd, LOCK_EX) < 0) {
		fprintf(err, "jobd user: %s: cannot lock its directory: %s\n",
		        path, strerror(errno));
		close(fd);
		fd = -1;
	}
	free(copy);
	return fd;
}

/* Writes u over path atomically; keeps the mode/owner of the old file. */
static int save(const struct users *u, const char *path, FILE *err)
{
	char *text = NULL, *tmp = NULL, *copy = NULL;
	mode_t mode = 0600;
	struct stat st;
	bool had = stat(path, &st) == 0;
	size_t len, off = 0;
	ssize_t n;
	int fd = -1, dfd = -1, rc = -1;

	if (users_format(u, &text) < 0) {
		fprintf(err, "jobd user: out of memory\n");
		return -1;
	}
	len = strlen(text);
	copy = strdup(path);
	if (!copy || asprintf(&tmp, "%s/.%s.XXXXXX", dirname(copy),
	                      basename(strcpy(copy, path))) < 0) {
		tmp = NULL;
		fprintf(err, "jobd user: out of memory\n");
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
	if (fd < 0) {
		fprintf(err, "jobd user: cannot create %s: %s\n", tmp,
		        strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (had) {
		/* Keep the group read a root:jobd 0640 file had, nothing
		 * more: the result must pass the trusted-file check. */
		mode = st.st_mode & 0640;
		if (geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) < 0) {
			fprintf(err, "jobd user: chown %s: %s\n", tmp,
			        strerror(errno));
			goto out;
		}
	}
	if (fchmod(fd, mode) < 0) {
		fprintf(err, "jobd user: chmod %s: %s\n", tmp, strerror(errno));
		goto out;
	}
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(err, "jobd user: writing %s: %s\n", tmp,
			        strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		fprintf(err, "jobd user: writing %s: %s\n", tmp,
		        strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		fprintf(err, "jobd user: rename %s to %s: %s\n", tmp, path,
		        strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	/* The rename itself is durable once the directory is synced. */
	strcpy(copy, path);
	dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(copy);
	free(text);
	return rc;
}

/* The table in path, or a new empty one if there is no file yet. */
static struct users *load(const char *path, FILE *err)
{
	struct users *u = NULL;
	char *error = NULL;
	int rc;

	rc = users_load(path, &u, &error);
	if (rc == -ENOENT && access(path, F_OK) < 0 && errno == ENOENT) {
		free(error);
		u = users_new(path);
		if (!u)
			fprintf(err, "jobd user: out of memory\n");
		return u;
	}
	if (rc < 0) {
		fprintf(err, "jobd user: %s\n",
		        error ? error : "out of memory");
		free(error);
		return NULL;
	}
	return u;
}

/* The file as written must pass the check jobd will make (a new file in
 * a directory others may write, say): USERCMD_FAILED and why, if not. */
static int check_written(const char *path, FILE *err)
{
	struct users *u = NULL;
	char *error = NULL;
	int rc = users_load(path, &u, &error);

	users_free(u);
	if (rc == 0)
		return USERCMD_OK;
	fprintf(err, "jobd user: written, but jobd will refuse it: %s\n",
	        error ? error : "out of memory");
	free(error);
	return USERCMD_FAILED;
}

/* "a,b*" into e->plugins. Returns 0 or -1 after a message. */
static int set_plugins(struct users_entry *e, const char *list, FILE *err)
{
	char *copy = strdup(list), *save_ptr = NULL, *p, **nv;

	if (!copy)
		return -1;
	for (p = strtok_r(copy, ",", &save_ptr); p;
	     p = strtok_r(NULL, ",", &save_ptr)) {
		while (*p == ' ')
			p++;
		nv = realloc(e->plugins, (e->n_plugins + 1) * sizeof(*nv));
		if (!nv || !(nv[e->n_plugins] = strdup(p))) {
			if (nv)
				e->plugins = nv;
			free(copy);
			return -1;
		}
		e->plugins = nv;
		e->n_plugins++;
	}
	free(copy);
	if (!e->n_plugins) {
		fprintf(err, "jobd user: --plugins: empty list\n");
		return -1;
	}
	return 0;
}

static int parse_cap(const char *s, uint32_t *out, const char *opt, FILE *err)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v < 1 || v > USERS_CAP_MAX || *s == '-') {
		fprintf(err, "jobd user: %s: expected 1 to %u, got \"%s\"\n",
		        opt, USERS_CAP_MAX, s);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

/* A fresh token into e (hash only) and tok (to print). */
static int new_token(struct users_entry *e, bool hex, char tok[TOKEN_TEXT_SIZE],
                     FILE *err)
{
	if (token_generate(hex ? TOKEN_HEX : TOKEN_BASE64URL, tok) < 0 ||
	    token_sha256(tok, strlen(tok), e->token_sha256) < 0) {
		fprintf(err, "jobd user: no randomness available\n");
		return -1;
	}
	e->has_token = true;
	return 0;
}

static int cmd_add(int argc, char **argv, struct users *u, bool *changed,
                   const char **who, char tok[TOKEN_TEXT_SIZE], FILE *err)
{
	static const struct option opts[] = {
	        {"admin", no_argument, NULL, 'a'},
	        {"plugins", required_argument, NULL, 'p'},
	        {"max-running", required_argument, NULL, 'r'},
	        {"max-queued", required_argument, NULL, 'q'},
	        {"unix-user", required_argument, NULL, 'u'},
	        {"cert-subject", required_argument, NULL, 's'},
	        {"no-token", no_argument, NULL, 'n'},
	        {"hex", no_argument, NULL, 'x'},
	        {NULL, 0, NULL, 0},
	};
	struct users_entry e = {0};
	bool no_token = false, hex = false;
	char why[300];
	int c, rc = USERCMD_USAGE;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			e.admin = true;
			break;
		case 'p':
			if (set_plugins(&e, optarg, err) < 0)
				goto out;
			break;
		case 'r':
			if (parse_cap(optarg, &e.max_running, "--max-running",
			              err) < 0)
				goto out;
			break;
		case 'q':
			if (parse_cap(optarg, &e.max_queued, "--max-queued",
			              err) < 0)
				goto out;
			break;
		case 'u':
			free(e.unix_user);
			e.unix_user = strdup(optarg);
			break;
		case 's':
			free(e.cert_subject);
			e.cert_subject = strdup(optarg);
			break;
		case 'n':
			no_token = true;
			break;
		case 'x':
			hex = true;
			break;
		default:
			usage(err);
			goto out;
		}
	}
	if (optind != argc - 1) {
		usage(err);
		goto out;
	}
	*who = argv[optind];
	e.name = strdup(argv[optind]);
	if (!e.name || (!e.n_plugins && set_plugins(&e, "*", err) < 0)) {
		rc = USERCMD_FAILED;
		goto out;
	}
	if (no_token && !e.unix_user && !e.cert_subject) {
		fprintf(err, "jobd user: --no-token needs --unix-user or "
		             "--cert-subject\n");
		goto out;
	}
	if (!no_token && new_token(&e, hex, tok, err) < 0) {
		rc = USERCMD_FAILED;
		goto out;
	}
	if (users_add(u, &e, why, sizeof(why)) < 0) {
		fprintf(err, "jobd user: %s\n", why);
		tok[0] = '\0';
		goto out;
	}
	*changed = true;
	rc = USERCMD_OK;
out:
	users_entry_fini(&e);
	return rc;
}

static void list(const struct users *u, FILE *out)
{
	size_t i, k;

	for (i = 0; i < u->n; i++) {
		const struct users_entry *e = &u->v[i];

		fprintf(out, "%s%s plugins=", e->name,
		        e->admin ? " admin" : "");
		for (k = 0; k < e->n_plugins; k++)
			fprintf(out, "%s%s", k ? "," : "", e->plugins[k]);
		if (!e->n_plugins)
			fputs("(none)", out);
		if (e->has_token)
			fputs(" token", out);
		if (e->unix_user)
			fprintf(out, " unix_user=%s", e->unix_user);
		if (e->cert_subject)
			fprintf(out, " cert_subject=\"%s\"", e->cert_subject);
		if (e->max_running)
			fprintf(out, " max_running=%u", e->max_running);
		if (e->max_queued)
			fprintf(out, " max_queued=%u", e->max_queued);
		fputc('\n', out);
	}
}

int usercmd_run(int argc, char **argv, const char *users_path, FILE *out,
                FILE *err)
{
	char tok[TOKEN_TEXT_SIZE] = "";
	struct users *u = NULL;
	struct users_entry *e;
	bool changed = false;
	const char *cmd, *who = argc > 1 ? argv[1] : "";
	char **args = NULL;
	int dfd = -1, rc = USERCMD_USAGE, i;

	if (argc < 1 || !users_path) {
		usage(err);
		return USERCMD_USAGE;
	}
	cmd = argv[0];
	if (strcmp(cmd, "add") && strcmp(cmd, "rotate") &&
	    strcmp(cmd, "revoke") && strcmp(cmd, "list")) {
		fprintf(err, "jobd user: unknown command \"%s\"\n", cmd);
		usage(err);
		return USERCMD_USAGE;
	}
	if (strcmp(cmd, "add") && argc != (strcmp(cmd, "list") ? 2 : 1)) {
		usage(err);
		return USERCMD_USAGE;
	}
	dfd = lock_dir(users_path, err);
	if (dfd < 0)
		return USERCMD_FAILED;
	u = load(users_path, err);
	if (!u) {
		rc = USERCMD_FAILED;
		goto out;
	}
	if (!strcmp(cmd, "add")) {
		/* getopt permutes its argv: hand it a copy. */
		args = calloc((size_t)argc + 1, sizeof(*args));
		if (!args) {
			rc = USERCMD_FAILED;
			goto out;
		}
		for (i = 0; i < argc; i++)
			args[i] = argv[i];
		optind = 0; /* GNU: start over, whatever ran before */
		opterr = 1;
		rc = cmd_add(argc, args, u, &changed, &who, tok, err);
	} else if (!strcmp(cmd, "list")) {
		list(u, out);
		rc = USERCMD_OK;
	} else if (!strcmp(cmd, "revoke")) {
		if (users_remove(u, argv[1]) < 0) {
			fprintf(err, "jobd user: no user %s in %s\n", argv[1],
			        users_path);
			goto out;
		}
		changed = true;
		rc = USERCMD_OK;
	} else {
		e = (struct users_entry *)users_find(u, argv[1]);
		if (!e) {
			fprintf(err, "jobd user: no user %s in %s\n", argv[1],
			        users_path);
			goto out;
		}
		if (new_token(e, false, tok, err) < 0) {
			rc = USERCMD_FAILED;
			goto out;
		}
		changed = true;
		rc = USERCMD_OK;
	}
	if (changed && save(u, users_path, err) < 0) {
		rc = USERCMD_FAILED;
		goto out;
	}
	if (rc == USERCMD_OK && changed) {
		if (tok[0]) {
			fprintf(out, "%s\n", tok);
			fflush(out);
			fprintf(err,
			        "jobd user: %s %s in %s. The token above is "
			        "shown once; only its SHA-256 is kept.\n",
			        who,
			        !strcmp(cmd, "add") ? "added"
			                            : "has a new token",
			        users_path);
		} else {
			fprintf(err, "jobd user: %s %s in %s\n", who,
			        !strcmp(cmd, "revoke") ? "revoked" : "added",
			        users_path);
		}
		fprintf(err, "jobd user: a running jobd needs `systemctl "
		             "reload jobd` (SIGHUP) to see it\n");
		rc = check_written(users_path, err);
	}
out:
	token_wipe(tok, sizeof(tok));
	free(args);
	users_free(u);
	if (dfd >= 0)
		close(dfd);
	return rc;
}
