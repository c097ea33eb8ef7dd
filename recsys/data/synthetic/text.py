"""Product names and descriptions that reflect type, material and cut (so text embeddings work)."""

from __future__ import annotations

import numpy as np

from recsys.data.synthetic.taxonomy import Taxonomy

EMPTY_DESC_SHARE = 0.004  # real: 416 of 105,542 articles have no description
FIT_GROUPS = {"Garment Upper body", "Garment Lower body", "Garment Full body", "Nightwear"}
GRAPHIC_WORDS = {
    "All over pattern": "patterned",
    "Stripe": "striped",
    "Check": "checked",
    "Melange": "marl",
    "Front print": "printed",
    "Placement print": "printed",
    "Lace": "lace",
    "Glittering/Metallic": "glittery",
    "Embroidery": "embroidered",
    "Jacquard": "jacquard-knit",
    "Sequin": "sequined",
    "Dot": "spotted",
    "Denim": "denim",
}
EXTRAS = (
    "Unlined.",
    "Lined.",
    "The cotton content is organic.",
    "The polyester content is recycled.",
    "Soft brushed inside.",
    "",
)


def _pick(options: list[str], u: float) -> str:
    """Option at fraction ``u`` in [0, 1) of the list, favouring the first (more common) ones."""
    return options[int(len(options) * u * u)] if options else ""


def product_names(tax: Taxonomy, type_idx: np.ndarray, rng: np.random.Generator) -> list[str]:
    """A style name plus a type noun per product, e.g. ``Tilly trousers``."""
    models = rng.integers(0, len(tax.model_names), size=len(type_idx))
    u = rng.random(len(type_idx))
    return [
        f"{tax.model_names[m]} {_pick(tax.type_nouns[t], x)}"
        for t, m, x in zip(type_idx.tolist(), models.tolist(), u.tolist(), strict=True)
    ]


def _sentence(
    tax: Taxonomy, t: int, g: int, graphic: str, u: np.ndarray, n_feat: int, extra: int
) -> str:
    """One description from random numbers ``u`` (6 values) for type ``t``, garment group ``g``."""
    group = tax.type_group[t]
    head, material = _pick(tax.type_heads[t], u[0]), _pick(tax.materials[g], u[1])
    word = GRAPHIC_WORDS.get(graphic, "")
    if word and u[5] < 0.6 and word not in head and word not in material:
        head = f"{word} {head}"
    text = f"{head[:1].upper()}{head[1:]} in {material}"
    feats = list(dict.fromkeys(_pick(tax.features.get(group, []), x) for x in u[2 : 2 + n_feat]))
    feats = [f for f in feats if f]
    if feats:
        text += " with " + (", ".join(feats[:-1]) + " and " if len(feats) > 1 else "") + feats[-1]
    text += "."
    if group in FIT_GROUPS and u[4] < 0.6 and tax.fits:
        text += " " + _pick(tax.fits, u[4] / 0.6)
    if EXTRAS[extra]:
        text += " " + EXTRAS[extra]
    return text


def descriptions(
    tax: Taxonomy,
    type_idx: np.ndarray,
    garment_idx: np.ndarray,
    graphical_idx: np.ndarray,
    rng: np.random.Generator,
) -> list[str]:
    """A detail description per product (a few empty, as in the real catalogue)."""
    n = len(type_idx)
    u = rng.random((n, 6))
    n_feat = rng.integers(1, 4, size=n)
    extra = rng.integers(0, len(EXTRAS), size=n)
    empty = rng.random(n) < EMPTY_DESC_SHARE
    graphic = tax.graphical_name[graphical_idx]
    return [
        "" if empty[i] else _sentence(tax, t, g, graphic[i], u[i], n_feat[i], extra[i])
        for i, (t, g) in enumerate(zip(type_idx.tolist(), garment_idx.tolist(), strict=True))
    ]
