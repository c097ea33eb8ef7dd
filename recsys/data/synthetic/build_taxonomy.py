"""Dev-only: derive the compact ``taxonomy.json`` from the real H&M catalogue (run by hand).

    python -m recsys.data.synthetic.build_taxonomy /work/shared/data/hm_real

Reads ``articles_full.parquet`` (the real catalogue) and ``sample_1364/`` (real purchases, for
sales shares and prices). Writes only aggregates -- code/name tables, shares, medians and short
word lists -- never real article rows. The product never runs this module.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.synthetic.taxonomy import TAXONOMY_PATH

MIN_DEPT_ARTICLES = 50
MIN_TYPE_SHARE = 0.03
PRICE_DIVISOR = 590.0

# Seasonality by product type name: +1 sells in summer, -1 in winter (hand rules, by keyword).
SEASON_RULES: dict[str, float] = {
    "Bikini top": 1.0,
    "Swimwear bottom": 1.0,
    "Swimsuit": 1.0,
    "Swimwear set": 1.0,
    "Swimwear top": 1.0,
    "Sarong": 1.0,
    "Flip flop": 1.0,
    "Sandals": 0.9,
    "Heeled sandals": 0.8,
    "Wedge": 0.6,
    "Sunglasses": 0.9,
    "Hat/brim": 0.7,
    "Shorts": 0.8,
    "Vest top": 0.5,
    "Dress": 0.4,
    "Skirt": 0.3,
    "Jumpsuit/Playsuit": 0.4,
    "Kaftan": 1.0,
    "T-shirt": 0.2,
    "Coat": -1.0,
    "Jacket": -0.6,
    "Outdoor overall": -1.0,
    "Outdoor trousers": -0.9,
    "Outdoor Waistcoat": -0.7,
    "Sweater": -0.6,
    "Cardigan": -0.4,
    "Hoodie": -0.4,
    "Boots": -0.9,
    "Bootie": -0.7,
    "Scarf": -0.8,
    "Gloves": -1.0,
    "Hat/beanie": -1.0,
    "Beanie": -1.0,
    "Leg warmers": -0.8,
    "Slippers": -0.4,
    "Pyjama set": -0.2,
    "Underwear Tights": -0.5,
    "Leggings/Tights": -0.2,
    "Robe": -0.3,
}
# Product types bought together as a set (same department, often the same colour).
TYPE_COMPLEMENTS: dict[str, list[str]] = {
    "Bikini top": ["Swimwear bottom"],
    "Swimwear bottom": ["Bikini top", "Swimwear top"],
    "Swimwear top": ["Swimwear bottom"],
    "Bra": ["Underwear bottom"],
    "Underwear bottom": ["Bra"],
    "Pyjama bottom": ["Top", "T-shirt"],
    "Blazer": ["Trousers"],
}
# Product groups bought together in one basket (an outfit / a set).
COMPLEMENTS: dict[str, list[str]] = {
    "Garment Upper body": ["Garment Lower body", "Accessories"],
    "Garment Lower body": ["Garment Upper body", "Shoes"],
    "Garment Full body": ["Shoes", "Accessories"],
    "Swimwear": ["Swimwear", "Accessories"],
    "Underwear": ["Underwear", "Socks & Tights"],
    "Nightwear": ["Nightwear", "Underwear"],
    "Shoes": ["Garment Lower body", "Socks & Tights"],
    "Accessories": ["Garment Upper body", "Garment Full body"],
    "Socks & Tights": ["Underwear", "Garment Full body"],
}
STOP_WORDS = {"and", "with", "the", "for", "in", "of", "set", "pack", "new"}
DANGLING = {"narrow", "adjustable", "wide", "soft", "a", "an", "the", "short", "long"}
FABRICS = (
    "jersey|knit|cotton|fabric|weave|denim|wool|linen|viscose|satin|lace|leather|mesh|chiffon|"
    "twill|fleece|velour|polyester|silk|corduroy|tulle|canvas|suede|straw|metal|plastic|modal|"
    "cashmere|mohair|velvet|crêpe|pile|poplin|flannel|rubber|glass|felt|microfibre|lyocell"
)


def _top(counter: Counter, n: int, min_count: int = 2) -> list[str]:
    """The ``n`` most common keys of ``counter`` seen at least ``min_count`` times."""
    return [k for k, c in counter.most_common(n) if c >= min_count]


def _index_table(arts: pd.DataFrame) -> list[list]:
    """[index_code, index_name, index_group_no, index_group_name] rows."""
    cols = ["index_code", "index_name", "index_group_no", "index_group_name"]
    rows = arts[cols].drop_duplicates().sort_values("index_code")
    return [[r[0], r[1], int(r[2]), r[3]] for r in rows.itertuples(index=False)]


def _department_table(arts: pd.DataFrame, sales: pd.DataFrame) -> list[list]:
    """Departments (>= MIN_DEPT_ARTICLES articles) with their hierarchy, shares, price, types."""
    counts = arts.groupby("department_no").size()
    keep = counts[counts >= MIN_DEPT_ARTICLES].index
    sold = sales.groupby("department_no").size().reindex(keep, fill_value=0)
    price = sales.groupby("department_no").sek.median()
    group_price = sales.groupby("product_group_name").sek.median()
    rows = []
    for dep in keep:
        part = arts[arts.department_no == dep]
        first = part.iloc[0]
        types = part.product_type_no.value_counts(normalize=True)
        types = types[types >= MIN_TYPE_SHARE]
        main_group = part.product_group_name.mode().iloc[0]
        med = price.get(dep, group_price.get(main_group, 19.99))
        rows.append(
            [
                int(dep),
                first.department_name,
                int(first.section_no),
                first.section_name,
                first.index_code,
                int(first.garment_group_no),
                int(counts[dep]),
                int(sold[dep]),
                round(float(med), 2),
                [[int(t), round(float(w), 3)] for t, w in types.items()],
            ]
        )
    return rows


def _type_table(arts: pd.DataFrame, used: set[int]) -> list[list]:
    """[product_type_no, name, group, season] for the types the departments use."""
    rows = arts[["product_type_no", "product_type_name", "product_group_name"]].drop_duplicates()
    out = []
    for no, name, group in rows.sort_values("product_type_no").itertuples(index=False):
        if int(no) in used:
            season = SEASON_RULES.get(name, 1.0 if group == "Swimwear" else 0.0)
            out.append([int(no), name, group, season])
    return out


def _colour_table(arts: pd.DataFrame, sales: pd.DataFrame) -> list[list]:
    """Colour groups: code, name, catalogue share, sales share, (value, master) combos."""
    cat = arts.colour_group_code.value_counts(normalize=True)
    sold = sales.colour_group_code.value_counts()
    sold = (sold + 1).reindex(cat.index, fill_value=1)
    sold = sold / sold.sum()
    combo_cols = [
        "perceived_colour_value_id",
        "perceived_colour_value_name",
        "perceived_colour_master_id",
        "perceived_colour_master_name",
    ]
    rows = []
    for code in sorted(cat.index):
        part = arts[arts.colour_group_code == code]
        combos = part.groupby(combo_cols).size().sort_values(ascending=False)
        combos = combos[combos >= 0.1 * combos.iloc[0]].head(3)
        combo_rows = [[int(k[0]), k[1], int(k[2]), k[3], int(c)] for k, c in combos.items()]
        rows.append(
            [
                int(code),
                part.colour_group_name.iloc[0],
                round(float(cat[code]), 5),
                round(float(sold[code]), 5),
                combo_rows,
            ]
        )
    return rows


def _graphical_table(arts: pd.DataFrame) -> list[list]:
    """[graphical_appearance_no, name, share] rows."""
    g = arts.groupby(["graphical_appearance_no", "graphical_appearance_name"]).size()
    g = g / g.sum()
    return [[int(k[0]), k[1], round(float(v), 5)] for k, v in g.items()]


def _garment_groups(products: pd.DataFrame) -> list[list]:
    """[garment_group_no, name, materials...]: materials mined from 'in <material>' phrases."""
    pattern = re.compile(rf" in (?:an? )?((?:[a-z\-]+,? ){{0,3}}(?:{FABRICS})[a-z]*)\b")
    out = []
    for (no, name), part in products.groupby(["garment_group_no", "garment_group_name"]):
        found = Counter(m for d in part.detail_desc.dropna() for m in pattern.findall(d[:120]))
        out.append([int(no), name, _top(found, 10, 3)])
    return out


def _features(products: pd.DataFrame, groups: list[str]) -> dict[str, list[str]]:
    """Per product group: frequent 'with ...' feature phrases of the first sentence."""
    out = {}
    for group in groups:
        part = products[products.product_group_name == group].detail_desc.dropna()
        found: Counter = Counter()
        for desc in part:
            first = desc.split(". ")[0].rstrip(".")
            if " with " not in first:
                continue
            tail = first.split(" with ", 1)[1]
            for piece in re.split(r", | and ", tail):
                last = piece.rsplit(" ", 1)[-1]
                if 8 <= len(piece) <= 36 and " " in piece and last not in DANGLING:
                    found[piece] += 1
        out[group] = _top(found, 16, 3)
    return out


def _type_words(products: pd.DataFrame, types: list[list]) -> dict[str, list[list[str]]]:
    """Per product type: [name nouns, description heads], mined from prod_name / detail_desc."""
    vocab = _vocabulary(products)
    out = {}
    for no, name, _group, _season in types:
        part = products[products.product_type_no == no]
        nouns = Counter(
            w.lower()
            for n in part.prod_name.dropna()
            for w in n.split()[-1:]
            if w.isalpha() and w.lower() in vocab and w.lower() not in STOP_WORDS
        )
        heads = Counter(
            m.group(1).lower()
            for d in part.detail_desc.dropna()
            if (m := re.match(r"^([A-Za-z\- ]{3,24}?) (?:in|with) ", d))
        )
        fallback = name.split("/")[0].lower()
        out[str(no)] = [_top(nouns, 4) or [fallback], _top(heads, 4) or [fallback]]
    return out


def _vocabulary(products: pd.DataFrame) -> set[str]:
    """Lower-case words of the descriptions (English words, not style names or codes)."""
    text = " ".join(products.detail_desc.dropna().str.lower())
    return set(re.findall(r"[a-z]{3,}", text))


def _model_names(products: pd.DataFrame, n: int = 160) -> list[str]:
    """Frequent title-case first words of product names that are no English word ('Tilly')."""
    vocab = _vocabulary(products)
    words = Counter(
        w
        for name in products.prod_name.dropna()
        for w in name.split()[:1]
        if w.isalpha() and 3 <= len(w) <= 9 and w[0].isupper() and w[1:].islower()
    )
    return [w for w, _ in words.most_common(3 * n) if w.lower() not in vocab][:n]


def _fits(products: pd.DataFrame) -> list[str]:
    """Frequent fit sentences ('Regular fit.', 'Slim fit.')."""
    found = Counter(
        m.group(1) + "."
        for d in products.detail_desc.dropna()
        for s in d.split(". ")
        if (m := re.match(r"^([A-Z][a-z\-]+(?: [a-z\-]+)? fit)\b", s))
    )
    return [f for f in _top(found, 8, 10) if not f.startswith("Designed")]


def build(real_dir: Path) -> dict:
    """The whole taxonomy dict from the real catalogue and the real sample."""
    arts = pd.read_parquet(real_dir / "articles_full.parquet")
    tx = pd.read_csv(real_dir / "sample_1364" / "transactions_train.csv", dtype={"article_id": str})
    sales = tx.merge(arts, on="article_id")
    sales["sek"] = np.round(sales.price * PRICE_DIVISOR, 2)
    products = arts.drop_duplicates("product_code")
    departments = _department_table(arts, sales)
    used = {t for d in departments for t, _ in d[-1]}
    types = _type_table(arts, used)
    groups = sorted({t[2] for t in types})
    return {
        "source": "aggregates of the real H&M catalogue (articles_full.parquet, sample_1364)",
        "price_divisor": PRICE_DIVISOR,
        "index": _index_table(arts),
        "departments": departments,
        "product_types": types,
        "garment_groups": _garment_groups(products),
        "colours": _colour_table(arts, sales),
        "graphical": _graphical_table(arts),
        "features": _features(products, groups),
        "complements": {g: [c for c in cs if c in groups] for g, cs in COMPLEMENTS.items()},
        "type_complements": TYPE_COMPLEMENTS,
        "type_words": _type_words(products, types),
        "model_names": _model_names(products),
        "fits": _fits(products),
    }


def main(argv: list[str]) -> None:
    """Entry point: ``build_taxonomy REAL_DIR [OUT_JSON]``."""
    real_dir = Path(argv[0] if argv else "/work/shared/data/hm_real")
    out = Path(argv[1]) if len(argv) > 1 else TAXONOMY_PATH
    data = build(real_dir)
    out.write_text(json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n")
    print(f"wrote {out} ({out.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main(sys.argv[1:])
