"""A string wrapper that keeps credentials out of reprs, logs, tracebacks and pickles."""

from __future__ import annotations

from .exceptions import ConfigError


class Secret:
    """Hold a credential; every text form of it is masked, and it never pickles.

    Parameters
    ----------
    value : str
        The credential. Read it back with :meth:`reveal` at the one place it is sent.

    Notes
    -----
    A pickled ``Secret`` (inside a pickled client, configuration or dask task graph) holds no value: it
    unpickles as an absent secret, false in a boolean test, whose :meth:`reveal` raises
    :class:`~lsru_geo.exceptions.ConfigError`. Unpickled clients read their credentials again from their
    configuration file and ``LSRU_*`` variables, so credentials travel to a worker only by the way they
    reached the client, never inside the pickle.

    Examples
    --------
    >>> token = Secret("s3cr3t")
    >>> token, str(token), f"{token}"
    (Secret('***'), '***', '***')
    >>> token.reveal()
    's3cr3t'
    >>> import pickle
    >>> b"s3cr3t" in pickle.dumps(token), bool(pickle.loads(pickle.dumps(token)))
    (False, False)
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the credential itself, to put in a request."""
        if self._value is None:
            raise ConfigError(
                "this credential was not pickled (credentials never are); the unpickled client could not read it "
                "again from its configuration file or LSRU_* variables"
            )
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')" if self._value is not None else "Secret(absent)"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):
        return (Secret, (None,))  # the value stays in this process

