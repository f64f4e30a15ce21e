/*
 * assign_scen: kfork's assignors (supervisor/assignor.h) on the scenarios
 * `oracle.sh assign` reads, printed in the same format (see
 * tests/kafka/oracle/src/main/java/kfork/oracle/Assign.java).  kf_assign
 * runs it on stdin for tests/kafka/assignor-diff.sh; the unit tests
 * (tests/unit/test_sticky.c) on scenarios with Java's answers beside them.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "assignor.h"
#include "proto_group.h"
#include "assign_scen.h"

#define MAX_TOPICS 64
#define MAX_MEMBERS 256

struct scen {
	char name[256];
	char assignor[64];
	char *topic[MAX_TOPICS];
	int32_t nparts[MAX_TOPICS];
	size_t nt;
	struct kf_assignor_member m[MAX_MEMBERS];
	struct kf_consumer_subscription sub[MAX_MEMBERS];
	uint8_t user[MAX_MEMBERS][4];
	size_t n;
	struct kf_arena a;
};

static int32_t count_of(void *arg, const char *topic)
{
	const struct scen *s = arg;

	for (size_t i = 0; i < s->nt; i++)
		if (strcmp(s->topic[i], topic) == 0)
			return s->nparts[i];
	return -1;
}

static void die(const char *what, const char *line)
{
	fprintf(stderr, "assign_scen: %s: %s\n", what, line);
	exit(2);
}

/* Split "a,b,c" (or "-") into an array of strings in the arena. */
static struct kf_array split(struct kf_arena *a, const char *list)
{
	struct kf_array r = { NULL, 0 };
	size_t n = 1, len = strlen(list);
	char *copy, *tok, *save = NULL;

	if (strcmp(list, "-") == 0)
		return r;
	for (const char *p = list; *p; p++)
		n += *p == ',';
	r.v = kf_arena_alloc(a, n * sizeof(char *));
	copy = kf_arena_strndup(a, list, len);
	if (!r.v || !copy)
		die("out of memory", list);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		((char **)r.v)[r.n++] = tok;
	return r;
}

/* "t:0,t:3,u:1" as TopicPartition entries: one entry per topic run. */
static struct kf_array owned(struct kf_arena *a, const char *list)
{
	struct kf_array tps = split(a, list), r = { NULL, 0 };

	if (tps.n == 0)
		return r;
	r.v = kf_arena_alloc(a, (size_t)tps.n * sizeof(struct kf_consumer_topic_partitions));
	if (!r.v)
		die("out of memory", list);
	for (int32_t i = 0; i < tps.n; i++) {
		char *tp = ((char **)tps.v)[i], *colon = strrchr(tp, ':');
		struct kf_consumer_topic_partitions *e;

		if (!colon)
			die("bad owned partition", tp);
		*colon = 0;
		e = r.n ? &KF_AT(r, struct kf_consumer_topic_partitions, r.n - 1) : NULL;
		if (!e || strcmp(e->topic, tp) != 0) {
			e = &KF_AT(r, struct kf_consumer_topic_partitions, r.n++);
			e->topic = tp;
			e->partitions.n = 0;
			e->partitions.v = kf_arena_alloc(a, (size_t)tps.n * sizeof(int32_t));
			if (!e->partitions.v)
				die("out of memory", list);
		}
		KF_AT(e->partitions, int32_t, e->partitions.n++) = atoi(colon + 1);
	}
	return r;
}

static void run(struct scen *s, FILE *o)
{
	struct kf_consumer_assignment out[MAX_MEMBERS];
	enum kf_assignor_id id;
	int rc;

	fprintf(o, "scenario %s\n", s->name);
	if (kf_assignor_lookup(s->assignor, &id) != KF_OK)
		die("unknown assignor", s->assignor);
	rc = kf_assignor_assign(id, s->m, s->n, count_of, s, &s->a, out);
	if (rc != KF_OK) {
		fprintf(o, "error %s\n", kf_strerror(rc));
	} else {
		for (size_t i = 0; i < s->n; i++) {
			const struct kf_array *ap = &out[i].assigned_partitions;
			int first = 1;

			fprintf(o, "member %s ", s->m[i].member_id);
			for (int32_t e = 0; e < ap->n; e++) {
				const struct kf_consumer_topic_partitions *tp =
					&KF_AT(*ap, struct kf_consumer_topic_partitions, e);

				for (int32_t j = 0; j < tp->partitions.n; j++) {
					fprintf(o, "%s%s:%d", first ? "" : ",", tp->topic,
					       (int)KF_AT(tp->partitions, int32_t, j));
					first = 0;
				}
			}
			fprintf(o, "%s\n", first ? "-" : "");
		}
	}
	fprintf(o, "end\n");
}

void kf_assign_scenarios(FILE *in, FILE *o)
{
	static struct scen s;
	static char line[1 << 16];

	kf_arena_init(&s.a);
	while (fgets(line, sizeof(line), in)) {
		static char f[7][sizeof(line) / 2];
		int nf;

		line[strcspn(line, "\n")] = 0;
		nf = sscanf(line, "%s %s %s %s %s %s %s", f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
		if (nf <= 0)
			continue;
		if (strcmp(f[0], "scenario") == 0 && nf == 3) {
			kf_arena_free(&s.a);
			kf_arena_init(&s.a);
			snprintf(s.name, sizeof(s.name), "%.255s", f[1]);
			snprintf(s.assignor, sizeof(s.assignor), "%.63s", f[2]);
			s.nt = s.n = 0;
		} else if (strcmp(f[0], "topic") == 0 && nf == 3 && s.nt < MAX_TOPICS) {
			s.topic[s.nt] = kf_arena_strndup(&s.a, f[1], strlen(f[1]));
			s.nparts[s.nt++] = atoi(f[2]);
		} else if (strcmp(f[0], "member") == 0 && nf == 7 && s.n < MAX_MEMBERS) {
			struct kf_consumer_subscription *sub = &s.sub[s.n];
			struct kf_assignor_member *m = &s.m[s.n];

			memset(sub, 0, sizeof(*sub));
			sub->topics = split(&s.a, f[5]);
			sub->owned_partitions = owned(&s.a, f[6]);
			sub->generation_id = atoi(f[3]);
			sub->user_data.len = -1;
			if (strcmp(f[4], "-") != 0) {
				uint32_t g = (uint32_t)atoi(f[4]);

				s.user[s.n][0] = (uint8_t)(g >> 24);
				s.user[s.n][1] = (uint8_t)(g >> 16);
				s.user[s.n][2] = (uint8_t)(g >> 8);
				s.user[s.n][3] = (uint8_t)g;
				sub->user_data.p = s.user[s.n];
				sub->user_data.len = 4;
			}
			m->member_id = kf_arena_strndup(&s.a, f[1], strlen(f[1]));
			m->group_instance_id = strcmp(f[2], "-") ? kf_arena_strndup(&s.a, f[2], strlen(f[2])) : NULL;
			m->sub = sub;
			s.n++;
		} else if (strcmp(f[0], "end") == 0) {
			run(&s, o);
		} else {
			die("bad line", line);
		}
	}
	kf_arena_free(&s.a);
}
