"""A TheLook-like product catalogue: categories, brands and product rows.

TheLook (Google's public e-commerce data set) has 26 categories, some with spaces and `&`.
One category with a comma is added on purpose: it must survive CSV quoting and KPI keys.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

THELOOK_CATEGORIES = (
    "Accessories",
    "Active",
    "Blazers & Jackets",
    "Clothing Sets",
    "Dresses",
    "Fashion Hoodies & Sweatshirts",
    "Intimates",
    "Jeans",
    "Jumpsuits & Rompers",
    "Leggings",
    "Maternity",
    "Outerwear & Coats",
    "Pants",
    "Pants & Capris",
    "Plus",
    "Shorts",
    "Skirts",
    "Sleep & Lounge",
    "Socks",
    "Socks & Hosiery",
    "Suits",
    "Suits & Sport Coats",
    "Sweaters",
    "Swim",
    "Tops & Tees",
    "Underwear",
)
COMMA_CATEGORY = "Shirts, Polos & Henleys"
CATEGORIES = (*THELOOK_CATEGORIES, COMMA_CATEGORY)

BRANDS = (
    "Levi's",
    "Calvin Klein",
    "Carhartt",
    "Columbia",
    "Hanes",
    "Nike",
    "adidas",
    "Tommy Hilfiger",
    "Allegra K",
    "Ray-Ban",
    "Dockers",
    "Wrangler",
    "Quiksilver",
    "Champion",
    "Under Armour",
    "Volcom",
    "Jockey",
    "Lucky Brand",
    "Diesel",
    "Patagonia",
    "The North Face",
    "Speedo",
)
ADJECTIVES = (
    "Classic",
    "Slim Fit",
    "Relaxed",
    "Vintage",
    "Essential",
    "Premium",
    "Stretch",
    "Heathered",
    "Organic Cotton",
    "Lightweight",
    "Quilted",
    "Ribbed",
)
DEPARTMENTS = ("Women", "Men")
DISTRIBUTION_CENTERS = 10


@dataclass
class Product:
    id: int
    sku: str
    cost: str
    category: str
    name: str
    brand: str
    retail_price: str
    department: str
    distribution_center_id: int

    def as_row(self) -> dict[str, str]:
        return {k: str(v) for k, v in vars(self).items()}


def thelook_float(value: float) -> str:
    """TheLook stores prices as FLOAT32 exported as FLOAT64: 49.99 becomes 49.9900016784668."""
    widened = struct.unpack("f", struct.pack("f", value))[0]
    return f"{widened:.15g}"


def price_text(rng: random.Random, amount: float) -> str:
    """Mostly clean two-decimal prices, sometimes TheLook's long float form."""
    return thelook_float(amount) if rng.random() < 0.3 else f"{amount:.2f}"


def product_name(rng: random.Random, brand: str, category: str, department: str) -> str:
    noun = category.split(" & ")[0].split(", ")[0].rstrip("s")
    name = f"{brand} {department}'s {rng.choice(ADJECTIVES)} {noun}"
    roll = rng.random()
    if roll < 0.15:
        name += f", {rng.choice(('Black', 'Navy', 'Heather Grey', 'Stonewash'))}"  # a quoted comma
    elif roll < 0.2:
        name += f' {rng.choice((9, 11, 14))}"'  # inch marks: an escaped quote
    return name


def make_product(rng: random.Random, product_id: int, category: str | None = None) -> Product:
    category = category or rng.choice(CATEGORIES)
    department = rng.choice(DEPARTMENTS)
    brand = rng.choice(BRANDS)
    retail = round(rng.uniform(6, 180), 2)
    return Product(
        id=product_id,
        sku=f"{rng.getrandbits(128):032X}",
        cost=thelook_float(retail * rng.uniform(0.35, 0.6)),
        category=category,
        name=product_name(rng, brand, category, department),
        brand=brand,
        retail_price=price_text(rng, retail),
        department=department,
        distribution_center_id=rng.randint(1, DISTRIBUTION_CENTERS),
    )
