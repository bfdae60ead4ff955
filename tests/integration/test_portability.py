"""The dbt models must also run on a distributed engine (Spark, Snowflake, BigQuery).

dbt compiles the project for DuckDB; every model's (and data test's) compiled SQL is then checked
with sqlglot for each target dialect (stack.md §7):

1. ``sqlglot.transpile(read="duckdb", write=dialect, unsupported_level=RAISE)`` must not raise;
2. the parsed tree must hold no ``exp.Anonymous`` function (one sqlglot does not know: it passes it
   through unchanged, and the target most likely lacks it) outside ``ANONYMOUS_ALLOWED``;
3. known traps that sqlglot silently rewrites or passes through (step 3 of ``check_compiled``):
   functions, aggregate ``FILTER (WHERE ...)``, ``QUALIFY``, ``count(distinct ...) over``, bare
   ``UNION``, identifiers that are reserved words on the target.

sqlglot only tells whether the *meaning* can be expressed on a target. On a target, dbt renders the
models itself with that adapter's macros, and the model text runs as written: a model that types
``date_diff('day', a, b)`` transpiles fine but fails on BigQuery. Hence two more checks on what the
project's authors typed (model ``raw_code`` and the project's own macros, Jinja stripped):

4. every function called literally must be in ``PORTABLE_FUNCTIONS`` (same name and meaning on
   DuckDB, Spark 3, Snowflake, BigQuery); anything else goes through a dbt cross-database macro
   (stack.md §3.3) or a dispatched project macro; ``except`` / ``intersect`` through
   ``dbt.except()`` / ``dbt.intersect()``;
5. every ``adapter.dispatch('x', 'recur')`` macro has a variant for each target (``spark__x`` ...)
   or a ``default__x``; adapter-specific variants are exempt from check 4, ``default__`` ones not.

The project is compiled twice, concurrently: from scratch (full refresh) and against a warehouse
holding the incremental tables, with non-default vars (non-UTC session time zone, swapped
sessionization), so ``is_incremental()`` branches and optional macro paths are checked too.
Post-hooks are rendered only at run time; the macros they call get check 4.

The second test compiles a copy of the project with deliberately non-portable models and asserts
that the checker flags each problem: the checker is tested too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

with warnings.catch_warnings():  # sqlglot[rs]: "sqlglotrs is deprecated" (stack.md §4.7)
    warnings.simplefilter("ignore", DeprecationWarning)
    import sqlglot
    from sqlglot import exp
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import ErrorLevel, SqlglotError
    from sqlglot.tokens import TokenType

ROOT = Path(__file__).resolve().parents[2]
DBT_DIR = ROOT / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"
PROJECT = "recur"

# sqlglot dialect names; they are also the dbt adapter names used by dispatch (spark__x, ...).
DIALECTS = ("spark", "snowflake", "bigquery")
ADAPTERS = {"duckdb", "postgres", "redshift", "databricks", *DIALECTS}  # variant prefixes

# ---------------------------------------------------------------------------------------------
# Dialect knowledge
# ---------------------------------------------------------------------------------------------

# Functions sqlglot does not know that may appear in the DuckDB-compiled SQL all the same, because
# only a duckdb__ variant of a dispatched macro emits them (the targets get their own variant).
ANONYMOUS_ALLOWED = {
    # duckdb__local_date (non-UTC session_timezone); spark__/snowflake__/bigquery__local_date
    # use from_utc_timestamp / convert_timezone / date(ts, tz).
    "timezone",
}

# DuckDB-only functions (stack.md §7), flagged wherever they occur, with the portable replacement.
# sqlglot maps some of them to names the target lacks (list_transform -> BigQuery TRANSFORM) or
# to a different meaning (len(list) -> LENGTH, the string length), without raising.
DUCKDB_ONLY = {
    "len": "array_length via a dispatched macro (len() becomes string LENGTH elsewhere)",
    "list_transform": "a dispatched macro (Spark/Snowflake transform(), BigQuery: UNNEST subquery)",
    "array_transform": "a dispatched macro (Spark/Snowflake transform(), BigQuery: UNNEST subquery)",
    "list_apply": "a dispatched macro (Spark/Snowflake transform(), BigQuery: UNNEST subquery)",
    "list_filter": "a dispatched macro (Spark/Snowflake filter(), BigQuery: UNNEST subquery)",
    "array_filter": "a dispatched macro (Spark/Snowflake filter(), BigQuery: UNNEST subquery)",
    "list_sum": "unnest the array and sum() in SQL, or a dispatched macro",
    "list_aggregate": "unnest the array and aggregate in SQL, or a dispatched macro",
    "list_reduce": "unnest the array and aggregate in SQL, or a dispatched macro",
}
DUCKDB_ONLY_PREFIX = "list_"  # every list_* function is DuckDB's

# Functions the authors may type literally: same name, arguments and meaning (NULLs included) on
# DuckDB, Spark 3, Snowflake and BigQuery. Deliberately absent: concat (skips NULLs on DuckDB
# only), greatest/least (NULL handling differs), if/iff, left/right, substring, date and JSON
# functions: use the dbt / project macros named in MACRO_HINTS.
# fmt: off
PORTABLE_FUNCTIONS = {
    "abs", "avg", "cast", "ceil", "coalesce", "count", "dense_rank", "exp", "first_value", "floor",
    "lag", "last_value", "lead", "length", "ln", "lower", "ltrim", "max", "min", "mod", "nullif",
    "ntile", "percent_rank", "cume_dist", "power", "rank", "replace", "round", "row_number", "rtrim", "sqrt",
    "sum", "trim", "upper",
}

# Where to go instead, for the names most likely to be typed (check 4's messages).
MACRO_HINTS = {
    "date_diff": "dbt.datediff", "datediff": "dbt.datediff", "date_sub": "dbt.dateadd",
    "date_add": "dbt.dateadd", "dateadd": "dbt.dateadd", "date_trunc": "dbt.date_trunc",
    "last_day": "dbt.last_day", "md5": "dbt.hash", "hash": "dbt.hash", "concat": "dbt.concat",
    "string_agg": "dbt.listagg", "listagg": "dbt.listagg", "group_concat": "dbt.listagg",
    "bool_or": "dbt.bool_or", "any_value": "dbt.any_value", "split_part": "dbt.split_part",
    "right": "dbt.right", "position": "dbt.position", "strpos": "dbt.position",
    "array_length": "a dispatched macro", "generate_series": "dbt.generate_series",
    "range": "dbt.date_spine / dbt.generate_series", "json_extract_string": "json_text()",
    "json_extract": "json_text()", "json_value": "json_text()", "timezone": "local_date()",
    "convert_timezone": "local_date()", "if": "case when", "iff": "case when",
    "greatest": "case when", "least": "case when", "percentile_cont": "median()", "arg_min": "arg_min()", "min_by": "arg_min()",
    "median": "median()", "quantile_cont": "median()",
}
# fmt: on

# Tokens a function name can be lexed as (most are VAR; a few names are keywords in sqlglot).
FUNCTION_NAME_TOKENS = {
    TokenType.VAR,
    TokenType.LEFT,
    TokenType.RIGHT,
    TokenType.REPLACE,
    TokenType.UNNEST,
}


@dataclass(frozen=True, order=True)
class Problem:
    where: str  # "model fct_sessions", "macro default__json_text", ...
    dialect: str  # spark / snowflake / bigquery, or "any" (checks 4 and 5 hold for every target)
    kind: str  # what failed, e.g. "DuckDB-only list_sum()", "transpile", "typed date_diff()"
    detail: str = ""  # the offending SQL and the portable replacement

    def __str__(self) -> str:
        return f"{self.where} [{self.dialect}] {self.kind}: {self.detail}"


def _duckdb_only(name: str) -> str | None:
    """The replacement for a DuckDB-only function, None for other functions."""
    if name in DUCKDB_ONLY:
        return DUCKDB_ONLY[name]
    return "a dispatched macro" if name.startswith(DUCKDB_ONLY_PREFIX) else None


def _called_names(sql: str) -> list[str]:
    """Names directly followed by "(", i.e. the functions called as written."""
    try:
        tokens = Dialect.get_or_raise("duckdb").tokenize(sql)
    except SqlglotError:
        return []
    return [
        token.text.lower()
        for token, following in zip(tokens, tokens[1:], strict=False)
        if following.token_type == TokenType.L_PAREN and token.token_type in FUNCTION_NAME_TOKENS
    ]


def check_compiled(where: str, sql: str) -> list[Problem]:
    """Checks 1-3 on one compiled statement."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except SqlglotError as error:
        return [Problem(where, "any", "parse", f"sqlglot cannot parse the DuckDB SQL: {error}")]
    problems: set[Problem] = set()

    def flag(dialects, kind, detail):
        problems.update(Problem(where, d, kind, detail) for d in dialects)

    # 1. What sqlglot itself knows it cannot translate.
    for dialect in DIALECTS:
        try:
            sqlglot.transpile(sql, read="duckdb", write=dialect, unsupported_level=ErrorLevel.RAISE)
        except SqlglotError as error:
            flag([dialect], "transpile", " / ".join(sorted(set(str(error).split("\n\n")))))

    # 2. DuckDB-only functions (by the name as written: len() parses into a known node) and
    #    functions sqlglot does not know.
    for name in _called_names(sql):
        if (hint := _duckdb_only(name)) is not None:
            flag(DIALECTS, f"DuckDB-only {name}()", f"use {hint}")
    for node in tree.find_all(exp.Anonymous):
        name = node.name.lower()
        if _duckdb_only(name) is None and name not in ANONYMOUS_ALLOWED:
            flag(
                DIALECTS,
                f"unknown function {name}()",
                f"sqlglot passes {node.sql('duckdb')[:80]} through unchanged; the target most "
                "likely lacks it: use a dbt cross-database macro or a dispatched project macro",
            )

    # 3. Traps sqlglot rewrites silently (so the transpile succeeds) or passes through.
    for node in tree.find_all(exp.Filter):
        flag(
            ["snowflake", "bigquery"],
            "FILTER (WHERE)",
            f"{node.sql('duckdb')[:80]}: use sum(case when ... then 1 else 0 end) or "
            "count(case when ... then 1 end)",
        )
    for node in tree.find_all(exp.Lambda):
        flag(["bigquery"], "lambda", f"{node.sql('duckdb')[:60]}: BigQuery has no lambdas")
    if tree.find(exp.Qualify):
        # Decision: QUALIFY is flagged for Spark only. Apache Spark has it only from 4.2
        # (SPARK-31561, 2026; Databricks from DBR 10.4); Snowflake and BigQuery have it. A
        # row_number() in a CTE filtered in WHERE runs everywhere (what the models do).
        flag(["spark"], "QUALIFY", "rank in a CTE and filter in WHERE")
    for window in tree.find_all(exp.Window):
        if isinstance(window.this, exp.Count) and window.this.find(exp.Distinct):
            # Spark: "Distinct window functions are not supported"; Snowflake and BigQuery
            # take count(distinct) over (partition by ...), but not with ORDER BY or a frame.
            ordered = window.args.get("order") or window.args.get("spec")
            flag(
                DIALECTS if ordered else ["spark"],
                "count(distinct) over",
                f"{window.sql('duckdb')[:80]}: count in a group-by CTE and join back",
            )
    for union in tree.find_all(exp.Union):
        if union.args.get("distinct"):
            flag(
                ["bigquery"],
                "bare UNION",
                "BigQuery requires UNION ALL or UNION DISTINCT: "
                "write UNION ALL, deduplicate with select distinct if needed",
            )
    for dialect in DIALECTS:  # sqlglot quotes these silently; on the target they are errors
        reserved = getattr(Dialect.get_or_raise(dialect).generator_class, "RESERVED_KEYWORDS", ())
        for identifier in tree.find_all(exp.Identifier):
            if not identifier.quoted and identifier.name.lower() in reserved:
                flag(
                    [dialect],
                    f"reserved word {identifier.name}",
                    f"rename it, or quote it with adapter.quote('{identifier.name}')",
                )
    return sorted(problems)


