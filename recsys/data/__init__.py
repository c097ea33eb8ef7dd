"""Data layer: the raw Kaggle files, the typed lake and the synthetic world."""
