"""jaxnet: Michael Nielsen's networks in pure JAX, checked three ways.

The public API, by question: ``jaxnet.nn`` (the network), ``jaxnet.train``
(training), ``jaxnet.data``, ``jaxnet.io`` (files), ``jaxnet.cref`` (the C
kernel), ``jaxnet.bench``, ``jaxnet.plot``; the most used names are here too.
"""

from .cli import explain as explain
from .io import ParamsFileError as ParamsFileError
from .io import WriteError as WriteError
from .io import load_network2 as load_network2
from .io import load_params as load_params
from .io import save_network2 as save_network2
from .io import save_params as save_params
from .nn import ACTIVATIONS as ACTIVATIONS
from .nn import COSTS as COSTS
from .nn import INIT_SCHEMES as INIT_SCHEMES
from .nn import PRECISIONS as PRECISIONS
from .nn import REGULARIZATIONS as REGULARIZATIONS
from .nn import ConvPool as ConvPool
from .nn import Dense as Dense
from .nn import Layer as Layer
from .nn import Model as Model
from .nn import autodiff_grad as autodiff_grad
from .nn import backprop as backprop
from .nn import backprop_trace as backprop_trace
from .nn import cost as cost
from .nn import dropout_masks as dropout_masks
from .nn import feedforward as feedforward
from .nn import init_params as init_params
from .nn import layer_sizes as layer_sizes
from .nn import parse_layers as parse_layers
from .nn import sigmoid as sigmoid
from .nn import sigmoid_prime as sigmoid_prime
from .train import MONITORS as MONITORS
from .train import Checkpoint as Checkpoint
from .train import CheckpointError as CheckpointError
from .train import EpochRecord as EpochRecord
from .train import FitResult as FitResult
from .train import MomentumState as MomentumState
from .train import Patience as Patience
from .train import PopulationResult as PopulationResult
from .train import Regularization as Regularization
from .train import SgdState as SgdState
from .train import TrainingData as TrainingData
from .train import apply_updates as apply_updates
from .train import cpu_threads_for as cpu_threads_for
from .train import evaluate as evaluate
from .train import evaluate_ensemble as evaluate_ensemble
from .train import fit as fit
from .train import fit_population as fit_population
from .train import init_population as init_population
from .train import momentum as momentum
from .train import pallas_population_epoch as pallas_population_epoch
from .train import set_cpu_threads as set_cpu_threads
from .train import sgd as sgd
from .train import sgd_step as sgd_step
from .train import shuffle_order as shuffle_order
from .train import step_with as step_with
from .train import train_epoch as train_epoch
from .train import train_epoch_with as train_epoch_with

__version__ = "0.2.0"
