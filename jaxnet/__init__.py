"""jaxnet: Michael Nielsen's sigmoid network in pure JAX, checked three ways."""

from ._autodiff import autodiff_grad as autodiff_grad
from ._checkpoint import CheckpointError as CheckpointError
from ._model import ACTIVATIONS as ACTIVATIONS
from ._model import COSTS as COSTS
from ._model import REGULARIZATIONS as REGULARIZATIONS
from ._network import backprop as backprop
from ._network import cost as cost
from ._network import feedforward as feedforward
from ._network import sigmoid as sigmoid
from ._network import sigmoid_prime as sigmoid_prime
from ._params import INIT_SCHEMES as INIT_SCHEMES
from ._params import Layer as Layer
from ._params import init_params as init_params
from ._params import layer_sizes as layer_sizes
from ._optimizer import train_epoch_with as train_epoch_with
from ._precision import PRECISIONS as PRECISIONS
from ._population import PopulationResult as PopulationResult
from ._population import fit_population as fit_population
from ._population import init_population as init_population
from ._serialize import ParamsFileError as ParamsFileError
from ._serialize import load_network2 as load_network2
from ._serialize import load_params as load_params
from ._serialize import save_network2 as save_network2
from ._serialize import save_params as save_params
from ._train import EpochRecord as EpochRecord
from ._train import MONITORS as MONITORS
from ._train import FitResult as FitResult
from ._train import evaluate as evaluate
from ._train import fit as fit
from ._train import init_velocity as init_velocity
from ._train import sgd_step as sgd_step
from ._train import train_epoch as train_epoch

__version__ = "0.1.0"
