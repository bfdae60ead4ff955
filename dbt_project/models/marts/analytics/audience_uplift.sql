{#- Did sending an audience change behaviour? Treatment (sent) against holdout (kept out), per
    sync (audience and destination) and entry period (docs/metrics.md, "Campaign uplift").

    Each person counts once per sync, from their first entry (stg_recur__audience_deliveries,
    event 'entered'), in the group they entered with, over the uplift_window_days days after it:
    - purchase_conversion: share of people with a purchase (an order with revenue > 0);
    - revenue_per_person: net revenue (purchases minus refunds) per person, zeros included;
    - return: share of people with any event.
    Entries whose window has not closed by the observation end (as_of / RECUR_AS_OF, else the last
    event) are left out until it has. Rows with entry_period null pool all periods.

    Intervals are 95%. Proportions: difference with Newcombe's hybrid score interval (from the two
    Wilson intervals), p-value of the pooled two-proportion z test, relative lift with the interval
    of the log risk ratio. Revenue: Welch's unpooled standard error with the normal quantile, the
    relative lift's interval by the delta method on the log ratio of means (both means positive).
    A statistic a group cannot support (no holdout, no conversions) is null. -#}

{%- set window = var('uplift_window_days') | int -%}
{%- set period = var('uplift_period') -%}
{%- if period not in ['day', 'week', 'month'] -%}
    {{ exceptions.raise_compiler_error("uplift_period must be day, week or month, not '" ~ period ~ "'") }}
{%- endif -%}
{%- if window < 1 -%}
    {{ exceptions.raise_compiler_error("uplift_window_days must be at least 1, not " ~ window) }}
{%- endif -%}

with

entries as (
    select
        sync,
        audience,
        destination,
        person_id,
        min(event_at) as entered_at,
        {{ arg_min('held_out', 'event_at') }} as held_out
    from {{ ref('stg_recur__audience_deliveries') }}
    where event = 'entered' and person_id is not null
    group by sync, audience, destination, person_id
),

observation as (
    select {{ observation_end_sql(ref('fct_events')) }} as observation_end
),

measured as (
    select
        entries.*,
        cast({{ dbt.date_trunc(period, 'entered_at') }} as date) as entry_period,
        {{ dbt.dateadd('day', window, 'entered_at') }} as window_end
    from entries
    cross join observation
    where {{ dbt.dateadd('day', window, 'entered_at') }} <= observation.observation_end
),

orders as (
    select
        measured.sync,
        measured.person_id,
        sum(case when orders.revenue > 0 then 1 else 0 end) as purchases,
        sum(orders.revenue) as revenue
    from measured
    inner join {{ ref('fct_orders') }} as orders
        on orders.user_id = measured.person_id
        and orders.ordered_at > measured.entered_at
        and orders.ordered_at <= measured.window_end
    group by measured.sync, measured.person_id
),

returns as (
    select distinct measured.sync, measured.person_id
    from measured
    inner join {{ ref('fct_events') }} as events
        on events.user_id = measured.person_id
        and events.event_at > measured.entered_at
        and events.event_at <= measured.window_end
),

people as (
    select
        measured.sync,
        measured.audience,
        measured.destination,
        measured.entry_period,
        measured.held_out,
        case when coalesce(orders.purchases, 0) > 0 then 1 else 0 end as converted,
        coalesce(orders.revenue, 0) as revenue,
        case when returns.person_id is not null then 1 else 0 end as returned
    from measured
    left join orders on orders.sync = measured.sync and orders.person_id = measured.person_id
    left join returns on returns.sync = measured.sync and returns.person_id = measured.person_id
),

{%- set sums -%}
        sum(case when held_out then 0 else 1 end) as n_t,
        sum(case when held_out then 1 else 0 end) as n_h,
        sum(case when held_out then 0 else converted end) as converted_t,
        sum(case when held_out then converted else 0 end) as converted_h,
        sum(case when held_out then 0 else returned end) as returned_t,
        sum(case when held_out then returned else 0 end) as returned_h,
        sum(case when held_out then 0 else revenue end) as revenue_t,
        sum(case when held_out then revenue else 0 end) as revenue_h,
        sum(case when held_out then 0 else revenue * revenue end) as revenue2_t,
        sum(case when held_out then revenue * revenue else 0 end) as revenue2_h
{%- endset %}

by_group as (
    select sync, audience, destination, entry_period, {{ sums }}
    from people
    group by sync, audience, destination, entry_period
    union all
    select sync, audience, destination, cast(null as date) as entry_period, {{ sums }}
    from people
    group by sync, audience, destination
),

rates as (
    select
        *,
        converted_t * 1.0 / nullif(n_t, 0) as conversion_t,
        converted_h * 1.0 / nullif(n_h, 0) as conversion_h,
        returned_t * 1.0 / nullif(n_t, 0) as return_t,
        returned_h * 1.0 / nullif(n_h, 0) as return_h,
        revenue_t / nullif(n_t, 0) as mean_t,
        revenue_h / nullif(n_h, 0) as mean_h
    from by_group
),

