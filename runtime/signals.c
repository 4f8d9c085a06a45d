/* runtime/signals.c -- Ctrl-C (SIGINT) and SIGTERM ask the training loop to
 * stop after the current step, save a checkpoint and exit cleanly.
 *
 * The handler only sets a flag (async-signal-safe); a second Ctrl-C falls
 * back to the default action so a stuck run can still be killed. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <string.h>

#include "rt_internal.h"

static volatile sig_atomic_t stop_requested;
static struct sigaction old_int, old_term;
static int installed;

static void on_signal(int sig) {
  stop_requested = 1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigaction(sig, &sa, NULL);
}

void rt_signals_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  stop_requested = 0;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  installed = 1;
}

void rt_signals_restore(void) {
  if (!installed) return;
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  installed = 0;
}

int rt_signals_stop(void) { return stop_requested != 0; }
