"""Every recipe parses into a valid config, and its header holds a launch line that names existing files."""

import re
from pathlib import Path

import pytest
import yaml

from vla.config import load_config
from vla.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
ACCELERATE = sorted((ROOT / "recipes" / "accelerate").glob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipe_is_valid_and_documents_its_launch_line(recipe):
    config = load_config(TrainConfig, recipe)
    header = [line for line in recipe.read_text().splitlines() if line.startswith("#")]
    launch = [line for line in header if "accelerate launch" in line and "vla.train" in line]
    assert launch, f"{recipe.name} must start with its launch command"
    for path in re.findall(r"recipes/\S+\.yaml", " ".join(launch)):
        assert (ROOT / path).is_file(), path
    assert config.training.steps >= 1


@pytest.mark.parametrize("config_file", ACCELERATE, ids=lambda p: p.name)
def test_accelerate_configs_parse(config_file):
    from accelerate.commands.config.config_args import load_config_from_file

    data = yaml.safe_load(config_file.read_text())
    assert data["num_processes"] >= 2
    load_config_from_file(str(config_file))  # accelerate's own parser accepts it
    if data["distributed_type"] == "FSDP":
        layers = data["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"].split(",")
        import transformers.models.llama.modeling_llama as llama
        import transformers.models.smolvlm.modeling_smolvlm as smolvlm

        assert hasattr(llama, layers[0]) and hasattr(smolvlm, layers[1])
