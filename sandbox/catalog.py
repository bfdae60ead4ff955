"""Fixed vocabularies of the synthetic world: places, devices, channels, names, products, pages.

They are constants (not drawn from the seed) so that product ids, campaign names and city
spellings are the same in every generated data set: dbt seeds, audience definitions and
tests can name them. A few values are deliberately non-ASCII ("München", "São Paulo", "Zoë")
so that readers are exercised on real UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROJECT_ID = 187520
"""Amplitude project id: the prefix of every export zip and member name (S3 naming)."""

SHOP_URL = "https://shop.example.com"

EVENT_NAMES: tuple[str, ...] = (
    "Page Viewed",
    "View Item",
    "Add To Cart",
    "Checkout Started",
    "Purchase",
    "Sign Up",
    "Logged In",
    "Refund",
)
PAGE, VIEW, CART, CHECKOUT, PURCHASE, SIGNUP, LOGIN, REFUND = range(len(EVENT_NAMES))
FUNNEL_STEPS: tuple[str, ...] = ("View Item", "Add To Cart", "Checkout Started", "Purchase")

SOURCES: tuple[str, ...] = ("mixpanel", "amplitude")
MIXPANEL, AMPLITUDE = 0, 1


@dataclass(frozen=True)
class Channel:
    """An acquisition channel and the attribution values its visitors arrive with."""

    name: str
    utm_source: str | None
    utm_medium: str | None
    campaigns: tuple[str, ...]
    referrer: str  # $initial_referrer of the acquisition device ("$direct" = none)


# fmt: off
CHANNELS: tuple[Channel, ...] = (
    Channel("organic", None, None, (), "https://www.google.com/"),
    Channel("paid_search", "google", "cpc", ("brand_search", "generic_search"), "https://www.google.com/"),
    Channel("social", "instagram", "paid_social", ("winter_sale", "new_arrivals"), "https://www.instagram.com/"),
    Channel("email", "newsletter", "email", ("weekly_digest", "winback"), "$direct"),
    Channel("referral", "partner_blog", "referral", ("gift_guide",), "https://blog.example.org/"),
)
# fmt: on


@dataclass(frozen=True)
class Place:
    """Geo as the vendors resolve it from the IP: Mixpanel uses the ISO code, Amplitude the name."""

    city: str
    region: str
    country_code: str
    country: str
    language: str
    timezone: str
    weight: float


# fmt: off
PLACES: tuple[Place, ...] = (
    Place("New York", "New York", "US", "United States", "English", "America/New_York", 0.14),
    Place("San Francisco", "California", "US", "United States", "English", "America/Los_Angeles", 0.09),
    Place("Austin", "Texas", "US", "United States", "English", "America/Chicago", 0.06),
    Place("Chicago", "Illinois", "US", "United States", "English", "America/Chicago", 0.06),
    Place("Toronto", "Ontario", "CA", "Canada", "English", "America/Toronto", 0.06),
    Place("London", "England", "GB", "United Kingdom", "English", "Europe/London", 0.12),
    Place("Manchester", "England", "GB", "United Kingdom", "English", "Europe/London", 0.04),
    Place("Berlin", "Berlin", "DE", "Germany", "German", "Europe/Berlin", 0.09),
    Place("München", "Bavaria", "DE", "Germany", "German", "Europe/Berlin", 0.05),
    Place("Paris", "Île-de-France", "FR", "France", "French", "Europe/Paris", 0.07),
    Place("Madrid", "Madrid", "ES", "Spain", "Spanish", "Europe/Madrid", 0.05),
    Place("São Paulo", "São Paulo", "BR", "Brazil", "Portuguese", "America/Sao_Paulo", 0.07),
    Place("Tokyo", "Tokyo", "JP", "Japan", "Japanese", "Asia/Tokyo", 0.05),
    Place("Sydney", "New South Wales", "AU", "Australia", "English", "Australia/Sydney", 0.05),
)
# fmt: on


@dataclass(frozen=True)
class WebClient:
    """A browser as Mixpanel's JavaScript SDK describes it."""

    os: str
    browser: str
    browser_version: int
    device: str | None
    weight: float


WEB_CLIENTS: tuple[WebClient, ...] = (
    WebClient("Windows", "Chrome", 131, None, 0.28),
    WebClient("Mac OS X", "Chrome", 131, None, 0.14),
    WebClient("Mac OS X", "Safari", 18, None, 0.12),
    WebClient("Windows", "Microsoft Edge", 131, None, 0.10),
    WebClient("Windows", "Firefox", 133, None, 0.05),
    WebClient("iOS", "Mobile Safari", 18, "iPhone", 0.17),
    WebClient("Android", "Chrome", 131, "Android", 0.12),
    WebClient("Linux", "Firefox", 133, None, 0.02),
)