JINJA = "__jinja__"  # stands for a {{ ... }} expression


def _strip_jinja(text: str) -> str:
    text = re.sub(r"\{#.*?#\}", " ", text, flags=re.S)
    text = re.sub(r"\{%.*?%\}", " ", text, flags=re.S)
    return re.sub(r"\{\{.*?\}\}", f" {JINJA} ", text, flags=re.S)


def check_authored(where: str, text: str) -> list[Problem]:
    """Check 4 on what an author typed (model raw_code or a macro body), Jinja stripped."""
    sql = _strip_jinja(text)
    problems = set()
    for name in _called_names(sql):
        if name not in PORTABLE_FUNCTIONS and name != JINJA:  # {{ x }}( is not a call of x
            hint = _duckdb_only(name) or MACRO_HINTS.get(
                name, "a dbt cross-database macro or a dispatched project macro"
            )
            problems.add(
                Problem(where, "any", f"typed {name}()", f"not portable as written: use {hint}")
            )
    for word in ("except", "intersect"):
        if re.search(rf"\b{word}\b", sql, flags=re.I):
            problems.add(Problem(where, "any", f"typed {word.upper()}", f"use dbt.{word}()"))
    return sorted(problems)


def check_dispatch(macros: dict[str, str]) -> list[Problem]:
    """Check 5: each dispatched project macro resolves on every target. ``macros``: name -> SQL."""
    problems = set()
    for body in macros.values():
        for name in re.findall(r"adapter\.dispatch\(\s*['\"](\w+)['\"]", body):
            for dialect in DIALECTS:
                if f"{dialect}__{name}" not in macros and f"default__{name}" not in macros:
                    problems.add(
                        Problem(
                            f"macro {name}",
                            dialect,
                            "dispatch",
                            f"add {dialect}__{name} (there is no default__{name})",
                        )
                    )
    return sorted(problems)


