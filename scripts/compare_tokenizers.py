"""Compare binning, FAST and ActionCodec on synthetic smooth LIBERO-like chunks; print and save JSON.

    OMP_NUM_THREADS=1 python scripts/compare_tokenizers.py --out outputs/tokenizer_comparison.json

Fits every tokenizer on training episodes and reports ``vla.tokenizers.diagnostics.report`` on held-out
episodes (different seed), with the machine and package versions. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from vla.config import to_dict
from vla.tokenizers import ActionCodecTokenizer, BinningActionTokenizer, FastActionTokenizer
from vla.tokenizers.diagnostics import report, synthetic_chunks
from vla.versions import package_versions


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default="outputs/tokenizer_comparison.json")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--codec-steps", type=int, default=1000)
    args = parser.parse_args()

    train, train_shifted = synthetic_chunks(n_episodes=args.episodes, length=60, seed=0)
    test, test_shifted = synthetic_chunks(n_episodes=10, length=60, seed=1)
    tokenizers = {
        "binning-256": lambda: BinningActionTokenizer(n_bins=256).fit(train),
        "fast-1024": lambda: FastActionTokenizer(vocab_size=1024).fit(train),
        "actioncodec-16x256": lambda: ActionCodecTokenizer(
            horizon=8,  # synthetic_chunks' horizon (the codec's default is the released 20)
            dim=64,
            depth=2,
            heads=4,
            num_tokens=16,
            codebook_size=256,
            steps=args.codec_steps,
            batch_size=64,
            lr=2e-3,
        ).fit(train, train_shifted),
    }
    results = {}
    for name, make in tokenizers.items():
        start = time.perf_counter()
        tok = make()
        fit_s = time.perf_counter() - start
        results[name] = {
            "fit_seconds": round(fit_s, 1),
            "config": to_dict(tok.config),
        }
        results[name].update(report(tok, test, test_shifted))
        r = results[name]
        print(
            f"{name:20s} tokens/chunk mean {r['tokens_per_chunk']['mean']:5.1f} max {r['tokens_per_chunk']['max']:3d}"
            f"  recon MSE {r['reconstruction']['mse']:.5f}  max|err| {max(r['reconstruction']['max_abs_per_dim']):.3f}"
            f"  overlap {r['temporal_overlap']:.3f}  perplexity {r['vocabulary']['perplexity']:.1f}"
            f"  pos-MI {r['position_mutual_information_bits']:.3f}  bigram gain {r['bigram']['gain_bits']:.3f}"
            f"  fit {fit_s:.0f}s",
            flush=True,
        )
    payload = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "python": platform.python_version(),
        },
        "versions": package_versions("tokenizers", "vector-quantize-pytorch", "numpy", "scipy"),
        "data": {"train_chunks": len(train), "test_chunks": len(test), "horizon": 8, "action_dim": 7},
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=1, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
