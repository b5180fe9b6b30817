/* SPDX-License-Identifier: MIT */
#include "daemon/core/reload.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "daemon/core/jobd.h"
#include "daemon/core/status.h"
#include "daemon/net/http.h"
#include "daemon/net/listener.h"
#include "daemon/core/accounts.h"
#include "daemon/util/log.h"
#include "daemon/util/notify.h"

int reload_config(struct jobd *jd)
{
	struct config *cfg = NULL, *old = jd->cfg;
	struct timespec ts;
	char *error = NULL;
	char status[256];
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	notifier_sendf(jd->notifier, "RELOADING=1\nMONOTONIC_USEC=%llu",
	               (unsigned long long)ts.tv_sec * 1000000ull +
	                       (unsigned long long)ts.tv_nsec / 1000ull);
	log_notice("reloading %s", jd->config_path);
	rc = config_load(jd->config_path, &cfg, &error);
	if (rc < 0) {
		log_error("reload: %s; keeping the running config", error);
		free(error);
		notifier_send(jd->notifier, "READY=1");
		return rc;
	}
	/* Users first: a users file that cannot be read keeps the whole
	 * running config, so that no listener opens without the users it
	 * was configured with. */
	if (accounts_load(cfg, &jd->proto) < 0) {
		log_error("reload: keeping the running config and users");
		config_free(cfg);
		notifier_send(jd->notifier, "READY=1");
		return -EINVAL;
	}
	if (jd->log_level_override < 0)
		log_set_level(cfg->log_level);
	if (old->state_dir && cfg->state_dir &&
	    strcmp(old->state_dir, cfg->state_dir))
		log_warning("reload: state_dir takes effect at the next "
		            "start; still using %s",
		            old->state_dir);
	if (old->store.backend != cfg->store.backend ||
	    !old->store.dsn != !cfg->store.dsn ||
	    (old->store.dsn && strcmp(old->store.dsn, cfg->store.dsn)) ||
	    !old->store.host != !cfg->store.host ||
	    (old->store.host && strcmp(old->store.host, cfg->store.host)) ||
	    old->store.lease_ms != cfg->store.lease_ms)
		log_warning("reload: store: takes effect at the next start; "
		            "still using the %s store",
		            config_store_backend_name(old->store.backend));
	/* Each layer takes what concerns it; old stays valid until all
	 * have switched. */
	if (net_apply_config(&jd->net, cfg) < 0)
		log_error("reload: cannot grow the connection table");
	http_apply_config(&jd->net, cfg);
	proto_apply_config(&jd->proto, cfg);
	registry_reload(&jd->plugins, old, cfg);
	jd->cfg = cfg;
	if (listeners_apply(&jd->net, cfg) < 0)
		log_error("reload: some listeners could not be opened");
	config_free(old);
	status_line(jd, status, sizeof(status));
	log_notice("reloaded: %s", status);
	notifier_sendf(jd->notifier, "READY=1\nSTATUS=%s", status);
	return 0;
}
