"""Subcommands of the eiegen CLI, one module each."""
