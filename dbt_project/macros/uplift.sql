{#- Statistics of analytics.audience_uplift (docs/metrics.md, "Campaign uplift"), in portable SQL. -#}

{#- The two-sided p-value of a standard normal statistic z: erfc(|z| / sqrt(2)), by Abramowitz and
    Stegun's formula 7.1.26 (absolute error under 1.5e-7). Computed from the tail itself, so small
    p-values keep their digits instead of being 1 minus a number close to 1. Null when z is. -#}
{% macro two_sided_p_value(z) -%}
    (
        {%- set x = "(abs(" ~ z ~ ") / sqrt(2.0))" -%}
        {%- set t = "(1.0 / (1.0 + 0.3275911 * " ~ x ~ "))" -%}
        {{ t }} * (0.254829592 + {{ t }} * (-0.284496736 + {{ t }} * (1.421413741
            + {{ t }} * (-1.453152027 + {{ t }} * 1.061405429))))
        * exp(-{{ x }} * {{ x }})
    )
{%- endmacro %}

{#- One end of the Wilson score interval of x successes in n trials (sign -1: lower, +1: upper),
    95% (z = 1.959964). -#}
{% macro wilson_bound(x, n, sign) -%}
    (
        ({{ x }} * 1.0 / {{ n }} + 1.959964 * 1.959964 / (2.0 * {{ n }})
         {{ '-' if sign < 0 else '+' }} 1.959964 * sqrt(
            ({{ x }} * 1.0 / {{ n }}) * (1.0 - {{ x }} * 1.0 / {{ n }}) / {{ n }}
            + 1.959964 * 1.959964 / (4.0 * {{ n }} * {{ n }})))
        / (1.0 + 1.959964 * 1.959964 / {{ n }})
    )
{%- endmacro %}
