/*
 * kforkd: the supervisor's main: options, start-up (log file, -d, -p, the
 * control socket, the user switch, the workers, then Kafka), the loop, and
 * the two things every other file of kforkd leans on: on_settle and the
 * commit timer.  kforkd.h lists the files and what calls what;
 * docs/architecture.md tells the life of a record and of a rebalance.
 *
 *   config -> cluster (TLS/SASL) -> group (assignor) -> on_assigned ->
 *   tracker slot + fetcher -> on_record -> dispatch -> pool ring ->
 *   worker -> ack -> tracker -> commit timer -> OffsetCommit.
 *
 * A partition slot is the same small integer in the fetcher, the tracker,
 * the dispatcher and the ring records.  Back-pressure: a record that finds
 * no room (tracker window, dispatcher move, ring or byte budget) answers
 * KF_EAGAIN, the fetcher pauses the partition at that record, and the next
 * batch of acks (pool on_room) asks for a settle, which resumes it.
 *
 * Drains (revocation, Kafka restart, shutdown, quiet, redispatch) are one
 * barrier each (supervisor/barrier.h); on_settle, an ev_prepare run once
 * before the loop next waits, is the one place that takes things up again.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kforkd.h"

struct kforkd D;

/*
 * The one place that takes things up after acks, timers and barriers:
 * partitions blocked for room, the barriers waiting for idle workers, a
 * queued reload.  Runs from an ev_prepare, once, before the loop next
 * waits: never inside a pool or group callback.
 */
static void on_settle(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)revents;
	ev_prepare_stop(loop, w);
	resume_blocked();
	kf_barrier_settle(&D.bars);
	if (D.reload_pending && !reload_busy()) {
		D.reload_pending = false;
		reload("queued reload", NULL);
	}
}

static void on_commit_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	settle_soon();      /* a safety net: acks normally do it */
	if (D.commit_busy || D.phase != PH_RUN || D.restarting || !kf_group_stable(D.g))
		return;
	if (commit_moved(false, on_periodic_commit, NULL) > 0)
		D.commit_busy = true;
}

static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop, (void)w, (void)revents;
	if (kf_log_reopen() == KF_OK)
		kf_info(COMP, "SIGUSR1: log file reopened");
}

/* Started as root with a user to become: what root opened must stay
 * usable by that user (reopened on USR1, removed at exit). */
static int own_files(char *err, size_t errlen)
{
	const char *user = D.cfg.user;
	if (!user[0] || geteuid() != 0)
		return KF_OK;
	const char *files[] = { D.cfg.log.file, D.pidfile, D.ctl ? D.cfg.control.socket : NULL };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (files[i] && files[i][0] && kf_chown_for(files[i], user, err, errlen) != KF_OK)
			return KF_ERR;
	return kf_drop_privileges(user, err, errlen);
}

/*
 * Start-up order: log file (as root), daemonize (-d), pid file (-p), the
 * sockets that may need root (control, metrics), then the user switch,
 * and only then the workers and the Kafka connections.  The launcher of
 * -d exits when this is all done (kf_daemon_ready), with the error if
 * something failed.
 */
