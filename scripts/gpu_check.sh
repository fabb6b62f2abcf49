#!/usr/bin/env bash
# What a lent GPU machine should run, in under 5 minutes: the GPU tests of both backends (a backend whose
# framework cannot use this GPU skips its tests with the reason) and one benchmark line on backend=torch:
# images/s of ResNet-18 at batch 512 in bfloat16 (AMP) and float32. Needs `bash scripts/setup.sh --with-torch`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
"$PY" -m pytest -m gpu -q tests/engine/platform/test_gpu_torch.py tests/engine/platform/test_gpu.py || status=$?
for precision in bf16 fp32; do
  amp=(--override trainer.amp=false)
  [ "$precision" = bf16 ] && amp=(--override trainer.amp=true --override trainer.amp_dtype=bfloat16)
  "$PY" scripts/bench.py --backend torch --model resnet18 --batch-size 512 --device cuda --steps 20 --repeats 1 \
    --images 20480 --test-images 1024 --no-graph --no-cifar-archive --out '' "${amp[@]}" > "/tmp/gpu_check_$precision.log"
  "$PY" -c "import json, sys; r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print(f\"resnet18 batch 512 $precision on {r['device']} (torch {r['backend_version']}): {r['images_per_s']['project']:,.0f} images/s (bare step {r['images_per_s']['floor']:,.0f})\")" "/tmp/gpu_check_$precision.log"
done
exit "${status:-0}"
