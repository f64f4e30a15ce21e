/*
 * log: one line per event, "TIME LEVEL component: message", to stderr (the
 * operating issue adds a file and syslog).  Never blocks for long: stderr
 * writes are small, and nothing here takes a lock.
 */
#ifndef KF_LOG_H
#define KF_LOG_H

enum kf_log_level {
	KF_LOG_ERROR = 0,
	KF_LOG_WARN,
	KF_LOG_INFO,
	KF_LOG_DEBUG,
	KF_LOG_TRACE,
};

extern enum kf_log_level kf_log_level;

/* "error", "warn", ... -> level; -1 for an unknown word. */
int kf_log_level_parse(const char *word);
const char *kf_log_level_name(enum kf_log_level level);

void kf_log(enum kf_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define KF_LOG_ENABLED(lvl) ((lvl) <= kf_log_level)
#define kf_err(comp, ...) kf_log(KF_LOG_ERROR, comp, __VA_ARGS__)
#define kf_warn(comp, ...) kf_log(KF_LOG_WARN, comp, __VA_ARGS__)
#define kf_info(comp, ...) kf_log(KF_LOG_INFO, comp, __VA_ARGS__)
#define kf_debug(comp, ...) do { if (KF_LOG_ENABLED(KF_LOG_DEBUG)) kf_log(KF_LOG_DEBUG, comp, __VA_ARGS__); } while (0)
#define kf_trace(comp, ...) do { if (KF_LOG_ENABLED(KF_LOG_TRACE)) kf_log(KF_LOG_TRACE, comp, __VA_ARGS__); } while (0)

#endif
