"""Synthetic customers: the public ``customers.csv`` columns plus hidden, persistent tastes.

Ages are bimodal (modes at 20-30 and 45-55); the age segment shifts the index-group mix
(young: Divided and Sport; mid: Baby/Children; older: Ladieswear) and the price tier. Each
customer has a few favourite departments, a style vector, favourite colours, a preferred channel,
a heavy-tailed shopping rate and an active period (join, churn): history predicts the future.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from recsys.data.synthetic.catalogue import STYLE_DIM
from recsys.data.synthetic.sampling import (
    categorical,
    row_categorical,
    sample_in_segments,
    segment_cumsum,
)
from recsys.data.synthetic.scales import ScaleConfig
from recsys.data.synthetic.taxonomy import Taxonomy

N_FAVOURITES = 4
NEVER_BUY_SHARE = 0.008
ALWAYS_THERE_SHARE = 0.55  # customers already registered when the window opens
MEAN_LIFETIME_WEEKS = 200.0
DEFAULT_POSTAL_SHARE = 0.088  # one postal code is shared by ~9% of real customers
POSTAL_CODES_PER_CUSTOMER = 0.26
# Index-group affinity (Ladieswear, Divided, Menswear, Baby/Children, Sport) per age segment.
YOUNG = np.array([1.0, 2.8, 0.8, 0.25, 1.4])
MID = np.array([1.1, 0.8, 1.0, 2.4, 1.0])
OLD = np.array([1.4, 0.3, 1.1, 1.3, 0.6])
MALE_SHARE = 0.06
MALE = np.array([0.25, 0.3, 8.0, 0.6, 1.5])
HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
HEX_PAIRS = np.stack([HEX.repeat(16), np.tile(HEX, 16)], axis=1)  # byte -> two hex characters


@dataclass
class Customers:
    """Customers sorted by hex id; public columns first, hidden behaviour after."""

    hex_id: pa.Array  # 64 lowercase hex characters
    postal_code: pa.Array
    age: np.ndarray  # float, NaN when unknown
    fn: np.ndarray  # bool
    active: np.ndarray  # bool
    club_status: np.ndarray  # object: str or None
    news: np.ndarray  # object: str or None
    affinity: np.ndarray  # (n, 5) index-group affinity
    fav_dept: np.ndarray  # (n, K) favourite departments
    fav_weight: np.ndarray  # (n, K) normalised weights
    p_fav: np.ndarray  # chance a pick comes from the favourites
    style: np.ndarray  # (n, STYLE_DIM) float32
    tier: np.ndarray  # preferred price tier
    fav_colour: np.ndarray  # (n, 2) colour indices
    p_online: np.ndarray  # chance a trip is online (channel 2)
    rate: np.ndarray  # relative trips per active week
    basket: np.ndarray  # mean extra items per trip
    join: np.ndarray  # first active week
    churn: np.ndarray  # first inactive week
    first_trip: np.ndarray  # week of a guaranteed trip (-1: never buys in the window)

    def __len__(self) -> int:
        return len(self.age)


def hex_ids(n: int, rng: np.random.Generator) -> tuple[pa.Array, np.ndarray]:
    """``n`` sorted unique random 64-hex ids (last 16 digits unique too) and their raw bytes."""
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    while True:
        tail = raw[:, 24:].copy().view(">u8").ravel()
        order = np.argsort(tail, kind="stable")
        dup = order[1:][tail[order][1:] == tail[order][:-1]]
        if len(dup) == 0:
            break
        raw[dup] = rng.integers(0, 256, size=(len(dup), 32), dtype=np.uint8)
    head = raw[:, :8].copy().view(">u8").ravel()
    order = np.argsort(head, kind="stable")
    if (np.diff(head[order]) == 0).any():  # astronomically rare: sort on all 32 bytes
        order = np.lexsort(raw.view(">u8").T[::-1])
    raw = raw[order]
    chars = HEX_PAIRS[raw].reshape(n, 64)
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * 64).tobytes())
    return pa.StringArray.from_buffers(n, offsets, pa.py_buffer(chars.tobytes())), raw


def _ages(n: int, rng: np.random.Generator) -> np.ndarray:
    """Bimodal whole-number ages (as floats), ~1% unknown (NaN)."""
    comp = categorical(np.array([0.45, 0.33, 0.22]), n, rng)
    mean = np.array([24.0, 51.0, 37.0])[comp]
    sd = np.array([3.8, 6.5, 13.0])[comp]
    age = np.clip(np.rint(rng.normal(mean, sd)), 16, 99)
    age[rng.random(n) < 0.011] = np.nan
    return age


def _segments(age: np.ndarray) -> np.ndarray:
    """Soft (young, mid, old) segment weights per customer."""
    a = np.where(np.isnan(age), 36.0, age)
    young = 1 / (1 + np.exp((a - 32.0) / 3.0))
    old = 1 / (1 + np.exp((42.0 - a) / 3.0))
    return np.stack([young, np.clip(1 - young - old, 0, 1), old], axis=1)


def _membership(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """FN, Active, club_member_status and fashion_news_frequency, NaN-heavy as in the real file."""
    fn = rng.random(n) < 0.35
    active = np.where(fn, rng.random(n) < 0.97, rng.random(n) < 0.004)
    club_values = np.array(["ACTIVE", "PRE-CREATE", "LEFT CLUB", None], dtype=object)
    club = club_values[categorical(np.array([0.927, 0.068, 0.0006, 0.0044]), n, rng)]
    news_values = np.array(["Regularly", "Monthly", "NONE", None, "None"], dtype=object)
    subscribed = categorical(np.array([0.997, 0.002, 0.001, 0.0, 0.0]), n, rng)
    other = categorical(np.array([0.0, 0.0006, 0.985, 0.0144, 0.00001]), n, rng)
    news = news_values[np.where(fn, subscribed, other)]
    return {"fn": fn, "active": active, "club_status": club, "news": news}


def _postal_codes(n: int, rng: np.random.Generator) -> pa.Array:
    """Postal code per customer: one default code for ~9%, the rest from a shared pool."""
    pool, _ = hex_ids(max(int(n * POSTAL_CODES_PER_CUSTOMER), 2), rng)
    pick = rng.integers(1, len(pool), size=n)
    pick[rng.random(n) < DEFAULT_POSTAL_SHARE] = 0
    return pool.take(pa.array(pick))


def _tastes(
    tax: Taxonomy, picker: DepartmentPicker, age: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Index-group affinities, favourite departments and weights, price tier and style."""
    n = len(age)
    seg = _segments(age)
    affinity = seg @ np.stack([YOUNG, MID, OLD]) * rng.lognormal(0.0, 0.5, size=(n, 5))
    male = rng.random(n) < MALE_SHARE
    affinity[male] *= MALE
    fav = np.stack([picker.pick(affinity, rng.random((n, 2))) for _ in range(N_FAVOURITES)], 1)
    weight = rng.dirichlet(np.full(N_FAVOURITES, 0.7), size=n)
    tier = rng.normal(0.0, 0.8, size=n) + seg @ np.array([-0.4, 0.0, 0.4])
    return {
        "affinity": affinity.astype(np.float32),
        "fav_dept": fav.astype(np.int32),
        "fav_weight": weight.astype(np.float32),
        "p_fav": rng.beta(6.0, 2.0, size=n),
        "style": rng.normal(0.0, 1.0, size=(n, STYLE_DIM)).astype(np.float32),
        "tier": tier,
        "fav_colour": categorical(tax.colour_catalogue_share, 2 * n, rng).reshape(n, 2),
    }


