"""The Lark rule text of the SQL grammar (``grammar.sql_grammar`` fills it in per schema).

Rules are templates written once and filled per family and flavour. A family is ``c`` (closed names) or ``w``
(a statement starting with WITH, whose CTE names are open). ``$`` marks an expression rule, filled twice:
``_c`` (anything a SELECT list or HAVING may hold) and ``_cn`` (no aggregate, window function or
``count(*)``: what a WHERE, JOIN ... ON or GROUP BY may hold outside a subquery, since DuckDB refuses the rest
with a binder error); ``@`` marks a rule of the family, whatever the flavour (statements, subqueries,
ordering); ``%`` a lexeme of the family (``_C``); ``CALLS`` the function calls of the flavour.

Lists are bounded: at most 12 select items (a user may list many columns), 8 conditions joined by AND and 6
by OR, 4 grouping and 4 ordering keys. No gold query of the demo files or BULL-en train/dev comes near (at
most 5 items, 5 ANDs, 3 ORs, 2 keys); a small model that starts repeating a select item or a condition is
made to move on instead of running to the token limit with no FROM.
"""

from __future__ import annotations

import re

STATEMENT_RULES = """
query@: set@ order@? limit@?
set@: setterm@ (SETOP K_ALLG? setterm@)*
setterm@: K_SELECT body@ | LP query@ RP
body@: (K_DISTINCT | K_ALLG)? item@ (COMMA item@){0,11} from@? where@? group@? having@? qualify@?
item@: STAR | QUAL% STAR | expr@ (K_AS OUT_NAME | IMPLICIT)?
from@: K_FROM src@ (join@ | COMMA src@)*
src@: table@ (K_AS? ALIAS%)? | LP query@ RP (K_AS? ALIAS%)?
join@: K_JOIN src@ (K_ON expr@n | K_USING LP ANYCOL (COMMA ANYCOL)* RP)?
where@: K_WHERE expr@n
group@: K_GROUP_BY (K_ALL | gitem@ (COMMA gitem@){0,3})
gitem@: expr@n | OUT_REF
having@: K_HAVING expr@
qualify@: K_QUALIFY expr@
order@: K_ORDER_BY oitem@ (COMMA oitem@){0,3}
oitem@: (expr@ | OUT_REF) (K_ASC | K_DESC)? K_NULLS_POS?
limit@: K_LIMIT CINT (K_OFFSET NUMBER)? | K_OFFSET NUMBER (K_LIMIT CINT)?
over@: K_FILTER expr@ RP | (K_FILTER expr@ RP)? K_OVER LP window@ RP
window@: K_PARTITION_BY expr@ (COMMA expr@)* (K_ORDER_BY oitem@ (COMMA oitem@)*)? frame?
    | (K_ORDER_BY0 oitem@ (COMMA oitem@)*)? frame?
"""

EXPRESSION_RULES = """
expr$: and$ (K_OR and$){0,5}
and$: not$ (K_AND not$){0,7}
not$: K_NOT not$ | pred$
pred$: val$ | cmp$ | inlist$ | vpred@
    | val$ K_IS K_NOTB? (K_NULLB | K_TRUEB | K_FALSEB | K_DISTINCTB K_FROM val$)
    | val$ K_NOTB? K_BETWEEN sumnv$ K_AND sumnv$ | val$ K_NOTB? K_IN LP query@ RP
    | val$ K_NOTB? K_LIKE val$ (K_ESCAPE STRING)? | val$ CMP (K_ANY | K_ALL) LP query@ RP
    | K_EXISTS LP query@ RP
val$: sum$ | STRING | cat$
cat$: (sum$ | STRING) (CONCAT (sum$ | STRING))+
sum$: sum$ PLUS term$ | sum$ MINUS uterm$ | term$
term$: term$ MULOP factor$ | factor$
uterm$: uterm$ MULOP factor$ | ufactor$
factor$: SIGN ufactor$ | ufactor$
ufactor$: primary$ (DCOLON type)?
primary$: atom$ | COL% | VCANY%
atom$: NUMBER | K_NULL | atomn$
atomn$: K_TRUE | K_FALSE | CSTR DCOLON type | atomx$
atomx$: K_NOW | K_DATE CDATE | K_INTERVAL interval | CALLS
    | K_CAST LP expr$ K_AS astype RP | K_EXTRACT LP (UNIT | STRING) K_FROM darg$ RP | DFUNC LP darg$ RP
    | K_CASE expr$? (K_WHEN expr$ K_THEN expr$)+ (K_ELSE expr$)? K_END | LP expr$ RP | LP query@ RP
darg$: dprim$ (PLUS term$ | MINUS uterm$)*
dprim$: (CSTR | TCOL%) DCOLON DTYPE | atomx$ | DCOL% (DCOLON type)?
"""
"""The argument of a date part (``darg``) is a date or timestamp column, a cast to a date type, or a call:
never a bare column of another type or a string. The ``::`` shorthand casts a string or a text column named
for dates (``TCOL``) only: a small model wrote ``year(manager_name::date)`` (a conversion error on every
row); ``CAST(x AS DATE)`` stays open (BULL's gold casts with it). An operand takes at most one ``::``
cast: a small model refused a name chained ``::boolean::boolean::...`` to the token limit."""

