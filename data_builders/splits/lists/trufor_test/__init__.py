"""Reference split lists (verbatim copies; see data_builders/splits/lists/README.md)."""
