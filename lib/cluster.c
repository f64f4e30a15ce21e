/*
 * cluster: see cluster.h.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "log.h"
#include "proto_msgs.h"

struct broker {
	int32_t node_id;   /* -1 for a bootstrap address */
	char host[256];
	int port;
	struct kf_conn *conn;
	struct kf_conn *coord;  /* the group coordinator's own connection */
};

struct kf_cluster {
	struct ev_loop *loop;
	struct kf_resolver *resolver;
	struct kf_conn_opts conn_opts;
	char *client_id;
	struct broker *boot;
	int nboot;
	struct broker *brokers;
	int nbrokers;
	unsigned rotate;
};

int kf_parse_hostport(const char *s, size_t len, char *host, size_t hostlen, int *port)
{
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	const char *colon;
	const char *h = s;
	size_t hl;
	if (len && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close || close + 1 >= s + len || close[1] != ':')
			return KF_EPROTO;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = memrchr(s, ':', len);
		if (!colon)
			return KF_EPROTO;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return KF_EPROTO;
	size_t pl = (size_t)(s + len - colon - 1);
	if (pl == 0 || pl > 5)
		return KF_EPROTO;
	int p = 0;
	for (size_t i = 0; i < pl; i++) {
		char ch = colon[1 + i];
		if (ch < '0' || ch > '9')
			return KF_EPROTO;
		p = p * 10 + (ch - '0');
	}
	if (p < 1 || p > 65535)
		return KF_EPROTO;
	memcpy(host, h, hl);
	host[hl] = 0;
	*port = p;
	return KF_OK;
}

struct kf_cluster *kf_cluster_new(struct ev_loop *loop, struct kf_resolver *res,
				  const struct kf_cluster_opts *opts, char *err, size_t errlen)
{
	struct kf_cluster *cl = calloc(1, sizeof(*cl));
	if (!cl) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	cl->loop = loop;
	cl->resolver = res;
	cl->conn_opts = opts->conn;
	const char *s = opts->bootstrap ? opts->bootstrap : "";
	int n = 1;
	for (const char *p = s; *p; p++)
		n += *p == ',';
	cl->boot = calloc((size_t)n, sizeof(*cl->boot));
	if (!cl->boot) {
		free(cl);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	while (*s) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		struct broker *b = &cl->boot[cl->nboot];
		if (kf_parse_hostport(s, len, b->host, sizeof(b->host), &b->port)) {
			snprintf(err, errlen, "bootstrap entry '%.*s' is not host:port", (int)len, s);
			free(cl->boot);
			free(cl);
			return NULL;
		}
		b->node_id = -1;
		cl->nboot++;
		s += len + (end ? 1 : 0);
	}
	if (cl->nboot == 0) {
		snprintf(err, errlen, "bootstrap list is empty");
		free(cl->boot);
		free(cl);
		return NULL;
	}
	return cl;
}

static void drop(struct broker *b)
{
	if (b->conn) {
		kf_conn_free(b->conn);
		b->conn = NULL;
	}
	if (b->coord) {
		kf_conn_free(b->coord);
		b->coord = NULL;
	}
}

void kf_cluster_free(struct kf_cluster *cl)
{
	if (!cl)
		return;
	for (int i = 0; i < cl->nboot; i++)
		drop(&cl->boot[i]);
	for (int i = 0; i < cl->nbrokers; i++)
		drop(&cl->brokers[i]);
	free(cl->boot);
	free(cl->brokers);
	free(cl);
}

int kf_cluster_broker_count(const struct kf_cluster *cl) { return cl->nbrokers; }

static struct kf_conn *conn_for(struct kf_cluster *cl, struct broker *b, bool coord)
{
	struct kf_conn **c = coord ? &b->coord : &b->conn;
	if (!*c) {
		struct kf_conn_opts o = cl->conn_opts;
		o.host = b->host;
		o.port = b->port;
		o.node_id = b->node_id;
		o.role = coord ? "coordinator" : NULL;
		*c = kf_conn_new(cl->loop, cl->resolver, &o, NULL, NULL);
	}
	return *c;
}

void kf_cluster_set_brokers(struct kf_cluster *cl, const struct kf_metadata_resp *md)
{
	int n = md->brokers.n > 0 ? md->brokers.n : 0;
	struct broker *nb = calloc((size_t)(n ? n : 1), sizeof(*nb));
	if (!nb)
		return; /* keep the old table; the next refresh tries again */
	int k = 0;
	for (int i = 0; i < n; i++) {
		const struct kf_metadata_resp_broker *mb = &KF_AT(md->brokers, struct kf_metadata_resp_broker, i);
		if (!mb->host || strlen(mb->host) >= sizeof(nb[k].host) || mb->port < 1 || mb->port > 65535)
			continue;
		nb[k].node_id = mb->node_id;
		snprintf(nb[k].host, sizeof(nb[k].host), "%s", mb->host);
		nb[k].port = mb->port;
		/* Keep the connection of a broker whose address is unchanged. */
		for (int j = 0; j < cl->nbrokers; j++) {
			struct broker *ob = &cl->brokers[j];
			if (ob->node_id == mb->node_id && ob->port == mb->port &&
			    strcmp(ob->host, mb->host) == 0) {
				nb[k].conn = ob->conn;
				nb[k].coord = ob->coord;
				ob->conn = ob->coord = NULL;
			}
		}
		k++;
	}
	for (int j = 0; j < cl->nbrokers; j++) {
		if (cl->brokers[j].conn || cl->brokers[j].coord)
			kf_info("cluster", "broker %d (%s:%d) left or moved", cl->brokers[j].node_id,
				cl->brokers[j].host, cl->brokers[j].port);
		drop(&cl->brokers[j]);
	}
	free(cl->brokers);
	cl->brokers = nb;
	cl->nbrokers = k;
}

struct kf_conn *kf_cluster_broker(struct kf_cluster *cl, int32_t node_id)
{
	for (int i = 0; i < cl->nbrokers; i++)
		if (cl->brokers[i].node_id == node_id)
			return conn_for(cl, &cl->brokers[i], false);
	return NULL;
}

struct kf_conn *kf_cluster_coordinator(struct kf_cluster *cl, int32_t node_id)
{
	for (int i = 0; i < cl->nbrokers; i++)
		if (cl->brokers[i].node_id == node_id)
			return conn_for(cl, &cl->brokers[i], true);
	return NULL;
}

struct kf_conn *kf_cluster_any(struct kf_cluster *cl)
{
	for (int i = 0; i < cl->nbrokers; i++)
		if (cl->brokers[i].conn && kf_conn_state(cl->brokers[i].conn) == KF_CONN_READY)
			return cl->brokers[i].conn;
	for (int i = 0; i < cl->nboot; i++)
		if (cl->boot[i].conn && kf_conn_state(cl->boot[i].conn) == KF_CONN_READY)
			return cl->boot[i].conn;
	/* Nothing up: walk known brokers, then bootstrap addresses. */
	int total = cl->nbrokers + cl->nboot;
	unsigned i = cl->rotate++ % (unsigned)total;
	struct broker *b = (int)i < cl->nbrokers ? &cl->brokers[i] : &cl->boot[(int)i - cl->nbrokers];
	return conn_for(cl, b, false);
}
