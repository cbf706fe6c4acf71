"""The one exception type that means "the user gave us something wrong"."""


class UserError(Exception):
    """Bad input from the user: a missing file, a malformed value, a clash.

    The command line turns it into one line on stderr and exit status 2;
    library callers can catch it like any other exception.
    """
