"""Shared test helpers (not fixtures; those live in ``tests/conftest.py``).

* ``helpers.models``: the tiny named Keras models and seeded data the tests train and inspect;
* ``helpers.runs``: reading runs back with TensorBoard's own reader;
* ``helpers.tb_http``: a real TensorBoard on loopback and its HTTP API.

Keras and TensorFlow are imported inside the functions that need them, so importing a helper
keeps a numpy-only test light.
"""
