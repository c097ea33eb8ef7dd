"""Article encoders: metadata SVD, the offline pretrained sentence-transformer, scratch model."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from recsys.retrieval.encoders import encode_articles, l2_normalize

ARTICLES = pd.DataFrame(
    {
        "article_id": [1, 2, 3, 4, 5, 6],
        "product_code": [10, 10, 20, 30, 40, 50],
        "prod_name": [
            "Slim jeans",
            "Slim jeans",
            "Skinny jeans",
            "Wool scarf",
            "Denim jeans",
            "Scarf",
        ],
        "product_type_name": ["Trousers", "Trousers", "Trousers", "Scarf", "Trousers", "Scarf"],
        "colour_group_name": ["Blue", "Black", "Blue", "Red", "Blue", "Grey"],
        "perceived_colour_value_name": ["Medium", "Dark", "Medium", "Bright", "Dark", "Light"],
        "perceived_colour_master_name": ["Blue", "Black", "Blue", "Red", "Blue", "Grey"],
        "department_name": ["Denim", "Denim", "Denim", "Accessories", "Denim", "Accessories"],
        "section_name": ["Ladies", "Ladies", "Ladies", "Ladies", "Men", "Men"],
        "garment_group_name": [
            "Trousers Denim",
            "Trousers Denim",
            "Trousers Denim",
            "Accessories",
            "Trousers Denim",
            "Accessories",
        ],
        "detail_desc": [
            "5-pocket jeans in washed stretch denim with a regular waist.",
            "5-pocket jeans in washed stretch denim with a regular waist.",
            "Skinny-fit jeans in washed denim with a high waist and zip fly.",
            "Soft knitted scarf in a wool blend with fringes at the ends.",
            "Jeans in sturdy cotton denim with a straight leg.",
            "Woven scarf with fringes at the short ends.",
        ],
    }
)


def test_l2_normalize_keeps_zero_rows() -> None:
    out = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert out.dtype == np.float32


def test_unknown_encoder_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown encoder"):
        encode_articles(ARTICLES, "nope")


def test_pretrained_text_vectors(tmp_path) -> None:
    """384-d unit vectors, offline, deterministic, jeans closer to jeans than to a scarf; cache."""
    vecs = encode_articles(ARTICLES, "text")
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert vecs.shape == (6, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(encode_articles(ARTICLES, "text"), vecs, atol=1e-6)
    sim = vecs @ vecs.T
    assert sim[0, 2] > sim[0, 3] and sim[0, 4] > sim[0, 5] and sim[3, 5] > sim[3, 2]
    cached = encode_articles(ARTICLES, "text", cache_dir=tmp_path)
    again = encode_articles(ARTICLES.iloc[::-1], "text", cache_dir=tmp_path)
    np.testing.assert_allclose(cached, vecs, atol=2e-3)
    np.testing.assert_allclose(again[::-1], cached, atol=1e-6)


def test_scratch_vectors_are_deterministic_unit_rows() -> None:
    a = encode_articles(ARTICLES, "scratch", epochs=2, seed=3)
    b = encode_articles(ARTICLES, "scratch", epochs=2, seed=3)
    assert a.shape == (6, 64)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a, b)


def test_scratch_training_learns_the_views(history) -> None:
    """After training, an article's header view finds its own description among the catalogue."""
    from recsys.retrieval.encoders import scratch

    arts = history.articles.iloc[:300].reset_index(drop=True)
    vecs = encode_articles(arts, "scratch", epochs=4, batch_size=64, seed=42)
    sim = vecs @ vecs.T
    np.fill_diagonal(sim, -np.inf)
    nearest = sim.argmax(1)
    same_type = (arts["product_type_no"].to_numpy()[nearest] == arts["product_type_no"]).mean()
    base = (arts["product_type_no"].value_counts(normalize=True) ** 2).sum()
    assert same_type > 2 * base
    tokens = scratch.tokenize(pd.Series(["a b c", ""]), {"a": 2, "b": 3}, 2)
    assert tokens.tolist() == [[2, 3], [0, 0]]


def test_metadata_colour_variants_are_close() -> None:
    arts = ARTICLES.assign(
        product_type_no=[1, 1, 1, 2, 1, 2],
        product_group_name="g",
        graphical_appearance_no=1,
        colour_group_code=[1, 2, 1, 3, 1, 4],
        perceived_colour_value_id=1,
        perceived_colour_master_id=1,
        department_no=[1, 1, 1, 2, 1, 2],
        index_code="A",
        index_group_no=1,
        section_no=[1, 1, 1, 1, 2, 2],
        garment_group_no=[1, 1, 1, 2, 1, 2],
    )
    vecs = encode_articles(arts, "metadata", dim=4)
    sim = vecs @ vecs.T
    assert sim[0, 1] > sim[0, 3]
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
