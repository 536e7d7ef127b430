"""Training-time image augmentation, configured as lerobot's ``ImageTransformsConfig`` and built as lerobot's
``ImageTransforms``; ``ChunkedDataset`` applies it to each camera image (each draws its own parameters).

A recipe writes ``data.image_transforms: {enable: true}`` for lerobot's default set, or names its own::

    data:
      image_transforms:
        enable: true
        max_num_transforms: 2
        tfs:
          affine: {type: RandomAffine, kwargs: {degrees: [-5, 5], translate: [0.05, 0.05]}}
          brightness: {type: ColorJitter, kwargs: {brightness: [0.8, 1.2]}}

The draws come from a generator seeded by (training seed, epoch, sample index), not from torch's global one:
a resumed run augments exactly as the uninterrupted one would.
"""

from __future__ import annotations

from typing import Any

from vla.config import ConfigError, check

#: The fields of lerobot's ``ImageTransformsConfig`` (and of each entry of its ``tfs``).
IMAGE_TRANSFORMS_FIELDS = ("enable", "max_num_transforms", "random_order", "tfs")
TRANSFORM_FIELDS = ("weight", "type", "kwargs")


def check_image_transforms(options: dict[str, Any], field: str = "data.image_transforms") -> None:
    """Validate the shape of an ``image_transforms`` mapping without importing torchvision (the transform
    names are checked when :func:`build_image_transforms` builds them)."""
    check(isinstance(options, dict), field, options, "a mapping of lerobot ImageTransformsConfig fields")
    unknown = sorted(set(options) - set(IMAGE_TRANSFORMS_FIELDS))
    check(not unknown, field, options, f"keys must be among {list(IMAGE_TRANSFORMS_FIELDS)} (got {unknown})")
    if "enable" in options:
        check(isinstance(options["enable"], bool), f"{field}.enable", options["enable"], "true or false")
    if "max_num_transforms" in options:
        n = options["max_num_transforms"]
        check(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1,
            f"{field}.max_num_transforms",
            n,
            "an integer >= 1",
        )
    tfs = options.get("tfs", {})
    check(isinstance(tfs, dict), f"{field}.tfs", tfs, "a mapping name -> {type, kwargs, weight}")
    for name, transform in tfs.items():
        check(
            isinstance(transform, dict) and not set(transform) - set(TRANSFORM_FIELDS),
            f"{field}.tfs.{name}",
            transform,
            f"a mapping with keys among {list(TRANSFORM_FIELDS)}",
        )


def build_image_transforms(options: dict[str, Any], field: str = "data.image_transforms"):
    """lerobot's ``ImageTransforms`` for ``options``, or None when augmentation is off (empty or
    ``enable: false``)."""
    check_image_transforms(options, field)
    if not options.get("enable", False):
        return None
    from lerobot.transforms import ImageTransformConfig, ImageTransforms, ImageTransformsConfig

    fields = {key: value for key, value in options.items() if key != "tfs"}
    if "tfs" in options:
        fields["tfs"] = {name: ImageTransformConfig(**tf) for name, tf in options["tfs"].items()}
    try:
        return ImageTransforms(ImageTransformsConfig(**fields))
    except (ValueError, TypeError) as error:  # an unknown transform class or a bad keyword argument
        raise ConfigError(f"{field}={options!r} is invalid: {error}") from None
