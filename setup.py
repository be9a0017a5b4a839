"""The project's C extensions, the per-request loops of ranking; the rest is in pyproject.toml.

``recommender._realtime`` sums a session's similar lists and fuses two lists
(``recommender.realtime``);
``serving._walk`` walks the encoded lists of a response and fuses it with the session
(``serving.ranking``), with the same session ranking and fusion (``recommender/_rank.h``).
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("recommender._realtime", ["recommender/_realtime.c"],
              depends=["recommender/_rank.h"]),
    Extension("serving._walk", ["serving/_walk.c"], include_dirs=["recommender"],
              depends=["recommender/_rank.h"]),
])
