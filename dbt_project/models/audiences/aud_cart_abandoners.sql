{#- Who: people with an email who started a purchase and did not finish it: a cart event
    (`audience_cart_events`: Add To Cart, Checkout Started) in the last
    `audience_cart_window_hours` (24) hours before the observation end, and no purchase event
    (`audience_purchase_event`) at or after their last cart event, up to the observation end.
    The window includes its start (an event exactly 24 hours before the end is in) and follows
    the observation end's own rule at the end: before the end of the as_of day, or up to and
    including the last event without as_of. The last cart event gives the product and category
    (product_id is null when the source did not send one). -#}

with

events as (
    select event_id, user_id, event_name, event_at, product_id, product_category
    from {{ ref('fct_events') }}
),

contacts as (
    select * from {{ ref('aud_contact_traits') }}
),

observation as (
    select {{ observation_end_sql(ref('fct_events')) }} as observation_end
),

cart_events as (
    select
        user_id,
        event_name,
        event_at,
        product_id,
        product_category,
        row_number() over (partition by user_id order by event_at desc, event_id desc) as recency,
        count(*) over (partition by user_id) as cart_events_in_window
    from events
    where event_name in ({{ sql_in_list(var('audience_cart_events')) }})
      and event_at >= {{ dbt.dateadd('hour', -var('audience_cart_window_hours'),
                                     '(select observation_end from observation)') }}
      and {{ is_observed('event_at') }}
),

last_carts as (
    select * from cart_events where recency = 1
),

completed as (
    -- a purchase at or after the last cart event (and observed) closes the cart
    select distinct last_carts.user_id
    from last_carts
    inner join events as purchases
        on purchases.user_id = last_carts.user_id
        and purchases.event_name = '{{ dbt.escape_single_quotes(var('audience_purchase_event')) }}'
        and purchases.event_at >= last_carts.event_at
        and {{ is_observed('purchases.event_at') }}
),

final as (
    select
        contacts.user_id,
        contacts.email,
        contacts.first_name,
        contacts.last_name,
        last_carts.event_at as last_cart_at,
        last_carts.event_name as cart_event,
        last_carts.product_id as cart_product_id,
        last_carts.product_category as cart_product_category,
        last_carts.cart_events_in_window,
        contacts.lifetime_orders,
        contacts.ltv_tier
    from last_carts
    inner join contacts on contacts.user_id = last_carts.user_id
    where last_carts.user_id not in (select user_id from completed)
)

select * from final
