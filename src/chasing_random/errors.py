"""The one exception type the CLI turns into a clean one-line error (exit code 2)."""


class ChaseError(Exception):
    """A user-facing error: bad input, a missing file or model, an invalid option.

    The message must say what is wrong and where (file, line, field) so that the CLI can
    print it as is, without a traceback.
    """
