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

struct topic_id {
	char *name;
	struct kf_uuid id;
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
	struct topic_id *tids;
	int ntids, captids;
	void (*on_recreated)(void *opaque, const char *topic);
	void *recreated_opaque;
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
	for (int i = 0; i < cl->ntids; i++)
		free(cl->tids[i].name);
	free(cl->tids);
	free(cl);
}

int kf_cluster_broker_count(const struct kf_cluster *cl) { return cl->nbrokers; }

int kf_cluster_auth_failed(const struct kf_cluster *cl)
{
	int n = 0;
	for (int k = 0; k < 2; k++) {
		const struct broker *bs = k ? cl->boot : cl->brokers;
		int nb = k ? cl->nboot : cl->nbrokers;
		for (int i = 0; i < nb; i++) {
			n += bs[i].conn && kf_conn_state(bs[i].conn) == KF_CONN_FAILED;
			n += bs[i].coord && kf_conn_state(bs[i].coord) == KF_CONN_FAILED;
		}
	}
	return n;
}

bool kf_cluster_broker_at(const struct kf_cluster *cl, int i, struct kf_cluster_broker *out)
{
	const struct broker *b;
	if (cl->nbrokers > 0)
		b = i >= 0 && i < cl->nbrokers ? &cl->brokers[i] : NULL;
	else
		b = i >= 0 && i < cl->nboot ? &cl->boot[i] : NULL;
	if (!b)
		return false;
	*out = (struct kf_cluster_broker){ b->node_id, b->host, b->port, b->conn, b->coord };
	return true;
}

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

bool kf_uuid_is_zero(const struct kf_uuid *id)
{
	static const struct kf_uuid zero;
	return memcmp(id, &zero, sizeof(zero)) == 0;
}

void kf_uuid_format(const struct kf_uuid *id, char out[23])
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	int o = 0;
	for (int i = 0; i < 16; i += 3) {
		uint32_t v = (uint32_t)id->b[i] << 16;
		if (i + 1 < 16)
			v |= (uint32_t)id->b[i + 1] << 8;
		if (i + 2 < 16)
			v |= id->b[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		if (i + 1 < 16)
			out[o++] = b64[v >> 6 & 63];
		if (i + 2 < 16)
			out[o++] = b64[v & 63];
	}
	out[o] = 0;
}

static struct topic_id *tid_find(const struct kf_cluster *cl, const char *topic)
{
	for (int i = 0; i < cl->ntids; i++)
		if (strcmp(cl->tids[i].name, topic) == 0)
			return &cl->tids[i];
	return NULL;
}

bool kf_cluster_topic_id(const struct kf_cluster *cl, const char *topic, struct kf_uuid *id)
{
	const struct topic_id *t = tid_find(cl, topic);
	if (t)
		*id = t->id;
	return t != NULL;
}

const char *kf_cluster_topic_name(const struct kf_cluster *cl, const struct kf_uuid *id)
{
	for (int i = 0; i < cl->ntids; i++)
		if (memcmp(&cl->tids[i].id, id, sizeof(*id)) == 0)
			return cl->tids[i].name;
	return NULL;
}

void kf_cluster_on_topic_recreated(struct kf_cluster *cl,
				   void (*cb)(void *opaque, const char *topic), void *opaque)
{
	cl->on_recreated = cb;
	cl->recreated_opaque = opaque;
}

/* Record the ids of md's topics; a changed id means the topic was deleted
 * and created again. */
static void note_topic_ids(struct kf_cluster *cl, const struct kf_metadata_resp *md)
{
	for (int32_t i = 0; i < md->topics.n; i++) {
		const struct kf_metadata_resp_topic *mt =
			&KF_AT(md->topics, struct kf_metadata_resp_topic, i);
		if (mt->error_code || !mt->name || kf_uuid_is_zero(&mt->topic_id))
			continue;
		struct topic_id *t = tid_find(cl, mt->name);
		if (t && memcmp(&t->id, &mt->topic_id, sizeof(t->id)) == 0)
			continue;
		if (t) {
			char was[23], now[23];
			kf_uuid_format(&t->id, was);
			kf_uuid_format(&mt->topic_id, now);
			kf_warn("cluster", "topic %s was deleted and created again (id %s -> %s)",
				mt->name, was, now);
			t->id = mt->topic_id;
			if (cl->on_recreated)
				cl->on_recreated(cl->recreated_opaque, mt->name);
			continue;
		}
		if (cl->ntids == cl->captids) {
			int cap = cl->captids ? cl->captids * 2 : 8;
			struct topic_id *nt = realloc(cl->tids, (size_t)cap * sizeof(*nt));
			if (!nt)
				return; /* no id: requests name the topic instead */
			cl->tids = nt;
			cl->captids = cap;
		}
		char *name = strdup(mt->name);
		if (!name)
			return;
		cl->tids[cl->ntids++] = (struct topic_id){ name, mt->topic_id };
	}
}

int kf_cluster_set_brokers(struct kf_cluster *cl, const struct kf_metadata_resp *md)
{
	if (md->error_code) {
		kf_warn("cluster", "Metadata answered %s", kf_kafka_err_name(md->error_code));
		if (md->error_code == KF_KERR_REBOOTSTRAP_REQUIRED) {
			/* KIP-1102: forget the brokers, start over from bootstrap. */
			for (int j = 0; j < cl->nbrokers; j++)
				drop(&cl->brokers[j]);
			cl->nbrokers = 0;
			for (int j = 0; j < cl->nboot; j++)
				drop(&cl->boot[j]);
		}
		return KF_EAGAIN;
	}
	note_topic_ids(cl, md);
	int n = md->brokers.n > 0 ? md->brokers.n : 0;
	struct broker *nb = calloc((size_t)(n ? n : 1), sizeof(*nb));
	if (!nb)
		return KF_OK; /* keep the old table; the next refresh tries again */
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
	return KF_OK;
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