def check_manifest(manifest: dict) -> list[Problem]:
    """All checks on one compiled project: its SQL models and data tests, and its macros."""
    problems: list[Problem] = []
    for node in manifest["nodes"].values():
        if node["package_name"] != PROJECT or node["resource_type"] not in ("model", "test"):
            continue
        if node.get("language", "sql") != "sql":  # Python models are DuckDB-only by design
            continue
        where = f"{node['resource_type']} {node['name']}"
        assert node.get("compiled_code"), f"{where} was not compiled"
        problems += check_compiled(where, node["compiled_code"])
        if not node.get("test_metadata"):  # a generic test's raw_code is only the macro call
            problems += check_authored(where, node["raw_code"])
    macros = {
        m["name"]: m["macro_sql"]
        for m in manifest["macros"].values()
        if m["package_name"] == PROJECT
    }
    for name, body in macros.items():
        if name.partition("__")[0] not in ADAPTERS:  # adapter variants may be dialect-specific
            problems += check_authored(f"macro {name}", body)
    return problems + check_dispatch(macros)


def report(problems: list[Problem]) -> str:
    return f"{len(problems)} portability problem(s):\n" + "\n".join(f"  {p}" for p in problems)


# ---------------------------------------------------------------------------------------------
# dbt compile: two concurrent invocations sharing nothing (own target, logs and warehouse)
# ---------------------------------------------------------------------------------------------

