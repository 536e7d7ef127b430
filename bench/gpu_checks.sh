#!/usr/bin/env bash
# The GPU checks in one go, for a machine with a CUDA GPU: the gpu-marked tests, decoding latency and
# training throughput of the SmolVLM2-2.2B architecture (random weights, no download).
#   bash bench/gpu_checks.sh [OUT_DIR]      (default outputs/bench/gpu)
# Uses `python3` unless PYTHON is set; each step has a time limit so that one hang cannot eat the others.
set -uo pipefail
out=${1:-outputs/bench/gpu}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
"$py" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
status=0
timeout 170 "$py" -m pytest tests/test_gpu.py -m gpu -q -p no:cacheprovider 2>&1 | tee "$out/pytest_gpu.log" || status=1
timeout 150 "$py" bench/decode_latency.py --preset smolvlm2-2.2b --device cuda --dtype bfloat16 \
    --batch-sizes 1,4,16 --repeats 10 --out "$out/decode_latency_2.2b.json" || status=1
timeout 220 "$py" bench/gpu_train.py --preset smolvlm2-2.2b --batch-size 8 --attn sdpa,flash_attention_2 \
    --modes full,lora --out "$out/gpu_train_2.2b.json" || status=1
exit $status
