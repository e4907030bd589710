"""The compiled, frozen view of the whole config, its compiler and its error templates."""
