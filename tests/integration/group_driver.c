/*
 * group_driver: one consumer-group member (supervisor/group.c) against
 * devbroker, for tests/integration/group.sh.  It joins, prints every event
 * as one line on stdout, optionally commits offsets once assigned, and
 * leaves on SIGTERM/SIGINT or after -x seconds.
 *
 *   group_driver -b BOOTSTRAP -g GROUP -t TOPIC... [-i INSTANCE_ID]
 *                [-s SESSION_MS] [-h HEARTBEAT_MS] [-r REBALANCE_MS]
 *                [-c OFF,OFF,...] [-x SECONDS] [-D REVOKE_DELAY_MS]
 *                [-m METADATA_MAX_AGE_MS] [-v]
 *
 * -D answers on_revoke only after that delay (as if draining workers).
 * -m sets how often the leader checks the partition counts (default 300000).
 * -c commits OFF[P] for each assigned partition P after the first
 * assignment.  -x 0 leaves at once after the first assignment (and its
 * commit, with -c).  The leader assigns with a
 * round-robin over members sorted by member id and partitions sorted by
 * topic, partition.
 *
 * Lines: "revoke done" (after -D),
 * "assigned gen=G n=N T/P@COMMITTED ...", "revoked n=N", "lost n=N",
 * "commit ok" / "commit failed ERR", "fatal MSG", "left",
 * "status state=S gen=G member=M" (on SIGUSR1, then a stats line),
 * "stats rebalances=R heartbeats=H heartbeat_max_gap_ms=M commits=C commit_failures=F".
 * Exit status 0 after a clean leave, 1 after a fatal error.
 */
#include "config.h"

#include <ev.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "err.h"
#include "group.h"
#include "log.h"
#include "proto_group.h"
#include "resolve.h"

static struct {
	struct ev_loop *loop;
	struct kf_group *g;
	int64_t commit[64];
	int ncommit;
	bool committed;
	double run_for;
	int failed;
	bool leaving;
	int revoke_delay_ms;
	ev_timer stop_t, revoke_t;
} D;

static int cmp_member(const void *a, const void *b)
{
	const struct kf_group_member *x = *(const struct kf_group_member *const *)a;
	const struct kf_group_member *y = *(const struct kf_group_member *const *)b;
	return strcmp(x->member_id, y->member_id);
}

static bool subscribes(const struct kf_group_member *m, const char *topic)
{
	for (int32_t i = 0; m->sub && i < m->sub->topics.n; i++)
		if (strcmp(KF_AT(m->sub->topics, char *, i), topic) == 0)
			return true;
	return false;
}

/* Round-robin: topics as given (the group sorts them), partitions in
 * order, each to the next member (by member id) subscribed to the topic. */
static int rr_assign(void *opaque, const char *protocol, const struct kf_group_member *members,
		     int nmembers, const struct kf_group_topic *topics, int ntopics,
		     struct kf_consumer_assignment *out, struct kf_arena *a)
{
	(void)opaque;
	printf("assign protocol=%s members=%d topics=%d\n", protocol, nmembers, ntopics);
	const struct kf_group_member **order = kf_arena_alloc(a, (size_t)(nmembers + 1) * sizeof(*order));
	for (int i = 0; i < nmembers; i++)
		order[i] = &members[i];
	qsort(order, (size_t)nmembers, sizeof(*order), cmp_member);
	/* Per member: one entry per topic, partitions filled below. */
	for (int i = 0; i < nmembers; i++) {
		struct kf_consumer_topic_partitions *tp =
			kf_arena_alloc(a, (size_t)(ntopics + 1) * sizeof(*tp));
		for (int t = 0; t < ntopics; t++) {
			tp[t].topic = (char *)topics[t].topic;
			tp[t].partitions.v = kf_arena_alloc(a, (size_t)topics[t].partitions * sizeof(int32_t) + 4);
		}
		out[i].assigned_partitions.v = tp;
		out[i].assigned_partitions.n = ntopics;
		out[i].user_data.len = -1;
	}
	int next = 0;
	for (int t = 0; t < ntopics; t++)
		for (int32_t p = 0; p < topics[t].partitions; p++) {
			for (int k = 0; k < nmembers; k++, next = (next + 1) % nmembers)
				if (subscribes(order[next], topics[t].topic))
					break;
			if (!subscribes(order[next], topics[t].topic))
				continue;
			int idx = (int)(order[next] - members);
			struct kf_consumer_topic_partitions *tp =
				&KF_AT(out[idx].assigned_partitions, struct kf_consumer_topic_partitions, t);
			((int32_t *)tp->partitions.v)[tp->partitions.n++] = p;
			next = (next + 1) % nmembers;
		}
	return KF_OK;
}

