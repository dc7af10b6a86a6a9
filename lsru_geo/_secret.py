"""A string wrapper that keeps credentials out of reprs, logs and tracebacks."""

from __future__ import annotations


class Secret:
    """Hold a credential; every text form of it is masked.

    Parameters
    ----------
    value : str
        The credential. Read it back with :meth:`reveal` at the one place it is sent.

    Examples
    --------
    >>> token = Secret("s3cr3t")
    >>> token, str(token), f"{token}"
    (Secret('***'), '***', '***')
    >>> token.reveal()
    's3cr3t'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the credential itself, to put in a request."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    __format__ = lambda self, spec: "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):
        return (Secret, (self._value,))
