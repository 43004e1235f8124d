"""The network: the model value, its layers, activations, costs, precision, and the
pure functions of a network (feedforward, cost, backprop, jax.grad)."""

from .._core.activations import sigmoid as sigmoid
from .._core.activations import sigmoid_prime as sigmoid_prime
from .._core.convpool import ConvPool as ConvPool
from .._core.dense import Dense as Dense
from .._core.layerspec import parse_layers as parse_layers
from .._core.model import ACTIVATIONS as ACTIVATIONS
from .._core.model import COSTS as COSTS
from .._core.model import INIT_SCHEMES as INIT_SCHEMES
from .._core.model import REGULARIZATIONS as REGULARIZATIONS
from .._core.model import Model as Model
from .._core.model import init_params as init_params
from .._core.params import Layer as Layer
from .._core.params import layer_sizes as layer_sizes
from .._core.precision import PRECISIONS as PRECISIONS
from ._functions import autodiff_grad as autodiff_grad
from ._functions import backprop as backprop
from ._functions import backprop_trace as backprop_trace
from ._functions import cost as cost
from ._functions import dropout_masks as dropout_masks
from ._functions import feedforward as feedforward
