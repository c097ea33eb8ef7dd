"""The synthetic H&M world behind ``hm generate``: Kaggle-format files with learnable structure."""

from recsys.data.synthetic.scales import SCALES, ScaleConfig
from recsys.data.synthetic.world import WorldSummary, generate_world

__all__ = ["SCALES", "ScaleConfig", "WorldSummary", "generate_world"]
