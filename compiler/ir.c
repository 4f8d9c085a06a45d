/* compiler/ir.c -- the graph container: the op table, node creation, the
 * string arena, the verifier and the two printers (text dump, Graphviz).
 *
 * The idea: a graph is one growable array of nodes in topological order
 * (a node only reads nodes with smaller ids), so creation order IS a valid
 * schedule and every walk is a plain loop. Shapes are never set by hand
 * except for the few ops whose result shape is an attribute (leaves,
 * reshape, the *_bwd ops that restore an input shape); ir_infer (shape.c)
 * computes or checks them. The dump format is stable: golden tests use it.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

const IrOpInfo ir_ops[IR_OP_COUNT] = {
#define OP(e, name, arity, kind) [IR_##e] = {name, arity, kind},
#include "ops.def"
#undef OP
};

/* The table and the enum come from the same list; this catches an edit
 * that breaks the include (e.g. a stray #define OP elsewhere). */
enum {
  OPS_LISTED = 0
#define OP(e, name, arity, kind) +1
#include "ops.def"
#undef OP
};
static_assert((int)IR_OP_COUNT == (int)OPS_LISTED, "ir_ops must have one entry per op in ops.def");

/* ---- dtypes and shapes ------------------------------------------------ */

static const struct { const char *name; int size; } dtypes[IR_DTYPE_COUNT] = {
    [IR_F32] = {"f32", 4}, [IR_F64] = {"f64", 8}, [IR_I32] = {"i32", 4},
    [IR_BF16] = {"bf16", 2}, [IR_F16] = {"f16", 2},
};

int ir_dtype_size(IrDtype t) {
  return (unsigned)t < IR_DTYPE_COUNT ? dtypes[t].size : 0;
}

const char *ir_dtype_name(IrDtype t) {
  return (unsigned)t < IR_DTYPE_COUNT ? dtypes[t].name : "?";
}

int64_t ir_numel(const IrShape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) n *= s->d[i];
  return n;
}

char *ir_shape_str(const IrShape *s, char *buf, size_t n) {
  size_t k = 0;
  if (n == 0) return buf;
  buf[0] = 0;
  k += (size_t)snprintf(buf + k, n - k, "[");
  for (int i = 0; i < s->rank && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "",
                          (long long)s->d[i]);
  if (k < n) snprintf(buf + k, n - k, "]");
  return buf;
}

/* ---- the string arena -------------------------------------------------
 * Names live as long as the graph; a chunk list keeps pointers stable. */

typedef struct Chunk {
  struct Chunk *next;
  size_t used, cap;
  char data[];
} Chunk;

const char *ir_strdup(IrGraph *g, const char *s) {
  if (!s) return NULL;
  size_t len = strlen(s) + 1;
  Chunk *c = g->arena;
  if (!c || c->cap - c->used < len) {
    size_t cap = len > 4096 ? len : 4096;
    Chunk *nc = malloc(sizeof(Chunk) + cap);
    if (!nc) {
      fprintf(stderr, "ftc: out of memory (ir_strdup)\n");
      exit(3);
    }
    nc->next = c;
    nc->used = 0;
    nc->cap = cap;
    g->arena = c = nc;
  }
  char *p = c->data + c->used;
  memcpy(p, s, len);
  c->used += len;
  return p;
}

void ir_note(IrGraph *g, const char *fmt, ...) {
  char line[512], *all;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  size_t old = g->notes ? strlen(g->notes) : 0;
  if (!(all = malloc(old + strlen(line) + 2))) return;
  memcpy(all, g->notes ? g->notes : "", old);
  strcpy(all + old, line);
  strcat(all + old, "\n");
  g->notes = ir_strdup(g, all);
  free(all);
}

/* ---- graph and nodes -------------------------------------------------- */

