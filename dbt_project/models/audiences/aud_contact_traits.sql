{#- Who: every known contact, i.e. every person with an email (Mixpanel profile) who has an
    event by the observation end (as_of / RECUR_AS_OF, else the last event), with the traits
    Recur computes for them: LTV, RFM, lifecycle, churn risk, engagement. Non-customers are in
    too: their customer traits are null (orders 0, historical value 0). One row per email: when
    two people share one (rare: two user_ids on one profile email), the one seen last keeps it,
    so a destination keyed by email never gets two rows for one contact. The other audiences
    take their members' contact details and traits from here. -#}

with

users as (
    select user_id, email, first_name, last_name from {{ ref('dim_users') }}
),

lifecycle as (
    select user_id, lifecycle_stage, last_active_date from {{ ref('user_lifecycle') }}
),

ltv as (
    select user_id, ltv_tier, predicted_ltv_12m, historical_ltv from {{ ref('customer_ltv') }}
),

rfm as (
    select user_id, rfm_segment, frequency from {{ ref('user_rfm') }}
),

churn as (
    select user_id, churn_band, churn_score from {{ ref('churn_risk') }}
),

engagement as (
    select user_id, engagement_band from {{ ref('user_engagement_scores') }}
),

contacts as (
    -- people with an email and an active day up to the observation date (user_lifecycle
    -- already stops there), one person per email
    select
        users.user_id,
        users.email,
        users.first_name,
        users.last_name,
        lifecycle.lifecycle_stage,
        lifecycle.last_active_date,
        row_number() over (
            partition by users.email
            order by lifecycle.last_active_date desc, users.user_id
        ) as email_rank
    from users
    inner join lifecycle on lifecycle.user_id = users.user_id
    where users.email is not null
),

final as (
    select
        contacts.user_id,
        contacts.email,
        contacts.first_name,
        contacts.last_name,
        ltv.ltv_tier,
        round(ltv.predicted_ltv_12m, 2) as predicted_ltv_12m,
        round(coalesce(ltv.historical_ltv, 0), 2) as historical_ltv,
        rfm.rfm_segment,
        contacts.lifecycle_stage,
        churn.churn_band,
        round(churn.churn_score, 3) as churn_score,
        engagement.engagement_band,
        coalesce(rfm.frequency, 0) as lifetime_orders,
        contacts.last_active_date as last_seen_date
    from contacts
    left join ltv on ltv.user_id = contacts.user_id
    left join rfm on rfm.user_id = contacts.user_id
    left join churn on churn.user_id = contacts.user_id
    left join engagement on engagement.user_id = contacts.user_id
    where contacts.email_rank = 1
)

select * from final
