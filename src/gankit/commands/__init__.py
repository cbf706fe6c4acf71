"""One module per ``gankit`` subcommand: ``add_parser(subparsers)`` and ``run(args)``."""
