"""Image preprocessing per training batch, before and after the SmolVLM2 processor fix, for every preset.

    OMP_NUM_THREADS=1 .venv/bin/python bench/processor_speed.py --out outputs/bench/processor_speed.json

A SmolVLM image processor told only ``do_image_splitting=False`` first resizes every image so that its
longest edge is 4 x 384 = 1536 px, then shrinks it to the model's 384 px tile: the same tensor, ~10x the
work. The 2.2B preset now passes ``size={"longest_edge": 384}``: ``before`` is its processor with
``do_image_splitting=False`` alone, ``after`` the preset's settings (the embedded presets were built with their
own size from the start, so they have an ``after`` only); a batch is 8 samples of two 256 px
camera images (the public LIBERO datasets' size), as the training collate sends them. The 2.2B preset's
processor is built offline with the published defaults (its weights are not needed to time the images).
"""

from __future__ import annotations

import argparse
import statistics
import time

from vla.testing import write_result


def image_processor(preset: str, fixed: bool):
    """The preset's image processor (``fixed``) or one told only ``do_image_splitting=False`` (the 2.2B
    preset before the fix; the embedded presets were always built with their size: ``None``)."""
    from transformers import AutoProcessor, SmolVLMImageProcessor

    from vla.model.backbones import resolve_model_source
    from vla.model.backbones.smolvlm import EMBEDDED, PRESETS

    if preset in EMBEDDED:
        return AutoProcessor.from_pretrained(resolve_model_source(preset)).image_processor if fixed else None
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
        after = time_batches(image_processor(preset, fixed=True), args.batches, args.batch_size)
        old = image_processor(preset, fixed=False)
        if old is None:
            rows[preset] = {"after": after}
            continue
        before = time_batches(old, args.batches, args.batch_size)
        assert before["shape"] == after["shape"], (preset, before["shape"], after["shape"])
        rows[preset] = {"before": before, "after": after,
                        "speedup": round(before["ms_per_batch"] / after["ms_per_batch"], 2)}  # fmt: skip
    write_result(args.out, {"batch": f"{args.batch_size} samples x 2 images of 256 px", "presets": rows})


if __name__ == "__main__":
    main()
