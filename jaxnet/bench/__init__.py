"""Measuring: the benchmark harness (check, then time), the machine and its matmul
peak, and the cross-checks behind ``jaxnet check``."""

from ._check import cross_check as cross_check
from ._harness import GRAD_RTOL as GRAD_RTOL
from ._harness import GradientMismatch as GradientMismatch
from ._harness import Implementation as Implementation
from ._harness import Row as Row
from ._harness import Task as Task
from ._harness import check_gradient as check_gradient
from ._harness import flops_per_example as flops_per_example
from ._harness import jaxnet_implementations as jaxnet_implementations
from ._harness import measure as measure
from ._harness import run_table as run_table
from ._harness import table as table
from ._kernels import loop_body_kernels as loop_body_kernels
from ._machine import PEAK_N as PEAK_N
from ._machine import machine as machine
from ._machine import matmul_peak as matmul_peak
from ._machine import now as now
