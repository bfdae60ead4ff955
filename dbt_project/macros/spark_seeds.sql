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