IrGraph *ir_graph_new(void) {
  IrGraph *g = calloc(1, sizeof *g);
  if (!g) {
    fprintf(stderr, "ftc: out of memory (ir_graph_new)\n");
    exit(3);
  }
  g->tokens = g->targets = g->logits = g->loss = -1;
  return g;
}

void ir_graph_free(IrGraph *g) {
  if (!g) return;
  Chunk *c = g->arena;
  while (c) {
    Chunk *next = c->next;
    free(c);
    c = next;
  }
  free(g->nodes);
  free(g);
}

int ir_new(IrGraph *g, IrOp op, const int *in, int nin, Span sp) {
  if (g->n == g->cap) {
    int cap = g->cap ? g->cap * 2 : 256;
    IrNode *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
    if (!nn) {
      fprintf(stderr, "ftc: out of memory (%d graph nodes)\n", cap);
      exit(3);
    }
    g->nodes = nn;
    g->cap = cap;
  }
  int id = g->n++;
  IrNode *n = &g->nodes[id];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->dtype = IR_F32;
  n->role = IR_ROLE_ACT;
  n->phase = IR_PHASE_FWD;
  n->span = sp;
  n->grad_of = -1;
  n->group = -1;
  n->follows = -1;
  if (nin > IR_MAXIN) nin = IR_MAXIN; /* ir_infer reports the arity error */
  n->nin = nin < 0 ? 0 : nin;
  for (int i = 0; i < n->nin; i++) n->in[i] = in[i];
  for (int i = 0; i < IR_MAXRANK; i++) n->perm[i] = i;
  return id;
}

int ir_add(IrGraph *g, Diag *d, Span sp, IrOp op, const int *in, int nin) {
  int id = ir_new(g, op, in, nin, sp);
  if (ir_infer(g, d, id) != 0) {
    g->n--; /* the failed node is the last one: drop it */
    return -1;
  }
  return id;
}

/* ---- verifier ---------------------------------------------------------- */

static int verr(FILE *err, const IrGraph *g, int id, const char *msg) {
  if (err) {
    const IrNode *n = &g->nodes[id];
    fprintf(err, "ir_verify: %%%d %s%s%s: %s\n", id,
            (unsigned)n->op < IR_OP_COUNT ? ir_ops[n->op].name : "?",
            n->name ? " " : "", n->name ? n->name : "", msg);
  }
  return 1;
}

/* Param names are checkpoint keys: they must be unique. Sorted by name
 * (then id), a duplicate sits next to its first holder: O(n log n), as the
 * verifier runs after every pass on graphs of 10^5 nodes. */
static const IrGraph *sort_g;
static int by_name(const void *a, const void *b) {
  int i = *(const int *)a, j = *(const int *)b;
  int c = strcmp(sort_g->nodes[i].name, sort_g->nodes[j].name);
  return c ? c : (i > j) - (i < j);
}

static int duplicate_params(const IrGraph *g, FILE *err) {
  int *ids = malloc(sizeof(int) * ((size_t)g->n + 1)), np = 0, bad = 0;
  if (!ids) return verr(err, g, 0, "out of memory checking parameter names");
  for (int i = 0; i < g->n; i++)
    if (g->nodes[i].op == IR_PARAM && g->nodes[i].name) ids[np++] = i;
  sort_g = g;
  qsort(ids, (size_t)np, sizeof(int), by_name);
  for (int k = 1; k < np; k++)
    if (!strcmp(g->nodes[ids[k - 1]].name, g->nodes[ids[k]].name))
      bad += verr(err, g, ids[k], "duplicate parameter name");
  free(ids);
  return bad;
}

