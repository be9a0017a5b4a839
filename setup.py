"""The project's C extensions, the per-request loops of ranking; the rest is in pyproject.toml.

``recommender._realtime`` sums a session's similar lists and fuses two lists
(``recommender.realtime``);
``serving._walk`` walks the encoded lists of a response (``serving.ranking``).
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("recommender._realtime", ["recommender/_realtime.c"]),
    Extension("serving._walk", ["serving/_walk.c"]),
])
