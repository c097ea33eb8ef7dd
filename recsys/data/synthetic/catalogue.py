"""The synthetic catalogue: products with colour variants, life-cycles, prices and style vectors.

Products (one ``product_code`` each) belong to a department (which fixes section, index, index
group and garment group, as in the real catalogue) and have a product type drawn from the
department's real type mix. Each product has one or more colour variants (articles). Articles carry
what the transaction simulator needs: a launch week, a rise and a fade (half-life), a heavy-tailed
base popularity, a list price and markdown weeks, a style vector and a "bought together" partner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys import schema
from recsys.data.synthetic import pricing, text
from recsys.data.synthetic.sampling import (
    categorical,
    pick_in_groups,
    sample_in_segments,
    segment_cumsum,
)
from recsys.data.synthetic.scales import ScaleConfig
from recsys.data.synthetic.taxonomy import INDEX_GROUPS, Taxonomy
from recsys.data.synthetic.timeline import PRE_WINDOW_WEEKS

STYLE_DIM = 8
VARIANT_P = 0.45  # variants per product ~ geometric, mean 1 / VARIANT_P (real: 2.23)
MAX_VARIANTS = 40
ARTICLES_PER_DEPARTMENT = 40  # small worlds use fewer departments, so each has enough articles
MIN_DEPARTMENTS = 12
PRODUCT_CODE_RANGE = (108_775, 959_462)
BLACK_FIRST_SHARE = 0.12  # the first colour of a product is black this often
LIST_OVER_PAID = 1.3  # the taxonomy's median prices are paid prices, markdowns included


@dataclass
class Catalogue:
    """Articles (sorted by ``article_id``) and what the simulator needs to sell them."""

    article_id: np.ndarray  # int64, product_code * 1000 + variant number
    product: np.ndarray  # product index (products sorted by product_code)
    product_start: np.ndarray  # first article of this article's product
    n_variants: np.ndarray  # variants of this article's product
    dept: np.ndarray  # taxonomy department index
    type_idx: np.ndarray
    colour: np.ndarray
    combo: np.ndarray  # perceived colour (value, master) combo within the colour
    graphical: np.ndarray
    list_ore: np.ndarray
    tier: np.ndarray  # price tier within the department (standardised log price)
    popularity: np.ndarray  # heavy-tailed base demand
    launch: np.ndarray  # launch week (negative: before the first simulated week)
    rise: np.ndarray  # weeks to peak
    half_life: np.ndarray  # weeks
    markdown_week: np.ndarray  # weeks after launch when the first markdown starts
    style: np.ndarray  # (n, STYLE_DIM) float32
    partner: np.ndarray  # an article bought together with this one (-1: none)
    prod_name: list[str]  # per product
    detail_desc: list[str]  # per product
    dept_order: np.ndarray  # articles sorted by department
    dept_offsets: np.ndarray  # dept d's articles: dept_order[dept_offsets[d]:dept_offsets[d+1]]

    def __len__(self) -> int:
        return len(self.article_id)


def _departments(tax: Taxonomy, scale: ScaleConfig, rng: np.random.Generator) -> np.ndarray:
    """The departments this world uses (all of them at full scale)."""
    n_all = len(tax.departments)
    n = int(np.clip(round(scale.n_articles / ARTICLES_PER_DEPARTMENT), MIN_DEPARTMENTS, n_all))
    if n >= n_all:
        return np.arange(n_all)
    share = tax.departments.sales_share
    return np.sort(rng.choice(n_all, size=n, replace=False, p=share / share.sum()))


def _product_departments(
    tax: Taxonomy, depts: np.ndarray, n_products: int, rng: np.random.Generator
) -> np.ndarray:
    """Department of each product: every used department at least once, then by article share."""
    share = tax.departments.article_share[depts]
    rest = depts[categorical(share, max(n_products - len(depts), 0), rng)]
    return rng.permutation(np.concatenate([depts[:n_products], rest]))


def _product_types(tax: Taxonomy, dept: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Product type of each product from its department's real type mix."""
    d = tax.departments
    pos = sample_in_segments(
        segment_cumsum(d.type_weight), d.type_offsets, dept, rng.random(len(dept))
    )
    return d.type_idx[pos]


