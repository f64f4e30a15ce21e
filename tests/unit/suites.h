/* The Check suites of kf_unit, one per module; registered in main.c. */
#ifndef KF_TEST_SUITES_H
#define KF_TEST_SUITES_H

#include <check.h>

Suite *suite_wire(void);
Suite *suite_crc32c(void);
Suite *suite_codec(void);
Suite *suite_batch(void);
Suite *suite_proto(void);
Suite *suite_golden(void);
Suite *suite_group(void);
Suite *suite_conn(void);
Suite *suite_ring(void);
Suite *suite_worker(void);
Suite *suite_tracker(void);
Suite *suite_dispatch(void);
Suite *suite_pool(void);
Suite *suite_config(void);
Suite *suite_assignor(void);
Suite *suite_sticky(void);
Suite *suite_asg(void);
Suite *suite_group_member(void);
Suite *suite_tls(void);
Suite *suite_sasl(void);
Suite *suite_control(void);
Suite *suite_daemon(void);
Suite *suite_exec_answer(void);
Suite *suite_cluster(void);
Suite *suite_barrier(void);
Suite *suite_req(void);

/* The top source directory ($srcdir under make check), for test scripts. */
const char *kf_test_srcdir(void);

#endif
