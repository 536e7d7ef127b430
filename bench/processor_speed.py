"""Image preprocessing per training batch, before and after the SmolVLM2 processor fix, for every preset.

    OMP_NUM_THREADS=1 .venv/bin/python bench/processor_speed.py --out outputs/bench/processor_speed.json

A SmolVLM image processor told only ``do_image_splitting=False`` first resizes every image so that its
longest edge is 4 x 384 = 1536 px, then shrinks it to the model's 384 px tile: the same tensor, ~10x the
work. Each preset now passes ``size={"longest_edge": <its image size>}``. ``before`` is the processor with
``do_image_splitting=False`` alone, ``after`` the preset's own settings; a batch is 8 samples of two 256 px
camera images (the public LIBERO datasets' size), as the training collate sends them. The 2.2B preset's
processor is built offline with the published defaults (its weights are not needed to time the images).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for bench.common when run as a script

from bench.common import write_result  # noqa: E402


def image_processor(preset: str, fixed: bool):
    from transformers import AutoProcessor, SmolVLMImageProcessor

    from vla.model.presets import PRESETS, resolve_model_source
    from vla.model.tiny import EMBEDDED

    if preset in EMBEDDED:
        processor = AutoProcessor.from_pretrained(resolve_model_source(preset)).image_processor
        if not fixed:  # what the preset would do with do_image_splitting=False alone
            edge = {"longest_edge": 4 * processor.max_image_size["longest_edge"]}
            processor = SmolVLMImageProcessor(**{**processor.to_dict(), "size": edge})
        return processor
    side = PRESETS[preset].vision["image_size"]
    published = {"max_image_size": {"longest_edge": side}, "do_image_splitting": False}
    return SmolVLMImageProcessor(**(PRESETS[preset].processor_kwargs if fixed else published))


def time_batches(processor, batches: int, batch_size: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    images = [
        [rng.integers(0, 255, (256, 256, 3), dtype=np.uint8) for _ in range(2)] for _ in range(batch_size)
    ]
    shape = tuple(processor(images=images, return_tensors="pt")["pixel_values"].shape)
    seconds = []
    for _ in range(batches):
        start = time.perf_counter()
        processor(images=images, return_tensors="pt")
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    return {
        "ms_per_batch": round(1000 * median, 1),
        "samples_per_s": round(batch_size / median, 1),
        "shape": shape,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", default="tiny,small,smolvlm2-2.2b")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", default="outputs/bench/processor_speed.json")
    args = parser.parse_args()
    rows = {}
    for preset in args.presets.split(","):
        before = time_batches(image_processor(preset, fixed=False), args.batches, args.batch_size)
        after = time_batches(image_processor(preset, fixed=True), args.batches, args.batch_size)
        assert before["shape"] == after["shape"], (preset, before["shape"], after["shape"])
        rows[preset] = {"before": before, "after": after,
                        "speedup": round(before["ms_per_batch"] / after["ms_per_batch"], 2)}  # fmt: skip
    write_result(args.out, {"batch": f"{args.batch_size} samples x 2 images of 256 px", "presets": rows})


if __name__ == "__main__":
    main()
