/* SPDX-License-Identifier: MIT */
/*
 * Configuration: one YAML file parsed with libyaml into a typed struct.
 * Pure code: config_parse() reads from memory, so a test can feed it text.
 * Every error is one line: "file:line:column: key: what is wrong", where key
 * is the dotted path ("limits.idle_timeout", "plugins.nbody.workers").
 */
#ifndef JOBD_DAEMON_CONFIG_H
#define JOBD_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* queue_bound: auto (sized from measured service time, docs/backpressure.md) */
#define CONFIG_QUEUE_BOUND_AUTO 0u

/* Where a plugin's jobs run (docs/isolation.md). */
enum config_isolation {
	CONFIG_ISOLATION_UNSET = 0, /* a section without the key: the
	                               top-level isolation applies */
	CONFIG_ISOLATION_THREAD,
	CONFIG_ISOLATION_PROCESS,
};

struct config_plugin {
	char *name;            /* the key under plugins: */
	unsigned workers;      /* >= 1; default: number of online CPUs */
	uint32_t queue_bound;  /* CONFIG_QUEUE_BOUND_AUTO or 1..1000000 */
	uint64_t timeout_ms;   /* 0 = no deadline */
	unsigned max_attempts; /* runs of a retry-safe job across restarts,
	                          default 3 */
	json_t *options;       /* always an object or other JSON value; owned */
	uint64_t queue_delay_ms; /* queue_bound auto: the queueing delay
	                            aimed for, 1 ms..1 h, default 1 s */
	/* cache.max_bytes: results kept on disk for a retry-safe plugin
	 * (exec/cache.h); 0 = no cache (the default). */
	uint64_t cache_max_bytes;
	/* Worker processes (docs/isolation.md). */
	enum config_isolation isolation; /* UNSET: the top-level default */
	uint64_t memory_limit;           /* bytes per worker; 0: none */
	uint64_t kill_grace_ms;          /* default 5 s */
	unsigned max_crashes;            /* default 5 ... */
	uint64_t crash_window_ms;        /* ... within 60 s: quarantine */
};

struct config_limits {
	uint32_t max_connections;             /* default 10000 */
	uint32_t max_frame_size;              /* default 16 MiB, <= 1 GiB */
	uint32_t max_inflight_per_connection; /* default 256 */
	uint64_t idle_timeout_ms;             /* default 5 min; 0 = never */
	uint64_t frame_timeout_ms;            /* default 30 s; 0 = never */
	uint64_t max_output_buffer;           /* default 64 MiB */
	/* Bodies of partly received frames, all connections together: past
	 * it a connection that begins another frame is closed (too_large).
	 * Default 1 GiB. */
	uint64_t max_input_buffer;
	/* Request bytes of the calls accepted and not yet answered, all
	 * connections and plugins together: past it a call gets busy. A
	 * queue bound counts jobs; this bounds the memory they hold.
	 * Default 1 GiB. */
	uint64_t max_queued_input;
	/* Protocol v2: the largest data block (binary arrays) of one
	 * message, either way. Default 1 GiB. */
	uint64_t max_array_bytes;
	uint64_t shutdown_timeout_ms; /* default 30 s */
	uint64_t result_ttl_ms;       /* default 7 days */
	uint64_t result_budget; /* bytes of stored results, default 1 GiB */
};

/* A TLS listener's files (docs/security.md). Paths, read when the listener
 * opens and again on SIGHUP; the key through the trusted-file check. */
struct config_tls {
	char *cert;      /* PEM chain */
	char *key;       /* PEM private key */
	char *client_ca; /* or NULL: with it, a client certificate signed by
	                    this CA is required (mutual TLS) */
};

/* One `listen:` entry. */
struct config_listen {
	char *address;          /* the same string as listen[i] */
	struct config_tls *tls; /* NULL: plain */
	unsigned line, column;  /* where it is in the file, for messages */
};