CALLS = {
    "": "FUNC LP (K_DISTINCT | K_ALLG)? (expr$ (COMMA expr$)* (K_ORDER_BY oitem@ (COMMA oitem@)*)?)? RP"
    " over@? | K_COUNT LP STAR RP over@?",
    "n": "SFUNC LP (expr$ (COMMA expr$)*)? RP",
}

# A bare value column is compared only with its values (vpred) or another column (sidens: a join), with a
# subquery through IN, or as `= (SELECT ...)` when the question mentions some value (vsub: "the same city
# as X"): a small model refused the value it wanted wrote `= NULLIF(NULL, ...` or `= (SELECT ... =
# (SELECT ...` to the token limit instead. Other sides are free, but a side that is or
# starts with a bare number starts with one of the question's (CNUM, when grounded: `= 1000 * x` or
# `= 1000 || x` is no way round it), and NULL is no side (`= NULL` is never true; IS NULL is).
COMPARE_RULES = """
cmp$: sumnv$ CMP sumnv$ | sidens$ CMP sidens$
inlist$: sumnv$ K_NOTB? K_IN LP expr$ (COMMA expr$)* RP
sumnv$: lsum$ PLUS term$ | lsum$ MINUS uterm$ | termnv$ | CSTR | lcat$ | SIGN? CNUM
lcat$: (lsum$ | CSTR) (CONCAT (sum$ | STRING))+
lsum$: lsum$ PLUS term$ | lsum$ MINUS uterm$ | lterm$
lterm$: lterm$ MULOP factor$ | SIGN? ufactorn$ | SIGN? CNUM
termnv$: lterm$ MULOP factor$ | factornv$
factornv$: SIGN ufactorn$ | (atomn$ | COL%) (DCOLON type)?
ufactorn$: (atomn$ | COL% | VCANY%) (DCOLON type)?
sidens$: VCANY% | vsub@ | COL%
"""

