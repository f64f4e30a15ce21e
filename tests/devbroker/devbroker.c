/*
 * devbroker: a standalone test broker built on librdkafka's mock cluster.
 *
 * It is the real broker of every kfork integration test and benchmark.
 * It creates an N-broker mock cluster on 127.0.0.1 ephemeral ports, prints
 * the bootstrap list as the first line on stdout, then reads one command a
 * line from stdin and answers each with exactly one line on stdout, either
 * "ok[ DATA]" or "error MESSAGE".  The command grammar is documented in
 * README.md and is a contract: scripts in tests/ depend on it.
 *
 * Records are produced through real librdkafka producers so that their
 * bytes on the wire are written by code independent of kfork.  The one
 * exception is "corrupt", whose damaged batch no producer would write:
 * devbroker builds it and sends its own ProduceRequest.  Their
 * content is a pure function of (topic, partition, offset), so a consumer
 * can verify every record without any side channel:
 *
 *   value  "TOPIC/PARTITION/OFFSET" padded with '.' to the record size
 *   key    null, "k<OFFSET>" or "k<OFFSET % N>"
 *   header exactly one, "h" = "<OFFSET>"
 *
 * The producer cannot know an offset before delivery, so devbroker reads
 * the high watermark first and produces each partition strictly in order
 * (one request in flight), then checks every delivery report's offset
 * against the one written into the record.
 *
 * This program is a test tool only: it never links lib/libkfork.a, and
 * nothing links it.  librdkafka's mock runs its own threads; the main
 * thread only reads stdin and a signalfd, and runs one command at a time.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define DB_LINE_MAX	4096
#define DB_ARGS_MAX	32
#define DB_ANSWER_MAX	4096
/* Bound on every blocking librdkafka call, so that a command against a
 * broker that is down fails instead of hanging. */
#define DB_TIMEOUT_MS	10000
/* RD_KAFKAP__NUM in librdkafka 2.0.2 is 59; clearing a key with no error
 * stack is a no-op, so a slightly larger bound is harmless. */
#define DB_APIKEY_MAX	64

/* Outcome of one produce or txn command, filled by the delivery report
 * callback (which runs on the main thread, inside rd_kafka_poll/flush). */
struct db_tally {
	int64_t delivered;
	int64_t failed;
	int64_t misplaced;		/* delivered at another offset */
	rd_kafka_resp_err_t first_err;
};

/* The producer settings that need a new rd_kafka_t when they change. */
struct db_prod_key {
	char codec[8];
	long batch;
	long size;
};

struct db {
	rd_kafka_t *owner;		/* owns the mock cluster, connects nowhere */
	rd_kafka_mock_cluster_t *mcluster;
	char *bootstraps;		/* owned copy of the mock's list */
	int nbrokers;
	const char *debug;		/* librdkafka debug contexts or NULL */

	rd_kafka_t *aux;		/* lazily created: hwm and metadata */
	rd_kafka_t *prod;		/* lazily created: produce */
	struct db_prod_key prod_key;
	rd_kafka_t *cons;		/* lazily created: committed, one group */
	char *cons_group;

	unsigned txn_seq;		/* makes each transactional.id unique */
	struct db_tally tally;
	bool quit;
};

/* A command handler gets the tokens (argv[0] is the command name) and an
 * answer buffer.  It returns 0 for "ok" (the buffer holds the optional
 * data, empty for none) or -1 for "error" (the buffer holds the message). */
typedef int (*db_cmd_fn)(struct db *db, int argc, char **argv,
			 char *ans, size_t anssz);

struct db_cmd {
	const char *name;
	db_cmd_fn fn;
	const char *usage;
};

static const struct db_cmd *db_cmd_find(const char *name);

/*
 * Small helpers.
 */

static int db_fail(char *ans, size_t anssz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int db_fail(char *ans, size_t anssz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ans, anssz, fmt, ap);
	va_end(ap);
	return -1;
}

static int db_usage(char *ans, size_t anssz, const char *cmd)
{
	const struct db_cmd *c = db_cmd_find(cmd);

	return db_fail(ans, anssz, "usage: %s", c ? c->usage : cmd);
}

/* Strict decimal parse of a whole token into [min, max]. */
static bool db_parse_i64(const char *s, int64_t min, int64_t max,
			 int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool db_parse_int(const char *s, int min, int max, int *out)
{
	int64_t v;

	if (!db_parse_i64(s, min, max, &v))
		return false;
	*out = (int)v;
	return true;
}

/*
 * An error code is a decimal number (negative for librdkafka's internal
 * ones, e.g. -195 for _TRANSPORT) or a name as librdkafka spells it, with
 * or without the RD_KAFKA_RESP_ERR_ prefix: NOT_COORDINATOR, _TRANSPORT.
 */
static bool db_parse_err(const char *s, rd_kafka_resp_err_t *out)
{
	const struct rd_kafka_err_desc *descs;
	size_t n, i;
	int v;

	if (db_parse_int(s, -200, 32767, &v)) {
		*out = (rd_kafka_resp_err_t)v;
		return true;
	}
	if (!strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18))
		s += 18;
	rd_kafka_get_err_descs(&descs, &n);
	for (i = 0; i < n; i++) {
		if (descs[i].name && !strcasecmp(descs[i].name, s)) {
			*out = descs[i].code;
			return true;
		}
	}
	return false;
}

static int64_t db_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void db_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/*
 * Client handles.
 */

static bool db_conf_set(rd_kafka_conf_t *conf, const char *name,
			const char *value, char *ans, size_t anssz)
{
	char errstr[256];

	if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK) {
		db_fail(ans, anssz, "config %s=%s: %s", name, value, errstr);
		return false;
	}
	return true;
}

/*
 * New client configuration with what every handle shares: quiet logs
 * (connection failures to a downed broker are expected and would drown
 * the test output), -v debug contexts, the timeouts that bound every
 * command, and a short reconnect backoff.  Returns NULL with the reason
 * in ans.  Caller owns the result.
 */
static rd_kafka_conf_t *db_conf_new(struct db *db, rd_kafka_type_t type,
				    char *ans, size_t anssz)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char tmo[16];

	snprintf(tmo, sizeof(tmo), "%d", DB_TIMEOUT_MS);
	if (!db_conf_set(conf, "client.id", "devbroker", ans, anssz) ||
	    !db_conf_set(conf, "log_level", db->debug ? "7" : "2", ans,
			 anssz) ||
	    (db->debug &&
	     !db_conf_set(conf, "debug", db->debug, ans, anssz)) ||
	    (db->bootstraps && !db_conf_set(conf, "bootstrap.servers",
					    db->bootstraps, ans, anssz)) ||
	    !db_conf_set(conf, "socket.timeout.ms", tmo, ans, anssz) ||
	    /* A broker brought back "up" is used again within a second. */
	    !db_conf_set(conf, "reconnect.backoff.ms", "100", ans, anssz) ||
	    !db_conf_set(conf, "reconnect.backoff.max.ms", "1000", ans,
			 anssz) ||
	    (type == RD_KAFKA_PRODUCER &&
	     !db_conf_set(conf, "message.timeout.ms", tmo, ans, anssz))) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	return conf;
}

/* rd_kafka_new that takes ownership of conf whatever happens. */
static rd_kafka_t *db_client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf,
				 char *ans, size_t anssz)
{
	char errstr[256];
	rd_kafka_t *rk;

	rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		db_fail(ans, anssz, "rd_kafka_new: %s", errstr);
	}
	return rk;
}

/* Runs on the main thread from rd_kafka_poll/flush.  The message opaque
 * carries the offset devbroker wrote into the record. */
static void db_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
			   void *opaque)
{
	struct db_tally *t = opaque;

	if (m->err) {
		if (!t->failed++)
			t->first_err = m->err;
		return;
	}
	t->delivered++;
	if (m->offset != (int64_t)(intptr_t)m->_private)
		t->misplaced++;
}

/* The helper handle for watermarks and metadata, created on first use. */
static rd_kafka_t *db_aux(struct db *db, char *ans, size_t anssz)
{
	rd_kafka_conf_t *conf;

	if (db->aux)
		return db->aux;
	conf = db_conf_new(db, RD_KAFKA_PRODUCER, ans, anssz);
	if (!conf)
		return NULL;
	db->aux = db_client_new(RD_KAFKA_PRODUCER, conf, ans, anssz);
	return db->aux;
}

/* Destroy a producer that may still hold messages: drop them first so
 * rd_kafka_destroy does not wait out message.timeout.ms. */
static void db_producer_destroy(rd_kafka_t *rk)
{
	if (!rk)
		return;
	rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(rk, 0);
	rd_kafka_destroy(rk);
}

