"""The closed word lists of the SQL grammar: keywords, functions, cast types and date units DuckDB answers
analytics questions with (``grammar.sql_grammar`` admits these and no others)."""

KEYWORDS = (
    "select from where group by order having limit offset union intersect except all distinct as on using "
    "join inner left right full outer cross natural semi anti asof and or not is null in like ilike glob "
    "similar between case when then else end with recursive materialized asc desc nulls over partition "
    "window qualify filter exists any some true false cast try_cast interval escape rows range unbounded "
    "preceding following current row into lateral"
).split()
AGGREGATES = (
    "count sum avg mean min max median mode stddev stddev_pop stddev_samp variance var_pop var_samp corr "
    "covar_pop covar_samp quantile quantile_cont quantile_disc string_agg group_concat listagg list "
    "array_agg bool_and bool_or any_value first last arg_max arg_min argmax argmin max_by min_by product "
    "approx_count_distinct count_if sumif avgif"
).split()
WINDOWS = (
    "row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value"
).split()
DATE_PARTS = (
    "year month day quarter week weekofyear dayofweek dayofyear dayofmonth isodow hour minute second last_day"
).split()
"""One-argument functions of a date or timestamp: ``year(fund_code)`` is a binder error the grammar closes."""
SCALARS = (
    # numeric and conditional
    "round abs ceil ceiling floor trunc sqrt power pow exp ln log log10 log2 sign greatest least mod "
    "coalesce nullif ifnull if "
    # text
    "lower upper length len char_length substr substring concat concat_ws replace trim ltrim rtrim left "
    "right lpad rpad split_part strpos instr contains starts_with ends_with regexp_matches regexp_replace "
    "regexp_extract reverse repeat format printf "
    # dates (besides DATE_PARTS)
    "strftime strptime date_trunc datetrunc date_part datepart date_diff datediff date_sub date_add "
    "make_date epoch age now today to_timestamp"
).split()
"""Functions of one row: the only ones a WHERE, JOIN ... ON or GROUP BY may call outside a subquery."""
FUNCTIONS = AGGREGATES + WINDOWS + SCALARS + DATE_PARTS
TYPES = (
    "integer int bigint smallint tinyint hugeint ubigint uinteger double float real decimal numeric "
    "varchar text string date timestamp timestamptz time boolean bool interval"
).split()
UNITS = (
    "year years quarter quarters month months week weeks day days hour hours minute minutes second seconds "
    "millisecond milliseconds microsecond microseconds dow doy isodow epoch decade century"
).split()
