from dataclasses import dataclass, field

import pytest

from vla.config import ConfigError, check, from_dict, load_config, parse_overrides, to_dict


@dataclass(frozen=True)
class Inner:
    lr: float = 1e-3
    names: tuple[str, ...] = ("a",)

    def __post_init__(self):
        check(self.lr > 0, "inner.lr", self.lr, "must be > 0")


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)


def test_overrides_are_yaml_typed_and_nested():
    assert parse_overrides(["inner.lr=0.5", "name=abc", "inner.names=[b, c]"]) == {
        "inner": {"lr": 0.5, "names": ["b", "c"]},
        "name": "abc",
    }
    # YAML reads 1e-4 as a string; a float field still takes it
    assert load_config(Outer, None, ["inner.lr=1e-4"]).inner.lr == 1e-4
    with pytest.raises(ConfigError, match="inner.lr='fast' is invalid: expected a number"):
        load_config(Outer, None, ["inner.lr=fast"])


def test_no_and_off_are_words_only_true_and_false_are_booleans(tmp_path):
    from vla.train.config import TrainConfig

    # accelerate spells "no mixed precision" as `no`; YAML 1.1 would read it as False and the key would fail
    data = "data.dataset=somewhere"
    assert (
        load_config(TrainConfig, None, [data, "training.mixed_precision=no"]).training.mixed_precision == "no"
    )
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "data: {dataset: d}\ntraining:\n  mixed_precision: no\n  gradient_checkpointing: true\n"
    )
    training = load_config(TrainConfig, recipe).training
    assert training.mixed_precision == "no" and training.gradient_checkpointing is True
    assert parse_overrides(["a=off", "b=yes", "c=False", "d=1e-4"]) == {
        "a": "off",
        "b": "yes",
        "c": False,
        "d": "1e-4",
    }


def test_a_tokenizer_of_another_type_replaces_the_recipes_options(tmp_path):
    from vla.train.config import TrainConfig

    recipe = tmp_path / "r.yaml"
    recipe.write_text("data: {dataset: d}\ntokenizer: {type: binning, options: {n_bins: 64}}\n")
    config = load_config(TrainConfig, recipe, ["tokenizer.type=fast", "tokenizer.options.vocab_size=512"])
    assert config.tokenizer.type == "fast" and config.tokenizer.options == {"vocab_size": 512}
    same_type = load_config(
        TrainConfig, recipe, ["tokenizer.type=binning", "tokenizer.options.strategy=quantile"]
    )
    assert same_type.tokenizer.options == {"n_bins": 64, "strategy": "quantile"}  # merged


def test_load_config_merges_yaml_and_overrides(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: from_yaml\ninner:\n  lr: 0.5\n")
    config = load_config(Outer, recipe, ["inner.names=[p, q]"])
    assert config == Outer(name="from_yaml", inner=Inner(lr=0.5, names=("p", "q")))
    assert to_dict(config) == {"name": "from_yaml", "inner": {"lr": 0.5, "names": ["p", "q"]}}


def test_unknown_key_names_the_key_and_allowed_keys():
    with pytest.raises(ConfigError, match=r"inner\.lrr.*allowed under inner\.: lr, names"):
        from_dict(Outer, {"inner": {"lrr": 1}})


def test_bad_value_names_field_value_and_rule():
    with pytest.raises(ConfigError, match=r"inner\.lr=-1\.0 is invalid: must be > 0"):
        load_config(Outer, None, ["inner.lr=-1"])


def test_missing_recipe_and_malformed_override():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Outer, "/nonexistent/recipe.yaml")
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_overrides(["no_equals_sign"])