/*
 * The data producer for these settings, reused while they stay the same.
 * Ordering per partition must be exact (offsets are predicted), hence one
 * request in flight.  Idempotence stays off: batches look like a plain
 * producer's.  The few retries cannot reorder with one request in flight;
 * they cover a leader moved by the "leader" command.
 */
static rd_kafka_t *db_producer(struct db *db, const struct db_prod_key *key,
			       char *ans, size_t anssz)
{
	rd_kafka_conf_t *conf;
	char num[32], bsz[32], mmb[32];
	long long batch_bytes;

	if (db->prod && !memcmp(&db->prod_key, key, sizeof(*key)))
		return db->prod;
	db_producer_destroy(db->prod);
	db->prod = NULL;

	/* Big enough that batch.num.messages, not bytes, ends a batch. */
	batch_bytes = (long long)key->batch * (key->size + 400) + 4096;
	if (batch_bytes < 1000000)
		batch_bytes = 1000000;
	if (batch_bytes > 900000000)
		batch_bytes = 900000000;
	snprintf(num, sizeof(num), "%ld", key->batch);
	snprintf(bsz, sizeof(bsz), "%lld", batch_bytes);
	snprintf(mmb, sizeof(mmb), "%lld", batch_bytes + 65536);

	conf = db_conf_new(db, RD_KAFKA_PRODUCER, ans, anssz);
	if (!conf)
		return NULL;
	if (!db_conf_set(conf, "acks", "all", ans, anssz) ||
	    !db_conf_set(conf, "enable.idempotence", "false", ans, anssz) ||
	    !db_conf_set(conf, "max.in.flight.requests.per.connection", "1",
			 ans, anssz) ||
	    !db_conf_set(conf, "message.send.max.retries", "3", ans, anssz) ||
	    !db_conf_set(conf, "retry.backoff.ms", "100", ans, anssz) ||
	    !db_conf_set(conf, "compression.codec", key->codec, ans, anssz) ||
	    !db_conf_set(conf, "batch.num.messages", num, ans, anssz) ||
	    !db_conf_set(conf, "batch.size", bsz, ans, anssz) ||
	    !db_conf_set(conf, "message.max.bytes", mmb, ans, anssz) ||
	    /* rd_kafka_flush ignores linger, so only full batches wait. */
	    !db_conf_set(conf, "linger.ms", "100", ans, anssz)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, db_on_delivery);
	rd_kafka_conf_set_opaque(conf, &db->tally);
	db->prod = db_client_new(RD_KAFKA_PRODUCER, conf, ans, anssz);
	if (db->prod)
		db->prod_key = *key;
	return db->prod;
}

/* A consumer handle with group.id = group, never subscribed: only used
 * to read committed offsets.  One group is cached at a time. */
static rd_kafka_t *db_consumer(struct db *db, const char *group,
			       char *ans, size_t anssz)
{
	rd_kafka_conf_t *conf;

	if (db->cons && db->cons_group && !strcmp(db->cons_group, group))
		return db->cons;
	if (db->cons)
		rd_kafka_destroy_flags(db->cons,
				       RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	db->cons = NULL;
	free(db->cons_group);
	db->cons_group = NULL;

	conf = db_conf_new(db, RD_KAFKA_CONSUMER, ans, anssz);
	if (!conf)
		return NULL;
	if (!db_conf_set(conf, "group.id", group, ans, anssz) ||
	    !db_conf_set(conf, "enable.auto.commit", "false", ans, anssz)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	db->cons_group = strdup(group);
	if (!db->cons_group) {
		rd_kafka_conf_destroy(conf);
		db_fail(ans, anssz, "out of memory");
		return NULL;
	}
	db->cons = db_client_new(RD_KAFKA_CONSUMER, conf, ans, anssz);
	return db->cons;
}

/*
 * Partition count of an existing topic, from a metadata request for all
 * topics: asking for one topic by name would make the mock auto-create it.
 * Returns the count, 0 for an unknown topic, -1 with the reason in ans.
 */
static int db_topic_partitions(rd_kafka_t *rk, const char *topic,
			       char *ans, size_t anssz)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;
	int i, n = 0;

	err = rd_kafka_metadata(rk, 1, NULL, &md, DB_TIMEOUT_MS);
	if (err)
		return db_fail(ans, anssz, "metadata: %s",
			       rd_kafka_err2name(err));
	for (i = 0; i < md->topic_cnt; i++) {
		if (strcmp(md->topics[i].topic, topic))
			continue;
		if (md->topics[i].err)
			n = db_fail(ans, anssz, "topic %s: %s", topic,
				    rd_kafka_err2name(md->topics[i].err));
		else
			n = md->topics[i].partition_cnt;
		break;
	}
	rd_kafka_metadata_destroy(md);
	return n;
}

/* The partition count, or -1 with "unknown topic" or the metadata error. */
static int db_need_topic(rd_kafka_t *rk, const char *topic,
			 char *ans, size_t anssz)
{
	int n = db_topic_partitions(rk, topic, ans, anssz);

	if (n == 0)
		return db_fail(ans, anssz, "unknown topic %s", topic);
	return n;
}

static bool db_err_is_transient(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
	case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR__TRANSPORT:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
		return true;
	default:
		return false;
	}
}

/*
 * One watermark (which = RD_KAFKA_OFFSET_BEGINNING or _END) by ListOffsets.
 * rd_kafka_query_watermark_offsets is not used: in 2.0.2 it ignores its
 * timeout and waits forever while the leader is down (librdkafka #2588,
 * fixed in 2.3.0); rd_kafka_offsets_for_times honours it, and -2/-1 as
 * "timestamps" ask for the log start and end.
 */
static rd_kafka_resp_err_t db_list_offset(rd_kafka_t *rk, const char *topic,
					  int32_t part, int64_t which,
					  int timeout_ms, int64_t *out)
{
	rd_kafka_topic_partition_list_t *list;
	rd_kafka_resp_err_t err;

	list = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(list, topic, part)->offset = which;
	err = rd_kafka_offsets_for_times(rk, list, timeout_ms);
	if (!err)
		err = list->elems[0].err;
	if (!err)
		*out = list->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(list);
	return err;
}

/* Watermarks of one partition.  A leader that just moved answers
 * NOT_LEADER until the client refreshes metadata, so transient errors are
 * retried within the usual bound. */
static int db_watermarks(rd_kafka_t *rk, const char *topic, int32_t part,
			 int64_t *lo, int64_t *hi, char *ans, size_t anssz)
{
	int64_t deadline = db_now_ms() + DB_TIMEOUT_MS;
	rd_kafka_resp_err_t err;
	int64_t left;

	for (;;) {
		left = deadline - db_now_ms();
		if (left < 100)
			left = 100;
		err = db_list_offset(rk, topic, part, RD_KAFKA_OFFSET_BEGINNING,
				     (int)left, lo);
		if (!err) {
			left = deadline - db_now_ms();
			if (left < 100)
				left = 100;
			err = db_list_offset(rk, topic, part,
					     RD_KAFKA_OFFSET_END, (int)left,
					     hi);
		}
		if (!err)
			return 0;
		if (!db_err_is_transient(err) || db_now_ms() + 200 >= deadline)
			break;
		db_sleep_ms(200);
	}
	return db_fail(ans, anssz, "watermarks %s [%" PRId32 "]: %s", topic,
		       part, rd_kafka_err2name(err));
}

/*
 * Record production, shared by produce and txn.
 */

enum db_keys {
	DB_KEYS_NONE = 0,		/* null key */
	DB_KEYS_SEQ,			/* "k<OFFSET>" */
	DB_KEYS_MOD,			/* "k<OFFSET % mod>" */
};

struct db_recfmt {
	const char *topic;
	long size;			/* value size before the prefix wins */
	enum db_keys keys;
	int64_t mod;
	char *vbuf;			/* size + room for the prefix */
};

/* Queue one record whose content is derived from (topic, part, off).
 * Waits (serving delivery reports) while the local queue is full. */
