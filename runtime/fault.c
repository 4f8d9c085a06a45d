/* runtime/fault.c -- fault injection for the test suites (env FTC_FAULT).
 *
 * One idea: a crash at an exact, named point is what makes a recovery test
 * repeatable: FTC_FAULT lists events, each ACTION@POINT:N, and the trainer
 * performs the action the N-th time it reaches the point (1-based):
 *   kill@step:N    SIGKILL in step N, after the backward, before the update
 *   kill@write:N   SIGKILL halfway through the N-th file rt_st_write writes
 *                  (checkpoints, kept copies, weights)
 *   kill@eval:N    SIGKILL inside the N-th evaluation, between batches
 *   nan@step:N     step N's loss becomes NaN (the non-finite policy)
 *   spike@step:N   step N's loss is reported 50 times larger (spike warning)
 *   nangrad@step:N one gradient value of step N becomes NaN (finite loss,
 *                  non-finite gradient norm)
 * e.g. FTC_FAULT=kill@write:3 or FTC_FAULT=nan@step:4,nan@step:6. Unset, each
 * hook is one branch. Never set it outside tests.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_internal.h"

enum { F_KILL, F_NAN, F_SPIKE, F_NANGRAD };
enum { P_STEP, P_WRITE, P_EVAL, P_COUNT };
typedef struct Fault { int action, point; int64_t n; } Fault;

static Fault faults[16];
static int nfaults = -1;
static int64_t seen[P_COUNT];

static void load(void) {
  nfaults = 0;
  const char *e = getenv("FTC_FAULT");
  if (!e || !*e) return;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", e);
  for (char *tok = strtok(buf, ","); tok && nfaults < 16; tok = strtok(NULL, ",")) {
    char act[16], pt[16];
    long long n;
    if (sscanf(tok, "%15[a-z]@%15[a-z]:%lld", act, pt, &n) != 3 || n < 1) {
      rt_warn("FTC_FAULT: ignoring \"%s\" (ACTION@POINT:N)", tok);
      continue;
    }
    Fault f = {!strcmp(act, "kill") ? F_KILL : !strcmp(act, "nan") ? F_NAN
               : !strcmp(act, "spike") ? F_SPIKE : !strcmp(act, "nangrad") ? F_NANGRAD : -1,
               !strcmp(pt, "step") ? P_STEP : !strcmp(pt, "write") ? P_WRITE
               : !strcmp(pt, "eval") ? P_EVAL : -1, n};
    if (f.action < 0 || f.point < 0) rt_warn("FTC_FAULT: unknown \"%s\"", tok);
    else faults[nfaults++] = f;
  }
}

/* The action planned for this arrival at `point` (counts it), or -1. */
static int arrive(int point, int64_t n) {
  if (nfaults < 0) load();
  if (nfaults == 0) return -1;
  int64_t k = n > 0 ? n : ++seen[point];
  for (int i = 0; i < nfaults; i++)
    if (faults[i].point == point && faults[i].n == k) return faults[i].action;
  return -1;
}

static void die(const char *where) {
  char msg[128];
  int len = snprintf(msg, sizeof msg, "%s: FTC_FAULT: SIGKILL %s\n", rt_progname, where);
  if (len > 0 && write(2, msg, (size_t)len) < 0) { /* nothing to do */ }
  raise(SIGKILL);
}

void rt_fault_step(rt_run *r, int64_t step, double *loss) {
  int a = arrive(P_STEP, step);
  if (a == F_KILL) die("in a step");
  else if (a == F_NAN) *loss = NAN;
  else if (a == F_SPIKE) *loss *= 50.0;
  else if (a == F_NANGRAD)
    for (int i = 0; i < r->m->nparams; i++)
      if (r->m->params[i].trainable) {
        void *g = rt_at(r, r->m->params[i].grad_off);
        if (r->m->dtype == RT_F64) *(double *)g = NAN;
        else *(float *)g = NAN;
        break;
      }
}

/* Called by rt_st_write after each chunk: `half` is 1 once half the file's
 * bytes are out. Counts a write on its first call (half = -1). */
void rt_fault_write(int half) {
  static int armed;
  if (half < 0) {
    armed = arrive(P_WRITE, 0) == F_KILL;
    return;
  }
  if (armed && half) die("while writing a file");
}

void rt_fault_eval(void) {
  if (arrive(P_EVAL, 0) == F_KILL) die("during an evaluation");
}
