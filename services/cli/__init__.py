"""The ``clearcut`` command line."""
