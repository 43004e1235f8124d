"""Peers: the implementations users would otherwise run, written by us for the benchmarks."""