static rd_kafka_resp_err_t db_produce_one(rd_kafka_t *rk,
					  const struct db_recfmt *f,
					  int32_t part, int64_t off)
{
	char kbuf[32], hbuf[32];
	rd_kafka_headers_t *hdrs;
	const char *key = NULL;
	size_t vlen, klen = 0;
	rd_kafka_resp_err_t err;

	vlen = (size_t)sprintf(f->vbuf, "%s/%" PRId32 "/%" PRId64, f->topic,
			       part, off);
	if ((long)vlen < f->size) {
		memset(f->vbuf + vlen, '.', (size_t)f->size - vlen);
		vlen = (size_t)f->size;
	}
	if (f->keys != DB_KEYS_NONE) {
		klen = (size_t)sprintf(kbuf, "k%" PRId64,
				       f->keys == DB_KEYS_SEQ ? off
							      : off % f->mod);
		key = kbuf;
	}
	sprintf(hbuf, "%" PRId64, off);
	/* Our own header list rather than RD_KAFKA_V_HEADER: the message
	 * owns it only once producev succeeds, and 2.0.2 leaks the one it
	 * builds itself when producev fails. */
	hdrs = rd_kafka_headers_new(1);
	rd_kafka_header_add(hdrs, "h", 1, hbuf, (ssize_t)strlen(hbuf));

	for (;;) {
		err = rd_kafka_producev(
		    rk, RD_KAFKA_V_TOPIC(f->topic), RD_KAFKA_V_PARTITION(part),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_VALUE(f->vbuf, vlen),
		    RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_HEADERS(hdrs),
		    RD_KAFKA_V_OPAQUE((void *)(intptr_t)off), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(rk, 10);
	}
	if (err)
		rd_kafka_headers_destroy(hdrs);
	return err;
}

/* Wait for every delivery report, then judge the command from the tally.
 * Whatever is still queued after the bound is purged (and so reported
 * as failed). */
static int db_produce_finish(struct db *db, rd_kafka_t *rk, int64_t count,
			     char *ans, size_t anssz)
{
	const struct db_tally *t = &db->tally;

	if (rd_kafka_flush(rk, 3 * DB_TIMEOUT_MS)) {
		rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE |
				   RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_flush(rk, DB_TIMEOUT_MS);
	}
	if (t->failed || t->delivered != count)
		return db_fail(ans, anssz,
			       "%" PRId64 " of %" PRId64
			       " records not delivered: %s",
			       count - t->delivered, count,
			       rd_kafka_err2name(t->first_err));
	if (t->misplaced)
		return db_fail(ans, anssz,
			       "%" PRId64 " records landed at other offsets "
			       "than their content says (another producer?)",
			       t->misplaced);
	return 0;
}

/* Parse "keys=none|seq|mod:N". */
static bool db_parse_keys(const char *s, struct db_recfmt *f)
{
	if (!strcmp(s, "none"))
		f->keys = DB_KEYS_NONE;
	else if (!strcmp(s, "seq"))
		f->keys = DB_KEYS_SEQ;
	else if (!strncmp(s, "mod:", 4) &&
		 db_parse_i64(s + 4, 1, INT64_MAX, &f->mod))
		f->keys = DB_KEYS_MOD;
	else
		return false;
	return true;
}

static bool db_codec_valid(const char *s)
{
	static const char *const codecs[] = { "none", "gzip", "snappy", "lz4",
					      "zstd" };
	size_t i;

	for (i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if (!strcmp(s, codecs[i]))
			return true;
	return false;
}

/* A value buffer for f: the requested size, or the prefix
 * "TOPIC/PARTITION/OFFSET" when longer (numbers at most 11 and 20 bytes).
 * The topic name is not trusted to be short.  Caller frees. */
static char *db_vbuf_new(const struct db_recfmt *f)
{
	return malloc((size_t)f->size + strlen(f->topic) + 40);
}

/*
 * produce TOPIC COUNT [partition=P] [codec=C] [size=B] [keys=K] [batch=N]
 * Answers "ok FIRST LAST" with partition=, plain "ok" otherwise.
 */
static int db_cmd_produce(struct db *db, int argc, char **argv,
			  char *ans, size_t anssz)
{
	struct db_prod_key key = { "none", 1000, 100 };
	struct db_recfmt f = { 0 };
	int64_t count, i, lo, v, *next = NULL;
	int part = -1, nparts, p, ret = -1;
	rd_kafka_resp_err_t err;
	rd_kafka_t *rk;
	char *eq;

	if (argc < 3 || !db_parse_i64(argv[2], 1, 1000000000, &count))
		return db_usage(ans, anssz, argv[0]);
	f.topic = argv[1];
	for (i = 3; i < argc; i++) {
		eq = strchr(argv[i], '=');
		if (!eq)
			return db_usage(ans, anssz, argv[0]);
		*eq++ = '\0';
		if (!strcmp(argv[i], "partition") &&
		    db_parse_int(eq, 0, INT32_MAX, &part))
			continue;
		if (!strcmp(argv[i], "codec") && db_codec_valid(eq)) {
			snprintf(key.codec, sizeof(key.codec), "%s", eq);
			continue;
		}
		if (!strcmp(argv[i], "size") &&
		    db_parse_i64(eq, 0, 10000000, &v)) {
			key.size = (long)v;
			continue;
		}
		if (!strcmp(argv[i], "batch") &&
		    db_parse_i64(eq, 1, 1000000, &v)) {
			key.batch = (long)v;
			continue;
		}
		if (!strcmp(argv[i], "keys") && db_parse_keys(eq, &f))
			continue;
		return db_usage(ans, anssz, argv[0]);
	}
	f.size = key.size;

	rk = db_producer(db, &key, ans, anssz);
	if (!rk)
		return -1;
	nparts = db_need_topic(rk, f.topic, ans, anssz);
	if (nparts < 0)
		return -1;
	if (part >= nparts)
		return db_fail(ans, anssz, "topic %s has %d partitions",
			       f.topic, nparts);

	next = calloc((size_t)nparts, sizeof(*next));
	f.vbuf = db_vbuf_new(&f);
	if (!next || !f.vbuf) {
		db_fail(ans, anssz, "out of memory");
		goto out_free;
	}
	for (p = 0; p < nparts; p++) {
		if (part >= 0 && p != part)
			continue;
		if (db_watermarks(rk, f.topic, p, &lo, &next[p], ans, anssz))
			goto out_free;
	}

	memset(&db->tally, 0, sizeof(db->tally));
	for (i = 0; i < count; i++) {
		p = part >= 0 ? part : (int)(i % nparts);
		err = db_produce_one(rk, &f, p, next[p]++);
		if (err) {
			db_fail(ans, anssz, "produce: %s",
				rd_kafka_err2name(err));
			/* Let what was queued finish before answering. */
			rd_kafka_flush(rk, 3 * DB_TIMEOUT_MS);
			goto out_free;
		}
		rd_kafka_poll(rk, 0);
	}
	if (db_produce_finish(db, rk, count, ans, anssz))
		goto out_free;

	ans[0] = '\0';
	if (part >= 0)
		snprintf(ans, anssz, "%" PRId64 " %" PRId64,
			 next[part] - count, next[part] - 1);
	ret = 0;
out_free:
	free(f.vbuf);
	free(next);
	return ret;
}

/* Describe an rd_kafka_error_t into ans and destroy it. */
static int db_fail_error(char *ans, size_t anssz, const char *what,
			 rd_kafka_error_t *error)
{
	db_fail(ans, anssz, "%s: %s: %s", what, rd_kafka_error_name(error),
		rd_kafka_error_string(error));
	rd_kafka_error_destroy(error);
	return -1;
}

/* Records of one transaction; the transaction itself is open. */
static int db_txn_records(struct db *db, rd_kafka_t *rk,
			  struct db_recfmt *f, int32_t part, int64_t count,
			  int64_t *first, char *ans, size_t anssz)
{
	rd_kafka_resp_err_t err;
	int64_t lo, i;

	if (db_watermarks(rk, f->topic, part, &lo, first, ans, anssz))
		return -1;
	memset(&db->tally, 0, sizeof(db->tally));
	for (i = 0; i < count; i++) {
		err = db_produce_one(rk, f, part, *first + i);
		if (err) {
			rd_kafka_flush(rk, 3 * DB_TIMEOUT_MS);
			return db_fail(ans, anssz, "produce: %s",
				       rd_kafka_err2name(err));
		}
		rd_kafka_poll(rk, 0);
	}
	/* Abort would purge what is not yet delivered: deliver first, so
	 * aborted records really are in the log. */
	return db_produce_finish(db, rk, count, ans, anssz);
}

/*
 * txn TOPIC PARTITION COUNT commit|abort
 * A fresh transactional producer per command (unique transactional.id).
 * Answers "ok FIRST LAST", the offsets of the first and last record.
 */
static int db_cmd_txn(struct db *db, int argc, char **argv,
		      char *ans, size_t anssz)
{
	struct db_recfmt f = { 0 };
	rd_kafka_error_t *error;
	rd_kafka_conf_t *conf;
	int64_t count, first = 0;
	char tid[64];
	bool commit;
	int part, nparts, ret = -1;
	rd_kafka_t *rk;

	if (argc != 5 || !db_parse_int(argv[2], 0, INT32_MAX, &part) ||
	    !db_parse_i64(argv[3], 1, 1000000000, &count) ||
	    (strcmp(argv[4], "commit") && strcmp(argv[4], "abort")))
		return db_usage(ans, anssz, argv[0]);
	commit = !strcmp(argv[4], "commit");
	f.topic = argv[1];
	f.size = 100;
	f.keys = DB_KEYS_SEQ;

	conf = db_conf_new(db, RD_KAFKA_PRODUCER, ans, anssz);
	if (!conf)
		return -1;
	snprintf(tid, sizeof(tid), "devbroker-%ld-%u", (long)getpid(),
		 ++db->txn_seq);
	if (!db_conf_set(conf, "transactional.id", tid, ans, anssz) ||
	    !db_conf_set(conf, "linger.ms", "100", ans, anssz)) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, db_on_delivery);
	rd_kafka_conf_set_opaque(conf, &db->tally);
	rk = db_client_new(RD_KAFKA_PRODUCER, conf, ans, anssz);
	if (!rk)
		return -1;

	nparts = db_need_topic(rk, f.topic, ans, anssz);
	if (nparts < 0)
		goto out_destroy;
	if (part >= nparts) {
		db_fail(ans, anssz, "topic %s has %d partitions", f.topic,
			nparts);
		goto out_destroy;
	}
	f.vbuf = db_vbuf_new(&f);
	if (!f.vbuf) {
		db_fail(ans, anssz, "out of memory");
		goto out_destroy;
	}

	if ((error = rd_kafka_init_transactions(rk, DB_TIMEOUT_MS))) {
		db_fail_error(ans, anssz, "init_transactions", error);
		goto out_destroy;
	}
	if ((error = rd_kafka_begin_transaction(rk))) {
		db_fail_error(ans, anssz, "begin_transaction", error);
		goto out_destroy;
	}
	if (db_txn_records(db, rk, &f, part, count, &first, ans, anssz))
		goto out_abort;
	error = commit ? rd_kafka_commit_transaction(rk, DB_TIMEOUT_MS)
		       : rd_kafka_abort_transaction(rk, DB_TIMEOUT_MS);
	if (error) {
		db_fail_error(ans, anssz, commit ? "commit_transaction"
						 : "abort_transaction",
			      error);
		goto out_abort;
	}
	snprintf(ans, anssz, "%" PRId64 " %" PRId64, first, first + count - 1);
	ret = 0;
	goto out_destroy;

out_abort:
	/* Best effort; the answer already says what went wrong. */
	error = rd_kafka_abort_transaction(rk, DB_TIMEOUT_MS);
	if (error)
		rd_kafka_error_destroy(error);
out_destroy:
	free(f.vbuf);
	db_producer_destroy(rk);
	return ret;
}

/*
 * Damaged record batches: the corrupt command.
 *
 * librdkafka's producer only writes well-formed batches, but the 2.0.2
 * mock stores the bytes of a ProduceRequest's records verbatim: it checks
 * the magic byte (2) and that RecordCount is at least 1 and, uncompressed,
 * fits the byte length, never the CRC or the records (rdkafka_mock.c,
 * rd_kafka_mock_partition_log_append).  It only rewrites BaseOffset, which
 * the CRC does not cover, and Fetch serves the stored bytes back.  So
 * devbroker builds the batch itself and sends its own ProduceRequest v3
 * over a plain TCP socket to the partition leader.
 */

/* How the batch is damaged. */
enum db_damage {
	DB_DAMAGE_CRC = 0,	/* one value byte flipped after the CRC */
	DB_DAMAGE_OVERRUN,	/* last record's length runs past the batch */
	DB_DAMAGE_COUNT,	/* RecordCount one more than the records */
	DB_DAMAGE_CODEC,	/* attributes say gzip, records are plain */
	DB_DAMAGE_TRUNCATE,	/* BatchLength 100 bytes more than there is */
};

static const char *const db_damage_names[] = { "crc", "overrun", "count",
					       "codec", "truncate" };

#define DB_CORRUPT_RECORDS	10	/* records in the batch by default */
#define DB_CORRUPT_VALUE	100	/* value size, as produce's default */

/* Offsets in a v2 record batch (KAFKA-PROTOCOL: RecordBatch). */
#define DB_RB_LENGTH		8	/* int32 BatchLength */
#define DB_RB_CRC		17	/* uint32 CRC-32C of what follows */
#define DB_RB_ATTRIBUTES	21	/* the CRC covers from here to the end */

/* A growable byte buffer; a failed allocation is sticky (oom). */
struct db_buf {
	unsigned char *p;
	size_t len, cap;
	bool oom;
};

static void db_buf_put(struct db_buf *b, const void *data, size_t n)
{
	unsigned char *np;
	size_t cap;

	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

/* Big-endian integer of n bytes (1..8). */
static void db_buf_be(struct db_buf *b, uint64_t v, int n)
{
	unsigned char tmp[8];
	int i;

	for (i = 0; i < n; i++)
		tmp[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	db_buf_put(b, tmp, (size_t)n);
}

static void db_buf_patch_be32(struct db_buf *b, size_t at, uint32_t v)
{
	if (b->oom || at + 4 > b->len)
		return;
	b->p[at] = (unsigned char)(v >> 24);
	b->p[at + 1] = (unsigned char)(v >> 16);
	b->p[at + 2] = (unsigned char)(v >> 8);
	b->p[at + 3] = (unsigned char)v;
}

/* Zigzag varint, as every length and delta inside a v2 record. */
static void db_buf_varint(struct db_buf *b, int64_t v)
{
	uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	unsigned char tmp[10];
	size_t n = 0;

	while (u >= 0x80) {
		tmp[n++] = (unsigned char)(u | 0x80);
		u >>= 7;
	}
	tmp[n++] = (unsigned char)u;
	db_buf_put(b, tmp, n);
}

/* Kafka STRING: int16 length, bytes. */
static void db_buf_str(struct db_buf *b, const char *s)
{
	size_t n = strlen(s);

	db_buf_be(b, n, 2);
	db_buf_put(b, s, n);
}

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bytewise: the
 * batches are small and this is a test tool. */
static uint32_t db_crc32c(const unsigned char *p, size_t n)
{
	static uint32_t table[256];
	static bool ready;
	uint32_t c;
	size_t i;
	int k;

	if (!ready) {
		for (i = 0; i < 256; i++) {
			c = (uint32_t)i;
			for (k = 0; k < 8; k++)
				c = (c >> 1) ^ (c & 1 ? 0x82F63B78u : 0);
			table[i] = c;
		}
		ready = true;
	}
	c = 0xFFFFFFFFu;
	for (i = 0; i < n; i++)
		c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

/*
 * One record of a v2 batch: content as produce writes it (null key, value
 * "TOPIC/PARTITION/OFFSET" padded to DB_CORRUPT_VALUE, header h=OFFSET).
 * extra is added to the record's length prefix (overrun damage).  *vat
 * gets the position of the value's first byte in out.
 */
static void db_record_put(struct db_buf *out, const char *topic, int32_t part,
			  int64_t base, int delta, int extra, size_t *vat)
{
	struct db_buf r = { 0 };
	char val[DB_CORRUPT_VALUE + 300], hdr[24];
	size_t vlen;
	int hlen;

	vlen = (size_t)snprintf(val, sizeof(val), "%s/%" PRId32 "/%" PRId64,
				topic, part, base + delta);
	if (vlen >= sizeof(val))
		vlen = sizeof(val) - 1;
	if (vlen < DB_CORRUPT_VALUE) {
		memset(val + vlen, '.', DB_CORRUPT_VALUE - vlen);
		vlen = DB_CORRUPT_VALUE;
	}
	hlen = snprintf(hdr, sizeof(hdr), "%" PRId64, base + delta);

	db_buf_be(&r, 0, 1);		/* attributes */
	db_buf_varint(&r, 0);		/* timestamp delta */
	db_buf_varint(&r, delta);	/* offset delta */
	db_buf_varint(&r, -1);		/* null key */
	db_buf_varint(&r, (int64_t)vlen);
	*vat = r.len;
	db_buf_put(&r, val, vlen);
	db_buf_varint(&r, 1);		/* one header */
	db_buf_varint(&r, 1);
	db_buf_put(&r, "h", 1);
	db_buf_varint(&r, hlen);
	db_buf_put(&r, hdr, (size_t)hlen);

	if (r.oom) {
		out->oom = true;
	} else {
		db_buf_varint(out, (int64_t)r.len + extra);
		*vat += out->len;
		db_buf_put(out, r.p, r.len);
	}
	free(r.p);
}

/*
 * A v2 record batch of count records at base offset base, damaged as how
 * says.  Every damage but crc keeps the CRC right, so that the consumer's
 * parser, not its CRC check, has to find it.  The batch is in b (caller
 * frees b->p).
 */
static void db_batch_build(struct db_buf *b, const char *topic, int32_t part,
			   int64_t base, int count, enum db_damage how)
{
	int64_t now = (int64_t)time(NULL) * 1000;
	size_t vat = 0;
	int i;

	db_buf_be(b, (uint64_t)base, 8);
	db_buf_be(b, 0, 4);			/* BatchLength, patched */
	db_buf_be(b, 0, 4);			/* PartitionLeaderEpoch */
	db_buf_be(b, 2, 1);			/* magic */
	db_buf_be(b, 0, 4);			/* CRC, patched */
	db_buf_be(b, how == DB_DAMAGE_CODEC ? 1 : 0, 2);
	db_buf_be(b, (uint64_t)(count - 1 + (how == DB_DAMAGE_COUNT)), 4);
	db_buf_be(b, (uint64_t)now, 8);		/* BaseTimestamp */
	db_buf_be(b, (uint64_t)now, 8);		/* MaxTimestamp */
	db_buf_be(b, (uint64_t)-1, 8);		/* ProducerId */
	db_buf_be(b, (uint64_t)-1, 2);		/* ProducerEpoch */
	db_buf_be(b, (uint64_t)-1, 4);		/* BaseSequence */
	db_buf_be(b, (uint64_t)(count + (how == DB_DAMAGE_COUNT)), 4);
	for (i = 0; i < count; i++)
		db_record_put(b, topic, part, base, i,
			      how == DB_DAMAGE_OVERRUN && i == count - 1 ? 64
								    : 0,
			      &vat);
	if (b->oom)
		return;
	/* A truncated batch looks like the partial one a broker leaves at
	 * the end of a Fetch response cut at the size limit. */
	db_buf_patch_be32(b, DB_RB_LENGTH,
			  (uint32_t)(b->len - 12 +
				     (how == DB_DAMAGE_TRUNCATE ? 100 : 0)));
	db_buf_patch_be32(b, DB_RB_CRC, db_crc32c(b->p + DB_RB_ATTRIBUTES,
						  b->len - DB_RB_ATTRIBUTES));
	/* After the CRC: the last record's value starts with an upper-case
	 * topic letter, a change a consumer without CRC checks shows. */
	if (how == DB_DAMAGE_CRC)
		b->p[vat] ^= 0x20;
}

/* Where the partition's leader listens, from a fresh metadata request
 * (all topics: naming one would auto-create it).  host gets a copy. */
static int db_leader_addr(rd_kafka_t *rk, const char *topic, int32_t part,
			  char *host, size_t hostsz, int *port,
			  char *ans, size_t anssz)
{
	const struct rd_kafka_metadata *md;
	const struct rd_kafka_metadata_topic *t = NULL;
	rd_kafka_resp_err_t err;
	int32_t leader = -1;
	int i, ret = -1;

	err = rd_kafka_metadata(rk, 1, NULL, &md, DB_TIMEOUT_MS);
	if (err)
		return db_fail(ans, anssz, "metadata: %s",
			       rd_kafka_err2name(err));
	for (i = 0; i < md->topic_cnt && !t; i++)
		if (!strcmp(md->topics[i].topic, topic))
			t = &md->topics[i];
	if (!t || t->err || t->partition_cnt == 0) {
		db_fail(ans, anssz, "unknown topic %s", topic);
		goto out_destroy;
	}
	if (part >= t->partition_cnt) {
		db_fail(ans, anssz, "topic %s has %d partitions", topic,
			t->partition_cnt);
		goto out_destroy;
	}
	for (i = 0; i < t->partition_cnt; i++)
		if (t->partitions[i].id == part)
			leader = t->partitions[i].leader;
	for (i = 0; i < md->broker_cnt; i++) {
		if (md->brokers[i].id != leader)
			continue;
		snprintf(host, hostsz, "%s", md->brokers[i].host);
		*port = md->brokers[i].port;
		ret = 0;
	}
	if (ret)
		db_fail(ans, anssz, "%s [%" PRId32 "] has no leader", topic,
			part);
out_destroy:
	rd_kafka_metadata_destroy(md);
	return ret;
}

/* A blocking TCP connection with DB_TIMEOUT_MS on every read and write,
 * or -1 with the reason in ans. */
static int db_tcp_connect(const char *host, int port, char *ans, size_t anssz)
{
	struct timeval tv = { DB_TIMEOUT_MS / 1000, 0 };
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char portstr[16];
	int fd = -1, rc;

	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc)
		return db_fail(ans, anssz, "%s: %s", host, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd == -1)
			continue;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ==
			-1 ||
		    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ==
			-1 ||
		    connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
			rc = errno;
			close(fd);
			fd = -1;
			continue;
		}
		break;
	}
	freeaddrinfo(res);
	if (fd == -1)
		db_fail(ans, anssz, "connect %s:%d: %s", host, port,
			strerror(rc));
	return fd;
}

static bool db_io_all(int fd, unsigned char *p, size_t n, bool wr)
{
	ssize_t r;

	while (n > 0) {
		r = wr ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

/* Big-endian reads from a response; *ok turns false past the end. */
static uint64_t db_rd_be(const unsigned char *p, size_t len, size_t *at,
			 int n, bool *ok)
{
	uint64_t v = 0;
	int i;

	if (*at + (size_t)n > len) {
		*ok = false;
		return 0;
	}
	for (i = 0; i < n; i++)
		v = v << 8 | p[(*at)++];
	return v;
}

/*
 * Send batch to the leader at host:port in a ProduceRequest v3 (acks=all)
 * and read the one partition's ErrorCode and BaseOffset.  Returns 0 with
 * *code and *base set, or -1 (connection or framing failure) with the
 * reason in ans.
 */
static int db_raw_produce(const char *host, int port, const char *topic,
			  int32_t part, const struct db_buf *batch,
			  int16_t *code, int64_t *base, char *ans, size_t anssz)
{
	static int32_t corr = 0x64620000;	/* "db" */
	struct db_buf req = { 0 };
	unsigned char *resp = NULL, szb[4];
	size_t at = 0, rlen;
	bool ok = true;
	int fd, ret = -1;

	corr++;
	db_buf_be(&req, 0, 4);			/* size, patched */
	db_buf_be(&req, 0, 2);			/* ApiKey Produce */
	db_buf_be(&req, 3, 2);			/* ApiVersion */
	db_buf_be(&req, (uint32_t)corr, 4);
	db_buf_str(&req, "devbroker-corrupt");
	db_buf_be(&req, (uint64_t)-1, 2);	/* null TransactionalId */
	db_buf_be(&req, (uint64_t)-1, 2);	/* Acks: all */
	db_buf_be(&req, DB_TIMEOUT_MS, 4);
	db_buf_be(&req, 1, 4);			/* one topic */
	db_buf_str(&req, topic);
	db_buf_be(&req, 1, 4);			/* one partition */
	db_buf_be(&req, (uint32_t)part, 4);
	db_buf_be(&req, batch->len, 4);
	db_buf_put(&req, batch->p, batch->len);
	if (req.oom) {
		db_fail(ans, anssz, "out of memory");
		goto out_free;
	}
	db_buf_patch_be32(&req, 0, (uint32_t)(req.len - 4));

	fd = db_tcp_connect(host, port, ans, anssz);
	if (fd == -1)
		goto out_free;
	errno = 0;
	if (!db_io_all(fd, req.p, req.len, true) ||
	    !db_io_all(fd, szb, 4, false)) {
		db_fail(ans, anssz, "produce to %s:%d: %s", host, port,
			errno ? strerror(errno) : "connection closed");
		goto out_close;
	}
	rlen = (size_t)szb[0] << 24 | (size_t)szb[1] << 16 |
	       (size_t)szb[2] << 8 | szb[3];
	if (rlen < 4 || rlen > 1 << 20 || !(resp = malloc(rlen)) ||
	    !db_io_all(fd, resp, rlen, false)) {
		db_fail(ans, anssz, "produce to %s:%d: bad response of %zu "
			"bytes", host, port, rlen);
		goto out_close;
	}
	/* CorrelationId, [Topic [Partition ErrorCode BaseOffset ...]] */
	ok = db_rd_be(resp, rlen, &at, 4, &ok) == (uint32_t)corr;
	ok = ok && db_rd_be(resp, rlen, &at, 4, &ok) == 1;
	at += (size_t)db_rd_be(resp, rlen, &at, 2, &ok);	/* name */
	ok = ok && db_rd_be(resp, rlen, &at, 4, &ok) == 1;
	ok = ok && db_rd_be(resp, rlen, &at, 4, &ok) == (uint32_t)part;
	*code = (int16_t)db_rd_be(resp, rlen, &at, 2, &ok);
	*base = (int64_t)db_rd_be(resp, rlen, &at, 8, &ok);
	if (!ok) {
		db_fail(ans, anssz, "produce to %s:%d: malformed response",
			host, port);
		goto out_close;
	}
	ret = 0;
out_close:
	close(fd);
out_free:
	free(resp);
	free(req.p);
	return ret;
}

/* Parse "[HOW] [records=N]" after TOPIC PARTITION. */
static bool db_parse_corrupt(int argc, char **argv, enum db_damage *how,
			     int *count)
{
	bool have_how = false;
	size_t k;
	int i;

	for (i = 3; i < argc; i++) {
		if (!strncmp(argv[i], "records=", 8)) {
			if (!db_parse_int(argv[i] + 8, 1, 10000, count))
				return false;
			continue;
		}
		for (k = 0; k < sizeof(db_damage_names) /
				    sizeof(db_damage_names[0]); k++)
			if (!have_how && !strcmp(argv[i], db_damage_names[k]))
				break;
		if (k == sizeof(db_damage_names) / sizeof(db_damage_names[0]))
			return false;
		*how = (enum db_damage)k;
		have_how = true;
	}
	return true;
}

/*
 * corrupt TOPIC PARTITION [crc|overrun|count|codec|truncate] [records=N]
 * Appends one damaged batch of N records (default 10) at the partition's
 * high watermark and answers "ok BASE", its base offset.  NOT_LEADER
 * (a leader just moved) is retried within the usual bound; nothing was
 * appended then.
 */
static int db_cmd_corrupt(struct db *db, int argc, char **argv,
			  char *ans, size_t anssz)
{
	int64_t deadline = db_now_ms() + DB_TIMEOUT_MS, lo, hi, base;
	enum db_damage how = DB_DAMAGE_CRC;
	int count = DB_CORRUPT_RECORDS, part, port = 0;
	struct db_buf batch;
	char host[256];
	rd_kafka_t *rk;
	int16_t code;
	int ret;

	if (argc < 3 || argc > 5 || !*argv[1] ||
	    !db_parse_int(argv[2], 0, INT32_MAX, &part) ||
	    !db_parse_corrupt(argc, argv, &how, &count))
		return db_usage(ans, anssz, argv[0]);
	rk = db_aux(db, ans, anssz);
	if (!rk)
		return -1;
	for (;;) {
		if (db_leader_addr(rk, argv[1], part, host, sizeof(host), &port,
				   ans, anssz) ||
		    db_watermarks(rk, argv[1], part, &lo, &hi, ans, anssz))
			return -1;
		memset(&batch, 0, sizeof(batch));
		db_batch_build(&batch, argv[1], part, hi, count, how);
		if (batch.oom) {
			free(batch.p);
			return db_fail(ans, anssz, "out of memory");
		}
		ret = db_raw_produce(host, port, argv[1], part, &batch, &code,
				     &base, ans, anssz);
		free(batch.p);
		if (ret)
			return -1;
		if (code != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION ||
		    db_now_ms() + 200 >= deadline)
			break;
		db_sleep_ms(200);
	}
	if (code)
		return db_fail(ans, anssz, "corrupt %s [%d]: %s", argv[1], part,
			       rd_kafka_err2name((rd_kafka_resp_err_t)code));
	if (base != hi)
		return db_fail(ans, anssz, "the corrupt batch landed at %" PRId64
			       ", not at the high watermark %" PRId64
			       " (another producer?)", base, hi);
	snprintf(ans, anssz, "%" PRId64, base);
	return 0;
}

/*
 * Topic and fault-injection commands: thin wrappers over rdkafka_mock.h.
 */

static int db_mock_result(rd_kafka_resp_err_t err, char *ans, size_t anssz)
{
	if (err)
		return db_fail(ans, anssz, "%s", rd_kafka_err2name(err));
	return 0;
}

/* topic NAME P [RF] */
static int db_cmd_topic(struct db *db, int argc, char **argv,
			char *ans, size_t anssz)
{
	int parts, rf = db->nbrokers < 3 ? db->nbrokers : 3;

	if (argc < 3 || argc > 4 || !*argv[1] || strlen(argv[1]) > 249 ||
	    !db_parse_int(argv[2], 1, 100000, &parts) ||
	    (argc == 4 && !db_parse_int(argv[3], 1, db->nbrokers, &rf)))
		return db_usage(ans, anssz, argv[0]);
	return db_mock_result(rd_kafka_mock_topic_create(db->mcluster, argv[1],
							 parts, rf),
			      ans, anssz);
}

/* errors APIKEY CODE [COUNT] */
static int db_cmd_errors(struct db *db, int argc, char **argv,
			 char *ans, size_t anssz)
{
	rd_kafka_resp_err_t err, *errs;
	int key, count = 1, i;

	if (argc < 3 || argc > 4 ||
	    !db_parse_int(argv[1], 0, DB_APIKEY_MAX - 1, &key) ||
	    !db_parse_err(argv[2], &err) ||
	    (argc == 4 && !db_parse_int(argv[3], 1, 100000, &count)))
		return db_usage(ans, anssz, argv[0]);
	errs = malloc((size_t)count * sizeof(*errs));
	if (!errs)
		return db_fail(ans, anssz, "out of memory");
	for (i = 0; i < count; i++)
		errs[i] = err;
	rd_kafka_mock_push_request_errors_array(db->mcluster, (int16_t)key,
						(size_t)count, errs);
	free(errs);
	return 0;
}

/* broker-errors ID APIKEY CODE [COUNT] [RTT_MS] */
static int db_cmd_broker_errors(struct db *db, int argc, char **argv,
				char *ans, size_t anssz)
{
	int id, key, count = 1, rtt = 0, i;
	rd_kafka_resp_err_t err, ret;

	if (argc < 4 || argc > 6 ||
	    !db_parse_int(argv[1], 0, INT32_MAX, &id) ||
	    !db_parse_int(argv[2], 0, DB_APIKEY_MAX - 1, &key) ||
	    !db_parse_err(argv[3], &err) ||
	    (argc >= 5 && !db_parse_int(argv[4], 1, 100000, &count)) ||
	    (argc == 6 && !db_parse_int(argv[5], 0, 3600000, &rtt)))
		return db_usage(ans, anssz, argv[0]);
	/* The 2.0.2 API has only the va-arg form: push one tuple a call. */
	for (i = 0; i < count; i++) {
		ret = rd_kafka_mock_broker_push_request_error_rtts(
		    db->mcluster, id, (int16_t)key, 1, err, rtt);
		if (ret)
			return db_mock_result(ret, ans, anssz);
	}
	return 0;
}

/* clear-errors [APIKEY]: answers "ok N", N being the per-broker errors
 * still pending, which librdkafka 2.0.2 offers no way to clear. */
static int db_cmd_clear_errors(struct db *db, int argc, char **argv,
			       char *ans, size_t anssz)
{
	int key = -1, k, id;
	size_t pending = 0, cnt;

	if (argc > 2 ||
	    (argc == 2 && !db_parse_int(argv[1], 0, DB_APIKEY_MAX - 1, &key)))
		return db_usage(ans, anssz, argv[0]);
	for (k = 0; k < DB_APIKEY_MAX; k++) {
		if (key >= 0 && k != key)
			continue;
		rd_kafka_mock_clear_request_errors(db->mcluster, (int16_t)k);
		for (id = 1; id <= db->nbrokers; id++) {
			cnt = 0;
			if (!rd_kafka_mock_broker_error_stack_cnt(
				db->mcluster, id, (int16_t)k, &cnt))
				pending += cnt;
		}
	}
	snprintf(ans, anssz, "%zu", pending);
	return 0;
}

/* Broker ids are 1..N; -1 means every broker where the mock allows it. */
static bool db_parse_broker(struct db *db, const char *s, int *id)
{
	return db_parse_int(s, -1, db->nbrokers, id) && *id != 0;
}

/* down ID, up ID */
static int db_cmd_updown(struct db *db, int argc, char **argv,
			 char *ans, size_t anssz)
{
	int id;

	if (argc != 2 || !db_parse_broker(db, argv[1], &id))
		return db_usage(ans, anssz, argv[0]);
	return db_mock_result(
	    !strcmp(argv[0], "down")
		? rd_kafka_mock_broker_set_down(db->mcluster, id)
		: rd_kafka_mock_broker_set_up(db->mcluster, id),
	    ans, anssz);
}

/* rtt ID MS */
static int db_cmd_rtt(struct db *db, int argc, char **argv,
		      char *ans, size_t anssz)
{
	int id, ms;

	if (argc != 3 || !db_parse_broker(db, argv[1], &id) ||
	    !db_parse_int(argv[2], 0, 3600000, &ms))
		return db_usage(ans, anssz, argv[0]);
	return db_mock_result(rd_kafka_mock_broker_set_rtt(db->mcluster, id,
							   ms),
			      ans, anssz);
}

/* leader TOPIC PARTITION ID (ID -1: no leader) */
static int db_cmd_leader(struct db *db, int argc, char **argv,
			 char *ans, size_t anssz)
{
	int part, id;

	if (argc != 4 || !db_parse_int(argv[2], 0, INT32_MAX, &part) ||
	    !db_parse_broker(db, argv[3], &id))
		return db_usage(ans, anssz, argv[0]);
	return db_mock_result(rd_kafka_mock_partition_set_leader(
				  db->mcluster, argv[1], part, id),
			      ans, anssz);
}

/* coordinator group|transaction KEY ID */
static int db_cmd_coordinator(struct db *db, int argc, char **argv,
			      char *ans, size_t anssz)
{
	int id;

	if (argc != 4 ||
	    (strcmp(argv[1], "group") && strcmp(argv[1], "transaction")) ||
	    !db_parse_int(argv[3], 1, db->nbrokers, &id))
		return db_usage(ans, anssz, argv[0]);
	return db_mock_result(rd_kafka_mock_coordinator_set(
				  db->mcluster, argv[1], argv[2], id),
			      ans, anssz);
}

/*
 * The highest version each ApiKey is implemented at in librdkafka 2.0.2's
 * mock (rdkafka_mock_handlers.c); a key missing here has no handler.
 * rd_kafka_mock_set_apiversion must not be given more than this.
 */
static const struct {
	int16_t key;
	int16_t max;
} db_mock_apis[] = {
	{ 0, 7 },	/* Produce */
	{ 1, 11 },	/* Fetch */
	{ 2, 3 },	/* ListOffsets: v4-5 answers are malformed, see db_start */
	{ 3, 2 },	/* Metadata */
	{ 8, 7 },	/* OffsetCommit */
	{ 9, 5 },	/* OffsetFetch */
	{ 10, 2 },	/* FindCoordinator */
	{ 11, 5 },	/* JoinGroup */
	{ 12, 3 },	/* Heartbeat */
	{ 13, 1 },	/* LeaveGroup */
	{ 14, 3 },	/* SyncGroup */
	{ 18, 2 },	/* ApiVersions */
	{ 22, 4 },	/* InitProducerId */
	{ 24, 1 },	/* AddPartitionsToTxn */
	{ 25, 1 },	/* AddOffsetsToTxn */
	{ 26, 1 },	/* EndTxn */
	{ 28, 2 },	/* TxnOffsetCommit */
};

/* apiversion APIKEY MIN MAX (MIN = MAX = -1 disables the API) */
static int db_cmd_apiversion(struct db *db, int argc, char **argv,
			     char *ans, size_t anssz)
{
	int key, min, max, impl = -1;
	size_t i;

	if (argc != 4 || !db_parse_int(argv[1], 0, DB_APIKEY_MAX - 1, &key) ||
	    !db_parse_int(argv[2], -1, 32767, &min) ||
	    !db_parse_int(argv[3], -1, 32767, &max) || min > max ||
	    ((min < 0) != (max < 0)))
		return db_usage(ans, anssz, argv[0]);
	for (i = 0; i < sizeof(db_mock_apis) / sizeof(db_mock_apis[0]); i++)
		if (db_mock_apis[i].key == key)
			impl = db_mock_apis[i].max;
	if (impl < 0)
		return db_fail(ans, anssz, "the mock has no handler for ApiKey %d",
			       key);
	if (max > impl)
		return db_fail(ans, anssz,
			       "the mock implements ApiKey %d up to v%d only",
			       key, impl);
	return db_mock_result(rd_kafka_mock_set_apiversion(db->mcluster,
							   (int16_t)key,
							   (int16_t)min,
							   (int16_t)max),
			      ans, anssz);
}

/*
 * Queries through librdkafka clients.
 */

/* hwm TOPIC PARTITION -> "ok LOW HIGH" */
static int db_cmd_hwm(struct db *db, int argc, char **argv,
		      char *ans, size_t anssz)
{
	int64_t lo, hi;
	int part, nparts;
	rd_kafka_t *rk;

	if (argc != 3 || !db_parse_int(argv[2], 0, INT32_MAX, &part))
		return db_usage(ans, anssz, argv[0]);
	rk = db_aux(db, ans, anssz);
	if (!rk)
		return -1;
	nparts = db_need_topic(rk, argv[1], ans, anssz);
	if (nparts < 0)
		return -1;
	if (part >= nparts)
		return db_fail(ans, anssz, "topic %s has %d partitions",
			       argv[1], nparts);
	if (db_watermarks(rk, argv[1], part, &lo, &hi, ans, anssz))
		return -1;
	snprintf(ans, anssz, "%" PRId64 " %" PRId64, lo, hi);
	return 0;
}

/* Parse "P[,P...]" into a new list for topic.  Caller destroys it. */
static rd_kafka_topic_partition_list_t *db_parse_parts(const char *topic,
						       char *s)
{
	rd_kafka_topic_partition_list_t *list;
	char *tok, *save = NULL;
	int p;

	list = rd_kafka_topic_partition_list_new(4);
	for (tok = strtok_r(s, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (!db_parse_int(tok, 0, INT32_MAX, &p))
			goto out_bad;
		rd_kafka_topic_partition_list_add(list, topic, p);
	}
	if (list->cnt > 0)
		return list;
out_bad:
	rd_kafka_topic_partition_list_destroy(list);
	return NULL;
}

/* committed GROUP TOPIC P[,P...] -> "ok OFF [OFF...]", -1 for none */
static int db_cmd_committed(struct db *db, int argc, char **argv,
			    char *ans, size_t anssz)
{
	rd_kafka_topic_partition_list_t *list;
	rd_kafka_topic_partition_t *tp;
	rd_kafka_resp_err_t err;
	size_t len = 0;
	rd_kafka_t *rk;
	int i, ret = -1;

	if (argc != 4 || !*argv[1])
		return db_usage(ans, anssz, argv[0]);
	list = db_parse_parts(argv[2], argv[3]);
	if (!list)
		return db_usage(ans, anssz, argv[0]);
	rk = db_consumer(db, argv[1], ans, anssz);
	if (!rk)
		goto out_destroy;

	err = rd_kafka_committed(rk, list, DB_TIMEOUT_MS);
	rd_kafka_poll(rk, 0);	/* drop queued error events */
	if (err) {
		db_fail(ans, anssz, "committed: %s", rd_kafka_err2name(err));
		goto out_destroy;
	}
	for (i = 0; i < list->cnt; i++) {
		tp = &list->elems[i];
		if (tp->err) {
			db_fail(ans, anssz, "committed %s [%" PRId32 "]: %s",
				tp->topic, tp->partition,
				rd_kafka_err2name(tp->err));
			goto out_destroy;
		}
		len += (size_t)snprintf(ans + len, anssz - len, "%s%" PRId64,
					i ? " " : "",
					tp->offset < 0 ? (int64_t)-1
						       : tp->offset);
		if (len >= anssz) {
			db_fail(ans, anssz, "too many partitions");
			goto out_destroy;
		}
	}
	ret = 0;
out_destroy:
	rd_kafka_topic_partition_list_destroy(list);
	return ret;
}

/*
 * Session commands.
 */

static int db_cmd_bootstrap(struct db *db, int argc, char **argv,
			    char *ans, size_t anssz)
{
	if (argc != 1)
		return db_usage(ans, anssz, argv[0]);
	snprintf(ans, anssz, "%s", db->bootstraps);
	return 0;
}

static int db_cmd_ping(struct db *db, int argc, char **argv,
		       char *ans, size_t anssz)
{
	if (argc != 1)
		return db_usage(ans, anssz, argv[0]);
	return 0;
}

static int db_cmd_quit(struct db *db, int argc, char **argv,
		       char *ans, size_t anssz)
{
	if (argc != 1)
		return db_usage(ans, anssz, argv[0]);
	db->quit = true;
	return 0;
}

/*
 * topic-error NAME CODE: Metadata answers CODE for the topic (with no
 * partitions for UNKNOWN_TOPIC_OR_PART), as if it were not there; CODE 0
 * shows it again.  The mock creates the topic (4 partitions) if it does
 * not exist.  The mock's Metadata creates every unknown topic it is asked
 * about, so this is how a test makes a topic "appear later".
 */
static int db_cmd_topic_error(struct db *db, int argc, char **argv,
			      char *ans, size_t anssz)
{
	rd_kafka_resp_err_t err;

	if (argc != 3 || !*argv[1] || !db_parse_err(argv[2], &err))
		return db_usage(ans, anssz, argv[0]);
	rd_kafka_mock_topic_set_error(db->mcluster, argv[1], err);
	return 0;
}

static const struct db_cmd db_cmds[] = {
	{ "topic", db_cmd_topic, "topic NAME PARTITIONS [RF]" },
	{ "topic-error", db_cmd_topic_error, "topic-error NAME CODE" },
	{ "produce", db_cmd_produce,
	  "produce TOPIC COUNT [partition=P] [codec=none|gzip|snappy|lz4|zstd]"
	  " [size=BYTES] [keys=none|seq|mod:N] [batch=N]" },
	{ "txn", db_cmd_txn, "txn TOPIC PARTITION COUNT commit|abort" },
	{ "corrupt", db_cmd_corrupt,
	  "corrupt TOPIC PARTITION [crc|overrun|count|codec|truncate]"
	  " [records=N]" },
	{ "errors", db_cmd_errors, "errors APIKEY CODE [COUNT]" },
	{ "broker-errors", db_cmd_broker_errors,
	  "broker-errors ID APIKEY CODE [COUNT] [RTT_MS]" },
	{ "clear-errors", db_cmd_clear_errors, "clear-errors [APIKEY]" },
	{ "down", db_cmd_updown, "down ID" },
	{ "up", db_cmd_updown, "up ID" },
	{ "rtt", db_cmd_rtt, "rtt ID MS" },
	{ "leader", db_cmd_leader, "leader TOPIC PARTITION ID" },
	{ "coordinator", db_cmd_coordinator,
	  "coordinator group|transaction KEY ID" },
	{ "apiversion", db_cmd_apiversion, "apiversion APIKEY MIN MAX" },
	{ "hwm", db_cmd_hwm, "hwm TOPIC PARTITION" },
	{ "committed", db_cmd_committed, "committed GROUP TOPIC P[,P...]" },
	{ "bootstrap", db_cmd_bootstrap, "bootstrap" },
	{ "ping", db_cmd_ping, "ping" },
	{ "quit", db_cmd_quit, "quit" },
};

static const struct db_cmd *db_cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(db_cmds) / sizeof(db_cmds[0]); i++)
		if (!strcmp(db_cmds[i].name, name))
			return &db_cmds[i];
	return NULL;
}

/* Print one answer line and flush.  A reader that went away ends us. */
static void db_answer(struct db *db, bool ok, const char *text)
{
	int n;

	if (ok)
		n = printf(*text ? "ok %s\n" : "ok\n", text);
	else
		n = printf("error %s\n", text);
	if (n < 0 || fflush(stdout) == EOF)
		db->quit = true;
}

/* Run one input line (no newline).  Blank lines and comments get no
 * answer; everything else exactly one. */
static void db_run_line(struct db *db, char *line)
{
	char *argv[DB_ARGS_MAX + 1], *save = NULL, *tok;
	char ans[DB_ANSWER_MAX];
	const struct db_cmd *c;
	int argc = 0;

	line += strspn(line, " \t\r");
	if (!*line || *line == '#')
		return;
	for (tok = strtok_r(line, " \t\r", &save); tok;
	     tok = strtok_r(NULL, " \t\r", &save)) {
		if (argc == DB_ARGS_MAX) {
			db_answer(db, false, "too many arguments");
			return;
		}
		argv[argc++] = tok;
	}
	argv[argc] = NULL;

	c = db_cmd_find(argv[0]);
	if (!c) {
		snprintf(ans, sizeof(ans), "unknown command: %s", argv[0]);
		db_answer(db, false, ans);
		return;
	}
	ans[0] = '\0';
	if (c->fn(db, argc, argv, ans, sizeof(ans)) == 0)
		db_answer(db, true, ans);
	else
		db_answer(db, false, ans);
}

/*
 * The input loop: stdin lines and SIGINT/SIGTERM through a signalfd.  The
 * signals are blocked in every thread (librdkafka's threads inherit the
 * mask), so only the signalfd ever sees them.  Returns at EOF, on a signal
 * or after quit.
 */
static void db_loop(struct db *db, int sigfd)
{
	static char buf[DB_LINE_MAX];
	struct pollfd pfd[2] = { { .fd = 0, .events = POLLIN },
				 { .fd = sigfd, .events = POLLIN } };
	size_t len = 0;
	bool overlong = false;
	char *nl;
	ssize_t n;

	while (!db->quit) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			perror("devbroker: poll");
			return;
		}
		if (pfd[1].revents)
			return;
		if (!pfd[0].revents)
			continue;
		n = read(0, buf + len, sizeof(buf) - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		len += (size_t)n;
		while (!db->quit && (nl = memchr(buf, '\n', len))) {
			*nl = '\0';
			if (overlong)
				overlong = false;
			else
				db_run_line(db, buf);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
		}
		if (len == sizeof(buf) - 1) {
			/* Answer once, then skip to the next newline. */
			if (!overlong)
				db_answer(db, false, "line too long");
			overlong = true;
			len = 0;
		}
	}
}

/*
 * Setup and teardown.
 */

static int db_start(struct db *db)
{
	char ans[512];
	rd_kafka_conf_t *conf;
	const char *boot;

	/* No bootstrap.servers: this handle only hosts the mock. */
	conf = db_conf_new(db, RD_KAFKA_PRODUCER, ans, sizeof(ans));
	if (!conf)
		goto out_fail;
	db->owner = db_client_new(RD_KAFKA_PRODUCER, conf, ans, sizeof(ans));
	if (!db->owner)
		goto out_fail;
	db->mcluster = rd_kafka_mock_cluster_new(db->owner, db->nbrokers);
	if (!db->mcluster) {
		snprintf(ans, sizeof(ans), "rd_kafka_mock_cluster_new failed");
		goto out_fail;
	}
	/* The 2.0.2 mock writes 8 bytes for ListOffsets v4+'s int32
	 * LeaderEpoch (seen on the wire): a client that speaks v4+ misparses
	 * every answer after the first partition.  Advertise v0-3 only. */
	if (rd_kafka_mock_set_apiversion(db->mcluster, 2, 0, 3) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(ans, sizeof(ans), "cannot cap ListOffsets at v3");
		goto out_fail;
	}
	boot = rd_kafka_mock_cluster_bootstraps(db->mcluster);
	db->bootstraps = strdup(boot ? boot : "");
	if (!db->bootstraps) {
		snprintf(ans, sizeof(ans), "out of memory");
		goto out_fail;
	}
	return 0;
out_fail:
	fprintf(stderr, "devbroker: %s\n", ans);
	return -1;
}

static void db_stop(struct db *db)
{
	db_producer_destroy(db->prod);
	db_producer_destroy(db->aux);
	if (db->cons)
		rd_kafka_destroy_flags(db->cons,
				       RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	free(db->cons_group);
	/* The mock cluster before the handle it was created on. */
	if (db->mcluster)
		rd_kafka_mock_cluster_destroy(db->mcluster);
	if (db->owner)
		rd_kafka_destroy(db->owner);
	free(db->bootstraps);
	rd_kafka_wait_destroyed(5000);
}

static void db_help(FILE *f)
{
	fprintf(f,
		"usage: devbroker [-b BROKERS] [-v] [-d CONTEXTS]\n"
		"  -b N   mock brokers, ids 1..N (default 3)\n"
		"  -v     librdkafka debug logs (mock,broker,protocol,msg,eos)"
		" to stderr\n"
		"  -d C   librdkafka debug contexts C instead (e.g. all)\n"
		"Prints the bootstrap list, then answers one command a line on"
		" stdin;\nsee tests/devbroker/README.md.\n");
}

int main(int argc, char **argv)
{
	struct db db = { .nbrokers = 3 };
	sigset_t sigs;
	int opt, sigfd, ret = 1;

	while ((opt = getopt(argc, argv, "b:vd:h")) != -1) {
		switch (opt) {
		case 'b':
			if (!db_parse_int(optarg, 1, 64, &db.nbrokers)) {
				db_help(stderr);
				return 2;
			}
			break;
		case 'v':
			db.debug = "mock,broker,protocol,msg,eos";
			break;
		case 'd':
			db.debug = optarg;
			break;
		case 'h':
			db_help(stdout);
			return 0;
		default:
			db_help(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		db_help(stderr);
		return 2;
	}

	/* Before any thread exists, so that all of them inherit the mask. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) ||
	    (sigfd = signalfd(-1, &sigs, SFD_CLOEXEC)) == -1) {
		perror("devbroker: signalfd");
		return 1;
	}

	if (db_start(&db) == 0) {
		printf("%s\n", db.bootstraps);
		if (fflush(stdout) == 0)
			db_loop(&db, sigfd);
		ret = 0;
	}
	db_stop(&db);
	close(sigfd);
	return ret;
}
