"""The book's NumPy code, transcribed from Nielsen's network.py and network2.py
(float64, column vectors, one example at a time): the reference the tests
compare jaxnet against and the peer the benchmarks time. Nothing here imports
jaxnet. Not shipped in the wheel; imported as ``book`` from the benchmark
scripts (their folder comes first on the path) and from the tests (pyproject's
``pythonpath``)."""
