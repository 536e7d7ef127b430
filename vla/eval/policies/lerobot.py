"""Roll out any lerobot ``PreTrainedPolicy`` in our harness: ``vla eval --policy lerobot:<folder or Hub id>``.

The policy's saved config lists its inputs; our observations already follow the conventions of lerobot's
LIBERO environment after its ``LiberoProcessorStep`` (images rotated 180 degrees, 8-D state = eef position
+ axis-angle + gripper qpos), so the adapter only renames and converts:

- ``observation.images.image`` (or ``agentview_image``) <- ``image``; ``observation.images.image2`` (or
  ``wrist_image``, ``robot0_eye_in_hand_image``) <- ``wrist_image``, as float CHW in [0, 1], rendered at
  360 px as lerobot-eval renders LIBERO unless told (``--env.observation_height``; ours: ``--image-size``),
  whatever size the feature declares (channel-first or channel-last);
- ``observation.state`` <- ``state``; ``task`` <- the instruction.
- a policy saved with ``use_amp`` runs under ``torch.autocast`` on its device, as lerobot-eval runs it.

The batch then goes through the policy's own saved pre-processor, ``predict_action_chunk``, and its
post-processor. The policy is reset before each call, so one forward pass serves any set of environments:
this is exactly what ``select_action`` does for single-observation chunking policies (ACT, SmolVLA, pi0),
which execute the first ``n_action_steps`` of each chunk. Policies that keep an observation history
(``n_obs_steps > 1``, e.g. diffusion) or ensemble overlapping chunks are refused with a message.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from vla.eval.policies.base import BatchedPolicy, inference_device, register_policy

#: Prefix of a lerobot policy spec: ``lerobot:<folder or Hub id>``.
LEROBOT_PREFIX = "lerobot:"
#: lerobot image feature names (after ``observation.images.``) -> our observation images.
LEROBOT_CAMERAS: dict[str, str] = {
    "image": "image",
    "agentview_image": "image",
    "image2": "wrist_image",
    "wrist_image": "wrist_image",
    "robot0_eye_in_hand_image": "wrist_image",
}
IMAGE_PREFIX = "observation.images."
#: lerobot's ``LiberoEnv`` config renders observations at 360 x 360 unless told otherwise.
LEROBOT_EVAL_IMAGE_SIZE = 360
STATE_KEY = "observation.state"


@register_policy(LEROBOT_PREFIX)
class LerobotPolicy(BatchedPolicy):
    def __init__(self, path: str, device: str = "auto", seed: int = 0) -> None:
        super().__init__()
        import torch
        from lerobot.configs.policies import PreTrainedConfig
        from lerobot.policies.factory import get_policy_class, make_pre_post_processors
        from lerobot.utils.random_utils import set_seed

        from vla.eval.rollout import LEROBOT_START_SEED

        # as lerobot-eval does once before it builds the policy (its --seed is our LEROBOT_START_SEED + seed):
        # a policy that samples (diffusion noise, a VAE) draws the same numbers as under lerobot-eval
        set_seed(LEROBOT_START_SEED + seed)

        self.name = f"lerobot:{path}"
        local = Path(path).expanduser()
        if local.exists() and not (local / "config.json").is_file():
            raise FileNotFoundError(
                f"lerobot:{path} is not a lerobot policy folder: it has no config.json (expected what "
                "lerobot's policy.save_pretrained writes: config.json and model.safetensors)"
            )
        if not local.exists() and path.count("/") != 1:
            raise FileNotFoundError(
                f"lerobot:{path}: no such folder, and it is not a Hub repo id (owner/name)"
            )
        config = PreTrainedConfig.from_pretrained(path)
        # this process's GPU under accelerate launch (lerobot's own choice would put every rank on cuda:0)
        config.device = str(inference_device(device))
        self.device = torch.device(config.device)
        config.pretrained_path = path
        if getattr(config, "n_obs_steps", 1) != 1 or getattr(config, "temporal_ensemble_coeff", None):
            raise ValueError(
                f"lerobot policy {path} ({config.type}) needs an observation history or temporal "
                "ensembling; the adapter supports single-observation chunking policies"
            )
        self.config = config
        self.policy = get_policy_class(config.type).from_pretrained(path, config=config)
        self.policy.eval()
        self.preprocessor, self.postprocessor = make_pre_post_processors(
            config,
            pretrained_path=path,
            preprocessor_overrides={"device_processor": {"device": str(config.device)}},
        )
        self.torch = torch
        self.image_map, sizes = {}, set()
        for key, feature in config.image_features.items():
            short = key.removeprefix(IMAGE_PREFIX)
            if short not in LEROBOT_CAMERAS:
                raise ValueError(
                    f"lerobot policy {path} reads {key}; the adapter maps {sorted(LEROBOT_CAMERAS)} "
                    f"(after {IMAGE_PREFIX!r}) to LIBERO's cameras"
                )
            shape = tuple(feature.shape)
            # channel-first (C, H, W) as lerobot's datasets declare, or channel-last (H, W, C)
            height, width = shape[1:] if shape[0] in (1, 3) else shape[:2]
            if height != width:
                raise ValueError(f"lerobot policy {path}: {key} is {height}x{width}; square images only")
            self.image_map[key] = LEROBOT_CAMERAS[short]
            sizes.add(height)
        if len(sizes) > 1:
            raise ValueError(f"lerobot policy {path}: its cameras have different sizes {sorted(sizes)}")
        self.cameras = tuple(dict.fromkeys(self.image_map.values()))
        #: the size the policy's features declare; what is rendered is lerobot-eval's default, below
        self.declared_image_size = sizes.pop() if sizes else None
        self.image_size = LEROBOT_EVAL_IMAGE_SIZE if self.cameras else None
        self.use_amp = bool(getattr(config, "use_amp", False))
        state = config.robot_state_feature
        if state is not None and tuple(state.shape) != (8,):
            raise ValueError(f"lerobot policy {path}: observation.state is {state.shape}, LIBERO's is (8,)")
        if config.env_state_feature is not None:
            raise ValueError(
                f"lerobot policy {path} reads observation.environment_state, which we do not provide"
            )
        self.uses_state = state is not None
        self.n_action_steps = int(getattr(config, "n_action_steps", 0) or 0) or None

    @classmethod
    def from_spec(cls, argument: str, *, seed: int, device: str, dtype: str) -> LerobotPolicy:
        return cls(argument, device=device, seed=seed)  # the policy keeps its own dtype

    def predict(self, observations: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        torch = self.torch
        batch: dict[str, Any] = {}
        for key, camera in self.image_map.items():
            images = torch.from_numpy(np.stack([obs[camera] for obs in observations]))
            batch[key] = images.permute(0, 3, 1, 2).contiguous().float() / 255.0
        if self.uses_state:
            batch[STATE_KEY] = torch.from_numpy(np.stack([obs["state"] for obs in observations])).float()
        batch["task"] = [obs["task"] for obs in observations]
        autocast = torch.autocast(self.device.type) if self.use_amp else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            batch = self.preprocessor(batch)
            self.policy.reset()
            chunks = self.policy.predict_action_chunk(batch)[:, : self.n_action_steps]
            n, horizon, dim = chunks.shape
            actions = self.postprocessor(chunks.reshape(n * horizon, dim)).reshape(n, horizon, dim)
        return actions.float().cpu().numpy().astype(np.float64), np.ones(n, dtype=bool)