static void print_stats(void)
{
	struct kf_group_counters c;
	kf_group_counters(D.g, &c);
	printf("stats rebalances=%" PRIu64 " heartbeats=%" PRIu64 " heartbeat_max_gap_ms=%" PRIu64
	       " commits=%" PRIu64 " commit_failures=%" PRIu64 "\n",
	       c.rebalances, c.heartbeats, c.heartbeat_max_gap_ms, c.commits, c.commit_failures);
}

static void on_left(void *arg)
{
	(void)arg;
	printf("left\n");
	print_stats();
	ev_break(D.loop, EVBREAK_ALL);
}

static void leave(void)
{
	if (D.leaving)
		return;
	D.leaving = true;
	kf_group_leave(D.g, on_left, NULL);
}

static void on_commit(void *arg, int err, const struct kf_group_tp *tps, int n)
{
	(void)arg;
	bool bad = err != KF_OK;
	for (int i = 0; i < n; i++)
		bad = bad || tps[i].error;
	if (bad) {
		printf("commit failed %s", err == KF_GROUP_EREBALANCE ? "rejected by rebalance"
					   : kf_strerror(err));
		for (int i = 0; i < n; i++)
			printf(" %s/%d:%s", tps[i].topic, tps[i].partition, kf_kafka_err_name(tps[i].error));
		printf("\n");
		return;
	}
	printf("commit ok n=%d\n", n);
	D.committed = true;
	if (D.run_for == 0)
		leave();
}

static void on_assigned(void *opaque, int32_t gen, const struct kf_group_tp *tps, int n)
{
	(void)opaque;
	printf("assigned gen=%d n=%d state=%s", gen, n, kf_group_state(D.g));
	for (int i = 0; i < n; i++)
		printf(" %s/%d@%" PRId64, tps[i].topic, tps[i].partition, tps[i].offset);
	printf("\n");
	print_stats();
	if (D.ncommit && !D.committed) {
		struct kf_group_tp c[64];
		int m = n < D.ncommit ? n : D.ncommit;
		for (int i = 0; i < m; i++) {
			c[i] = tps[i];
			c[i].offset = D.commit[tps[i].partition < D.ncommit ? tps[i].partition : i];
		}
		kf_group_commit(D.g, c, m, on_commit, NULL);
	} else if (D.run_for == 0) {
		leave();
	}
}

static void on_revoke(void *opaque, const struct kf_group_tp *tps, int n)
{
	(void)opaque, (void)tps;
	printf("revoked n=%d\n", n);
	if (D.revoke_delay_ms <= 0) {
		kf_group_revoke_done(D.g);
		return;
	}
	/* Stand-in for draining workers: heartbeats must go on meanwhile. */
	ev_timer_set(&D.revoke_t, D.revoke_delay_ms / 1000., 0.);
	ev_timer_start(D.loop, &D.revoke_t);
}

static void on_revoke_delay(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	printf("revoke done\n");
	kf_group_revoke_done(D.g);
}

static void on_lost(void *opaque, const struct kf_group_tp *tps, int n)
{
	(void)opaque, (void)tps;
	printf("lost n=%d\n", n);
}

static void on_fatal(void *opaque, const char *msg)
{
	(void)opaque;
	printf("fatal %s\n", msg);
	D.failed = 1;
	ev_break(D.loop, EVBREAK_ALL);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	leave();
}

/* SIGUSR1: one status line, for the test to poll. */
static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	printf("status state=%s gen=%d member=%s\n", kf_group_state(D.g), kf_group_generation(D.g),
	       kf_group_member_id(D.g));
	print_stats();
}

static void on_stop(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	leave();
}

