"""The version of attviz, in a module of its own so that any package can import it."""

__version__ = "0.1.0"