int ir_verify(const IrGraph *g, FILE *err) {
  int bad = 0;
  for (int id = 0; id < g->n; id++) {
    const IrNode *n = &g->nodes[id];
    if ((unsigned)n->op >= IR_OP_COUNT) {
      bad += verr(err, g, id, "unknown op");
      continue;
    }
    const IrOpInfo *oi = &ir_ops[n->op];
    int inputs_ok = 1;
    if (n->nin < 0 || n->nin > IR_MAXIN ||
        (oi->arity >= 0 && n->nin != oi->arity &&
         !(n->nin == oi->arity + 1 && ir_op_accumulates(n->op)))) {
      bad += verr(err, g, id, "wrong number of inputs");
      continue;
    }
    for (int i = 0; i < n->nin; i++) {
      char msg[64];
      if (n->in[i] < 0 || n->in[i] >= id) {
        bad += verr(err, g, id, "input is not an earlier node");
        inputs_ok = 0;
      } else if (!n->dead && g->nodes[n->in[i]].dead) {
        snprintf(msg, sizeof msg, "reads %%%d, which is dead", n->in[i]);
        bad += verr(err, g, id, msg);
        inputs_ok = 0;
      }
    }
    if (n->shape.rank < 1 || n->shape.rank > IR_MAXRANK) bad += verr(err, g, id, "bad rank");
    for (int i = 0; i < n->shape.rank && i < IR_MAXRANK; i++)
      if (n->shape.d[i] <= 0) bad += verr(err, g, id, "non-positive dimension");
    if ((unsigned)n->dtype >= IR_DTYPE_COUNT) bad += verr(err, g, id, "bad dtype");
    if ((unsigned)n->role >= IR_ROLE_COUNT) bad += verr(err, g, id, "bad role");
    if (n->op == IR_PARAM && n->role != IR_ROLE_PARAM) bad += verr(err, g, id, "param without role PARAM");
    if (n->role == IR_ROLE_PARAM && n->op != IR_PARAM) bad += verr(err, g, id, "role PARAM on a non-param");
    if (n->op == IR_PARAM && !n->name) bad += verr(err, g, id, "param without a name");
    if (n->op == IR_INPUT && n->dtype != IR_I32) bad += verr(err, g, id, "input is not i32");
    if (n->group >= g->ngroups) bad += verr(err, g, id, "group id out of range");
    if (n->group >= 0 && !n->composite) bad += verr(err, g, id, "group without a composite name");
    if (n->grad_of >= g->n) bad += verr(err, g, id, "grad_of out of range");
    /* the stored shape is what the op's rule says (a rewrite that changed
     * an input must re-infer its readers: ir_reinfer) */
    if (!n->dead && inputs_ok && ir_has_shape_rule(n->op) && n->shape.rank >= 1 &&
        n->shape.rank <= IR_MAXRANK) {
      char why[512], msg[600];
      if (ir_check_shape(g, id, why, sizeof why) < 0) {
        snprintf(msg, sizeof msg, "shape: %s", why);
        bad += verr(err, g, id, msg);
      }
    }
    if (n->op == IR_PERMUTE) {
      int seen = 0;
      for (int i = 0; i < n->shape.rank; i++)
        if (n->perm[i] >= 0 && n->perm[i] < n->shape.rank) seen |= 1 << n->perm[i];
      if (seen != (1 << n->shape.rank) - 1) bad += verr(err, g, id, "perm is not a permutation");
    }
  }
  bad += duplicate_params(g, err);
  const struct { int id; const char *what; } ends[] = {
      {g->tokens, "tokens"}, {g->targets, "targets"}, {g->logits, "logits"}, {g->loss, "loss"}};
  for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
    if (ends[i].id < -1 || ends[i].id >= g->n) {
      if (err) fprintf(err, "ir_verify: %s id %d out of range\n", ends[i].what, ends[i].id);
      bad++;
    }
  if (g->tokens >= 0 && g->nodes[g->tokens].op != IR_INPUT) {
    if (err) fprintf(err, "ir_verify: tokens is not an input node\n");
    bad++;
  }
  if (g->loss >= 0 && ir_numel(&g->nodes[g->loss].shape) != 1) {
    if (err) fprintf(err, "ir_verify: loss is not a scalar\n");
    bad++;
  }
  return bad ? -1 : 0;
}