@dataclass(frozen=True)
class AppClient:
    """A phone running the shop's app, as Amplitude's mobile SDKs describe it."""

    platform: str
    os_name: str
    os_version: str
    device_family: str
    device_type: str
    carrier: str
    library: str
    weight: float


# fmt: off
APP_CLIENTS: tuple[AppClient, ...] = (
    AppClient("iOS", "ios", "18.1", "Apple iPhone", "Apple iPhone 15", "Verizon", "amplitude-swift/1.9.2", 0.30),
    AppClient("iOS", "ios", "17.6", "Apple iPhone", "Apple iPhone 13", "Vodafone", "amplitude-swift/1.9.2", 0.18),
    AppClient("iOS", "ios", "18.1", "Apple iPad", "Apple iPad Air", "Wi-Fi", "amplitude-swift/1.9.2", 0.05),
    AppClient("Android", "android", "14", "Samsung Galaxy", "Samsung Galaxy S23", "T-Mobile", "amplitude-kotlin/1.16.4", 0.22),
    AppClient("Android", "android", "14", "Google Pixel", "Google Pixel 8", "O2", "amplitude-kotlin/1.16.4", 0.13),
    AppClient("Android", "android", "13", "Xiaomi Redmi", "Xiaomi Redmi Note 12", "Movistar", "amplitude-kotlin/1.16.4", 0.12),
)
APP_VERSION = "3.12.0"

FIRST_NAMES: tuple[str, ...] = (
    "Ada", "Alan", "Amara", "Ana", "Ben", "Björn", "Carla", "Chen", "Daniel", "Elena", "Emma",
    "Fatima", "Finn", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jonas", "José", "Julia", "Kai",
    "Lea", "Liam", "Lucía", "Maya", "Mei", "Mia", "Noah", "Olga", "Omar", "Priya", "Ravi",
    "Sara", "Sofia", "Tom", "Yuki", "Zoë",
)
LAST_NAMES: tuple[str, ...] = (
    "Adams", "Becker", "Brown", "Costa", "Davis", "Dubois", "Fischer", "García", "Hansen",
    "Ito", "Jensen", "Kim", "Kowalski", "Lee", "Lopez", "Martin", "Moreau", "Müller", "Nakamura",
    "Nguyen", "O'Brien", "Patel", "Rossi", "Santos", "Schmidt", "Silva", "Smith", "Suzuki",
    "Taylor", "Wagner", "Walker", "Weber", "Wilson", "Zhang",
)
# fmt: on
SIGNUP_METHODS: tuple[str, ...] = ("email", "google", "apple")

CATEGORIES: tuple[str, ...] = ("apparel", "shoes", "electronics", "home", "beauty", "books")
# Median list price per category; prices are log-normal around it.
_CATEGORY_MEDIAN_PRICE = (35.0, 80.0, 120.0, 45.0, 22.0, 15.0)


@dataclass(frozen=True)
class Catalogue:
    """Products as parallel arrays, sorted by list price so an order value maps to a product fast."""

    product_id: np.ndarray  # str
    category: np.ndarray  # int index into CATEGORIES
    price_cents: np.ndarray  # int64 list price
    popularity: np.ndarray  # float, sums to 1 (browsing draws)

    def to_records(self) -> list[dict[str, object]]:
        """The catalogue as JSON-ready rows (written to truth/params.json)."""
        return [
            {
                "product_id": str(pid),
                "category": CATEGORIES[int(cat)],
                "price": int(cents) / 100,
                "popularity": round(float(pop), 6),
            }
            for pid, cat, cents, pop in zip(
                self.product_id, self.category, self.price_cents, self.popularity, strict=True
            )
        ]


def build_catalogue(n_products: int = 50) -> Catalogue:
    """Build the product catalogue from a constant seed (identical for every generated data set)."""
    rng = np.random.default_rng(20260101)
    category = np.arange(n_products) % len(CATEGORIES)
    median = np.asarray(_CATEGORY_MEDIAN_PRICE)[category]
    price = median * rng.lognormal(0.0, 0.45, n_products)
    price_cents = (np.maximum(np.floor(price), 1.0) * 100 + 99).astype(np.int64)  # x.99 pricing
    popularity = 1.0 / np.arange(1, n_products + 1) ** 0.8  # Zipf-like: a few best sellers
    popularity = rng.permutation(popularity)
    order = np.argsort(price_cents, kind="stable")
    skus = np.array([f"sku-{1001 + i}" for i in range(n_products)], dtype=object)
    pop = popularity[order]
    return Catalogue(
        product_id=skus[order],
        category=category[order],
        price_cents=price_cents[order],
        popularity=pop / pop.sum(),
    )


PAGES: tuple[str, ...] = ("/", "/search", "/account", "/deals", "/blog/style-guide") + tuple(
    f"/category/{c}" for c in CATEGORIES
)
PAGE_WEIGHTS = np.array([0.30, 0.12, 0.05, 0.08, 0.03] + [0.42 / len(CATEGORIES)] * len(CATEGORIES))
