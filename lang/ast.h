/* lang/ast.h -- the public face of the front-end: spans, the AST, diagnostics
 * and the entry points that turn .ft text into a checked AST.
 *
 * One idea: every node is the same small struct (kind, span, a name, a
 * literal and an ordered list of children), so the parser's actions are
 * one-line constructor calls and every later stage (sema, fmt, the dump,
 * the compiler's elaboration) walks the same shape. Ownership: all nodes and
 * strings of one parse live in the AstCtx's arena and die with ast_ctx_free.
 */
#ifndef FTC_LANG_AST_H
#define FTC_LANG_AST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "span.h" /* SrcFile, Span, Diag: what later stages report with */

/* Node kinds. Children layout is documented per kind (kids[i]). */
#define AST_KINDS(X)                                                          \
  X(FILE)      /* kids: items */                                              \
  X(USE)       /* name: module path "gpt2" or "./x.ft"; str set if quoted */  \
  X(LET)       /* name = kids[0]: top-level binding (model = ..., weights)  */ \
  X(MODEL)     /* name; kids[0]=PARAMS, kids[1..]= members                  */ \
  X(PARAMS)    /* kids: PARAM_DEF (formal parameters of model/forward)     */ \
  X(PARAM_DEF) /* name; kids[0]=type or NULL, kids[1]=default or NULL       */ \
  X(TENSOR_TYPE) /* name: dtype ("i32","f32"); kids: dim exprs              */ \
  X(PARAM)     /* `param name[shape] = init`: name; kids[0]=SHAPE, kids[1]=init or NULL */ \
  X(SHAPE)     /* kids: dim exprs                                           */ \
  X(SUBMODULE) /* `name = call`: name; kids[0]=CALL                        */ \
  X(REPEAT)    /* `repeat name[count] { members }`: name; kids[0]=count, kids[1..]=members */ \
  X(FORWARD)   /* kids[0]=PARAMS, kids[1]=BLOCK                             */ \
  X(BLOCK)     /* kids: statements                                          */ \
  X(ASSIGN)    /* name = kids[0]                                            */ \
  X(FOR)       /* `for name in kids[0] kids[1]=BLOCK`                        */ \
  X(RETURN)    /* kids[0]                                                    */ \
  X(DATA)      /* `data name = kids[0]` (a CALL)                            */ \
  X(TRAIN)     /* kids: SETTING                                              */ \
  X(SETTING)   /* name; kids[0]=value or NULL; kids[1..]=CLAUSE             */ \
  X(CLAUSE)    /* name: "every"|"on"|"to"; kids[0]=value                     */ \
  X(PASSES)    /* kids: expressions (NAME or CALL)                          */ \
  X(BINOP)     /* name: "+","-","*","/","@"; kids[0], kids[1]               */ \
  X(UNOP)      /* name: "-"; kids[0]                                        */ \
  X(CALL)      /* kids[0]=callee expr, kids[1..]=ARG                        */ \
  X(ARG)       /* name or NULL (positional); kids[0]=value                  */ \
  X(MEMBER)    /* kids[0].name                                              */ \
  X(INDEX)     /* kids[0][kids[1..]] ; a SLICE may appear among the indices */ \
  X(SLICE)     /* kids[0]:kids[1]; either may be NULL                        */ \
  X(NAME)      /* name                                                      */ \
  X(INT)       /* ival (sizes with units are INT bytes; str keeps the spelling) */ \
  X(FLOAT)     /* fval; str keeps the spelling                              */ \
  X(STRING)    /* str: unescaped contents                                   */ \
  X(BOOL)      /* ival 0/1                                                  */ \
  X(LIST)      /* [a, b, ...] kids                                           */ \
  X(TUPLE)     /* (a, b, ...) kids (two or more, or `(a,)`)                 */ \
  X(ERROR)     /* placeholder produced by error recovery                   */

