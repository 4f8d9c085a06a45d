/* tests/plugins/bad_noentry.c -- a shared object that is not a pass
 * plugin: no FTC_PLUGIN entry. ftc must refuse it by name. */
int not_a_plugin(void);
int not_a_plugin(void) { return 42; }
