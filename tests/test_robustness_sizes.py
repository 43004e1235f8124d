"""Hostile sizes (issue 20, classes 2 and 3, and the command line's fuzz): a run whose
peak does not fit the memory available is refused before anything is allocated,
naming its biggest part; a model whose output layer its cost cannot take is refused
when it is made; ``--sizes``/``--layers``/``--threads`` are one-line errors or a run.

Where the code before the fix allocated without bound, the case runs in a child
process with its address space limited (RLIMIT_AS): the child reports the exception
it saw and how much its resident memory grew, so a runaway allocation is a failed
test, not a machine out of memory.
"""

import contextlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import textwrap

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import jaxnet
from jaxnet import cli, data
from jaxnet.cli import _flags
from jaxnet.nn import ConvPool, Dense, Model, parse_layers

GiB = 1 << 30
# The child's address space: JAX itself maps ~1.6 GB; what the estimate lets through
# must fit in the rest, and what it refuses must be refused before it is allocated.
CHILD_AS_LIMIT = 3 << 30
# A refused run allocates nothing big: the child's resident memory may grow by this
# much, plus PARAM_READS times the parameters the caller passed (checking them for NaN,
# slicing a population's first member: copies of what the caller holds, never of what
# the run would make).
MAX_GROWTH_MB = 64
PARAM_READS = 4
# A laptop's free memory: the book's runs (chapters 1, 3 and 6, the sweeps) must fit.
LAPTOP_BYTES = 8 * GiB

CHILD = """\
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
import jax
import numpy as np
import jaxnet
from jaxnet import cref, data
from jaxnet.nn import ConvPool, Dense, Model, parse_layers

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

def mark(params=()):  # measure the growth from here on, after the case's setup
    global before, params_mb
    before, params_mb = rss_mb(), sum(a.nbytes for a in jax.tree.leaves(params)) >> 20

params_mb = 0

sample = data.load_sample()
before = rss_mb()
try:
{body}
    result = dict(error=None)
except BaseException as e:
    result = dict(error=type(e).__name__, message=str(e)[:3000])
result["grew_mb"], result["params_mb"] = rss_mb() - before, params_mb
print("RESULT " + json.dumps(result))
"""


def run_memory(*args, **sizes):
    from jaxnet._core.memory import run_memory
    return run_memory(*args, **sizes)


def check_memory(*args, **sizes):
    from jaxnet._core.memory import check_memory
    return check_memory(*args, **sizes)


def child(body: str) -> dict:
    """Runs ``body`` (statements; ``sample`` is the shipped data) in a memory-limited
    child; returns what it raised and how much its resident memory grew."""
    code = CHILD.format(limit=CHILD_AS_LIMIT, body=textwrap.indent(textwrap.dedent(body), " " * 4))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                       cwd=tempfile.gettempdir())
    assert r.returncode == 0, f"the child crashed (exit {r.returncode}): {r.stderr[-3000:]}"
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert line, r.stdout + r.stderr
    return json.loads(line[-1][len("RESULT "):])


# The child limits itself before it imports jaxnet: a preexec_fn would fork this
# (multithreaded, JAX-initialised) test process, which JAX warns about.
CLI_CHILD = ("import resource, runpy, sys\n"
             "resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
             "sys.argv = ['jaxnet'] + sys.argv[1:]\n"
             "runpy.run_module('jaxnet', run_name='__main__')\n")


def cli_child(*args):
    """``jaxnet ARGS`` as a user runs it, in a memory-limited child."""
    return subprocess.run([sys.executable, "-c", CLI_CHILD.format(limit=CHILD_AS_LIMIT),
                           *map(str, args)], capture_output=True, text=True, timeout=600,
                          cwd=tempfile.gettempdir())


def assert_refused(r: dict, *names):
    assert r["error"] == "ValueError", r
    for name in names + ("GiB", "available"):
        assert name in r["message"], r
    assert "\n" not in r["message"], r
    assert r["grew_mb"] < MAX_GROWTH_MB + PARAM_READS * r["params_mb"], r


# --- 2. a run's peak, not only its parameters, is checked against memory --------------

# conv:1000:5,pool:2,softmax:10 has 1.5 million parameters (6 MB), but one mini-batch of
# 5000 holds its 5000 x 1000 x 24 x 24 convolution several times over: ~60 GB.
WIDE_CONV = "parse_layers('conv:1000:5,pool:2,softmax:10', 784)"


