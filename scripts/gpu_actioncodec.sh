#!/usr/bin/env bash
# One lent-GPU session for #13/#14: ActionCodec fits of several sizes side by side on one GPU, each given the same
# time, then the 2.2B training samples/s with the image processor in the loop (before/after the processor fix).
#   bash scripts/gpu_actioncodec.sh EPISODES_NPZ OUT_DIR [SECONDS_PER_FIT]
# EPISODES_NPZ: from `python scripts/actioncodec_libero.py prepare`. Each fit's folder is tarred into OUT_DIR when
# it is under 16 MiB (else only its fit_report.json comes back); logs and reports go into OUT_DIR/reports.tar.
set -uo pipefail
episodes=$1
out=$2
budget=${3:-280}
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=2
work=$(mktemp -d)
mkdir -p "$out" "$work/reports"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$work/reports/gpu.txt"
"$py" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" \
    | tee -a "$work/reports/gpu.txt"
# the CUDA path of the ActionCodec fit, alongside the fits (small)
[ -z "${SKIP_PIPELINE:-}" ] && (timeout 150 "$py" -m pytest tests/test_gpu.py -q -p no:cacheprovider \
    > "$work/reports/pytest_gpu.log" 2>&1; echo "gpu tests: exit $?" >> "$work/reports/pytest_gpu.log") &
presets=${PRESETS:-base compact compact-deep compact-rvq small}
for preset in $presets; do
    timeout $((budget + 120)) "$py" scripts/actioncodec_libero.py fit --episodes "$episodes" --preset "$preset" \
        --device "${DEVICE:-cuda}" --time-budget "$budget" --out "$work/$preset" > "$work/reports/fit_$preset.log" 2>&1 &
done
wait
for preset in $presets; do
    [ -f "$work/$preset/fit_report.json" ] && cp "$work/$preset/fit_report.json" "$work/reports/fit_report_$preset.json"
    size=$(du -sm "$work/$preset" 2>/dev/null | cut -f1)
    if [ -n "$size" ] && [ "$size" -lt 15 ]; then tar -C "$work" -cf "$out/$preset.tar" "$preset"; fi
    tail -n 3 "$work/reports/fit_$preset.log"
done
[ -z "${SKIP_PIPELINE:-}" ] && timeout 170 "$py" bench/gpu_train.py --pipeline --preset smolvlm2-2.2b --batch-size 8 --steps 8 --warmup 2 \
    --loader-workers 1,2,4 --out "$work/reports/gpu_train_pipeline_2.2b.json" > "$work/reports/pipeline.log" 2>&1
echo "pipeline bench: exit $?"
tar -C "$work" -cf "$out/reports.tar" reports
ls -la "$out"
