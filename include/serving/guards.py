"""What a request must pass before the model sees it: a bearer token, a bounded body.

The body is read chunk by chunk against a byte limit and a deadline, so a huge or
endless body costs at most ``max_body_bytes`` of memory and ``body_timeout_s`` of time.
"""

from __future__ import annotations

import asyncio
import hmac

from include.serving.scoring_request import BadScoringRequest


def bearer_matches(authorization: str | None, *tokens: str | None) -> bool:
    """Constant-time comparison against each configured token."""
    presented = (authorization or "").encode()
    return any(token and hmac.compare_digest(presented, f"Bearer {token}".encode()) for token in tokens)


async def read_bounded_body(request, max_bytes: int, timeout_s: float) -> bytes:
    """The request body, or BadScoringRequest 413 (too large) / 408 (too slow) / 400 (bad length)."""
    too_large = f"a body of at most {max_bytes} bytes (CT_SERVING_MAX_BODY_BYTES)"
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadScoringRequest(400, "the Content-Length header is not a number", "Content-Length: <bytes>", repr(declared))
        if int(declared) > max_bytes:
            raise BadScoringRequest(413, "the request body is too large", too_large, f"Content-Length {declared}")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise BadScoringRequest(413, "the request body is too large", too_large, f"more than {max_bytes} bytes (still arriving)")
                chunks.append(chunk)
    except TimeoutError:
        raise BadScoringRequest(
            408, f"the request body did not arrive within {timeout_s:g} s (CT_SERVING_BODY_TIMEOUT_S)", f"the whole body within {timeout_s:g} s", f"{size} bytes received"
        ) from None
    return b"".join(chunks)
