# Metadata lives in pyproject.toml; cffi_modules cannot (python-cffi/cffi#55).
from setuptools import setup

setup(cffi_modules=["jaxnet/cref/_build.py:ffibuilder"])
