/* tests/plugins/bad_abi.c -- a plugin built for another pass ABI: its
 * descriptor says FTC_PASS_ABI + 1. ftc must refuse it before running it. */
#include "pass.h"

static int run(IrGraph *g, const PassArgs *a, Diag *d) { return 0; }
static const PassParam params[] = {{0}};
static const Pass future = {.name = "future", .doc = "from the future", .params = params,
                            .stage = IR_PHASE_FWD, .run = run};

const FtcPlugin *ftc_pass_plugin(void);
const FtcPlugin *ftc_pass_plugin(void) {
  static const Pass *const list[] = {&future, NULL};
  static const FtcPlugin p = {FTC_PASS_ABI + 1, sizeof(IrNode), sizeof(IrGraph),
                              sizeof(Recipe), IR_OP_COUNT, list};
  return &p;
}
