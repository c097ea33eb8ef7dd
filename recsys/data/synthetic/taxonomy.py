"""The compact H&M taxonomy (``taxonomy.json``) the synthetic catalogue draws from.

The JSON holds aggregates of the real catalogue only (code/name tables, shares, median prices and
short word lists; see :mod:`recsys.data.synthetic.build_taxonomy`). :func:`load_taxonomy` turns it
into numpy arrays indexed by position (department index, product type index, colour index ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

TAXONOMY_PATH = Path(__file__).with_name("taxonomy.json")
INDEX_GROUPS = ("Ladieswear", "Divided", "Menswear", "Baby/Children", "Sport")


@dataclass(frozen=True)
class Departments:
    """Departments with their fixed hierarchy (section, index, garment group) and statistics."""

    no: np.ndarray
    name: np.ndarray
    section_no: np.ndarray
    section_name: np.ndarray
    index_code: np.ndarray
    index_group: np.ndarray  # position in INDEX_GROUPS
    garment_group: np.ndarray  # position in Taxonomy.garment_no
    article_share: np.ndarray
    sales_share: np.ndarray
    median_price: np.ndarray  # SEK
    type_offsets: np.ndarray  # types of department d: type_idx[type_offsets[d]:type_offsets[d+1]]
    type_idx: np.ndarray
    type_weight: np.ndarray

    def __len__(self) -> int:
        return len(self.no)


@dataclass(frozen=True)
class Taxonomy:
    """Everything the catalogue needs, as arrays and small lists."""

    price_divisor: float
    index_code: list[str]
    index_name: dict[str, str]
    index_group_no: dict[str, int]
    departments: Departments
    type_no: np.ndarray
    type_name: np.ndarray
    type_group: np.ndarray
    type_season: np.ndarray
    garment_no: np.ndarray
    garment_name: np.ndarray
    materials: list[list[str]]  # per garment group
    colour_code: np.ndarray
    colour_name: np.ndarray
    colour_catalogue_share: np.ndarray
    colour_sales_share: np.ndarray
    colour_combos: list[list[list]]  # per colour: [value_id, value, master_id, master, count]
    graphical_no: np.ndarray
    graphical_name: np.ndarray
    graphical_share: np.ndarray
    features: dict[str, list[str]]  # per product group
    complements: dict[str, list[str]]  # product group -> groups bought with it
    type_complements: dict[str, list[str]]  # product type name -> types bought with it
    type_nouns: list[list[str]]  # per type
    type_heads: list[list[str]]  # per type
    model_names: list[str]
    fits: list[str]


def _departments(
    rows: list[list], groups: dict[str, int], type_pos: dict[int, int], garment_pos: dict[int, int]
) -> Departments:
    """Departments table from the JSON rows (``groups``: index code -> INDEX_GROUPS position)."""
    cols = list(zip(*rows, strict=True))
    types = [[type_pos[t] for t, _ in r[9]] for r in rows]
    weights = [np.array([w for _, w in r[9]]) for r in rows]
    art = np.array(cols[6], dtype=float)
    sold = np.array(cols[7], dtype=float) + 0.15 * art / art.sum() * sum(cols[7])
    return Departments(
        no=np.array(cols[0]),
        name=np.array(cols[1], dtype=object),
        section_no=np.array(cols[2]),
        section_name=np.array(cols[3], dtype=object),
        index_code=np.array(cols[4], dtype=object),
        index_group=np.array([groups[c] for c in cols[4]]),
        garment_group=np.array([garment_pos[g] for g in cols[5]]),
        article_share=art / art.sum(),
        sales_share=sold / sold.sum(),
        median_price=np.array(cols[8], dtype=float),
        type_offsets=np.concatenate([[0], np.cumsum([len(t) for t in types])]),
        type_idx=np.concatenate([np.array(t, dtype=np.int64) for t in types]),
        type_weight=np.concatenate([w / w.sum() for w in weights]),
    )


def parse_taxonomy(data: dict) -> Taxonomy:
    """A :class:`Taxonomy` from the decoded JSON dict."""
    types = data["product_types"]
    type_pos = {t[0]: i for i, t in enumerate(types)}
    garments = data["garment_groups"]
    garment_pos = {g[0]: i for i, g in enumerate(garments)}
    colours, graph = data["colours"], data["graphical"]
    groups = {r[0]: INDEX_GROUPS.index(r[3]) for r in data["index"]}
    return Taxonomy(
        price_divisor=float(data["price_divisor"]),
        index_code=[r[0] for r in data["index"]],
        index_name={r[0]: r[1] for r in data["index"]},
        index_group_no={r[0]: r[2] for r in data["index"]},
        departments=_departments(data["departments"], groups, type_pos, garment_pos),
        type_no=np.array([t[0] for t in types]),
        type_name=np.array([t[1] for t in types], dtype=object),
        type_group=np.array([t[2] for t in types], dtype=object),
        type_season=np.array([t[3] for t in types], dtype=float),
        garment_no=np.array([g[0] for g in garments]),
        garment_name=np.array([g[1] for g in garments], dtype=object),
        materials=[g[2] or ["woven fabric"] for g in garments],
        colour_code=np.array([c[0] for c in colours]),
        colour_name=np.array([c[1] for c in colours], dtype=object),
        colour_catalogue_share=np.array([c[2] for c in colours], dtype=float),
        colour_sales_share=np.array([c[3] for c in colours], dtype=float),
        colour_combos=[c[4] for c in colours],
        graphical_no=np.array([g[0] for g in graph]),
        graphical_name=np.array([g[1] for g in graph], dtype=object),
        graphical_share=np.array([g[2] for g in graph], dtype=float),
        features=data["features"],
        complements=data["complements"],
        type_complements=data["type_complements"],
        type_nouns=[data["type_words"][str(t[0])][0] for t in types],
        type_heads=[data["type_words"][str(t[0])][1] for t in types],
        model_names=data["model_names"],
        fits=data["fits"],
    )


@lru_cache(maxsize=2)
def load_taxonomy(path: Path = TAXONOMY_PATH) -> Taxonomy:
    """The committed taxonomy (cached; treat it as read-only)."""
    return parse_taxonomy(json.loads(Path(path).read_text(encoding="utf-8")))