def _variant_colours(
    tax: Taxonomy, n_variants: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Colour group and perceived-colour combo of every article (products' variants in order)."""
    n = int(n_variants.sum())
    colour = categorical(tax.colour_catalogue_share, n, rng)
    black = int(np.flatnonzero(tax.colour_name == "Black")[0])
    first = np.concatenate([[0], np.cumsum(n_variants)[:-1]])
    colour[first] = np.where(rng.random(len(first)) < BLACK_FIRST_SHARE, black, colour[first])
    combo = np.zeros(n, dtype=np.int64)
    for c, combos in enumerate(tax.colour_combos):
        hit = np.flatnonzero(colour == c)
        if len(combos) > 1 and len(hit):
            combo[hit] = categorical(np.array([r[4] for r in combos], float), len(hit), rng)
    return colour, combo


def _product_codes(launch: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Increasing unique product codes, older launches getting lower ones: (order, codes)."""
    order = np.lexsort((rng.random(len(launch)), launch))
    lo, hi = PRODUCT_CODE_RANGE
    codes = np.sort(rng.choice(hi - lo, size=len(launch), replace=False) + lo)
    return order, codes


def _variant_numbers(n_variants: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Increasing 1..999 variant numbers within each product (like 001, 015, 044)."""
    steps = rng.integers(1, 999 // MAX_VARIANTS, size=int(n_variants.sum()))
    total = np.cumsum(steps)
    start = np.concatenate([[0], np.cumsum(n_variants)[:-1]])
    return total - np.repeat(total[start] - steps[start], n_variants)


def _product_table(
    tax: Taxonomy, scale: ScaleConfig, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Product-level attributes, products sorted by launch (and so by product code)."""
    n = max(int(round(scale.n_articles * VARIANT_P)), MIN_DEPARTMENTS)
    dept = _product_departments(tax, _departments(tax, scale, rng), n, rng)
    launch = rng.integers(-PRE_WINDOW_WEEKS, scale.n_weeks, size=n)
    first = np.unique(dept, return_index=True)[1]
    launch[first] = rng.integers(-PRE_WINDOW_WEEKS, 0, size=len(first))  # stock from day one
    type_idx = _product_types(tax, dept, rng)
    basic = np.char.find(tax.departments.name[dept].astype(str), "Basic") >= 0
    median_ore = tax.departments.median_price[dept] * 100 * LIST_OVER_PAID
    list_ore = pricing.snap_to_points(median_ore / 100 * rng.lognormal(0, 0.35, size=n))
    table = {
        "dept": dept,
        "type_idx": type_idx,
        "launch": launch,
        "n_variants": np.minimum(rng.geometric(VARIANT_P, size=n), MAX_VARIANTS),
        "graphical": categorical(tax.graphical_share, n, rng),
        "list_ore": list_ore,
        "tier": (np.log(list_ore) - np.log(median_ore)) / 0.35,
        "popularity": rng.lognormal(0.0, 1.1, size=n),
        "rise": rng.integers(1, 4, size=n),
        "half_life": rng.lognormal(np.log(6.0), 0.5, size=n) * np.where(basic, 4.0, 1.0),
        "style": rng.normal(0.0, 0.7, size=(n, STYLE_DIM)),
    }
    order, codes = _product_codes(launch, rng)
    table = {k: v[order] for k, v in table.items()}
    table["product_code"] = codes
    return table


def _colour_multiplier(tax: Taxonomy) -> np.ndarray:
    """How much more an article of each colour sells than its catalogue share suggests."""
    ratio = tax.colour_sales_share / np.maximum(tax.colour_catalogue_share, 1e-6)
    return np.sqrt(np.clip(ratio, 0.3, 3.0))


def _articles(
    tax: Taxonomy, prod: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Article-level arrays: each product's attributes repeated over its colour variants."""
    nv = prod["n_variants"]
    product = np.repeat(np.arange(len(nv)), nv)
    n = len(product)
    colour, combo = _variant_colours(tax, nv, rng)
    graphical = prod["graphical"][product]
    redraw = rng.random(n) < 0.15
    graphical[redraw] = categorical(tax.graphical_share, int(redraw.sum()), rng)
    late = (rng.random(n) < 0.2) & (prod["launch"][product] >= 0)  # new colours added later
    launch = prod["launch"][product] + np.where(late, rng.geometric(0.1, size=n), 0)
    popularity = prod["popularity"][product] * rng.lognormal(0.0, 0.5, size=n)
    half_life = prod["half_life"][product]
    rise = prod["rise"][product]
    style = prod["style"][product] + rng.normal(0.0, 0.35, size=(n, STYLE_DIM))
    return {
        "article_id": prod["product_code"][product] * 1000 + _variant_numbers(nv, rng),
        "product": product,
        "product_start": np.repeat(np.cumsum(nv) - nv, nv),
        "n_variants": nv[product],
        "dept": prod["dept"][product],
        "type_idx": prod["type_idx"][product],
        "colour": colour,
        "combo": combo,
        "graphical": graphical,
        "list_ore": prod["list_ore"][product],
        "tier": prod["tier"][product],
        "popularity": popularity * _colour_multiplier(tax)[colour],
        "launch": launch,
        "rise": rise,
        "half_life": half_life,
        "markdown_week": rise + half_life * rng.uniform(2.0, 4.0, size=n),
        "style": style.astype(np.float32),
    }


def _partner_types(tax: Taxonomy, type_counts: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per product type, the types bought with it, as (offsets, flat type list, flat weights)."""
    names = {str(n): i for i, n in enumerate(tax.type_name)}
    lists = []
    for t, name in enumerate(tax.type_name):
        if name in tax.type_complements:
            cand = [names[c] for c in tax.type_complements[name] if c in names]
        else:
            groups = set(tax.complements.get(str(tax.type_group[t]), []))
            cand = [u for u, g in enumerate(tax.type_group) if g in groups and u != t]
        lists.append(np.array([c for c in cand if type_counts[c] > 0], dtype=np.int64))
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in lists])])
    flat = np.concatenate(lists) if offsets[-1] else np.zeros(0, dtype=np.int64)
    return offsets, [flat, type_counts[flat].astype(float)]


def _partners(tax: Taxonomy, art: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """A complementary article per article (same department / index group, same colour if any)."""
    n, t = len(art["dept"]), art["type_idx"]
    offsets, (flat, weight) = _partner_types(tax, np.bincount(t, minlength=len(tax.type_no)))
    has = offsets[t + 1] > offsets[t]
    target = np.full(n, -1, dtype=np.int64)
    pos = sample_in_segments(segment_cumsum(weight), offsets, t[has], rng.random(int(has.sum())))
    target[has] = flat[pos] if len(flat) else -1
    group = tax.departments.index_group[art["dept"]] + 10_000
    partner = np.full(n, -1, dtype=np.int64)
    for place in (art["dept"], group):
        for colour in (art["colour"], np.zeros(n, dtype=np.int64)):
            key = (place * 1000 + t) * 100 + colour
            order = np.argsort(key, kind="stable")
            want = (place * 1000 + target) * 100 + colour
            todo = np.flatnonzero((partner < 0) & (target >= 0))
            hit = pick_in_groups(key[order], want[todo], rng.random(len(todo)))
            partner[todo[hit >= 0]] = order[hit[hit >= 0]]
    return partner


def build_catalogue(tax: Taxonomy, scale: ScaleConfig, rng: np.random.Generator) -> Catalogue:
    """The whole catalogue of a world."""
    prod = _product_table(tax, scale, rng)
    art = _articles(tax, prod, rng)
    names = text.product_names(tax, prod["type_idx"], rng)
    garment = tax.departments.garment_group[prod["dept"]]
    descs = text.descriptions(tax, prod["type_idx"], garment, prod["graphical"], rng)
    dept_order = np.argsort(art["dept"], kind="stable")
    counts = np.bincount(art["dept"], minlength=len(tax.departments))
    return Catalogue(
        **art,
        partner=_partners(tax, art, rng),
        prod_name=names,
        detail_desc=descs,
        dept_order=dept_order,
        dept_offsets=np.concatenate([[0], np.cumsum(counts)]),
    )


def articles_frame(tax: Taxonomy, cat: Catalogue) -> pd.DataFrame:
    """``articles.csv`` as a frame: Kaggle's 25 columns, ids as 10-digit zero-padded text."""
    d, t, c = tax.departments, cat.type_idx, cat.colour
    pairs = zip(c.tolist(), cat.combo.tolist(), strict=True)
    combos = [tax.colour_combos[ci][k] for ci, k in pairs]
    combo = pd.DataFrame(combos, columns=["vid", "vname", "mid", "mname", "n"])
    dep, prod = cat.dept, cat.product
    cols = {
        schema.ARTICLE_ID: pd.Series(cat.article_id).map("{:010d}".format),
        "product_code": cat.article_id // 1000,
        "prod_name": np.asarray(cat.prod_name, dtype=object)[prod],
        "product_type_no": tax.type_no[t],
        "product_type_name": tax.type_name[t],
        "product_group_name": tax.type_group[t],
        "graphical_appearance_no": tax.graphical_no[cat.graphical],
        "graphical_appearance_name": tax.graphical_name[cat.graphical],
        "colour_group_code": tax.colour_code[c],
        "colour_group_name": tax.colour_name[c],
        "perceived_colour_value_id": combo.vid.to_numpy(),
        "perceived_colour_value_name": combo.vname.to_numpy(),
        "perceived_colour_master_id": combo.mid.to_numpy(),
        "perceived_colour_master_name": combo.mname.to_numpy(),
        "department_no": d.no[dep],
        "department_name": d.name[dep],
        "index_code": d.index_code[dep],
        "index_name": [tax.index_name[x] for x in d.index_code[dep]],
        "index_group_no": [tax.index_group_no[x] for x in d.index_code[dep]],
        "index_group_name": [INDEX_GROUPS[g] for g in d.index_group[dep]],
        "section_no": d.section_no[dep],
        "section_name": d.section_name[dep],
        "garment_group_no": tax.garment_no[d.garment_group[dep]],
        "garment_group_name": tax.garment_name[d.garment_group[dep]],
        "detail_desc": np.asarray(cat.detail_desc, dtype=object)[prod],
    }
    frame = pd.DataFrame(cols)
    return frame[schema.ARTICLE_COLUMNS]
