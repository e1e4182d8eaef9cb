#!/usr/bin/env bash
# The prepared GPU check of issue 16, for a fresh machine with an NVIDIA GPU and its driver:
#
#   1. reads the GPU and the driver's CUDA version (nvidia-smi);
#   2. installs what it lacks: NVRTC and cuBLAS from NVIDIA's pip wheels, of the driver's CUDA
#      major version (an NVRTC newer than the driver makes PTX the driver cannot load), and
#      torch from pip;
#   3. builds eigenformer-cuda with `--features cuda` and runs its tests with
#      EIGENFORMER_REQUIRE_GPU=1, so that the CPU-parity tests of every kernel and GEMM fail
#      instead of skipping when the GPU cannot be used;
#   4. runs the PyTorch side of the step benchmark on the GPU, if
#      benches/compare/torch_vit_step.py takes a `--device` flag (it does not yet: then it says
#      so and runs only a check that torch sees the GPU);
#   5. says that the eigenformer side of the step benchmark is not run: it needs device storage
#      inside eigenformer_tensor::Tensor, which does not exist yet (docs/cuda.md).
#
# Meant to finish in under 8 minutes including the build (it prints the elapsed time).
# Usage: scripts/gpu-check.sh     Environment: PYTHON (default python3). The tests use cuda:0.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
py="${PYTHON:-python3}"
libs="$root/target/cuda-libs"
failures=()

log() { printf '==> gpu-check [%3ds]: %s\n' "$SECONDS" "$*"; }
die() { printf 'gpu-check: FAILED: %s\n' "$*" >&2; exit 1; }

# 1. The GPU and its driver.
command -v nvidia-smi >/dev/null || die "no nvidia-smi: this machine has no NVIDIA driver"
gpu_name="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)"
[[ -n "$gpu_name" ]] || die "nvidia-smi lists no GPU"
driver_cuda="$(nvidia-smi | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1)"
[[ -n "$driver_cuda" ]] || die "could not read the driver's CUDA version from nvidia-smi"
cuda_major="${driver_cuda%%.*}"
cuda_minor="${driver_cuda#*.}"
log "GPU: $gpu_name; $(nvidia-smi --query-gpu=driver_version,memory.total --format=csv,noheader | head -n 1); driver CUDA $driver_cuda"
command -v cargo >/dev/null || die "no cargo: install a Rust toolchain (rustup, stable >= 1.89)"
command -v "$py" >/dev/null || die "no $py"

# 2. NVRTC and cuBLAS wheels of the driver's CUDA major version; cudarc loads them by the
# unversioned names (libnvrtc.so, libcublas.so), hence the links in target/cuda-libs.
if (( cuda_major >= 13 )); then
    wheels=(nvidia-cuda-nvrtc==13.5.37 nvidia-cublas==13.10.0.20)
    soname=13
else
    # NVRTC of the driver's own minor version: PTX JIT has no minor-version compatibility.
    wheels=("nvidia-cuda-nvrtc-cu12==12.${cuda_minor}.*" "nvidia-cublas-cu12==12.${cuda_minor}.*")
    soname=12
fi
find_lib() { # find_lib NAME: the path of NAME.so.$soname in an installed nvidia wheel, or nothing
    "$py" - "$1" "$soname" <<'EOF' 2>/dev/null || true
import glob, os, sys
try:
    import nvidia
except ImportError:
    sys.exit(0)
for base in nvidia.__path__:
    hits = sorted(glob.glob(os.path.join(base, "**", f"{sys.argv[1]}.so.{sys.argv[2]}"), recursive=True))
    if hits:
        print(hits[0])
        break
EOF
}
nvrtc="$(find_lib libnvrtc)"
cublas="$(find_lib libcublas)"
if [[ -z "$nvrtc" || -z "$cublas" ]]; then
    log "installing ${wheels[*]} (pip)"
    "$py" -m pip install --quiet "${wheels[@]}" || die "pip could not install ${wheels[*]}"
    nvrtc="$(find_lib libnvrtc)"
    cublas="$(find_lib libcublas)"
fi
[[ -n "$nvrtc" ]] || die "no libnvrtc.so.$soname after installing the wheel"
[[ -n "$cublas" ]] || die "no libcublas.so.$soname after installing the wheel"
mkdir -p "$libs"
ln -sf "$nvrtc" "$libs/libnvrtc.so"
ln -sf "$cublas" "$libs/libcublas.so"
# The wheels' own directories too: libnvrtc-builtins and libcublasLt are found there.
export LD_LIBRARY_PATH="$libs:$(dirname "$nvrtc"):$(dirname "$cublas")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
log "NVRTC $nvrtc; cuBLAS $cublas"

have_torch=true
if ! "$py" -c "import torch" >/dev/null 2>&1; then
    log "installing torch (pip)"
    if ! "$py" -m pip install --quiet torch; then
        have_torch=false
        failures+=("pip could not install torch: the PyTorch side was not run")
    fi
fi

# 3. Build and the GPU tests.
log "building eigenformer-cuda --features cuda"
cargo build -p eigenformer-cuda --features cuda --tests
log "GPU tests: EIGENFORMER_REQUIRE_GPU=1 cargo test -p eigenformer-cuda --features cuda"
if ! EIGENFORMER_REQUIRE_GPU=1 EIGENFORMER_REQUIRE_NVRTC=1 \
    cargo test -p eigenformer-cuda --features cuda -- --test-threads 1; then
    failures+=("the GPU tests of eigenformer-cuda failed")
fi

# 4. PyTorch on the GPU. TF32 off on both sides (NVIDIA_TF32_OVERRIDE=0 covers cuBLAS and
# cuDNN; eigenformer's cuBLAS handle is in CUBLAS_DEFAULT_MATH).
export NVIDIA_TF32_OVERRIDE=0
if $have_torch; then
    "$py" -c 'import torch; assert torch.cuda.is_available(), "torch sees no GPU"; print("torch", torch.__version__, "on", torch.cuda.get_device_name(0))' \
        || failures+=("torch does not see the GPU")
    if grep -q -- '--device' benches/compare/torch_vit_step.py; then
        printf '\n%-10s %6s %12s %14s\n' config batch images/s peak
        for config in vit-cifar; do
            out="$("$py" benches/compare/torch_vit_step.py --config "$config" --batch-size 256 --steps 10 --warmup 3 --device cuda)" \
                || { failures+=("torch_vit_step.py --device cuda failed ($config)"); continue; }
            printf '%s\n' "$out"
        done
    else
        log "benches/compare/torch_vit_step.py has no --device flag (it runs on the CPU only): the PyTorch GPU step benchmark was not run"
    fi
fi

# 5. What this check cannot do yet.
log "NOT RUN: the eigenformer side of the step benchmark (vit-cifar / DeiT-Ti on the GPU): it needs device storage inside eigenformer_tensor::Tensor and --device on bench-step, which are not done yet (docs/cuda.md)"

log "done in ${SECONDS}s on $gpu_name"
(( SECONDS <= 480 )) || log "WARNING: over the 8-minute budget"
if (( ${#failures[@]} > 0 )); then
    printf 'gpu-check: FAILED: %s\n' "${failures[@]}" >&2
    exit 1
fi
