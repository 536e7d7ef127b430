"""Train a VLA policy.

    accelerate launch --config_file recipes/accelerate/cpu2.yaml -m vla.train recipes/tiny_cpu.yaml \\
        data.dataset=outputs/demo/dataset training.steps=20

Overrides are ``key.path=value`` (YAML-typed) on top of the recipe.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        print(recipe_keys_help())
        return
    recipe, overrides = (argv[0], argv[1:]) if not argv[0].count("=") else (None, argv)
    from vla._logging import configure_logging
    from vla.config import load_config
    from vla.distributed import is_launch_rank_zero
    from vla.errors import exit_on_user_error
    from vla.train.config import TrainConfig
    from vla.train.trainer import TrainingInterrupted, train

    configure_logging()
    try:
        train(load_config(TrainConfig, recipe, overrides))
    except TrainingInterrupted as stop:  # one line saying where the checkpoint is, exit status 128 + signal
        if is_launch_rank_zero():
            print(stop, file=sys.stderr)
        raise SystemExit(128 + stop.signum) from None
    except Exception as err:  # one line, from the main process only under accelerate launch
        exit_on_user_error(err)
        raise


def recipe_keys_help() -> str:
    """The recipe's keys with their types and defaults (what a YAML or an override may set)."""
    from vla.config import config_keys
    from vla.train.config import TrainConfig

    keys = "\n".join("  " + line for line in config_keys(TrainConfig))
    return f"recipe keys (type = default); tokenizer.options holds the tokenizer's own fields:\n{keys}"


if __name__ == "__main__":
    main()
