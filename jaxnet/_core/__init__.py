"""The ground floor: what every subpackage uses, imported openly by all of them.

Values and their checks, none of which imports another part of jaxnet: the model
(``model``: a checked ``Model`` of layers, ``dense`` and ``convpool`` with their
forward/backward pairs, ``layerspec`` parsing them, ``chunks``), the parameter
pytree (``params``), ``activations``, ``costs`` (and the penalty), ``precision``,
the update rules as plain values (``rules``), argument checks (``validate``,
``inputs``: against a model), the memory estimate (``memory``), and the safe file
primitives (``atomic``, ``rescue``, ``npz``). The public subpackages (nn, train,
data, io, cref, cli, bench) build on it and use each other only through their
faces; this package's modules are private to jaxnet, their names public within it.
"""