static void usage(void)
{
	fprintf(stderr, "usage: group_driver -b BOOTSTRAP -g GROUP -t TOPIC... [-i INSTANCE] "
			"[-s SESSION_MS] [-h HB_MS] [-r REBALANCE_MS] [-c OFF,...] [-x SECONDS] "
			"[-D REVOKE_DELAY_MS] [-m METADATA_MAX_AGE_MS] [-v]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *bootstrap = NULL, *topics[16];
	struct kf_group_conf conf = { .group = NULL, .session_timeout_ms = 6000,
				      .heartbeat_interval_ms = 500, .rebalance_timeout_ms = 10000 };
	int ntopics = 0, opt;
	D.run_for = -1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "b:g:t:i:s:h:r:c:x:D:m:v")) != -1) {
		switch (opt) {
		case 'b': bootstrap = optarg; break;
		case 'g': conf.group = optarg; break;
		case 't':
			if (ntopics == 16)
				usage();
			topics[ntopics++] = optarg;
			break;
		case 'i': conf.group_instance_id = optarg; break;
		case 's': conf.session_timeout_ms = atoi(optarg); break;
		case 'h': conf.heartbeat_interval_ms = atoi(optarg); break;
		case 'r': conf.rebalance_timeout_ms = atoi(optarg); break;
		case 'c':
			for (char *s = optarg; *s && D.ncommit < 64; ) {
				D.commit[D.ncommit++] = strtoll(s, &s, 10);
				if (*s == ',')
					s++;
			}
			break;
		case 'x': D.run_for = atof(optarg); break;
		case 'D': D.revoke_delay_ms = atoi(optarg); break;
		case 'm': conf.metadata_max_age_ms = atoi(optarg); break;
		case 'v': kf_log_level = kf_log_level == KF_LOG_DEBUG ? KF_LOG_TRACE : KF_LOG_DEBUG; break;
		default: usage();
		}
	}
	if (!bootstrap || !conf.group || ntopics == 0)
		usage();
	static const char *const protocols[] = { "roundrobin", "range" };
	conf.protocols = protocols;
	conf.nprotocols = 2;
	conf.topics = topics;
	conf.ntopics = ntopics;
	conf.client_id = "group_driver";

	D.loop = ev_default_loop(0);
	struct kf_resolver *res = kf_resolver_new(D.loop);
	char err[256];
	struct kf_cluster_opts co = { .bootstrap = bootstrap,
				      .conn = { .client_id = "group_driver", .connect_timeout_ms = 3000,
						.request_timeout_ms = 10000, .backoff_min_ms = 50,
						.backoff_max_ms = 1000 } };
	struct kf_cluster *cl = kf_cluster_new(D.loop, res, &co, err, sizeof(err));
	if (!cl) {
		fprintf(stderr, "group_driver: %s\n", err);
		return 2;
	}
	struct kf_group_callbacks cb = { .assign = rr_assign, .on_assigned = on_assigned,
					 .on_revoke = on_revoke, .on_lost = on_lost,
					 .on_fatal = on_fatal };
	D.g = kf_group_new(D.loop, cl, &conf, &cb, NULL);
	ev_signal sterm, sint, susr1;
	ev_signal_init(&sterm, on_signal, SIGTERM);
	ev_signal_init(&sint, on_signal, SIGINT);
	ev_signal_start(D.loop, &sterm);
	ev_signal_start(D.loop, &sint);
	ev_signal_init(&susr1, on_usr1, SIGUSR1);
	ev_signal_start(D.loop, &susr1);
	ev_init(&D.stop_t, on_stop);
	ev_init(&D.revoke_t, on_revoke_delay);
	if (D.run_for > 0) {
		ev_timer_set(&D.stop_t, D.run_for, 0.);
		ev_timer_start(D.loop, &D.stop_t);
	}
	printf("state %s\n", kf_group_state(D.g));
	kf_group_start(D.g);
	ev_run(D.loop, 0);

	printf("exit state=%s\n", kf_group_state(D.g));
	ev_signal_stop(D.loop, &sterm);
	ev_signal_stop(D.loop, &sint);
	ev_signal_stop(D.loop, &susr1);
	ev_timer_stop(D.loop, &D.stop_t);
	ev_timer_stop(D.loop, &D.revoke_t);
	kf_group_free(D.g);
	kf_cluster_free(cl);
	kf_resolver_free(res);
	ev_loop_destroy(D.loop);
	return D.failed;
}
