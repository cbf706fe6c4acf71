"""The one exception type that means "the user gave us something wrong"."""


class UserError(Exception):
    """Bad input from the user: a missing file, a malformed value, a clash.

    The command line turns it into one line on stderr and exit status 2;
    library callers can catch it like any other exception.
    """


def os_error_line(err: OSError) -> str:
    """One readable line for a failed file operation: what failed, where, and why."""
    where = f" {err.filename}" if err.filename else ""
    hint = " (the disk is full)" if err.errno == 28 else ""
    return f"cannot write or read{where}: {err.strerror or err}{hint}"