INCREMENTAL_VARS = (
    "{session_timezone: Europe/Paris, session_reset_at_midnight: true,"
    " mixpanel_sessions: vendor, amplitude_sessions: gap}"
)

CANARY_MODELS = {  # each construct is one trap test_checker_flags_non_portable_sql expects
    "zz_canary_functions": """
        select
            list_transform(tags, t -> upper(t)) as upper_tags,
            list_sum(amounts) as total,
            len(tags) as tag_count,
            strip_accents(city) as city_ascii,
            date_diff('day', first_at, last_at) as days,
            count(*) filter (where revenue > 0) as paid_events,
            count(distinct device_id) over (partition by user_id order by event_at) as devices,
            sum(revenue) over (partition by user_id order by event_at
                               rows between unbounded preceding and current row) as running,
            partition as arrived_on
        from {{ ref('stg_mixpanel__events') }}
        qualify row_number() over (partition by user_id order by event_at) = 1
    """,
    "zz_canary_sets": """
        select event_id from {{ ref('stg_mixpanel__events') }}
        union
        select event_id from {{ ref('stg_amplitude__events') }}
        except
        select event_id from {{ ref('stg_amplitude__events') }} where 1 = 0
    """,
    "zz_canary_macro": """
        select {{ zz_canary_json('properties', 'plan') }} as plan,
               {{ zz_canary_day('event_at') }} as day
        from {{ ref('stg_mixpanel__events') }}
    """,
}
CANARY_MACROS = """
{% macro zz_canary_json(column, key) -%}
    {{ return(adapter.dispatch('zz_canary_json', 'recur')(column, key)) }}
{%- endmacro %}
{% macro default__zz_canary_json(column, key) -%}
    json_extract_string({{ column }}, '$.{{ key }}')
{%- endmacro %}
{% macro zz_canary_day(ts) -%}
    {{ return(adapter.dispatch('zz_canary_day', 'recur')(ts)) }}
{%- endmacro %}
{% macro duckdb__zz_canary_day(ts) -%}
    cast({{ ts }} as date)
{%- endmacro %}
{% macro snowflake__zz_canary_day(ts) -%}
    to_date({{ ts }})
{%- endmacro %}
"""


