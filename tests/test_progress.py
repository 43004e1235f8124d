"""No silent waits: ``jaxnet train`` says it is compiling (and for how long), and its
progress bar shows a rate and an ETA; ``--progress never`` keeps all of it quiet."""

import io

from jaxnet.cli import main
from jaxnet.cli._progress import ProgressBar

RUN = ("train", "--data", "sample", "--epochs", "1", "--compile-cache", "none",
       "--sizes", "784,10,10")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_bar_says_compiling_then_how_long_it_took():
    out, clock = io.StringIO(), Clock()
    bar = ProgressBar(stream=out, clock=clock)
    bar.start("Epoch 0")
    bar.compiling()
    assert out.getvalue().startswith("jaxnet: compiling") and "\n" not in out.getvalue()
    clock.now += 11.7
    bar(1, 100)
    line, rest = out.getvalue().split("\n", 1)
    assert line.endswith("… 11.7 s"), line
    assert rest.startswith("\rEpoch 0 [") and " 1/100" in rest
    bar(2, 100)
    assert out.getvalue().count("11.7 s") == 1   # said once


def test_the_bar_shows_a_rate_and_an_eta_measured_from_the_epochs_first_call():
    out, clock = io.StringIO(), Clock()
    bar = ProgressBar(stream=out, clock=clock)
    bar.start("Epoch 3")
    clock.now += 50.0   # a compile or monitoring before the first call is not counted
    bar(10, 1010)
    assert "batches/s" not in out.getvalue()   # one call: no rate yet
    clock.now += 2.0
    bar(210, 1010)   # 200 batches in 2 s: 100/s, 800 left: 8 s
    last = out.getvalue().rsplit("\r", 1)[1]
    assert "210/1010" in last and "100 batches/s" in last and "ETA 8 s" in last, last
    clock.now += 1.0
    bar.start("Epoch 4")   # a new epoch measures afresh
    bar(5, 1010)
    assert "batches/s" not in out.getvalue().rsplit("\r", 1)[1]


def test_a_long_eta_is_minutes_and_seconds():
    out, clock = io.StringIO(), Clock()
    bar = ProgressBar(stream=out, clock=clock)
    bar(0, 1000)
    clock.now += 10.0
    bar(5, 1000)   # 0.5/s, 995 left: 1990 s = 33:10
    assert "ETA 33:10" in out.getvalue().rsplit("\r", 1)[1]


def test_train_says_compiling_and_shows_a_rate_with_progress_always(capsys):
    assert main([*RUN, "--progress", "always"]) == 0
    captured = capsys.readouterr()
    assert "jaxnet: compiling" in captured.err and "batches/s" in captured.err
    assert "ETA" in captured.err
    assert "compiling" not in captured.out and "batches/s" not in captured.out


def test_progress_never_is_quiet(capsys):
    assert main([*RUN, "--progress", "never"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "", captured.err
    assert captured.out.splitlines()[0].startswith("jaxnet: 784-10-10 network")
