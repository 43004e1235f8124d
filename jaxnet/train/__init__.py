"""Training: update rules, steps and epochs (one compiled program each), the fit
loop and its checkpoints, populations, evaluation."""

from .._core.rules import MomentumState as MomentumState
from .._core.rules import SgdState as SgdState
from .._core.rules import apply_updates as apply_updates
from .._core.rules import momentum as momentum
from .._core.rules import sgd as sgd
from ._checkpoint import CheckpointError as CheckpointError
from ._epoch import shuffle_order as shuffle_order
from ._evaluate import evaluate as evaluate
from ._evaluate import evaluate_ensemble as evaluate_ensemble
from ._fit import fit as fit
from ._history import MONITORS as MONITORS
from ._history import EpochRecord as EpochRecord
from ._history import FitResult as FitResult
from ._pallas import PallasInterpretWarning as PallasInterpretWarning
from ._population import PopulationResult as PopulationResult
from ._population import fit_population as fit_population
from ._population import init_population as init_population
from ._population import pallas_population_epoch as pallas_population_epoch
from ._steps import sgd_step as sgd_step
from ._steps import step_with as step_with
from ._steps import train_epoch as train_epoch
from ._steps import train_epoch_with as train_epoch_with
