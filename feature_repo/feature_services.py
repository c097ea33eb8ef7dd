"""Feature services: the versioned contracts between training and serving."""

from feast import FeatureService, FeatureView
from features import article_profile, article_sales, customer_activity, customer_profile


def build_services(views: list[FeatureView]) -> list[FeatureService]:
    """``ranker_v1`` (all four views), ``customer_v1`` and ``article_v1``."""
    by_entity = {
        "customer": [v for v in views if "customer" in v.entities],
        "article": [v for v in views if "article" in v.entities],
    }
    return [
        FeatureService(
            name="ranker_v1",
            features=[*by_entity["customer"], *by_entity["article"]],
            description="Every customer and article feature the ranker is trained and served on.",
        ),
        FeatureService(name="customer_v1", features=by_entity["customer"]),
        FeatureService(name="article_v1", features=by_entity["article"]),
    ]


ranker_v1, customer_v1, article_v1 = build_services(
    [customer_activity, customer_profile, article_sales, article_profile]
)