def test_a_mini_batch_too_big_for_memory_is_refused_naming_the_layer():
    # A conv net's step holds 20 examples at once (jaxnet._core.chunked), so the layer is
    # made wide enough that 20 do not fit: 20 x 20000 x 24 x 24 values several times.
    r = child("""
        model = parse_layers('conv:20000:5,pool:2,softmax:10', 784)
        p = jaxnet.init_params(jax.random.PRNGKey(0), model)
        mark(p)
        jaxnet.fit(jax.random.PRNGKey(1), p, sample.train.images, sample.train.labels,
                   model=model, epochs=1, batch_size=5000, x_scale=1 / 256)
    """)
    assert_refused(r, "layers[0]", "ConvPool(filters=20000", "(20000, 12, 12)", "5000")


def test_one_hot_targets_too_big_for_memory_are_refused_before_they_are_made():
    # 784-1-5000000: 10 million parameters (40 MB), but 5000 x 5,000,000 targets: 100 GB
    r = child("""
        p = jaxnet.init_params(jax.random.PRNGKey(0), [784, 1, 5_000_000])
        mark(p)
        jaxnet.fit(jax.random.PRNGKey(1), p, sample.train.images, sample.train.labels,
                   epochs=1, batch_size=10, x_scale=1 / 256)
    """)
    assert_refused(r, "one-hot targets", "5000 x 5000000")


def test_a_population_too_big_for_memory_is_refused_counting_its_members():
    r = child(f"""
        model = {WIDE_CONV}
        keys = jax.random.split(jax.random.PRNGKey(0), 8)
        p = jaxnet.init_population(keys, model)
        mark(p)
        jaxnet.fit_population(keys, p, sample.train.images, sample.train.labels,
                              model=model, epochs=1, batch_size=1000, x_scale=1 / 256)
    """)
    assert_refused(r, "layers[0]", "8 members")


def test_an_evaluation_too_big_for_memory_is_refused_naming_the_layer():
    # evaluation is one program over the whole set: 5000 x 1000 x 24 x 24 values, twice
    r = child(f"""
        model = {WIDE_CONV}
        p = jaxnet.init_params(jax.random.PRNGKey(0), model)
        mark(p)
        jaxnet.evaluate(p, sample.train.images, sample.train.labels, model=model,
                        x_scale=1 / 256)
    """)
    assert_refused(r, "layers[0]", "evaluation")


def test_parameters_too_big_for_memory_are_refused_before_they_are_drawn():
    # 784-1000000-10: 795 million parameters, 12.7 GB with the gradient, velocity, update
    r = child("jaxnet.init_params(jax.random.PRNGKey(0), [784, 1_000_000, 10])")
    assert_refused(r, "layers[0]", "parameters")


@pytest.mark.parametrize("argv, names", [
    # the example: grew to 23 GB before XLA aborted
    (["train", "--layers", "conv:1000000:5,pool:2,softmax:10"], ("--layers", "layers[0]")),
    (["train", "--layers", "conv:20000:5,pool:2,softmax:10", "--batch-size", "5000"],
     ("layers[0]", "ConvPool")),
    (["train", "--sizes", "784,1,5000000"], ("--sizes", "one-hot targets")),
    (["train", "--sizes", "784,100000,10", "--ensemble", "100"], ("--sizes", "100 members")),
    (["sweep", "--layers", "conv:1000000:5,pool:2,softmax:10", "--seeds", "1"],
     ("--layers", "layers[0]")),
    (["sweep", "--sizes", "784,100000,10", "--seeds", "100"], ("--sizes", "100 members")),
])
def test_the_command_line_refuses_a_run_too_big_in_one_line(argv, names):
    r = cli_child(*argv, "--data", "sample", "--epochs", "1",
                  *(["--progress", "never", "--compile-cache", "none"] if argv[0] == "train"
                    else []))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr[-3000:]
    assert all(n in lines[0] for n in names + ("GiB", "available")), lines[0]
    assert "Epoch" not in r.stdout


# The book's runs: (model, dtype, training examples, mini-batch, evaluation examples,
# members). Chapter 6's best net trains on the 250,000 expanded images; the chapter-3
# sweeps and the population benchmarks train 1024 784-30-10 members at once.
CH6 = "conv:20:5,pool:2,conv:40:5,pool:2,fc:1000,fc:1000,softmax:10"
BOOK_RUNS = {
    "chapter 1": (Model.dense([784, 30, 10]), np.float32, 50_000, 10, 10_000, 1),
    "chapter 3, float64": (Model.dense([784, 100, 10], cost="cross_entropy"), np.float64,
                           50_000, 10, 10_000, 1),
    "chapter 6, expanded, dropout": (parse_layers(CH6, 784, activation="relu", dropout=0.5),
                                     np.float32, 250_000, 10, 10_000, 1),
    "chapter 6, ensemble of 5": (parse_layers(CH6, 784, activation="relu", dropout=0.5),
                                 np.float32, 50_000, 10, 10_000, 5),
    "1024 members": (Model.dense([784, 30, 10]), np.float32, 50_000, 10, 10_000, 1024),
}


