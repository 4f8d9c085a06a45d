/* compiler/plugin.c -- loading pass plugins (`--plugin ./mypass.so`).
 *
 * One idea: a plugin is refused, with a message naming the file and what
 * is wrong, before anything of it runs, unless it was built against this
 * ftc's pass.h: the entry symbol returns a descriptor whose first field is
 * the ABI version it was compiled with, followed by the sizes of the
 * structs it shares with ftc and the op count, and all must match. The
 * plugin then calls ftc's own functions (ftc is linked -rdynamic), so its
 * passes are exactly as capable as the built-in ones; the pass manager
 * verifies the graph after each of them.
 */
#include <dlfcn.h>
#include <string.h>
#include "ir.h"

int pass_load_plugin(const char *path) {
  /* dlopen searches the library path for a bare name; a plugin is a file */
  char buf[4096];
  const char *file = path;
  if (!strchr(path, '/')) {
    snprintf(buf, sizeof buf, "./%s", path);
    file = buf;
  }
  void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "ftc: cannot load the pass plugin %s: %s\n", path, dlerror());
    return -1;
  }
  dlerror();
  void *sym = dlsym(h, FTC_PLUGIN_ENTRY);
  if (!sym) {
    fprintf(stderr,
            "ftc: %s is not an ftc pass plugin: it has no entry symbol '%s' (end the plugin "
            "with FTC_PLUGIN(&your_pass); see docs/passes.md)\n",
            path, FTC_PLUGIN_ENTRY);
    dlclose(h);
    return -1;
  }
  const FtcPlugin *(*entry)(void);
  memcpy(&entry, &sym, sizeof entry); /* object pointer -> function pointer */
  const FtcPlugin *p = entry();
  if (!p) {
    fprintf(stderr, "ftc: the pass plugin %s returned no descriptor from %s()\n", path,
            FTC_PLUGIN_ENTRY);
    dlclose(h);
    return -1;
  }
  if (p->abi != FTC_PASS_ABI) {
    fprintf(stderr,
            "ftc: the pass plugin %s was built for pass ABI %d, this ftc has ABI %d: rebuild it "
            "against this ftc's <ftc/pass.h>\n",
            path, p->abi, FTC_PASS_ABI);
    dlclose(h);
    return -1;
  }
  if (p->node_size != sizeof(IrNode) || p->graph_size != sizeof(IrGraph) ||
      p->recipe_size != sizeof(Recipe) || p->op_count != IR_OP_COUNT) {
    fprintf(stderr,
            "ftc: the pass plugin %s was built against another pass.h (node %u, graph %u, "
            "recipe %u bytes, %u ops; this ftc: %zu, %zu, %zu, %d): rebuild it against this "
            "ftc's <ftc/pass.h>\n",
            path, p->node_size, p->graph_size, p->recipe_size, p->op_count, sizeof(IrNode),
            sizeof(IrGraph), sizeof(Recipe), (int)IR_OP_COUNT);
    dlclose(h);
    return -1;
  }
  int n = 0;
  for (const Pass *const *q = p->passes; q && *q; q++, n++) {
    const Pass *ps = *q;
    if (!ps->name || !*ps->name) {
      fprintf(stderr, "ftc: the pass plugin %s has a pass without a name\n", path);
      return -1;
    }
    if (ps->stage != IR_PHASE_FWD && ps->stage != IR_PHASE_BWD) {
      fprintf(stderr, "ftc: pass '%s' of the plugin %s has no valid stage (IR_PHASE_FWD or "
                      "IR_PHASE_BWD)\n", ps->name, path);
      return -1;
    }
    if (pass_find(ps->name)) {
      const char *from = pass_origin(pass_find(ps->name));
      fprintf(stderr, "ftc: the pass plugin %s defines '%s', which %s already defines\n", path,
              ps->name, from ? from : "ftc");
      return -1;
    }
    if (pass_register_from(ps, path) < 0) {
      fprintf(stderr, "ftc: too many passes: cannot register '%s' from %s\n", ps->name, path);
      return -1;
    }
  }
  if (n == 0) {
    fprintf(stderr, "ftc: the pass plugin %s defines no passes\n", path);
    dlclose(h);
    return -1;
  }
  return 0; /* the handle stays open: the registry borrows its descriptors */
}
