"""Chaos: every fault the emulator knows, each injected at random into a share of matching requests.

:func:`chaos_faults` lists them; ``Emulator.chaos(rate)`` adds them all. Each rule rolls on its own for each
matching request, from the emulator's seeded generator, so a single-threaded run repeats exactly and a
multi-threaded one repeats its rates (thread scheduling changes which request draws which number). The ESPA
item outcomes (``error``, ``retry``, ``unavailable``) are not faults of a request but of the processing: they
are the ``error_rate``, ``retry_rate`` and ``unavailable_rate`` options.

================================  =========================================================================
fault                             what the client meets
================================  =========================================================================
M2M ``RATE_LIMIT_USER``           HTTP 200 envelope with the code, as if another request of the user ran
M2M ``AUTH_EXPIRED``              the API key is dropped mid-search (mid-paging), the envelope says so
HTTP 429 + ``Retry-After``        any service, before any work is done
HTTP 502 / 503                    any service, before any work is done
dropped connection                before the answer, or after its first bytes (the work was done)
slow answer                       work done, answer held ``delay`` s: past the read timeout, outcome unknown
wrong MD5                         an ESPA ``.md5`` file that does not match its tarball
Range ignored                     a resumed download answered 200 with the whole file (ten times the rate:
                                  only resumed downloads can meet it)
================================  =========================================================================
"""

from __future__ import annotations

# (service, endpoint glob, kind, options); a rule hits a matching request with the chaos rate
_RULES: tuple[tuple[str, str, str, dict], ...] = (
    ("m2m", "*", "code", {"code": "RATE_LIMIT_USER", "message": "You may only have one request in progress"}),
    ("m2m", "scene-*", "code", {"code": "AUTH_EXPIRED", "message": "API key has expired due to inactivity"}),
    ("*", "*", "status", {"status": 503}),
    ("*", "*", "status", {"status": 502}),
    ("*", "*", "status", {"status": 429, "retry_after": None}),
    ("*", "*", "drop", {}),
    ("m2m", "*", "drop", {"after_bytes": 100}),
    ("espa", "*", "drop", {"after_bytes": 10}),
    ("download", "*.tar.gz", "drop", {"after_bytes": 64 * 1024}),
    ("*", "*", "delay", {"seconds": None}),
    ("download", "*", "wrong_md5", {}),
    ("download", "*", "ignore_range", {"rate_factor": 10}),  # only resumed downloads can meet it: rarer requests
)


def chaos_faults(rate: float, *, delay: float, retry_after: float = 1.0) -> list[dict]:
    """Keyword arguments of ``Faults.add`` for every fault kind, each hitting ``rate`` of its requests.

    Parameters
    ----------
    rate : float
        Probability, in [0, 1], that one rule hits one matching request.
    delay : float
        Seconds a slow answer is held (set it above the client's read timeout).
    retry_after : float
        ``Retry-After`` of the 429 answers, in seconds.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"chaos rate must be within [0, 1], got {rate!r}")
    faults = []
    for service, endpoint, kind, options in _RULES:
        options = dict(options)
        factor = options.pop("rate_factor", 1)
        if "retry_after" in options:
            options["retry_after"] = retry_after
        if "seconds" in options:
            options["seconds"] = delay
        faults.append(
            {
                "service": service,
                "endpoint": endpoint,
                "kind": kind,
                "times": None,
                "rate": min(1.0, rate * factor),
                **options,
            }
        )
    return faults
