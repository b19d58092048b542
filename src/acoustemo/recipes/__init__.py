"""The commands that do a whole job: train, evaluate, ablate, predict, demo, info.

Each recipe is a module with ``add_arguments(parser)`` and ``run(args) -> int`` (see :mod:`acoustemo.cli`).
Recipes compose the library (``acoustemo.model``, ``acoustemo.data``, ``acoustemo.training``,
``acoustemo.evaluation``, ``acoustemo.pipeline``) and never import one another.
"""
