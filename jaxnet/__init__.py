"""jaxnet: Michael Nielsen's networks in pure JAX, checked three ways."""

from ._api import autodiff_grad as autodiff_grad
from ._api import backprop as backprop
from ._api import cost as cost
from ._api import dropout_masks as dropout_masks
from ._api import feedforward as feedforward
from ._checkpoint import CheckpointError as CheckpointError
from ._convpool import ConvPool as ConvPool
from ._dense import Dense as Dense
from ._evaluate import evaluate as evaluate
from ._evaluate import evaluate_ensemble as evaluate_ensemble
from ._fit import fit as fit
from ._history import MONITORS as MONITORS
from ._history import EpochRecord as EpochRecord
from ._history import FitResult as FitResult
from ._model import ACTIVATIONS as ACTIVATIONS
from ._model import COSTS as COSTS
from ._model import INIT_SCHEMES as INIT_SCHEMES
from ._model import REGULARIZATIONS as REGULARIZATIONS
from ._model import Model as Model
from ._model import init_params as init_params
from ._params import Layer as Layer
from ._params import layer_sizes as layer_sizes
from ._population import PopulationResult as PopulationResult
from ._population import fit_population as fit_population
from ._population import init_population as init_population
from ._precision import PRECISIONS as PRECISIONS
from ._rules import MomentumState as MomentumState
from ._rules import SgdState as SgdState
from ._rules import apply_updates as apply_updates
from ._rules import momentum as momentum
from ._rules import sgd as sgd
from ._serialize import ParamsFileError as ParamsFileError
from ._serialize import load_network2 as load_network2
from ._serialize import load_params as load_params
from ._serialize import save_network2 as save_network2
from ._serialize import save_params as save_params
from ._training import sgd_step as sgd_step
from ._training import step_with as step_with
from ._training import train_epoch as train_epoch
from ._training import train_epoch_with as train_epoch_with


def sigmoid(z):
    """σ(z) = 1 / (1 + e^{−z}), elementwise, any shape; overflow-safe."""
    from ._activations import activate
    return activate("sigmoid", z)


def sigmoid_prime(z):
    """σ'(z) = σ(z)(1 − σ(z)), elementwise, any shape."""
    s = sigmoid(z)
    return s * (1 - s)


__version__ = "0.2.0"