@pytest.mark.parametrize("run", BOOK_RUNS, ids=list(BOOK_RUNS))
def test_the_books_runs_fit_a_laptop(run):
    model, dtype, n, m, n_eval, members = BOOK_RUNS[run]
    sizes = dict(examples=n, batch_size=m, eval_examples=n_eval, members=members)
    need = run_memory(model, dtype, x_itemsize=1, **sizes)
    assert need.peak < LAPTOP_BYTES, (need.peak / GiB, need.biggest)
    check_memory(model, dtype, x_itemsize=1, available=LAPTOP_BYTES, **sizes)  # no raise


def test_the_book_runs_are_accepted_by_the_fit_loops(sample):
    from jaxnet.train._loop import prepare
    model = BOOK_RUNS["chapter 6, expanded, dropout"][0]
    p = jaxnet.init_params(jax.random.PRNGKey(0), model, init="network3")
    expanded = np.broadcast_to(sample.train.images[:1], (250_000, 784))  # no memory
    labels = np.resize(sample.train.labels, 250_000)
    ts = prepare(model, p, expanded, labels, x_scale=1 / 256, epochs=1, batch_size=10,
                 eval_data=(sample.test.images, sample.test.labels), grad="backprop")
    assert ts.y.shape == (250_000, 10)
    keys = jax.random.split(jax.random.PRNGKey(0), 1024)
    pop = jaxnet.init_population(keys, [784, 30, 10])
    r = jaxnet.fit_population(keys, pop, sample.train.images, sample.train.labels, epochs=0,
                              x_scale=1 / 256, eval_data=(sample.test.images,
                                                          sample.test.labels))
    assert r.params[0].w.shape == (1024, 30, 784)


def test_the_message_names_the_biggest_part_with_its_sizes():
    model = parse_layers("conv:1000000:5,pool:2,softmax:10", 784)
    with pytest.raises(ValueError) as e:
        check_memory(model, np.float32, examples=50_000, batch_size=10, eval_examples=10_000,
                     x_itemsize=1, available=16 * GiB)
    msg = str(e.value)
    assert msg.startswith("layers[0] ConvPool(filters=1000000, kernel=5, pool=2"), msg
    assert "(1, 28, 28)" in msg and "(1000000, 12, 12)" in msg and "16.0 GiB" in msg, msg
    need = run_memory(model, np.float32, examples=50_000, batch_size=10, eval_examples=10_000,
                      x_itemsize=1)
    assert f"{need.peak / GiB:,.1f} GiB" in msg, msg


def test_the_margin_is_the_documented_share_of_what_is_available():
    from jaxnet._core.memory import USABLE_FRACTION, available_memory
    model, dtype, n, m, n_eval, members = BOOK_RUNS["chapter 1"]
    sizes = dict(examples=n, batch_size=m, eval_examples=n_eval, x_itemsize=1)
    peak = run_memory(model, dtype, **sizes).peak
    check_memory(model, dtype, available=int(peak / USABLE_FRACTION) + 1, **sizes)
    with pytest.raises(ValueError, match="more than 90% of the"):
        check_memory(model, dtype, available=peak, **sizes)
    have, where = available_memory()
    assert have > 0 and where, (have, where)


