"""Populations: many networks trained at once, in one place.

``fit`` (fit_population: the members stacked on a leading axis
and trained in one compiled program with ``jax.vmap``), ``blocks`` (on one device,
a block of members at a time, each block's parameters kept in the cache),
``members`` (init_population, their keys and stacked rule state), ``loop`` (the
epochs, evaluation and checkpoints),
``checkpoint`` (every member's state, to resume a sweep exactly), ``mesh`` (the
member axis split over devices and processes) and ``pallas`` (the fused epoch of
a population).
"""

from .fit import PopulationResult as PopulationResult
from .fit import fit_population as fit_population
from .members import init_population as init_population
from .pallas import pallas_population_epoch as pallas_population_epoch
