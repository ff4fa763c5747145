"""One adapter per public forgery dataset; see :mod:`data_builders.registry` for the keys."""