/* ---- printing ---------------------------------------------------------- */

static const char *const role_names[IR_ROLE_COUNT] = {
    "act", "input", "param", "grad", "bwd", "optstate"};
static const char *const init_names[] = {"none", "zeros", "ones", "normal", "uniform"};

static const char *base_name(const char *p) {
  const char *s = p ? strrchr(p, '/') : NULL;
  return s ? s + 1 : (p ? p : "?");
}

/* Attributes that matter for each op, as `key=value` words. */
static void print_attrs(const IrNode *n, FILE *out) {
  switch (n->op) {
  case IR_MATMUL:
    if (n->ia[0]) fprintf(out, " ta");
    if (n->ia[1]) fprintf(out, " tb");
    if (n->ia[2]) fprintf(out, " tri=%s", n->ia[2] == IR_TRI_OUT ? "out" : "a");
    break;
  case IR_SCALE: case IR_FILL: fprintf(out, " s=%.9g", n->fa[0]); break;
  case IR_CAUSAL_MASK: fprintf(out, " fill=%g", n->fa[0]); break;
  case IR_LAYER_NORM: case IR_RMS_NORM: case IR_LAYER_NORM_BWD_X:
  case IR_LAYER_NORM_BWD_W: case IR_RMS_NORM_BWD_X: case IR_RMS_NORM_BWD_W:
    fprintf(out, " eps=%g", n->fa[0]);
    break;
  case IR_ROPE: fprintf(out, " theta=%g sign=%+d", n->fa[0], (int)n->ia[0]); break;
  case IR_PERMUTE:
    fprintf(out, " perm=[");
    for (int i = 0; i < n->shape.rank; i++) fprintf(out, "%s%d", i ? "," : "", n->perm[i]);
    fprintf(out, "]");
    break;
  case IR_SLICE: case IR_SLICE_BWD:
    fprintf(out, " axis=%lld start=%lld len=%lld", (long long)n->ia[0],
            (long long)n->ia[1], (long long)n->ia[2]);
    break;
  case IR_CONCAT: fprintf(out, " axis=%lld", (long long)n->ia[0]); break;
  case IR_SUM: case IR_MEAN:
    fprintf(out, " axis=%lld%s", (long long)n->ia[0], n->ia[1] ? " keepdim" : "");
    break;
  case IR_BROADCAST: fprintf(out, " axis=%lld s=%.9g", (long long)n->ia[0], n->fa[0]); break;
  case IR_FLASH_ATTENTION: case IR_FLASH_ATTENTION_BWD:
    fprintf(out, "%s block=%lld threads=%lld scale=%.9g", n->ia[0] ? " causal" : "",
            (long long)n->ia[1], (long long)n->ia[2], n->fa[0]);
    break;
  case IR_EXPAND: case IR_EXPAND_BWD:
    fprintf(out, " axis=%lld reps=%lld", (long long)n->ia[0], (long long)n->ia[1]);
    break;
  default: break;
  }
}

