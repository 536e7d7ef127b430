"""Training: ``accelerate launch -m vla.train RECIPE.yaml key=value ...``."""

from vla.train.config import DataConfig, TokenizerConfig, TrainConfig, TrainingConfig

__all__ = ["DataConfig", "TokenizerConfig", "TrainConfig", "TrainingConfig"]