def _start_compile(project_dir: Path, work: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "DO_NOT_TRACK": "1", "RECUR_WAREHOUSE": str(work / "warehouse.duckdb")}
    return subprocess.Popen(
        [
            str(DBT),
            "compile",
            "--profiles-dir",
            str(project_dir),
            "--project-dir",
            str(project_dir),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Starts two compiles at once; ``compiled(name)`` waits for one and gives its manifest.

    "full": the project as it is, compiled from scratch with its default vars.
    "incremental": a copy of the project plus the canary models and macros, compiled against a
    warehouse that holds the incremental models' tables (so is_incremental() is true) with
    INCREMENTAL_VARS. Its real models are checked like the full ones, the canaries by the second
    test (two processes, not three: each dbt invocation costs ~10 s of CPU on 2 cores).
    """
    base = tmp_path_factory.mktemp("portability")
    full, incremental = base / "full", base / "incremental"
    full.mkdir()
    incremental.mkdir()

    with duckdb.connect(str(incremental / "warehouse.duckdb")) as con:
        # Empty stand-ins for the incremental models, with the columns their watermarks read,
        # and for the load ledger the incremental models read re-loaded days from.
        con.execute("create schema core; create schema staging; create schema raw")
        con.execute(
            "create table raw.load_ledger (source varchar, partition date, loaded_at timestamp)"
        )
        for table in (
            "core.fct_events",
            "core.fct_orders",
            "core.fct_sessions",
            "core.dim_users",
            "staging.stg_mixpanel__events",
            "staging.stg_amplitude__events",
        ):
            con.execute(
                f"create table {table} (id integer, loaded_at timestamp, "
                "arrived_on date, updated_at timestamp)"
            )
    project = incremental / "project"
    shutil.copytree(DBT_DIR, project, ignore=shutil.ignore_patterns("target*", "logs", ".user.yml"))
    for name, sql in CANARY_MODELS.items():
        (project / "models" / f"{name}.sql").write_text(sql)
    (project / "macros" / "zz_canary.sql").write_text(CANARY_MACROS)

    processes = {
        "full": (_start_compile(DBT_DIR, full), full),
        "incremental": (
            _start_compile(project, incremental, "--vars", INCREMENTAL_VARS),
            incremental,
        ),
    }
    manifests: dict[str, dict] = {}

    def manifest(name: str) -> dict:
        if name not in manifests:
            process, work = processes[name]
            output, _ = process.communicate(timeout=300)
            assert process.returncode == 0, f"dbt compile ({name}) failed:\n{output[-4000:]}"
            manifests[name] = json.loads((work / "target" / "manifest.json").read_text())
        return manifests[name]

    yield manifest
    for process, _ in processes.values():
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_models_are_portable(compiled):
    problems = check_manifest(compiled("full")) + check_manifest(compiled("incremental"))
    problems = sorted({p for p in problems if "canary" not in p.where})
    assert not problems, report(problems)


def test_checker_flags_non_portable_sql(compiled):
    problems = [p for p in check_manifest(compiled("incremental")) if "canary" in p.where]
    found = {(p.where, p.dialect, p.kind) for p in problems}
    functions, sets = "model zz_canary_functions", "model zz_canary_sets"
    expected = {
        # 1. sqlglot raises: DuckDB sorts NULLs last, BigQuery cannot say so in a SUM window
        (functions, "bigquery", "transpile"),
        # 2. DuckDB-only and unknown functions
        (functions, "spark", "DuckDB-only list_transform()"),
        (functions, "bigquery", "DuckDB-only list_transform()"),
        (functions, "snowflake", "DuckDB-only list_sum()"),
        (functions, "bigquery", "DuckDB-only len()"),
        (functions, "spark", "unknown function strip_accents()"),
        # 3. traps
        (functions, "bigquery", "lambda"),
        (functions, "bigquery", "FILTER (WHERE)"),
        (functions, "snowflake", "FILTER (WHERE)"),
        (functions, "spark", "QUALIFY"),
        (functions, "spark", "count(distinct) over"),
        (functions, "bigquery", "count(distinct) over"),
        (functions, "bigquery", "reserved word partition"),
        (sets, "bigquery", "bare UNION"),
        # 4. typed by the author
        (functions, "any", "typed date_diff()"),
        (functions, "any", "typed list_transform()"),
        (functions, "any", "typed strip_accents()"),
        (sets, "any", "typed EXCEPT"),
        ("macro default__zz_canary_json", "any", "typed json_extract_string()"),
        # 5. dispatch without a variant for the target (and no default__)
        ("macro zz_canary_day", "spark", "dispatch"),
        ("macro zz_canary_day", "bigquery", "dispatch"),
    }
    missing = expected - found
    assert not missing, (
        "checker missed:\n" + "\n".join(map(str, sorted(missing))) + "\n" + report(problems)
    )
    # Nothing portable is flagged: the FILTER is not reported for Spark, which has it.
    assert (functions, "spark", "FILTER (WHERE)") not in found
    assert ("macro zz_canary_day", "snowflake", "dispatch") not in found
    assert not [p for p in problems if p.where == "macro duckdb__zz_canary_day"]
    # The message names the model, the dialect and the function.
    assert (
        "model zz_canary_functions [bigquery] DuckDB-only list_sum(): use unnest the array "
        "and sum() in SQL, or a dispatched macro"
    ) in map(str, problems)
