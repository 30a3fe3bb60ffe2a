"""Errors a user can fix. The CLI prints their message on one line and exits with their code."""


class PairforgeError(Exception):
    """A problem the user can fix; the message says what to change."""

    exit_code = 1


class RecipeError(PairforgeError):
    """The recipe (or a --set override) is invalid. Exit code 2, like a usage error."""

    exit_code = 2


class DataError(PairforgeError):
    """The input data cannot be read as asked (missing file, unknown format, missing column)."""

    exit_code = 1
