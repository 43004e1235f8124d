"""Files: parameter files (ours and network2's JSON), atomic writes, the validating
``.npz`` reader."""

from ._atomic import atomic_write as atomic_write
from ._params_file import ParamsFileError as ParamsFileError
from ._params_file import load_network2 as load_network2
from ._params_file import load_params as load_params
from ._params_file import save_network2 as save_network2
from ._params_file import save_params as save_params
