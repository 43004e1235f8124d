"""Peers: the implementations users would otherwise run, written by us for the benchmarks
(the book's own network.py, the slowest peer, is in ``book/``)."""