typedef enum {
#define X(k) AST_##k,
  AST_KINDS(X)
#undef X
  AST_KIND_COUNT
} AstKind;

extern const char *const ast_kind_names[AST_KIND_COUNT];

typedef struct AstNode AstNode;
struct AstNode {
  AstKind kind;
  Span span;
  const char *name; /* identifier/operator/key, or NULL */
  const char *str;  /* string literal contents or literal spelling, or NULL */
  int64_t ival;
  double fval;
  AstNode **kids;   /* kids[i] may be NULL where the kind says "or NULL" */
  int nkids;
};

/* A comment kept for the formatter: text without the leading '#'. */
typedef struct AstComment {
  Span span;
  const char *text;
  int own_line; /* 1 if nothing but whitespace precedes it on its line */
} AstComment;

/* ---- parsing and loading --------------------------------------------- */

typedef struct AstCtx AstCtx; /* arena + loaded files + comments */

/* `stdlib_dir` is where `use NAME` looks for NAME.ft (after the directory
 * of the using file); NULL means the built-in default (FTC_STDLIB_DIR or
 * the install path). */
AstCtx *ast_ctx_new(Diag *d, const char *stdlib_dir);
void ast_ctx_free(AstCtx *c);

/* Parses one file (no `use` resolution). Returns the FILE node (never NULL:
 * on errors it holds what parsed plus ERROR nodes); errors go to the Diag. */
AstNode *ast_parse_file(AstCtx *c, const char *path);
AstNode *ast_parse_string(AstCtx *c, const char *name, const char *text, size_t len);

/* Loads `path` and, transitively, every file it `use`s (cycle detection,
 * each file once). Returns the root FILE node. ast_module() finds a loaded
 * module's FILE node by the name it was used under ("gpt2"), or NULL. */
AstNode *ast_load(AstCtx *c, const char *path);
AstNode *ast_module(AstCtx *c, const char *name);

/* "<directory of the running ftc>/rel" into buf (how an installed ftc finds
 * its stdlib and runtime: ../share/ftc/stdlib, ../lib/libftrt.a). 0 on
 * success, -1 when the path is unknown or does not fit. */
int ftc_beside_exe(char *buf, size_t cap, const char *rel);

/* Comments of one file in source order (for fmt). */
const AstComment *ast_comments(AstCtx *c, const SrcFile *f, int *n);

/* Arena helpers for other stages that build nodes (owned by the ctx). */
void *ast_alloc(AstCtx *c, size_t n);
const char *ast_strdup(AstCtx *c, const char *s);

/* ---- stages on a parsed tree ----------------------------------------- */

/* A callable's signature, shared by the built-in tables (lang/builtins.def)
 * and the compiler's pass registry. `params` is .ft-like text, e.g.
 * "rank: int = 8, alpha: float = 16, target: string = \"*\"" (no default =
 * required; types: int float bool string size name tensor list tuple any). */
typedef struct AstSig {
  const char *name;
  const char *params;
  const char *doc;
} AstSig;

/* The language's own pass table (lang/builtins.def, PASS lines), for when
 * the compiler's registry is not available; terminated by name == NULL. */
const AstSig *ast_default_passes(void);

/* Name/argument checks of a loaded recipe: unknown names (with a
 * "did you mean" note), wrong argument types, missing/unknown arguments,
 * duplicate definitions. `passes` (terminated by name == NULL) are the
 * passes the `passes { }` block may name; NULL skips that check. Returns the
 * number of errors reported. */
int ast_check(AstCtx *c, AstNode *root, const AstSig *passes);

/* Canonical formatting of one file (comments kept). */
void ast_format(AstCtx *c, const AstNode *file, FILE *out);

/* Readable indented dump: one node per line with kind, name/literal and span. */
void ast_dump(const AstNode *n, FILE *out);
/* The same without spans: equal text for trees that differ only in layout
 * (what the fmt round-trip compares). */
void ast_dump_shape(const AstNode *n, FILE *out);

#endif
