"""The commands: one module per ``acoustemo`` subcommand, thin (arguments and orchestration).

Each is a module with ``add_arguments(parser)`` and ``run(args) -> int`` (see :mod:`acoustemo.cli`), importing
what it needs on first use. Commands compose the library (``acoustemo.data``, ``acoustemo.corpora``,
``acoustemo.model``, ``acoustemo.training``, ``acoustemo.inference``, ``acoustemo.metrics``) and never import one
another.
"""
