#!/usr/bin/env bash
# One call on a lent GPU machine: CUDA tests, then every GPU benchmark, then the CLI on the GPU.
# Each step has its own time limit and the script goes on after a failure; logs go to $OUT.
# Needs the wheels in .whl/ (pydicom, pylibjpeg, pylibjpeg-openjpeg, platformdirs, tomli_w: see
# the device notes); the machine's own python3 has torch, torchvision, opencv, torchmetrics.
set -o pipefail
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
step() { local name=$1 limit=$2; shift 2; echo "=== $name (limit ${limit}s) $(date +%T)"; local t=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log" | tail -n 40; echo "=== $name: rc ${PIPESTATUS[0]}, $((SECONDS - t)) s"; }
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, torch.cuda.get_device_name())"
step cuda_tests 40 python3 -m pytest -q -p no:cacheprovider -x tests/unit/test_cuda_paths.py
step bench_gan 140 python3 tests/benchmarks/bench_gan.py --seconds 3
step bench_classifier 90 python3 tests/benchmarks/bench_classifier.py --seconds 3
[ "${AUG:-0}" = 1 ] && step bench_augment_gpu 30 python3 -c "import sys; sys.path.insert(0, 'tests/benchmarks'); import bench_augment as b; b.bench_gpu_batch(256)"
if [ "${FULL:-1}" = 1 ]; then
  step demo_data 25 python3 -m spinegui demo-data /tmp/demo300 --images 300 --workers 16
  step cli_gan 30 python3 -m spinegui train-gan /tmp/demo300 --classes "Vertebral collapse,Disc space narrowing" --size 128 --epochs 200 --device cuda --out /tmp/gan_run
  step cli_experiment 60 python3 -m spinegui experiment /tmp/demo300 --classes "No finding,Osteophytes" --models vgg16,inception_v3 --strategies none,hybrid --protocol safe --per-class 1000 --epochs 1 --gan-steps 1000 --gan-size 128 --device cuda --out /tmp/exp_gpu
  cp /tmp/exp_gpu/results.csv /tmp/exp_gpu/compute.json "$OUT/" 2>/dev/null
  ngpu=$(nvidia-smi -L | wc -l)
  if [ "$ngpu" -gt 1 ]; then   # DDP scaling and one run per GPU, where the machine has several
    step ddp_experiment 120 python3 -m torch.distributed.run --nproc_per_node="$ngpu" -m spinegui experiment /tmp/demo300 --classes "No finding,Osteophytes" --models resnet18 --strategies none --protocol safe --epochs 3 --device cuda --out /tmp/exp_ddp
    step parallel_experiment 120 python3 -m spinegui experiment /tmp/demo300 --classes "No finding,Osteophytes" --models resnet18 --strategies none,basic,oversample --protocol safe --epochs 3 --device cuda --parallel "$ngpu" --out /tmp/exp_par
  fi
  tail -n 30 /tmp/exp_gpu/events.jsonl > "$OUT/exp_events_tail.jsonl" 2>/dev/null
fi
echo "done $(date +%T)"
