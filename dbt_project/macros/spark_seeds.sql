{#- Seeds on Spark: dbt-spark's seed loader binds the CSV values into the SQL text unescaped, so
    a value with a quote (the RFM segment "Can't Lose Them") is a syntax error. This root-project
    variant, which wins dbt's dispatch, writes each value as an escaped literal instead (Spark
    string literals escape with a backslash). Seeds are small lookups: one insert. -#}
{% macro spark__load_csv_rows(model, agate_table) -%}
    {%- set column_types = model['config'].get('column_types', {}) -%}
    {%- set rows = [] -%}
    {%- for row in agate_table.rows -%}
        {%- set values = [] -%}
        {%- for name in agate_table.column_names -%}
            {%- set kind = column_types.get(name, adapter.convert_type(agate_table, loop.index0)) -%}
            {%- set value = row[loop.index0] -%}
            {%- if value is none -%}
                {%- do values.append('cast(null as ' ~ kind ~ ')') -%}
            {%- else -%}
                {%- set text = (value | string).replace('\\', '\\\\').replace("'", "\\'") -%}
                {%- do values.append("cast('" ~ text ~ "' as " ~ kind ~ ")") -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do rows.append('(' ~ values | join(', ') ~ ')') -%}
    {%- endfor -%}
    {%- set sql = 'insert into ' ~ this.render() ~ ' values ' ~ rows | join(', ') -%}
    {%- if rows -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
    {%- endif -%}
    {{ return(sql) }}
{%- endmacro %}

{#- accepted_values pastes each value between quotes as written, so the YAML writes "Can''t Lose
    Them" (a DuckDB literal). On Spark '' inside a literal ends it ('Can''t' reads as "Cant"):
    this root-project variant turns the doubled quotes into Spark's backslash escape first. -#}
{% macro spark__test_accepted_values(model, column_name, values, quote=True) -%}
    {%- set spark_values = [] -%}
    {%- for value in values -%}
        {%- do spark_values.append(value.replace("''", "\\'") if quote and value is string else value) -%}
    {%- endfor -%}
    {{ default__test_accepted_values(model, column_name, spark_values, quote) }}
{%- endmacro %}
