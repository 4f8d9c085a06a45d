/* lang/parser.y -- the .ft grammar (pure bison parser, locations, LAC).
 *
 * One idea: newlines mean nothing, so items, members, statements and
 * settings simply follow each other; the grammar stays conflict-free because
 * no construct can both end one item and continue it (an expression never
 * continues with an identifier, and a setting without a value must start
 * with a clause). Error recovery happens at the level of items, members,
 * statements, settings, pass entries and bracketed expressions, so several
 * unrelated mistakes give several diagnostics. Every action is one
 * constructor call from ps.h; values live in the arena, so no %destructor
 * is needed (see ps.h).
 */
%code requires {
#include "ps.h"
#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif
/* A span covering the right-hand side; empty rules sit at the previous end. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                         \
  do {                                                                      \
    if (N) {                                                                \
      (Cur) = YYRHSLOC(Rhs, 1);                                             \
      (Cur).end_line = YYRHSLOC(Rhs, N).end_line;                           \
      (Cur).end_col = YYRHSLOC(Rhs, N).end_col;                             \
    } else {                                                                \
      (Cur) = YYRHSLOC(Rhs, 0);                                             \
      (Cur).line = (Cur).end_line;                                          \
      (Cur).col = (Cur).end_col;                                            \
    }                                                                       \
  } while (0)
}

%code provides {
int yylex(YYSTYPE *lval, YYLTYPE *lloc, yyscan_t scanner);
}

%code {
#include <string.h>
static void yyerror(YYLTYPE *loc, yyscan_t scanner, PsState *P, const char *msg);
}

%define api.pure full
%define api.location.type {Span}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%lex-param {yyscan_t scanner}
%parse-param {yyscan_t scanner} {PsState *P}

%union { AstNode *n; }

%token <n> IDENT "identifier" INT "integer" FLOAT "number" STRING "string"
%token <n> BOOL "boolean"
%token <n> USE "use" MODEL "model" PARAM "param" REPEAT "repeat"
%token <n> FORWARD "forward" FOR "for" IN "in" RETURN "return" DATA "data"
%token <n> TRAIN "train" PASSES "passes" EVERY "every" ON "on" TO "to"
%token BADCHAR "bad character"
%token END 0 "end of file"

%type <n> items item formals formal_list formal type members member block stmts stmt
%type <n> settings setting clause_list clause passitems passitem
%type <n> expr postfix primary exprs args arglist arg indices index ident argname anyname

%left '+' '-'
%left '*' '/'
%left '@'
%precedence NEG

%%

file: items                             { P->root = ps_file_done(P, $1); }
    ;

items: %empty                           { $$ = ps_node(P, AST_FILE, @$); }
     | items item                       { $$ = ps_add(P, $1, $2); }
     | items error                      { $$ = $1; }
     ;

item: USE ident                         { $$ = ps_named(P, AST_USE, @$, $2); }
    | USE STRING                        { $$ = ps_use_path(P, @$, $2); }
    | ident '=' expr                    { $$ = ps_node1(P, AST_LET, @$, $1, $3); }
    | ident '=' error                   { $$ = ps_node1(P, AST_LET, @$, $1, ps_node(P, AST_ERROR, @3)); }
    | MODEL ident '(' formals ')' '{' members '}' { $$ = ps_wrap(P, AST_MODEL, @$, $2, $4, $7); }
    | DATA ident '=' expr               { $$ = ps_node1(P, AST_DATA, @$, $2, $4); }
    | TRAIN '{' settings '}'            { $$ = ps_take(P, ps_node(P, AST_TRAIN, @$), $3); }
    | PASSES '{' passitems '}'          { $$ = ps_take(P, ps_node(P, AST_PASSES, @$), $3); }
    ;

formals: %empty                         { $$ = ps_node(P, AST_PARAMS, @$); }
       | formal_list                    { $$ = $1; }
       | formal_list ','                { $$ = $1; }
       ;
formal_list: formal                     { $$ = ps_add(P, ps_node(P, AST_PARAMS, @$), $1); }
           | formal_list ',' formal     { $$ = ps_add(P, $1, $3); }
           ;
formal: ident                           { $$ = ps_node2(P, AST_PARAM_DEF, @$, $1, NULL, NULL); }
      | ident ':' type                  { $$ = ps_node2(P, AST_PARAM_DEF, @$, $1, $3, NULL); }
      | ident '=' expr                  { $$ = ps_node2(P, AST_PARAM_DEF, @$, $1, NULL, $3); }
      | ident ':' type '=' expr         { $$ = ps_node2(P, AST_PARAM_DEF, @$, $1, $3, $5); }
      ;
type: ident                             { $$ = $1; }
    | ident '[' exprs ']'               { $$ = ps_take(P, ps_named(P, AST_TENSOR_TYPE, @$, $1), $3); }
    ;

members: %empty                         { $$ = ps_node(P, AST_LIST, @$); }
       | members member                 { $$ = ps_add(P, $1, $2); }
       | members error                  { $$ = $1; }
       ;
member: PARAM ident '[' exprs ']'       { $$ = ps_node2(P, AST_PARAM, @$, $2, ps_shape(P, ps_span_join(@3, @5), $4), NULL); }
      | PARAM ident '[' exprs ']' '=' expr { $$ = ps_node2(P, AST_PARAM, @$, $2, ps_shape(P, ps_span_join(@3, @5), $4), $7); }
      | ident '=' expr                  { $$ = ps_submodule(P, @$, $1, $3); }
      | ident '=' error                 { $$ = ps_node1(P, AST_SUBMODULE, @$, $1, ps_node(P, AST_ERROR, @3)); }
      | PARAM ident '[' exprs ']' '=' error { $$ = ps_node2(P, AST_PARAM, @$, $2, ps_shape(P, ps_span_join(@3, @5), $4), ps_node(P, AST_ERROR, @7)); }
      | REPEAT ident '[' expr ']' '{' members '}' { $$ = ps_wrap(P, AST_REPEAT, @$, $2, $4, $7); }
      | FORWARD '(' formals ')' block   { $$ = ps_node2(P, AST_FORWARD, @$, NULL, $3, $5); }
      ;

block: '{' stmts '}'                    { $$ = ps_take(P, ps_node(P, AST_BLOCK, @$), $2); }
     ;
stmts: %empty                           { $$ = ps_node(P, AST_LIST, @$); }
     | stmts stmt                       { $$ = ps_add(P, $1, $2); }
     | stmts error                      { $$ = $1; }
     ;
stmt: ident '=' expr                    { $$ = ps_node1(P, AST_ASSIGN, @$, $1, $3); }
    | ident '=' error                   { $$ = ps_node1(P, AST_ASSIGN, @$, $1, ps_node(P, AST_ERROR, @3)); }
    | FOR ident IN expr block           { $$ = ps_node2(P, AST_FOR, @$, $2, $4, $5); }
    | RETURN expr                       { $$ = ps_node1(P, AST_RETURN, @$, NULL, $2); }
    ;

settings: %empty                        { $$ = ps_node(P, AST_LIST, @$); }
        | settings setting              { $$ = ps_add(P, $1, $2); }
        | settings error                { $$ = $1; }
        ;
setting: IDENT expr                     { $$ = ps_setting(P, @$, $1, $2, NULL); }
       | IDENT expr clause_list         { $$ = ps_setting(P, @$, $1, $2, $3); }
       | IDENT clause_list              { $$ = ps_setting(P, @$, $1, NULL, $2); }
       ;
clause_list: clause                     { $$ = ps_add(P, ps_node(P, AST_LIST, @$), $1); }
           | clause_list clause         { $$ = ps_add(P, $1, $2); }
           ;
clause: EVERY expr                      { $$ = ps_node1(P, AST_CLAUSE, @$, $1, $2); }
      | ON expr                         { $$ = ps_node1(P, AST_CLAUSE, @$, $1, $2); }
      | TO expr                         { $$ = ps_node1(P, AST_CLAUSE, @$, $1, $2); }
      ;

passitems: %empty                       { $$ = ps_node(P, AST_LIST, @$); }
         | passitems passitem           { $$ = ps_add(P, $1, $2); }
         | passitems error              { $$ = $1; }
         ;
passitem: ident                         { $$ = $1; }
        | ident '(' args ')'            { $$ = ps_wrap(P, AST_CALL, @$, NULL, $1, $3); }
        ;

expr: expr '+' expr                     { $$ = ps_binop(P, @$, "+", $1, $3); }
    | expr '-' expr                     { $$ = ps_binop(P, @$, "-", $1, $3); }
    | expr '*' expr                     { $$ = ps_binop(P, @$, "*", $1, $3); }
    | expr '/' expr                     { $$ = ps_binop(P, @$, "/", $1, $3); }
    | expr '@' expr                     { $$ = ps_binop(P, @$, "@", $1, $3); }
    | '-' expr %prec NEG                { $$ = ps_node1(P, AST_UNOP, @$, NULL, $2); }
    | postfix                           { $$ = $1; }
    ;
postfix: primary                        { $$ = $1; }
       | postfix '(' args ')'           { $$ = ps_wrap(P, AST_CALL, @$, NULL, $1, $3); }
       | postfix '[' indices ']'        { $$ = ps_wrap(P, AST_INDEX, @$, NULL, $1, $3); }
       | postfix '.' anyname            { $$ = ps_node1(P, AST_MEMBER, @$, $3, $1); }
       ;
primary: ident                          { $$ = $1; }
       | INT                            { $$ = $1; }
       | FLOAT                          { $$ = $1; }
       | STRING                         { $$ = $1; }
       | BOOL                           { $$ = $1; }
       | '(' expr ')'                   { $$ = $2; }
       | '(' expr ',' ')'               { $$ = ps_tuple(P, @$, $2, NULL); }
       | '(' expr ',' exprs ')'         { $$ = ps_tuple(P, @$, $2, $4); }
       | '(' expr ',' exprs ',' ')'     { $$ = ps_tuple(P, @$, $2, $4); }
       | '[' ']'                        { $$ = ps_node(P, AST_LIST, @$); }
       | '[' exprs ']'                  { $$ = ps_take(P, ps_node(P, AST_LIST, @$), $2); }
       | '[' exprs ',' ']'              { $$ = ps_take(P, ps_node(P, AST_LIST, @$), $2); }
       | '(' error ')'                  { $$ = ps_node(P, AST_ERROR, @$); }
       ;
exprs: expr                             { $$ = ps_add(P, ps_node(P, AST_LIST, @$), $1); }
     | exprs ',' expr                   { $$ = ps_add(P, $1, $3); }
     ;

args: %empty                            { $$ = ps_node(P, AST_LIST, @$); }
    | arglist                           { $$ = $1; }
    | arglist ','                       { $$ = $1; }
    ;
arglist: arg                            { $$ = ps_add(P, ps_node(P, AST_LIST, @$), $1); }
       | arglist ',' arg                { $$ = ps_add(P, $1, $3); }
       ;
arg: expr                               { $$ = ps_node1(P, AST_ARG, @$, NULL, $1); }
   | argname ':' expr                   { $$ = ps_node1(P, AST_ARG, @$, $1, $3); }
   ;

indices: index                          { $$ = ps_add(P, ps_node(P, AST_LIST, @$), $1); }
       | indices ',' index              { $$ = ps_add(P, $1, $3); }
       ;
index: expr                             { $$ = $1; }
     | expr ':' expr                    { $$ = ps_node2(P, AST_SLICE, @$, NULL, $1, $3); }
     | expr ':'                         { $$ = ps_node2(P, AST_SLICE, @$, NULL, $1, NULL); }
     | ':' expr                         { $$ = ps_node2(P, AST_SLICE, @$, NULL, NULL, $2); }
     | ':'                              { $$ = ps_node2(P, AST_SLICE, @$, NULL, NULL, NULL); }
     ;

/* Words that start top-level items are still usable as names (model =,
 * data train = ..., on train.val). */
ident: IDENT | MODEL | DATA | TRAIN | PASSES ;
argname: ident | EVERY | ON | TO | IN ;
anyname: ident | EVERY | ON | TO | IN | USE | PARAM | REPEAT | FORWARD | FOR | RETURN ;

%%

/* Describes a token for a message: its own text from the source. */
static void ps_describe(PsState *P, yysymbol_kind_t sym, const Span *loc, char *buf,
                        size_t size) {
  if (sym == YYSYMBOL_YYEOF) {
    snprintf(buf, size, "end of file");
    return;
  }
  char text[48];
  ps_span_text(*loc, text, sizeof text);
  (void)P;
  snprintf(buf, size, "'%s'", text);
}

/* Names an expected token: punctuation and keywords quoted, classes plain. */
static const char *ps_expected_name(yysymbol_kind_t sym, char *buf, size_t size) {
  const char *n = yysymbol_name(sym);
  if (n[0] == '"') {
    const int len = (int)strlen(n) - 2;
    if (sym > YYSYMBOL_BOOL && sym != YYSYMBOL_YYEOF)
      snprintf(buf, size, "'%.*s'", len, n + 1);
    else
      snprintf(buf, size, "%.*s", len, n + 1);
    if (!strcmp(buf, "number")) snprintf(buf, size, "a number");
    return buf;
  }
  snprintf(buf, size, "%s", n);
  return buf;
}

static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner, PsState *P) {
  (void)scanner;
  enum { MAXEXP = 5, ALLEXP = 64 };
  yysymbol_kind_t got = yypcontext_token(ctx);
  /* Already reported by the scanner: a bad character, or the token right
   * after an unterminated string (which swallowed the rest of its line). */
  if (got == YYSYMBOL_BADCHAR || P->ntok == P->unterminated_tok + 1) return 0;
  yysymbol_kind_t exp[ALLEXP];
  int n = yypcontext_expected_tokens(ctx, exp, ALLEXP);
  Span loc = *yypcontext_location(ctx);
  char what[80], msg[400];
  ps_describe(P, got, &loc, what, sizeof what);
  if (got == YYSYMBOL_YYEOF) loc = ps_after(P->last_tok);
  int len = snprintf(msg, sizeof msg, "unexpected %s", what);
  if (n > 0 && n < MAXEXP) {
    len += snprintf(msg + len, sizeof msg - (size_t)len, ", expected ");
    for (int i = 0; i < n && len < (int)sizeof msg; i++) {
      char nb[64];
      len += snprintf(msg + len, sizeof msg - (size_t)len, "%s%s",
                      i == 0 ? "" : i == n - 1 ? " or " : ", ",
                      ps_expected_name(exp[i], nb, sizeof nb));
    }
  } else {
    /* Too many possibilities to list; a closing bracket is the likely one. */
    for (int i = 0; i < n; i++) {
      const char *nm = yysymbol_name(exp[i]);
      if (!strcmp(nm, "')'") || !strcmp(nm, "']'") || !strcmp(nm, "'}'")) {
        snprintf(msg + len, sizeof msg - (size_t)len, "; is a %s missing?", nm);
        break;
      }
    }
  }
  diag_at(P->ctx->diag, DIAG_ERROR, loc, "%s", msg);
  return 0;
}

static void yyerror(YYLTYPE *loc, yyscan_t scanner, PsState *P, const char *msg) {
  (void)scanner;
  if (!strcmp(msg, "memory exhausted"))
    diag_at(P->ctx->diag, DIAG_ERROR, *loc, "nesting too deep for the parser");
  else
    diag_at(P->ctx->diag, DIAG_ERROR, *loc, "%s", msg);
}