/* The HTTP front end (docs/http.md); n_listen 0: none. */
struct config_http {
	char **listen; /* same forms as the top-level listen: */
	size_t n_listen;
	uint32_t max_header_size; /* request line and headers, 16 KiB */
	/* Reading a request and writing an answer: the longest a client
	 * may stay silent (evhttp re-arms it on each read). 10 s. */
	uint64_t header_timeout_ms;
	char *web_dir; /* the page's files; NULL: the installed ones */
};

/* store: where detached jobs live (docs/cluster.md). */
enum config_store_backend {
	CONFIG_STORE_SQLITE = 0, /* state_dir/jobs.db, one host (default) */
	CONFIG_STORE_POSTGRESQL, /* a database shared by several hosts */
};

struct config_store {
	int backend;       /* enum config_store_backend */
	char *dsn;         /* postgresql: libpq connection string; it may hold
	                      a password, so it is never logged */
	char *host;        /* this jobd's name in a shared store; NULL: the
	                      machine's host name */
	uint64_t lease_ms; /* how long a claimed job stays this host's
	                      without renewal, default 30 s */
};

struct config {
	char *path;    /* file it came from, for messages */
	char **listen; /* "host:port" / "[v6]:port" / "unix:/path" */
	size_t n_listen;
	struct config_listen *listen_opts; /* n_listen entries, same order */
	/* auth.users_file, or NULL: no users, every connection may do
	 * everything (then only loopback listeners, unless
	 * allow_unauthenticated). */
	char *users_file;
	bool allow_unauthenticated;
	char **plugin_dirs;
	size_t n_plugin_dirs;
	char *state_dir; /* default /var/lib/jobd */
	int log_level;   /* syslog number 3..7, default 6 (info) */
	/* isolation of a plugin whose section does not say: default
	 * CONFIG_ISOLATION_THREAD (docs/isolation.md says why) */
	enum config_isolation isolation;
	/* Refuse a plugin file or directory that others than root or the
	 * service may change (docs/security.md); false: only warn, for a
	 * development tree. Default true. */
	bool plugin_strict_modes;
	struct config_limits limits;
	struct config_http http;
	struct config_store store;
	struct config_plugin *plugins; /* sections present in the file */
	size_t n_plugins;
};

/* Fills *c with every default (no listeners, no plugin dirs). */
int config_defaults(struct config *c);

/*
 * Parses YAML text; name is used in messages. Returns 0 and a new config in
 * *out (config_free it), or a negative errno / -EINVAL with a malloc'd
 * one-line message in *error (caller frees).
 */
int config_parse(const char *text, size_t len, const char *name,
                 struct config **out, char **error);

/* Reads and parses a file. Same contract; an unreadable file is an error
 * naming the path and strerror. The file is read only if the trusted-file
 * check passes (auth/trusted.h; a regular file that only root or the
 * service can change): -EPERM and that check's message otherwise. */
int config_load(const char *path, struct config **out, char **error);

/* Frees c and everything it owns; accepts NULL. */
void config_free(struct config *c);

/* Frees what c owns but not c itself (for a struct filled by
 * config_defaults()); leaves *c zeroed. Accepts NULL. */
void config_fini(struct config *c);

/* The plugin section for name, or NULL (the caller then uses defaults). */
const struct config_plugin *config_plugin_find(const struct config *c,
                                               const char *name);

/* Fills p with the defaults for a plugin with no section (name borrowed,
 * options NULL). */
void config_plugin_defaults(struct config_plugin *p);

/* Parses "30s", "5m", "250ms", "1h", "7d", or a bare number of seconds into
 * milliseconds. Returns 0 or -EINVAL / -ERANGE. */
int config_parse_duration(const char *s, uint64_t *ms);

/* Parses "16MiB", "64KiB", "1GiB", "512", "10kB", "2MB" into bytes. */
int config_parse_size(const char *s, uint64_t *bytes);

/* Is address ("host:port", "[v6]:port", "unix:/path") reachable only from
 * this machine? Loopback addresses, "localhost" and Unix sockets are. */
bool config_address_is_local(const char *address);

/* "sqlite" or "postgresql". */
const char *config_store_backend_name(int backend);

/* Log level name <-> syslog number; -1 for an unknown name. */
int config_log_level_from_name(const char *name);
const char *config_log_level_name(int level);

#endif
