/*
 * kf_unit: runs every module's Check suite.  `kf_unit SUITE...` runs only
 * the named suites (handy under gdb or valgrind).
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

static const struct {
	const char *name;
	Suite *(*make)(void);
} suites[] = {
	{ "wire", suite_wire },
	{ "crc32c", suite_crc32c },
	{ "codec", suite_codec },
	{ "batch", suite_batch },
	{ "proto", suite_proto },
	{ "golden", suite_golden },
	{ "group", suite_group },
	{ "conn", suite_conn },
	{ "ring", suite_ring },
	{ "worker", suite_worker },
	{ "tracker", suite_tracker },
	{ "dispatch", suite_dispatch },
	{ "pool", suite_pool },
	{ "config", suite_config },
	{ "assignor", suite_assignor },
	{ "sticky", suite_sticky },
	{ "asg", suite_asg },
	{ "group_member", suite_group_member },
	{ "tls", suite_tls },
	{ "sasl", suite_sasl },
	{ "control", suite_control },
	{ "daemon", suite_daemon },
	{ "exec_answer", suite_exec_answer },
	{ "cluster", suite_cluster },
	{ "barrier", suite_barrier },
	{ "req", suite_req },
};

int main(int argc, char **argv)
{
	SRunner *sr = NULL;
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		bool want = argc < 2;
		for (int a = 1; a < argc; a++)
			want = want || strcmp(argv[a], suites[i].name) == 0;
		if (!want)
			continue;
		if (!sr)
			sr = srunner_create(suites[i].make());
		else
			srunner_add_suite(sr, suites[i].make());
	}
	if (!sr) {
		fprintf(stderr, "kf_unit: no such suite\n");
		return 2;
	}
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
