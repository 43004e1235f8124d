"""The network: the model value, its layers, activations, costs, precision, and the
pure functions of a network (feedforward, cost, backprop, jax.grad)."""

from ._activations import sigmoid as sigmoid
from ._activations import sigmoid_prime as sigmoid_prime
from ._convpool import ConvPool as ConvPool
from ._dense import Dense as Dense
from ._functions import autodiff_grad as autodiff_grad
from ._functions import backprop as backprop
from ._functions import backprop_trace as backprop_trace
from ._functions import cost as cost
from ._functions import dropout_masks as dropout_masks
from ._functions import feedforward as feedforward
from ._layerspec import parse_layers as parse_layers
from ._model import ACTIVATIONS as ACTIVATIONS
from ._model import COSTS as COSTS
from ._model import INIT_SCHEMES as INIT_SCHEMES
from ._model import REGULARIZATIONS as REGULARIZATIONS
from ._model import Model as Model
from ._model import init_params as init_params
from ._params import Layer as Layer
from ._params import layer_sizes as layer_sizes
from ._precision import PRECISIONS as PRECISIONS
