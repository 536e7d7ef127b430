"""Sharded evaluation: ``accelerate launch --num_processes N -m vla.eval --policy CHECKPOINT ...``.

Takes the same options as ``vla eval``; each process rolls out a disjoint share of the episodes and the
main process merges them into one results.json.
"""

import sys

from vla.cli import main

if __name__ == "__main__":
    main(["eval", *sys.argv[1:]])