SHARED_RULES = r"""
interval: (STRING | NUMBER | LP expr_c RP) UNIT?
type: TYPE (LP NUMBER (COMMA NUMBER)? RP)?
astype: TYPE_AS (LP NUMBER (COMMA NUMBER)? RP)?
frame: (K_ROWS | K_RANGE) (K_BETWEEN bound K_AND bound | bound)
bound: K_UNBOUNDED_PRECEDING | K_UNBOUNDED_FOLLOWING | K_CURRENT_ROW | NUMBER (K_PRECEDING | K_FOLLOWING)
WS0: /[ \t]{0,24}(\r?\n[ \t]{0,24})?/
WS1: /[ \t]{1,24}(\r?\n[ \t]{0,24})?|\r?\n[ \t]{0,24}/
GAP: WS1
LEAD: WS1
END: WS0 ";"
LP: WS0 "("
RP: WS0 ")"
COMMA: WS0 ","
STAR: WS0 "*"
DCOLON: WS0 "::"
CMP: WS0 /(=|==|!=|<>|<=|>=|<|>)/
EQ: WS0 /(=|==|!=|<>)/
PLUS: WS0 "+"
CONCAT: WS0 "||"
MINUS: WS0 "-"
MULOP: WS0 /(\*|\/\/|\/|%)/
SIGN: WS0 /[+-]/
NUMBER: WS0 /([0-9]{1,DIGITS}(\.[0-9]{0,DIGITS})?|\.[0-9]{1,DIGITS})([eE][+-]?[0-9]{1,3})?/
STRING: WS0 /'([^'\r\n]|''){0,STRING_CHARS}'/
TIMEPART: /([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?/
IDENT: /[A-Za-z_][A-Za-z0-9_]{0,NAME_MAX}/
SHORT: /[A-Za-z][A-Za-z0-9_]{0,ALIAS_MAX}/
QUOTED: /"[^"\r\n]{1,NAME_MAX}"/
K_LIKE: WS1 ("like"i | "ilike"i | "glob"i) GAP
K_NOTB: WS1 "not"i
K_FILTER: WS1 "filter"i WS0 "(" WS0 "where"i GAP
SETOP: WS1 ("union"i | "intersect"i | "except"i) GAP
K_GROUP_BY: WS1 "group"i WS1 "by"i GAP
K_ORDER_BY: WS1 "order"i WS1 "by"i GAP
K_ORDER_BY0: WS0 "order"i WS1 "by"i GAP
K_PARTITION_BY: WS0 "partition"i WS1 "by"i GAP
K_NULLS_POS: WS1 "nulls"i WS1 ("first"i | "last"i)
SIDE: "left"i | "right"i | "full"i
JOIN_KIND: "inner"i | "cross"i | "semi"i | "anti"i | "natural"i | SIDE (WS1 "outer"i)?
K_JOIN: WS1 (JOIN_KIND WS1)? "join"i
K_UNBOUNDED_PRECEDING: WS0 "unbounded"i WS1 "preceding"i
K_UNBOUNDED_FOLLOWING: WS0 "unbounded"i WS1 "following"i
K_CURRENT_ROW: WS0 "current"i WS1 "row"i
K_NOW: WS0 ("current_date"i | "current_timestamp"i)
K_CAST: WS0 ("cast"i | "try_cast"i)
K_DATE: WS0 ("date"i | "timestamp"i)
DTYPE: WS0 ("date"i | "timestamp"i | "timestamptz"i)
OUT_NAME: WS1 (IDENT & ~KW) | WS0 QUOTED
IMPLICIT: WS1 OPENNAME
OUT_REF: WS0 (OPENNAME | QUOTED)
NAME_W: WS0 OPENNAME
NAME_W1: WS1 OPENNAME
K_ALLG: WS0 "all"i GAP
K_NULLB: WS1 "null"i
K_TRUEB: WS1 "true"i
K_FALSEB: WS1 "false"i
K_DISTINCTB: WS1 "distinct"i
TYPE_AS: WS1 TYPE_WORD
CTE_REF: WS1 OPENNAME
"""

# Keywords always followed by an operand carry the blank after them (GAP), so `BYfund_code` or `LIMIT5` is no
# statement: the operand's lexeme may start without one (after `(` or `,` it must). Keywords followed by a
# lexeme that already needs a blank (IS NOT, AS alias, CASE WHEN, WITH name) have none; ROWS/RANGE frames
# and a simple CASE's operand are left open to gluing.
GAP_KEYWORDS = (
    "select distinct not interval where having qualify limit offset on and or between when then else".split()
)
SINGLE_KEYWORDS = (
    "select distinct all not null true false any exists case rows range interval extract count with".split()
)
# Keywords that only follow an operand or a word need a blank before them: `fund_codeor` is no `OR`.
AFTER_WORD_KEYWORDS = (
    "from where having qualify limit offset as on using and or is between in escape when then else end over "
    "preceding following asc desc recursive materialized"
).split()


def fill(
    family: str, *, columns: bool, valued: bool, spoken: bool, dated: bool, text_dated: bool = False
) -> str:
    """The rules of one family (``c`` or ``w``), each expression rule in both flavours, with the
    alternatives this schema has no lexeme for left out: plain columns (``columns``), value columns
    (``valued``), value columns with values to compare (``spoken``), date columns (``dated``), text
    columns named for dates (``text_dated``)."""
    template = EXPRESSION_RULES + COMPARE_RULES
    drops = {
        " | COL%": columns,
        " | VCANY%": valued,
        " | vpred@": spoken,
        " | vsub@": spoken,
        " | DCOL% (DCOLON type)?": dated,
        " | TCOL%": text_dated,
        " | sidens$ CMP sidens$": valued,
    }
    for part, keep in drops.items():
        template = template if keep else template.replace(part, "")
    if not valued:
        template = re.sub(r"^sidens\$:.*\n", "", template, flags=re.M)
    texts = [STATEMENT_RULES]
    for flavour, calls in CALLS.items():
        texts.append(template.replace("CALLS", calls).replace("$", f"@{flavour}"))
    return "".join(texts).replace("@", "_" + family).replace("%", "_" + family.upper())