{%- set proportions = [('purchase_conversion', 'converted', 'conversion'), ('return', 'returned', 'return')] %}

metrics as (
    {%- for metric, x, p in proportions %}
    select
        sync, audience, destination, entry_period,
        '{{ metric }}' as metric,
        n_t, n_h,
        {{ p }}_t as treatment_value,
        {{ p }}_h as holdout_value,
        {{ p }}_t - {{ p }}_h as difference,
        {{ p }}_t - {{ p }}_h - sqrt(
            power({{ p }}_t - {{ wilson_bound(x ~ '_t', 'nullif(n_t, 0)', -1) }}, 2)
            + power({{ wilson_bound(x ~ '_h', 'nullif(n_h, 0)', 1) }} - {{ p }}_h, 2)
        ) as difference_ci_low,
        {{ p }}_t - {{ p }}_h + sqrt(
            power({{ wilson_bound(x ~ '_t', 'nullif(n_t, 0)', 1) }} - {{ p }}_t, 2)
            + power({{ p }}_h - {{ wilson_bound(x ~ '_h', 'nullif(n_h, 0)', -1) }}, 2)
        ) as difference_ci_high,
        case when {{ x }}_h > 0 then {{ p }}_t / {{ p }}_h - 1 end as relative_lift,
        case when {{ x }}_t > 0 and {{ x }}_h > 0 then exp(ln({{ p }}_t / {{ p }}_h)
            - 1.959964 * sqrt((1 - {{ p }}_t) / {{ x }}_t + (1 - {{ p }}_h) / {{ x }}_h)) - 1
        end as relative_lift_ci_low,
        case when {{ x }}_t > 0 and {{ x }}_h > 0 then exp(ln({{ p }}_t / {{ p }}_h)
            + 1.959964 * sqrt((1 - {{ p }}_t) / {{ x }}_t + (1 - {{ p }}_h) / {{ x }}_h)) - 1
        end as relative_lift_ci_high,
        ({{ x }}_t + {{ x }}_h) * 1.0 / nullif(n_t + n_h, 0) as pooled,
        'newcombe_hybrid_score' as method
    from rates
    union all
    {%- endfor %}
    select
        sync, audience, destination, entry_period,
        'revenue_per_person' as metric,
        n_t, n_h,
        mean_t as treatment_value,
        mean_h as holdout_value,
        mean_t - mean_h as difference,
        mean_t - mean_h - 1.959964 * se as difference_ci_low,
        mean_t - mean_h + 1.959964 * se as difference_ci_high,
        case when mean_h > 0 then mean_t / mean_h - 1 end as relative_lift,
        case when mean_t > 0 and mean_h > 0 then exp(ln(mean_t / mean_h)
            - 1.959964 * sqrt(var_t / (n_t * mean_t * mean_t) + var_h / (n_h * mean_h * mean_h))) - 1
        end as relative_lift_ci_low,
        case when mean_t > 0 and mean_h > 0 then exp(ln(mean_t / mean_h)
            + 1.959964 * sqrt(var_t / (n_t * mean_t * mean_t) + var_h / (n_h * mean_h * mean_h))) - 1
        end as relative_lift_ci_high,
        cast(null as double) as pooled,
        'welch_normal' as method
    from (
        select
            *,
            sqrt(var_t / n_t + var_h / n_h) as se
        from (
            select
                *,
                {#- one pass: sum of squares minus n times the squared mean, never below 0 -#}
                case when n_t > 1 then case when revenue2_t - n_t * mean_t * mean_t > 0
                    then (revenue2_t - n_t * mean_t * mean_t) / (n_t - 1) else 0 end end as var_t,
                case when n_h > 1 then case when revenue2_h - n_h * mean_h * mean_h > 0
                    then (revenue2_h - n_h * mean_h * mean_h) / (n_h - 1) else 0 end end as var_h
            from rates
        ) as variances
    ) as revenue
),

final as (
    select
        sync,
        audience,
        destination,
        entry_period,
        metric,
        {{ window }} as window_days,
        n_t as treatment_people,
        n_h as holdout_people,
        treatment_value,
        holdout_value,
        difference,
        difference_ci_low,
        difference_ci_high,
        relative_lift,
        relative_lift_ci_low,
        relative_lift_ci_high,
        case
            when method = 'welch_normal' then
                case
                    when difference_ci_high - difference_ci_low > 0 then
                        {{ two_sided_p_value('difference / ((difference_ci_high - difference_ci_low) / (2 * 1.959964))') }}
                    when difference = 0 then 1.0
                end
            when n_t > 0 and n_h > 0 and pooled > 0 and pooled < 1 then
                {{ two_sided_p_value('difference / sqrt(pooled * (1 - pooled) * (1.0 / n_t + 1.0 / n_h))') }}
            when n_t > 0 and n_h > 0 then 1.0
        end as p_value,
        method
    from metrics
)

select * from final
