"""hm-recsys: a feature-store backed recommender platform on the H&M Kaggle schema."""

__version__ = "0.1.0"
