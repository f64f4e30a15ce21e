/*
 * log: see log.h.  The whole line is formatted into one buffer and written
 * with a single write(2) so lines from several processes do not interleave.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum kf_log_level kf_log_level = KF_LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug", "trace" };

int kf_log_level_parse(const char *word)
{
	for (int i = 0; i <= KF_LOG_TRACE; i++)
		if (strcmp(word, level_names[i]) == 0)
			return i;
	return -1;
}

const char *kf_log_level_name(enum kf_log_level level)
{
	return level <= KF_LOG_TRACE ? level_names[level] : "?";
}

void kf_log(enum kf_log_level level, const char *component, const char *fmt, ...)
{
	if (!KF_LOG_ENABLED(level))
		return;
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], component);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}
