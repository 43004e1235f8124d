"""The C kernel (``csrc/``) through cffi: the twins of jaxnet's network functions,
steps and epochs, and network3's conv-pool layer. See ``csrc/README.md``.

The extension ``jaxnet.cref._ext`` is compiled when jaxnet is installed; without a
C compiler at that time, importing this package raises ImportError saying what
to install.
"""

from ._api import backprop as backprop
from ._api import backprop_trace as backprop_trace
from ._api import feedforward as feedforward
from ._api import parallel as parallel
from ._api import sgd_step as sgd_step
from ._api import step_with as step_with
from ._api import train_epoch as train_epoch
from ._api import train_epoch_with as train_epoch_with
from ._conv import convpool_backward as convpool_backward
from ._conv import convpool_forward as convpool_forward
from ._epoch import KERNELS as KERNELS
from ._epoch import MAX_THREADS as MAX_THREADS
from ._epoch import Epoch as Epoch
from ._net import CRefError as CRefError
from ._net import uses_network_kernel as uses_network_kernel
