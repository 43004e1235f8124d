"""What the fit loop records and decides after each epoch: the records, the
monitors, and the early-stop / learning-rate-schedule state as a small value."""

from __future__ import annotations

from typing import NamedTuple, Optional

#: What fit can monitor each epoch (network2's four flags).
MONITORS = ("eval_accuracy", "eval_cost", "train_accuracy", "train_cost")


class EpochRecord(NamedTuple):
    """What the fit loop saw in one epoch.

    Attributes:
      epoch: 0-based, as the book prints it.
      correct: evaluation examples classified correctly (None unless
        ``eval_accuracy`` is monitored).
      total: size of the evaluation data (None without it).
      seconds: wall time of the epoch's training program (excludes monitoring).
      eval_seconds: wall time of the monitoring.
      eta: the learning rate the epoch trained with (the schedule may lower it).
      eval_cost: total cost on the evaluation data (regularisation over the
        training-set size), or None.
      train_correct, train_total: accuracy on the training data, or None.
      train_cost: total cost on the training data, or None.
      test_correct, test_total: the test data's accuracy, measured only at a
        new best evaluation accuracy (network3's report), else None.
    """

    epoch: int
    correct: Optional[int]
    total: Optional[int]
    seconds: float
    eval_seconds: float
    eta: float = None
    eval_cost: Optional[float] = None
    train_correct: Optional[int] = None
    train_total: Optional[int] = None
    train_cost: Optional[float] = None
    test_correct: Optional[int] = None
    test_total: Optional[int] = None

    @property
    def accuracy(self) -> Optional[float]:
        return None if self.correct is None else self.correct / self.total

    @property
    def train_accuracy(self) -> Optional[float]:
        return None if self.train_correct is None else self.train_correct / self.train_total


class FitResult(NamedTuple):
    """``params``: the trained parameters; ``history``: one EpochRecord per
    epoch; ``compile_seconds``: time to compile the epoch and monitoring
    programs; ``velocity``: the momentum state (None without momentum);
    ``stopped``: why training ended before ``epochs`` (None if it did not)."""

    params: tuple
    history: list
    compile_seconds: float
    velocity: Optional[tuple] = None
    stopped: Optional[str] = None


def record(epoch, seconds, eval_seconds, eta, monitor, got) -> EpochRecord:
    """An EpochRecord from ``got``: ``{"eval"/"train": (correct, cost, size)}``,
    keeping what ``monitor`` asked for."""
    ev, tr = got.get("eval"), got.get("train")
    pick = lambda part, i, name: part[i] if part and name in monitor else None  # noqa: E731
    return EpochRecord(epoch, correct=pick(ev, 0, "eval_accuracy"),
                       total=pick(ev, 2, "eval_accuracy"), seconds=seconds,
                       eval_seconds=eval_seconds, eta=eta, eval_cost=pick(ev, 1, "eval_cost"),
                       train_correct=pick(tr, 0, "train_accuracy"),
                       train_total=pick(tr, 2, "train_accuracy"),
                       train_cost=pick(tr, 1, "train_cost"))


def check_monitor(monitor, eval_data) -> set:
    """The monitors to compute: ``monitor`` checked (default: eval_accuracy with eval_data)."""
    if monitor is None:
        return {"eval_accuracy"} if eval_data is not None else set()
    if isinstance(monitor, str):
        monitor = (monitor,)
    bad = [m for m in monitor if m not in MONITORS]
    if bad:
        raise ValueError(f"monitor: expected names from {MONITORS}, got {bad}")
    if eval_data is None and {"eval_accuracy", "eval_cost"} & set(monitor):
        raise ValueError("monitor: eval_accuracy and eval_cost need eval_data")
    return set(monitor)


class Schedule(NamedTuple):
    """The early-stop / learning-rate-schedule state: the best evaluation count so
    far, epochs since it, the current η, and why training stopped (or None)."""

    best: int
    since_best: int
    eta: float
    stopped: Optional[str] = None

    def after(self, correct, *, eta0: float, early_stop, schedule) -> "Schedule":
        """The state after an epoch whose evaluation count was ``correct`` (or None)."""
        best, since, eta = self.best, self.since_best, self.eta
        if correct is not None:
            best, since = (correct, 0) if correct > best else (best, since + 1)
        if early_stop is not None and since >= early_stop:
            return Schedule(best, since, eta, f"early stop: no better evaluation accuracy "
                                              f"in {early_stop} epochs")
        if schedule is not None and since >= schedule:
            if eta / 2 < eta0 / 128:
                return Schedule(best, since, eta, f"schedule: eta would fall below eta/128 = "
                                                  f"{eta0 / 128:g} after {schedule} epochs "
                                                  "without improvement")
            return Schedule(best, 0, eta / 2)
        return Schedule(best, since, eta)


class LoopState(NamedTuple):
    """Everything the fit loop carries from epoch to epoch (what a checkpoint saves):
    parameters, the update rule's state, the PRNG key, the next epoch, the
    history so far and the Schedule."""

    params: tuple
    state: object
    key: object
    epoch: int
    history: list
    schedule: Schedule