static int run(bool daemonize)
{
	char err[512] = "";
	bool use_stderr = daemonize || (!D.cfg.log.file[0] && !D.cfg.log.syslog);
	if (kf_log_open(D.cfg.log.file, D.cfg.log.syslog, use_stderr, err, sizeof(err)) != KF_OK) {
		fprintf(stderr, "kforkd: %s\n", err);
		return 2;
	}
	if (daemonize && kf_daemonize(err, sizeof(err)) != KF_OK) {
		kf_err(COMP, "%s", err);
		return 2;
	}
	if (D.pidfile && kf_pidfile_create(D.pidfile, err, sizeof(err)) != KF_OK) {
		kf_err(COMP, "%s", err);
		D.pidfile = NULL;   /* not ours */
		kf_daemon_ready(2);
		return 2;
	}
	D.loop = ev_default_loop(0);
	if (!D.loop) {
		kf_err(COMP, "cannot start the event loop");
		kf_daemon_ready(2);
		return 2;
	}
	ev_init(&D.commit_t, on_commit_timer);
	D.commit_t.repeat = D.cfg.kafka.commit_interval_ms / 1000.;
	ev_init(&D.reset_t, on_reset_timer);
	D.reset_t.repeat = RESET_RETRY_S;
	kf_barriers_init(&D.bars, D.loop);
	kf_barrier_init(&D.revoke_b, &revoke_hooks, NULL);
	kf_barrier_init(&D.restart_b, &restart_hooks, NULL);
	kf_barrier_init(&D.shutdown_b, &shutdown_hooks, NULL);
	kf_barrier_init(&D.quiet_b, &quiet_hooks, NULL);
	kf_barrier_init(&D.redispatch_b, &redispatch_hooks, NULL);
	ev_prepare_init(&D.settle_w, on_settle);
	ev_init(&D.final_t, on_final_timeout);
	ev_init(&D.restart_t, on_restart_timeout);
	ev_init(&D.roll_t, on_roll_timer);
	D.roll_t.repeat = 0.1;
	ev_init(&D.ctl_t, on_ctl_timer);
	ev_timer_init(&D.recreated_t, on_recreated_timer, 0., 0.);
	ev_signal_init(&D.sterm, on_signal, SIGTERM);
	ev_signal_init(&D.sint, on_signal, SIGINT);
	ev_signal_init(&D.shup, on_hup, SIGHUP);
	ev_signal_init(&D.susr1, on_usr1, SIGUSR1);
	signal(SIGPIPE, SIG_IGN);

	/* Workers close every socket they inherit (on_child). */
	if (setup_control(err, sizeof(err)) != KF_OK || setup_metrics(err, sizeof(err)) != KF_OK ||
	    own_files(err, sizeof(err)) != KF_OK || setup_pool(err, sizeof(err)) != KF_OK ||
	    setup_cluster(err, sizeof(err)) != KF_OK || setup_consumer(err, sizeof(err)) != KF_OK) {
		kf_err(COMP, "%s", err);
		if (D.pool) {
			kf_pool_stop(D.pool, 0);
			if (!kf_pool_stopped(D.pool))
				ev_run(D.loop, 0);
		}
		teardown();
		kf_daemon_ready(2);
		return 2;
	}
	kf_daemon_ready(0);
	if (daemonize)
		kf_log_stderr(false);
	ev_signal_start(D.loop, &D.sterm);
	ev_signal_start(D.loop, &D.sint);
	ev_signal_start(D.loop, &D.shup);
	ev_signal_start(D.loop, &D.susr1);
	ev_timer_again(D.loop, &D.commit_t);
	kf_info(COMP, "kforkd %s: group \"%s\", %d topics, %d workers (%s dispatch)",
		PACKAGE_VERSION, D.cfg.kafka.group, D.cfg.kafka.n_topics, D.cfg.workers.count,
		kf_cfg_dispatch_name(D.cfg.workers.dispatch));
	kf_group_start(D.g);
	ev_run(D.loop, 0);
	kf_info(COMP, "stopped");
	int code = D.exit_code;
	teardown();
	return code;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: kforkd -c FILE [-t] [-d] [-p PIDFILE] [-v]\n"
		"  -c, --config FILE  the config file (libconfig syntax)\n"
		"  -t, --test         check the config and exit (0 valid, 1 invalid)\n"
		"  -d, --daemon       run in the background (the command returns once kforkd\n"
		"                     started, or fails with its error)\n"
		"  -p, --pidfile FILE write the pid there; refuse to start if it names a live\n"
		"                     process; removed at exit\n"
		"  -v, --verbose      more log output (repeat for trace)\n"
		"  -h, --help         this text\n"
		"  -V, --version      print the version\n"
		"SIGTERM or SIGINT drains and exits, SIGHUP reloads the config file, SIGUSR1\n"
		"reopens the log file.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "daemon", no_argument, NULL, 'd' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	bool test = false, daemonize = false;
	int verbose = 0, c;
	while ((c = getopt_long(argc, argv, "c:tvhVdp:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 't': test = true; break;
		case 'd': daemonize = true; break;
		case 'p': D.pidfile = optarg; break;
		case 'v': verbose++; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("kforkd %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 2;
	}
	char err[1024];
	/* Reloads happen after -d's chdir("/"): keep the absolute path. */
	char *abs = test ? NULL : realpath(path, NULL);
	char *pabs = D.pidfile && D.pidfile[0] != '/' ? realpath(".", NULL) : NULL;
	char pidpath[4096];
	if (pabs) {
		snprintf(pidpath, sizeof(pidpath), "%s/%s", pabs, D.pidfile);
		D.pidfile = pidpath;
		free(pabs);
	}
	int lrc = kf_config_load(abs ? abs : path, &D.cfg, err, sizeof(err));
	free(abs);
	if (lrc != KF_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (test) {
		kf_config_free(&D.cfg);
		printf("%s: ok\n", path);
		return 0;
	}
	D.verbose = verbose;
	apply_level();
	return run(daemonize);
}
