#!/usr/bin/env bash
# Is ifru ready on this machine's GPU? One command that prints, with the adapter's name:
#   - each kernel's bandwidth ÷ a copy kernel's, measured in the same run (the kernels bench);
#   - one conjugate-gradient iteration's time;
#   - a stream of 20 one-user requests through a resident unlearner (mean, p50, p99,
#     requests/s, retrain ÷ mean request);
#   - one LightGCN-3 training epoch.
# Full size (Gowalla; about 4 minutes on one GPU): scripts/gpu-check.sh
# Small (ml-100k; under 3 minutes on lavapipe, run by CI): scripts/gpu-check.sh --quick
#
# It runs from built binaries, so it also runs on a machine without Rust: run it once where
# cargo is (it builds both), then carry target/release/ifru and target/release/ifru-kernels-bench
# (or point IFRU_BIN and IFRU_KERNELS_BENCH at them), the data (IFRU_DATA, default
# ../shared/data) and,
# where the machine lacks it, the Vulkan loader libvulkan.so.1 (IFRU_VULKAN_LIB: a folder
# holding it; the system's is used when it has one).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
  case $arg in
    --quick) quick=1 ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument '$arg' (only --quick)" >&2; exit 2 ;;
  esac
done

# Where cargo is, build (a no-op when up to date) and give the bench executable a fixed name
# to carry; elsewhere use what was carried.
if command -v cargo >/dev/null && [[ -z ${IFRU_BIN:-} ]]; then
  echo "== building the release binary and the kernels bench"
  cargo build --release -p ifru-cli 2>&1 | tail -1
  exe=$(cargo bench --bench kernels --no-run 2>&1 \
    | sed -nE 's/.*\((target\/release\/deps\/kernels-[0-9a-f]+)\).*/\1/p' | tail -1)
  [[ -n $exe ]] && cp "$exe" target/release/ifru-kernels-bench
fi
ifru=${IFRU_BIN:-target/release/ifru}
kernels=${IFRU_KERNELS_BENCH:-target/release/ifru-kernels-bench}
[[ -x $ifru ]] || { echo "gpu-check: no ifru binary at $ifru (set IFRU_BIN)" >&2; exit 1; }
[[ -x $kernels ]] || { echo "gpu-check: no kernels bench at $kernels (set IFRU_KERNELS_BENCH)" >&2; exit 1; }

# The Vulkan loader: the system's, or a carried copy.
if [[ -n ${IFRU_VULKAN_LIB:-} ]]; then
  export LD_LIBRARY_PATH=$IFRU_VULKAN_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
elif [[ $( (ldconfig -p 2>/dev/null || true) | grep -c 'libvulkan\.so\.1') == 0 ]]; then
  echo "gpu-check: no libvulkan.so.1 on this machine; carry one and set IFRU_VULKAN_LIB" >&2
  exit 1
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}

data=${IFRU_DATA:-../shared/data}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ $quick == 1 ]]; then
  size="quick (ml-100k, kernels at IFRU_BENCH_SCALE 0.1)"
  scale=0.1
  stream_data=(--data "$data/ml-100k")
  stream_recipe=(--model mf --loss bpr --dim 32 --epochs 5 --patience 3)
  epoch_data=(--data "$data/ml-100k")
else
  size="full (Gowalla)"
  scale=1
  stream_data=(--data "$data/gowalla")
  stream_recipe=(--model mf --loss bpr --sparse-adam --dim 64 --init-std 0.1 --epochs 30
                 --patience 3 --valid-users 2000 --eval-users 2000)
  epoch_data=(--data "$data/gowalla")
fi

echo "== gpu-check, $size, $(date -u +%Y-%m-%dT%H:%MZ)"
adapter=$("$ifru" info)
echo "$adapter" | grep -E '^(adapter|backend|device type|block-Jacobi):'

echo "== kernels ÷ copy (same run, same adapter)"
IFRU_BENCH_SCALE=$scale "$kernels" --bench 2>&1 | grep -E '^(adapter|summary):' | sed 's/^summary: /  /'

echo "== stream: 20 requests of one user each, one resident unlearner"
"$ifru" bench "${stream_data[@]}" "${stream_recipe[@]}" --stream 20 --prune-hops 0 \
  --report "$work/stream.json" 2>&1 | grep -E 'requests of|device work|retrain:|one retrain' | sed 's/^/  /'

echo "== one LightGCN-3 training epoch"
"$ifru" train "${epoch_data[@]}" --model lightgcn --layers 3 --dim 64 --epochs 1 \
  --out "$work/model" --report "$work/train.json" >"$work/train.log" 2>&1 \
  || { cat "$work/train.log" >&2; exit 1; }
tr -d ' \n' <"$work/train.json" \
  | sed -E 's/.*"train_rows":([0-9]+).*"train_seconds":([0-9.]+).*/  \2 s for one epoch over \1 rows/'
echo
