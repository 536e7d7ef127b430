"""VLM families behind VLAPolicy (see base.py): SmolVLM and LLaVA are built in; a new family is one file
here with a ``@register_backbone`` class, imported below so that it registers."""

from vla.model.backbones import llava, smolvlm  # noqa: F401 (they register)
from vla.model.backbones.base import (
    BACKBONES,
    Backbone,
    ModelPreset,
    backbone_for,
    cache_root,
    embedded_model_path,
    embedded_names,
    find_preset,
    get_backbone,
    hub_repo_id,
    register_backbone,
    resolve_model_source,
)

__all__ = [
    "BACKBONES",
    "Backbone",
    "ModelPreset",
    "backbone_for",
    "cache_root",
    "embedded_model_path",
    "embedded_names",
    "find_preset",
    "get_backbone",
    "hub_repo_id",
    "register_backbone",
    "resolve_model_source",
]
