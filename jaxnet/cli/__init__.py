"""The command line: ``jaxnet train``, ``sweep``, ``explain``, ``check``, ``bench``."""

from ._explain import explain as explain
from ._main import build_parser as build_parser
from ._main import main as main
