"""Weekly, vectorised simulation of purchases.

Per week: active customers make Poisson shopping trips (rate x shop traffic); a trip is one
customer-day in one channel with a basket of items. Each item is drawn from a favourite (or an
explored) department, as the best of a few candidates sampled by the articles' weekly demand
(base popularity x life-cycle x seasonality), scored by the customer's style, colour and price
tier. Some items instead repeat a recent purchase, take a sibling colour of one, or complete the
basket's first item (its "bought together" partner). Multi-unit buys become duplicate rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.data.synthetic import pricing, timeline
from recsys.data.synthetic.catalogue import STYLE_DIM, Catalogue
from recsys.data.synthetic.customers import Customers, DepartmentPicker
from recsys.data.synthetic.sampling import (
    categorical,
    group_rank,
    pick_in_groups,
    row_categorical,
    sample_in_segments,
    segment_cumsum,
)
from recsys.data.synthetic.scales import DAYS_PER_WEEK, ScaleConfig

N_CANDIDATES = 5
STYLE_WEIGHT = 2.0
COLOUR_WEIGHT = 0.7
TIER_WEIGHT = 0.5
P_PARTNER = 0.3  # a later basket item completes the first one
P_REPEAT = 0.06  # an item repeats a purchase of the last REPEAT_WEEKS weeks
P_SIBLING = 0.005  # an item is another colour of a recent purchase
REPEAT_WEEKS = 3
LIFE_FLOOR = 0.02  # long tail of demand after the fade
MARKDOWN_BOOST = 1.5  # marked-down articles sell more
SECOND_MARKDOWN_WEEKS = 8
UNIT_THRESHOLDS = (0.08, 0.016, 0.004)  # P(units > 1), P(units > 2), P(units > 3)
P_PROMO = 0.08
P_ONLINE_OFFER = 0.1
BASKET_DUPLICATE_LOSS = 1.8  # / articles per department: share of items dropped from baskets
SEED_STREAM = 3  # spawn key of the transaction streams (per week)


@dataclass
class Purchases:
    """Rows of one or more weeks, sorted by (day, customer)."""

    day: np.ndarray  # days since the world's start date
    customer: np.ndarray  # customer index (customers are sorted by hex id)
    article: np.ndarray  # article index (articles are sorted by article_id)
    ore: np.ndarray  # price in öre (SEK cents)
    channel: np.ndarray  # 1 store, 2 online

    def __len__(self) -> int:
        return len(self.day)

    @staticmethod
    def concat(parts: list[Purchases]) -> Purchases:
        """Rows of ``parts`` one after the other."""
        fields = ("day", "customer", "article", "ore", "channel")
        return Purchases(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


def rate_scale(
    scale: ScaleConfig, cust: Customers, traffic: np.ndarray, articles_per_department: float
) -> float:
    """Multiplier of the relative rates that makes the expected row count hit the target.

    Every buying customer has one guaranteed trip (:attr:`Customers.first_trip`) on top.
    """
    cum = np.concatenate([[0.0], np.cumsum(traffic)])
    weeks = cum[np.clip(cust.churn, 0, scale.n_weeks)] - cum[np.clip(cust.join, 0, scale.n_weeks)]
    units = 1.0 + sum(UNIT_THRESHOLDS)
    forced = float(np.sum((1.0 + cust.basket)[cust.first_trip >= 0])) * units
    expected = float(np.sum(cust.rate * weeks * (1.0 + cust.basket))) * units
    target = scale.n_transactions * (1.0 + BASKET_DUPLICATE_LOSS / articles_per_department)
    return max(target - forced, 0.0) / max(expected, 1e-9)


def basket_duplicates(trip: np.ndarray, article: np.ndarray, n_articles: int) -> np.ndarray:
    """Positions of items whose article an earlier item of the same trip already has."""
    key = trip.astype(np.int64) * n_articles + article
    order = np.argsort(key, kind="stable")
    return np.sort(order[1:][key[order][1:] == key[order][:-1]])


class Simulator:
    """Simulates the weeks of one world in order (it remembers recent purchases)."""

    def __init__(
        self,
        scale: ScaleConfig,
        cat: Catalogue,
        cust: Customers,
        picker: DepartmentPicker,
        season: np.ndarray,
        seed: int,
    ) -> None:
        self.scale, self.cat, self.cust, self.picker = scale, cat, cust, picker
        self.seed = seed
        self.season = season  # per article: -1 (winter) .. +1 (summer)
        self.traffic = timeline.traffic(scale, self._rng(-1))
        self.phase = timeline.season_phase(scale)
        per_dept = len(cat) / max(int(np.count_nonzero(np.diff(cat.dept_offsets))), 1)
        self.rate = cust.rate * rate_scale(scale, cust, self.traffic, per_dept)
        self.recent: list[tuple[np.ndarray, np.ndarray]] = []

    def _rng(self, week: int) -> np.random.Generator:
        """The random stream of one week (-1: world-level draws), independent of chunking."""
        key = (SEED_STREAM, week + 1)
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))

    def demand(self, week: int) -> np.ndarray:
        """Weekly demand of every article: popularity x life-cycle x season (x markdown boost)."""
        cat = self.cat
        age = week - cat.launch
        grow = (age + 1) / (cat.rise + 1)
        fade = np.exp2(-np.maximum(age - cat.rise, 0) / cat.half_life)
        floor = LIFE_FLOOR * np.exp(-np.maximum(age, 0) / 52.0)
        life = np.where(age < 0, 0.0, np.maximum(np.where(age < cat.rise, grow, fade), floor))
        boost = np.where(age >= cat.markdown_week, MARKDOWN_BOOST, 1.0)
        season = timeline.season_multiplier(self.season, self.phase[week])
        return cat.popularity * life * season * boost

    def _trips(self, week: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """(customer, day, online, size) of every trip of the week, customers ascending."""
        c = self.cust
        live = np.flatnonzero((c.join <= week) & (week < c.churn) & (self.rate > 0))
        n = rng.poisson(self.rate[live] * self.traffic[week]) + (c.first_trip[live] == week)
        who = np.repeat(live, n)
        day = week * DAYS_PER_WEEK + categorical(timeline.DAY_OF_WEEK_SHARE, len(who), rng)
        online = rng.random(len(who)) < c.p_online[who]
        size = 1 + rng.poisson(c.basket[who] * rng.gamma(2.0, 0.5, size=len(who)))
        return who, day, online, size

    def season_factor(self, week: int) -> np.ndarray:
        """Per department: how much it sells this week relative to its average (season)."""
        cat = self.cat
        season = timeline.season_multiplier(self.season, self.phase[week])
        n = len(cat.dept_offsets) - 1
        total = np.bincount(cat.dept, weights=cat.popularity, minlength=n)
        now = np.bincount(cat.dept, weights=cat.popularity * season, minlength=n)
        return np.where(total > 0, now / np.maximum(total, 1e-12), 1.0)

    def _departments(self, who: np.ndarray, week: int, rng: np.random.Generator) -> np.ndarray:
        """A department per item: a favourite one, or one explored by index-group affinity.

        Both are weighted by the departments' season factor (swimwear in summer, coats in winter).
        """
        c = self.cust
        factor = self.season_factor(week)
        fav_dept = c.fav_dept[who]
        slot = row_categorical(c.fav_weight[who] * factor[fav_dept], rng.random(len(who)))
        fav = fav_dept[np.arange(len(who)), slot]
        explore = np.flatnonzero(rng.random(len(who)) >= c.p_fav[who])
        picker = self.picker.scaled(factor)
        fav[explore] = picker.pick(c.affinity[who[explore]], rng.random((len(explore), 2)))
        return fav

    def _choose(
        self, who: np.ndarray, dept: np.ndarray, cum: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Best of N_CANDIDATES demand-weighted articles of ``dept`` for each customer ``who``."""
        cat, c = self.cat, self.cust
        n = len(who)
        seg = np.repeat(dept, N_CANDIDATES)
        pos = sample_in_segments(cum, cat.dept_offsets, seg, rng.random(n * N_CANDIDATES))
        cand = cat.dept_order[pos].reshape(n, N_CANDIDATES)
        style = np.einsum("nkd,nd->nk", cat.style[cand], c.style[who]) / np.sqrt(STYLE_DIM)
        colour = (cat.colour[cand][:, :, None] == c.fav_colour[who][:, None, :]).any(axis=2)
        tier = (cat.tier[cand] - c.tier[who][:, None]) ** 2
        score = STYLE_WEIGHT * style + COLOUR_WEIGHT * colour - TIER_WEIGHT * tier
        score += rng.gumbel(size=score.shape)
        return cand[np.arange(n), score.argmax(axis=1)]

    def _from_history(
        self, who: np.ndarray, article: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Replace some items by a repeat, or a sibling colour, of a recent purchase."""
        if not self.recent:
            return article
        rc = np.concatenate([r[0] for r in self.recent])
        ra = np.concatenate([r[1] for r in self.recent])
        order = np.argsort(rc, kind="stable")
        u = rng.random(len(who))
        todo = np.flatnonzero(u < P_REPEAT + P_SIBLING)
        hit = pick_in_groups(rc[order], who[todo], rng.random(len(todo)))
        todo, old = todo[hit >= 0], ra[order[hit[hit >= 0]]]
        sibling = u[todo] >= P_REPEAT
        start, nv = self.cat.product_start[old], self.cat.n_variants[old]
        shift = 1 + np.floor(rng.random(len(old)) * np.maximum(nv - 1, 1)).astype(np.int64)
        other = start + (old - start + shift) % nv
        out = article.copy()
        out[todo] = np.where(sibling, other, old)
        return out

    def _partners(
        self, trip: np.ndarray, article: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Later items of a basket sometimes complete its first item (bikini top -> bottom)."""
        first = np.flatnonzero(group_rank(trip) == 0)
        head = article[first][np.searchsorted(first, np.arange(len(trip)), side="right") - 1]
        partner = self.cat.partner[head]
        take = (group_rank(trip) > 0) & (partner >= 0) & (rng.random(len(trip)) < P_PARTNER)
        return np.where(take, partner, article)

    def _prices(
        self, week: int, article: np.ndarray, online: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Paid price in öre: list price, markdowns late in life, promotions, online offers."""
        cat = self.cat
        age = week - cat.launch[article]
        mdw = cat.markdown_week[article]
        stage = (age >= mdw).astype(np.int64) + (age >= mdw + SECOND_MARKDOWN_WEEKS)
        ore = pricing.markdown(cat.list_ore[article], stage)
        ore = pricing.discount(ore, rng.random(len(ore)) < P_PROMO, pricing.PROMO_FACTOR)
        offer = online & (rng.random(len(ore)) < P_ONLINE_OFFER)
        return pricing.discount(ore, offer, pricing.ONLINE_FACTOR)

    def _items(
        self, week: int, trip: np.ndarray, who: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """The article of every basket item (``trip``: its trip, ``who``: its customer).

        Returns ``(article, keep)``: items already in their basket are drawn once more, and
        ``keep`` drops those that still are.
        """
        demand = self.demand(week)
        cum = segment_cumsum(demand[self.cat.dept_order])
        article = self._choose(who, self._departments(who, week, rng), cum, rng)
        article = self._partners(trip, article, rng)
        article = self._from_history(who, article, rng)
        bad = np.flatnonzero(demand[article] <= 0)  # a partner or sibling not launched yet
        bad = np.union1d(bad, basket_duplicates(trip, article, len(self.cat)))
        article[bad] = self._choose(who[bad], self.cat.dept[article[bad]], cum, rng)
        keep = np.ones(len(trip), dtype=bool)
        keep[basket_duplicates(trip, article, len(self.cat))] = False
        return article, keep

    def week(self, week: int) -> Purchases:
        """All purchases of simulated week ``week`` (0 = the first), sorted by (day, customer).

        Weeks must be simulated in order: repeats draw on the purchases of the weeks before.
        """
        rng = self._rng(week)
        who, day, online, size = self._trips(week, rng)
        trip = np.repeat(np.arange(len(who)), size)
        article, keep = self._items(week, trip, who[trip], rng)
        trip, article = trip[keep], article[keep]
        ore = self._prices(week, article, online[trip], rng)
        self.recent = [*self.recent[-(REPEAT_WEEKS - 1) :], (who[trip], article)]
        r = rng.random(len(article))
        units = 1 + sum((r < t).astype(np.int64) for t in UNIT_THRESHOLDS)
        rows = np.repeat(np.arange(len(article)), units)  # multi-unit buys: duplicate rows
        rows = rows[np.argsort(day[trip][rows], kind="stable")]
        t = trip[rows]
        return Purchases(
            day[t].astype(np.int32),
            who[t].astype(np.int32),
            article[rows].astype(np.int32),
            ore[rows],
            np.where(online[t], 2, 1).astype(np.int8),
        )
