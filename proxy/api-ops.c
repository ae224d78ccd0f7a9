/* SPDX-License-Identifier: ISC */
/*
 * api-ops: operational routes. GET /healthz reports liveness and
 * readiness details: version, uptime, the store writer and the config
 * reload status. Proxy thread; reads only in-memory state.
 */
#include "server.h"
#include "version.h"

void
api_ops_healthz(struct req *r)
{
	struct server		*srv = r->srv;
	struct json_object	*o, *store, *cfg;
	uint64_t		 up;

	up = (uv_now(&srv->loop) - srv->started_ms) / 1000;
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string(
	    srv->shutting_down ? "stopping" : "ok"));
	json_object_object_add(o, "version",
	    json_object_new_string(GW_VERSION));
	json_object_object_add(o, "uptime_s", json_object_new_int64(
	    (int64_t)up));
	json_object_object_add(o, "started_at", json_object_new_int64(
	    srv->started_wall));
	json_object_object_add(o, "connections", json_object_new_int64(
	    (int64_t)srv->nconns));
	json_object_object_add(o, "requests_total", json_object_new_int64(
	    (int64_t)srv->requests_total));

	store = json_object_new_object();
	reqlog_status(srv->reqlog, store);
	json_object_object_add(o, "store", store);

	cfg = json_object_new_object();
	json_object_object_add(cfg, "status", json_object_new_string(
	    srv->config_error != NULL ? "reload_refused" : "ok"));
	json_object_object_add(cfg, "loaded_at", json_object_new_int64(
	    srv->config_loaded_at));
	if (srv->config_error != NULL)
		json_object_object_add(cfg, "error",
		    json_object_new_string(srv->config_error));
	json_object_object_add(o, "config", cfg);
	accounts_status(srv, o);
	req_respond_json(r, 200, o);
}
