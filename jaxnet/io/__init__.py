"""Files: parameter files (ours and network2's JSON), model descriptions read back
against their schema, atomic writes and the one rescue path of every output, the
validating ``.npz`` reader."""

from .._core.atomic import atomic_write as atomic_write
from .._core.rescue import WriteError as WriteError
from .._core.rescue import write_files as write_files
from .._core.rescue import write_or_rescue as write_or_rescue
from ._description import model_from_description as model_from_description
from ._network2 import load_network2 as load_network2
from ._network2 import save_network2 as save_network2
from ._params_file import ParamsFileError as ParamsFileError
from ._params_file import load_params as load_params
from ._params_file import save_params as save_params