def test_values_are_checked_against_the_field_types():
    from vla.train.config import TrainConfig

    base = ["data.dataset=d"]
    cases = {
        "training.gradient_checkpointing=maybe": r"training\.gradient_checkpointing='maybe' is invalid: expected true or false",
        "policy.image_keys=image": r"policy\.image_keys='image' is invalid: expected a list",
        "training.batch_size=2.5": r"training\.batch_size=2\.5 is invalid: expected an integer",
        "training.steps=abc": r"training\.steps='abc' is invalid: expected an integer",
        "training.save_every=true": r"training\.save_every=True is invalid: expected an integer",
        "training.resume=3": r"training\.resume=3 is invalid: expected a string or null",
        "policy.image_keys=[image, 3]": r"policy\.image_keys\[\]=3 is invalid: expected a string",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            load_config(TrainConfig, None, [*base, override])
    config = load_config(
        TrainConfig, None, [*base, "training.lr=1", "training.resume=null", "policy.image_size=128"]
    )
    assert config.training.lr == 1.0 and config.training.resume is None and config.policy.image_size == 128


def test_a_key_that_moved_fails_naming_its_new_home():
    from typing import ClassVar

    @dataclass(frozen=True)
    class Data:
        dataset: str = ""
        MOVED_KEYS: ClassVar[dict[str, str]] = {"horizon": "policy.horizon"}

    @dataclass(frozen=True)
    class Top:
        data: Data = field(default_factory=Data)

    with pytest.raises(ConfigError) as err:
        from_dict(Top, {"data": {"dataset": "d", "horizon": 8}})
    assert str(err.value) == "data.horizon is no longer a config key: set policy.horizon instead"
    with pytest.raises(ConfigError, match="unknown config key"):  # other unknown keys: as before
        from_dict(Top, {"data": {"horizn": 8}})


def test_image_transforms_are_validated_and_built_with_lerobot():
    from lerobot.transforms import ImageTransforms

    from vla.data.augment import build_image_transforms, check_image_transforms

    assert build_image_transforms({}) is None and build_image_transforms({"enable": False}) is None
    assert isinstance(build_image_transforms({"enable": True}), ImageTransforms)  # lerobot's default set
    bad = [
        ({"enabled": True}, "data.image_transforms=.*keys must be among"),
        ({"enable": "yes"}, "data.image_transforms.enable='yes' is invalid: true or false"),
        ({"max_num_transforms": 0}, "max_num_transforms=0 is invalid: an integer >= 1"),
        ({"tfs": {"shift": {"kind": "RandomAffine"}}}, "data.image_transforms.tfs.shift=.*keys among"),
    ]
    for options, message in bad:
        with pytest.raises(ConfigError, match=message):
            check_image_transforms(options)
    with pytest.raises(ConfigError, match="Transform 'RandomShift' is not valid"):
        build_image_transforms({"enable": True, "tfs": {"shift": {"type": "RandomShift"}}})
    from vla.train.config import DataConfig

    with pytest.raises(ConfigError, match="Transform 'RandomShift' is not valid"):  # when the recipe loads
        DataConfig(dataset="d", image_transforms={"enable": True, "tfs": {"shift": {"type": "RandomShift"}}})


@pytest.mark.parametrize(
    ("flags", "auto"),
    [([], "no"), (["avx512_bf16"], "bf16"), (["amx_bf16", "amx_tile"], "bf16"), (["amx_int8"], "no")],
)
def test_auto_mixed_precision_is_bf16_only_where_the_cpu_multiplies_it_natively(
    monkeypatch, caplog, flags, auto
):
    import torch

    from vla.train import config as train_config

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("vla.versions.cpu_bf16_flags", lambda: flags)
    assert train_config.resolve_mixed_precision("auto") == auto
    # explicit values stay; bf16 on a CPU that emulates it says how much slower it is and what to set instead
    with caplog.at_level("WARNING", logger="vla.train.config"):
        assert train_config.resolve_mixed_precision("bf16") == "bf16"
        assert train_config.resolve_mixed_precision("no") == "no"
        assert train_config.resolve_mixed_precision(None) is None
    emulated = "bf16 on a CPU without avx512_bf16 or amx_bf16" in caplog.text
    assert emulated == (auto == "no") and ("set it to 'auto' or 'no'" in caplog.text) == emulated
    with pytest.raises(
        ConfigError,
        match="training.mixed_precision='half' is invalid: expected null, 'no', 'bf16', 'fp16', 'auto'",
    ):
        load_config(train_config.TrainConfig, None, ["data.dataset=d", "training.mixed_precision=half"])
