"""The one exception type that carries a user-facing message."""


class TrainuiError(Exception):
    """A problem the user can fix (bad flag, missing file, wrong checkpoint).

    The command line prints its message as one line on stderr and exits non-zero,
    without a traceback.
    """