@dataclass(frozen=True)
class DepartmentPicker:
    """Draws departments with P(d) ~ sales share(d) x a customer's index-group affinity."""

    depts: np.ndarray  # the world's departments, sorted by index group
    group: np.ndarray  # their index groups
    share: np.ndarray  # their sales shares
    offsets: np.ndarray  # index group g: depts[offsets[g]:offsets[g+1]]
    cum: np.ndarray  # segment_cumsum of the shares
    group_share: np.ndarray  # total share per index group

    @classmethod
    def build(cls, tax: Taxonomy, used_depts: np.ndarray) -> DepartmentPicker:
        """A picker over ``used_depts`` (taxonomy department indices)."""
        group = tax.departments.index_group[used_depts]
        order = np.argsort(group, kind="stable")
        return cls._of(
            used_depts[order], group[order], tax.departments.sales_share[used_depts][order]
        )

    @classmethod
    def _of(cls, depts: np.ndarray, group: np.ndarray, share: np.ndarray) -> DepartmentPicker:
        """A picker from departments sorted by index group and their shares."""
        return cls(
            depts=depts,
            group=group,
            share=share,
            offsets=np.concatenate([[0], np.cumsum(np.bincount(group, minlength=5))]),
            cum=segment_cumsum(share),
            group_share=np.bincount(group, weights=share, minlength=5),
        )

    def scaled(self, factor: np.ndarray) -> DepartmentPicker:
        """The same picker with each department's share times ``factor[department]``."""
        return self._of(self.depts, self.group, self.share * factor[self.depts])

    def pick(self, affinity: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One department per row of ``affinity`` (n, 5), from uniforms ``u`` (n, 2)."""
        group = row_categorical(affinity * self.group_share, u[:, 0])
        return self.depts[sample_in_segments(self.cum, self.offsets, group, u[:, 1])]


def _activity(
    scale: ScaleConfig, member: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Heavy-tailed relative shopping rate, basket size, channel preference and active period."""
    n = len(member["fn"])
    rate = rng.lognormal(0.0, 1.25, size=n)
    rate *= np.where(member["fn"], 1.3, 1.0)
    rate *= np.where(member["club_status"] == "PRE-CREATE", 0.4, 1.0)
    rate[rng.random(n) < NEVER_BUY_SHARE] = 0.0
    join = np.where(rng.random(n) < ALWAYS_THERE_SHARE, 0, rng.integers(0, scale.n_weeks, size=n))
    life = rng.exponential(MEAN_LIFETIME_WEEKS, size=n)
    life[member["club_status"] == "LEFT CLUB"] *= 0.2
    kind = categorical(np.array([0.17, 0.68, 0.15]), n, rng)  # store, online, both
    p_online = rng.beta(np.array([1.0, 8.0, 2.0])[kind], np.array([8.0, 1.0, 2.0])[kind])
    churn = np.minimum(join + np.ceil(life), scale.n_weeks + 1).astype(np.int32)
    end = np.minimum(churn, scale.n_weeks)
    first = np.where(join > 0, join, np.floor(rng.random(n) * end)).astype(np.int32)
    first[(rate == 0) | (first >= end)] = -1
    return {
        "rate": rate,
        "basket": rng.lognormal(np.log(1.6), 0.5, size=n),
        "p_online": p_online,
        "join": join.astype(np.int32),
        "churn": churn,
        "first_trip": first,
    }


def build_customers(
    tax: Taxonomy, scale: ScaleConfig, picker: DepartmentPicker, rng: np.random.Generator
) -> Customers:
    """All customers of a world, sorted by hex id."""
    n = scale.n_customers
    hex_id, _ = hex_ids(n, rng)
    age = _ages(n, rng)
    member = _membership(n, rng)
    return Customers(
        hex_id=hex_id,
        postal_code=_postal_codes(n, rng),
        age=age,
        **member,
        **_tastes(tax, picker, age, rng),
        **_activity(scale, member, rng),
    )