void ir_dump(const IrGraph *g, FILE *out) {
  char sb[128];
  for (int id = 0; id < g->n; id++) {
    const IrNode *n = &g->nodes[id];
    fprintf(out, "%%%d = %s(", id, ir_ops[n->op].name);
    for (int i = 0; i < n->nin; i++) fprintf(out, "%s%%%d", i ? ", " : "", n->in[i]);
    fprintf(out, ")");
    print_attrs(n, out);
    fprintf(out, " : %s%s", ir_dtype_name(n->dtype), ir_shape_str(&n->shape, sb, sizeof sb));
    if (n->role != IR_ROLE_ACT) fprintf(out, " %s", role_names[n->role]);
    if (n->name) fprintf(out, " \"%s\"", n->name);
    if (n->op == IR_PARAM) {
      fprintf(out, " %s init=%s", n->trainable ? "trainable" : "frozen", init_names[n->init]);
      if (n->init == INIT_NORMAL || n->init == INIT_UNIFORM) fprintf(out, "(%.9g)", n->init_arg);
      if (n->no_decay) fprintf(out, " no_decay");
    }
    if (n->grad_of >= 0) fprintf(out, " grad_of=%%%d", n->grad_of);
    if (n->group >= 0) fprintf(out, " group=%d:%s", n->group, n->composite ? n->composite : "?");
    if (n->layer) fprintf(out, " layer=%s", n->layer);
    if (n->dead) fprintf(out, " dead");
    if (n->span.file)
      fprintf(out, " @%s:%d:%d", base_name(n->span.file->path), n->span.line, n->span.col);
    fputc('\n', out);
  }
  if (g->tokens >= 0) fprintf(out, "tokens %%%d\n", g->tokens);
  if (g->targets >= 0) fprintf(out, "targets %%%d\n", g->targets);
  if (g->logits >= 0) fprintf(out, "logits %%%d\n", g->logits);
  if (g->loss >= 0) fprintf(out, "loss %%%d\n", g->loss);
}

/* DOT labels: quotes and backslashes must be escaped. */
static void dot_str(FILE *out, const char *s) {
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', out);
    fputc(*s, out);
  }
}

void ir_dot(const IrGraph *g, FILE *out) {
  static const char *const fill[IR_ROLE_COUNT] = {
      "white", "lightblue", "lightyellow", "orange", "mistyrose", "lightgrey"};
  char sb[128];
  fprintf(out, "digraph ftc {\n  rankdir=TB;\n  node [shape=box, style=filled, fontname=\"monospace\", fontsize=10];\n");
  /* Composite instances become clusters so a reader sees one attention.
   * Each group's members are chained through `next` (ascending ids) in one
   * sweep, so deep models do not cost groups x nodes. */
  int *head = malloc(sizeof(int) * ((size_t)g->ngroups + 1));
  int *next = malloc(sizeof(int) * ((size_t)g->n + 1));
  if (!head || !next) {
    free(head);
    free(next);
    fprintf(stderr, "ftc: out of memory (graph of %d nodes)\n", g->n);
    exit(3);
  }
  for (int grp = 0; grp < g->ngroups; grp++) head[grp] = -1;
  for (int id = g->n - 1; id >= 0; id--) {
    const IrNode *n = &g->nodes[id];
    if (n->dead || n->group < 0 || n->group >= g->ngroups) continue;
    next[id] = head[n->group];
    head[n->group] = id;
  }
  for (int grp = 0; grp < g->ngroups; grp++) {
    int first = 1;
    for (int id = head[grp]; id >= 0; id = next[id]) {
      const IrNode *n = &g->nodes[id];
      if (first) {
        fprintf(out, "  subgraph cluster_%d {\n    label=\"", grp);
        dot_str(out, n->composite ? n->composite : "group");
        fprintf(out, " #%d\"; style=dashed;\n   ", grp);
        first = 0;
      }
      fprintf(out, " n%d;", id);
    }
    if (!first) fprintf(out, "\n  }\n");
  }
  free(head);
  free(next);
  for (int id = 0; id < g->n; id++) {
    const IrNode *n = &g->nodes[id];
    if (n->dead) continue;
    fprintf(out, "  n%d [label=\"%%%d %s", id, id, ir_ops[n->op].name);
    if (n->name) {
      fprintf(out, "\\n");
      dot_str(out, n->name);
    }
    fprintf(out, "\\n%s%s\", fillcolor=%s];\n", ir_dtype_name(n->dtype),
            ir_shape_str(&n->shape, sb, sizeof sb), fill[n->role]);
  }
  for (int id = 0; id < g->n; id++) {
    const IrNode *n = &g->nodes[id];
    if (n->dead) continue;
    for (int i = 0; i < n->nin; i++) fprintf(out, "  n%d -> n%d;\n", n->in[i], id);
  }
  fprintf(out, "}\n");
}
