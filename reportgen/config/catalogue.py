"""The default product catalogue (product -> brand) and the vocabularies presets are checked against."""

from __future__ import annotations

#: Products of the seed data and the brand that sells each one.
DEFAULT_PRODUCTS: dict[str, str] = {
    "Whey Protein": "MuscleBlaze",
    "BCAA": "MuscleBlaze",
    "Creatine": "MuscleBlaze",
    "Mass Gainer": "MuscleBlaze",
    "Biotin": "HKVitals",
    "Multivitamin": "HKVitals",
    "Omega 3": "HKVitals",
    "Collagen": "HKVitals",
    "SuperMilk for Kids": "Gritzo",
    "Protein Oats for Teens": "Gritzo",
    "Gummy Stars": "Gritzo",
}

#: Influencer categories seen in the seed data and its public variants.
DEFAULT_CATEGORIES: list[str] = [
    "Fitness",
    "Nutrition",
    "Wellness",
    "Health",
    "Beauty",
    "Lifestyle",
    "Parenting",
]

#: Platforms seen in the seed data and its public variants.
DEFAULT_PLATFORMS: list[str] = ["Instagram", "YouTube", "Twitter", "LinkedIn", "Facebook"]

#: Brand shown for tracked products the catalogue does not know.
UNMAPPED_BRAND = "(unmapped)"
