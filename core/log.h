/*
 * log.h - one line per event on stderr: UTC time, level, the component
 * that speaks, and the message. Safe from any thread.
 */
#ifndef WEIR_LOG_H
#define WEIR_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Messages below this level are dropped; WEIR_LOG=debug|info|warn|error
 * sets it at startup (log_init). */
void log_init(void);
/* Every line names this before its component ("instance 1/3" for one of
 * several processes of a job). Call it once: lines being written
 * meanwhile by other threads may show part of a second one. */
void log_set_prefix(const char *prefix);
void log_msg(enum log_level lvl, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(who, ...) log_msg(LOG_DEBUG, who, __VA_ARGS__)
#define log_info(who, ...) log_msg(LOG_INFO, who, __VA_ARGS__)
#define log_warn(who, ...) log_msg(LOG_WARN, who, __VA_ARGS__)
#define log_error(who, ...) log_msg(LOG_ERROR, who, __VA_ARGS__)

#endif