# The estimate is an upper bound of what XLA holds, but not so loose that it refuses
# runs that fit: measured <= estimated <= OVERESTIMATE x measured. The loosest case
# measured 1.92x (the pooled conv's step; the others 1.16-1.9x, 2026-12-08), and VmHWM's
# pages vary by ~4 % between runs: 2.5 leaves ~30 % for that and for XLA's scheduling.
# (It was 3.5 while an unpooled conv counted pooling values it does not have: 3.0x.)
OVERESTIMATE = 2.5
MEASURE = """
import os
def hwm():
    return int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) * 1024
def rss():
    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) * 1024
def peak(fn, *args):
    jax.block_until_ready(args)
    open('/proc/self/clear_refs', 'w').write('5')  # resets VmHWM to the current RSS
    base = rss()
    jax.block_until_ready(fn(*args))
    return hwm() - base
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's VmHWM")
@pytest.mark.parametrize("spec, m, what", [
    ("conv:200:5,pool:2,softmax:10", 200, "step"), ("conv:200:5,softmax:10", 200, "step"),
    ("conv:200:5,pool:2,softmax:10", 400, "evaluation"), ("conv:200:5,softmax:10", 400, "evaluation"),
    ("fc:3000,fc:3000,softmax:10", 1000, "step"),
])
def test_the_estimate_bounds_what_xla_really_holds(spec, m, what):
    rows = 2 * m if what == "step" else m  # an epoch's scan of two mini-batches of m
    code = MEASURE + textwrap.dedent(f"""
        import jax.numpy as jnp
        from jaxnet.train._epoch import shuffled_epoch
        from jaxnet.train._evaluate import monitor_jit
        from jaxnet._core.rules import Sgd, SgdState
        model = parse_layers({spec!r}, 784)
        p = jaxnet.init_params(jax.random.PRNGKey(0), model, init="scaled")
        x = jax.device_put(sample.train.images[:{rows}])
        lab = jax.device_put(sample.train.labels[:{rows}])
        sc = jnp.asarray(1 / 256, np.float32)
        if {what!r} == "step":
            y = jax.device_put(data.one_hot(sample.train.labels[:{rows}], 10))
            args = (p, SgdState(jnp.asarray(0.1, np.float32)), jax.random.PRNGKey(1), x, y, sc,
                    None)
            fn = shuffled_epoch.lower(*args, model=model, rule=Sgd(1.0), grad="backprop",
                                      batch_size={m}).compile()
        else:
            args = (p, x, lab, sc, None)
            fn = monitor_jit.lower(model, *args).compile()
        print("MEASURED", peak(fn, *args))
    """)
    r = subprocess.run([sys.executable, "-c", "import jax, numpy as np, jaxnet\n"
                        "from jaxnet import data\nfrom jaxnet.nn import parse_layers\n"
                        "sample = data.load_sample()\n" + code],
                       capture_output=True, text=True, timeout=600, cwd=tempfile.gettempdir())
    measured = int(r.stdout.split("MEASURED")[1]) if "MEASURED" in r.stdout else None
    assert measured, r.stderr[-3000:]
    need = run_memory(parse_layers(spec, 784), np.float32, batch_size=m if what == "step" else 0,
                      eval_examples=m if what == "evaluation" else 0)
    # a step also makes the gradient and the updated parameters: 2 of the 4 copies held
    params = sum(n.nbytes for n in need.held) // 2 if what == "step" else 0
    estimated = sum(n.nbytes for n in getattr(need, what)) + params
    assert measured <= estimated <= OVERESTIMATE * measured, (measured, estimated)


# --- 3. an output layer the cost cannot take is refused when the model is made ---------

OUTPUTS = [
    ((1, 28, 28), (ConvPool(3, 5, 2, "sigmoid"),), "quadratic", "(3, 12, 12)"),
    ((1, 28, 28), (ConvPool(3, 5, 2, "sigmoid"),), "cross_entropy", "(3, 12, 12)"),
    ((1, 28, 28), (ConvPool(3, 5, 2, "softmax"),), "log_likelihood", "(3, 12, 12)"),
    ((1, 28, 28), (ConvPool(4, 5, 2, "relu"), ConvPool(3, 5, 2, "linear")), "quadratic",
     "(3, 4, 4)"),
    # one value per map: n_L = 7 neurons in name, but the output is (7, 1, 1), not (7,)
    ((1, 28, 28), (ConvPool(7, 28, 1, "sigmoid"),), "quadratic", "(7, 1, 1)"),
    ((784,), (Dense(30, "sigmoid"), Dense(30, "sigmoid")), "log_likelihood", "softmax"),
    ((784,), (Dense(30, "softmax"),), "quadratic", "softmax"),
]


@pytest.mark.parametrize("input_shape, layers, cost, says", OUTPUTS)
def test_an_output_layer_the_cost_cannot_take_is_refused_by_model(input_shape, layers, cost,
                                                                  says):
    last = f"layers[{len(layers) - 1}]"
    with pytest.raises(ValueError, match=r"^" + last.replace("[", r"\[")) as e:
        Model(input_shape, layers, cost=cost)
    assert says in str(e.value) and cost in str(e.value), str(e.value)
    good = Model((784,), (Dense(10, "softmax" if cost == "log_likelihood" else "sigmoid"),),
                 cost=cost)
    with pytest.raises(ValueError, match=r"^" + last.replace("[", r"\[")):
        good.replace(input_shape=input_shape, layers=layers)


def test_parse_layers_refuses_a_conv_output():
    with pytest.raises(ValueError, match=r"layers\[0\] ConvPool.*\(3, 24, 24\)"):
        parse_layers("conv:3:5", 784)
    with pytest.raises(ValueError, match=r"layers\[1\] ConvPool.*\(4, 4, 4\)"):
        parse_layers("conv:3:5,pool:2,conv:4:5,pool:2", 784)


def test_a_layer_kind_of_ones_own_with_a_flat_output_is_still_taken():
    # a layer kind defined elsewhere: the rule is the output's shape, not the class
    class Flat(Dense):
        pass
    assert Model((784,), (Flat(10, "sigmoid"),)).sizes == (784, 10)


def test_jax_and_c_refuse_a_conv_output_model_before_computing():
    cref = pytest.importorskip("jaxnet.cref")
    rng = np.random.default_rng(0)
    params = (jaxnet.Layer(rng.normal(size=(3, 1, 5, 5)), rng.normal(size=(3,))),)
    x, y = rng.random((2, 784)), np.eye(432)[[0, 1]]
    for backprop in (jaxnet.backprop, cref.backprop):
        with pytest.raises(ValueError, match=r"layers\[0\] ConvPool.*\(3, 12, 12\)"):
            backprop(params, x, y, model=Model((1, 28, 28), (ConvPool(3, 5, 2),)))


# --- the command line: --threads bounded, --sizes/--layers/--threads fuzzed ------------

@pytest.mark.parametrize("value", ["0", "-1", "1025", "100000", str(2 ** 63), str(2 ** 64),
                                   "2**63", "1e3", "", "x"])
def test_threads_outside_1_to_the_maximum_are_one_line_errors(value, capsys):
    with pytest.raises(SystemExit) as e:
        cli.build_parser().parse_args(["train", "--threads", value])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "--threads" in err[0], err
    assert f"[1, {_flags.MAX_THREADS}]" in err[0], err


def test_threads_up_to_the_maximum_are_taken_and_it_is_crefs():
    args = cli.build_parser().parse_args(["train", "--threads", str(_flags.MAX_THREADS)])
    assert args.threads == _flags.MAX_THREADS == 1024
    try:
        from jaxnet.cref import _epoch
    except ImportError:
        return
    assert getattr(_epoch, "MAX_THREADS", _flags.MAX_THREADS) == _flags.MAX_THREADS


def _write_idx(path, a):
    with open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 8, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape))
        f.write(np.ascontiguousarray(a, np.uint8).tobytes())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """40 training and 20 test images of the sample as an IDX folder: a run is compile
    time, not training."""
    s, folder = data.load_sample(), tmp_path_factory.mktemp("tiny")
    for name, split, n in (("train", s.train, 40), ("t10k", s.test, 20)):
        _write_idx(folder / f"{name}-images-idx3-ubyte", split.images[:n].reshape(n, 28, 28))
        _write_idx(folder / f"{name}-labels-idx1-ubyte", split.labels[:n])
    return folder


# Values as a hostile user types them: small ones that run (drawn most often, so that
# runs and the model's own checks are reached), huge ones that must be refused (and
# never reach an allocation), and nonsense.
_SMALL = st.integers(1, 12)
_NUM = st.one_of(_SMALL, _SMALL, _SMALL, st.integers(-3, 0), st.sampled_from([784, 10]),
                 st.integers(10 ** 9, 10 ** 20), st.sampled_from([2 ** 31, 2 ** 63, 2 ** 64]))
_TEXT = st.sampled_from(["", " ", ",", "1.5", "1e9", "0x10", "nan", "-", ":", "∞", "10**9"])
_SIZES = st.one_of(st.lists(_NUM, min_size=0, max_size=3).map(lambda v: [784] + v),
                   st.lists(st.one_of(_NUM, _TEXT), max_size=4)).map(
    lambda v: ",".join(map(str, v)))
_TOKEN = st.one_of(
    st.tuples(_NUM, _NUM).map(lambda t: f"conv:{t[0]}:{t[1]}"), _NUM.map(lambda n: f"pool:{n}"),
    _NUM.map(lambda n: f"fc:{n}"), st.sampled_from([10, 12, 2 ** 40]).map(lambda n: f"softmax:{n}"),
    _TEXT, st.sampled_from(["conv:3", "fc", "pool", "relu:3", "conv:3:5:1"]))
_LAYERS = st.lists(_TOKEN, min_size=0, max_size=4).map(",".join)
# chapter 6's shape, conv[,pool][,fc][,output], with any numbers: reaches the model's
# checks (kernel, pool, output layer) and the memory estimate of conv layers (a million
# filters: the 23 GB mini-batch)
_NET = st.tuples(st.one_of(_NUM, st.just(10 ** 6)), _NUM, st.one_of(st.none(), _NUM),
                 st.one_of(st.none(), _NUM),
                 st.sampled_from(["softmax:10", "fc:10", "fc:12", ""])).map(
    lambda t: ",".join([f"conv:{t[0]}:{t[1]}"] + [f"pool:{t[2]}"] * (t[2] is not None)
                       + [f"fc:{t[3]}"] * (t[3] is not None) + [t[4]] * bool(t[4])))
_THREADS = st.one_of(st.none(), st.integers(1, _flags.MAX_THREADS), st.integers(-2, 0),
                     st.integers(_flags.MAX_THREADS + 1, 2 ** 70), _TEXT)


# jaxnet's errors and argparse's (``jaxnet train: error: argument --sizes: ...``)
ONE_LINE_ERROR = re.compile(r"^jaxnet( train| sweep)?: error: \S")


def _main(argv):
    """``(exit status, stdout, stderr)`` of ``jaxnet ARGV`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


# 80 derandomized examples beside the explicit ones below (the cases and the
# boundaries): 150 took 35 s of a suite that must stay under 20 minutes.
@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(command=st.sampled_from(["train", "sweep"]), shape=st.one_of(
    _SIZES.map(lambda s: [f"--sizes={s}"]), _LAYERS.map(lambda s: [f"--layers={s}"]),
    _NET.map(lambda s: [f"--layers={s}"]), st.just([])), threads=_THREADS)
@example("train", ["--layers=conv:1000000:5,pool:2,softmax:10"], None)  # the cases
@example("sweep", ["--layers=conv:1000000:5,pool:2,softmax:10"], None)
@example("train", ["--layers=conv:20:5,pool:2"], None)
@example("train", ["--sizes=784,200,10"], 100_000)
@example("train", ["--sizes=784,200,10"], 2 ** 63)
def test_fuzz_sizes_layers_threads_are_one_line_errors_or_a_run(tiny, command, shape, threads):
    argv = [command, "--data", str(tiny), "--epochs", "1", *shape]
    if command == "sweep":
        argv += ["--seeds", "1"]
    else:
        argv += ["--progress", "never", "--compile-cache", "none"]
        if threads is not None:
            argv += ["--impl", "c", f"--threads={threads}"]
    code, out, err = _main(argv)  # any other exception escapes and fails the test
    lines = err.strip().splitlines()
    event(f"exit {code}")
    if code == 0:
        assert "Traceback" not in err and "Epoch 0" in out, (argv, err)
    else:
        assert code == 2 and len(lines) == 1, (argv, code, err[-2000:])
        assert ONE_LINE_ERROR.match(lines[0]) and "Traceback" not in err, (argv, err)


@pytest.mark.parametrize("call", ["jaxnet.train_epoch", "jaxnet.sgd_step", "cref.train_epoch",
                                  "cref.sgd_step"])
def test_steps_and_epochs_check_memory_before_they_allocate(call, monkeypatch):
    """The library's own steps and epochs, JAX and C, refuse a run that does not fit
    (here: 64 KiB available) with the estimate's one-line error, before any compile."""
    import jaxnet._core.memory as memory
    from jaxnet import cref
    params = jaxnet.init_params(jax.random.PRNGKey(0), [784, 100, 10], dtype=np.float32)
    monkeypatch.setattr(memory, "available_memory", lambda: (64 * 1024, "(test)"))
    x = np.zeros((50, 784), np.float32)
    y = np.zeros((50, 10), np.float32)
    fn = {"jaxnet.train_epoch": lambda: jaxnet.train_epoch(params, x, y, np.arange(50),
                                                           eta=1.0, batch_size=50),
          "jaxnet.sgd_step": lambda: jaxnet.sgd_step(params, x, y, 1.0),
          "cref.train_epoch": lambda: cref.train_epoch(params, x, y, np.arange(50), eta=1.0,
                                                       batch_size=50),
          "cref.sgd_step": lambda: cref.sgd_step(params, x, y, 1.0)}[call]
    with pytest.raises(ValueError, match=r"GiB available \(test\)"):
        fn()
