"""The signals drf-toctou sends (receivers of Django's own signals are wired in
``apps.py``)::

    from django.dispatch import receiver
    from drf_toctou.signals import token_rejected

    @receiver(token_rejected)
    def record(sender, request, reason, user_id, **kwargs): ...
"""

from django.dispatch import Signal

#: A refusal: sent with ``request``, ``reason`` (its stable code) and
#: ``user_id`` (the token's, as str, or None).
token_rejected = Signal()

#: A session (refresh family) ended: sent with ``user_id``, ``session_id`` and
#: ``reason`` ("logout", "ended_by_user", "reuse_detected", "limit", ...).
session_ended = Signal()

#: A DynamoDB Streams finding: sent with ``finding`` (a ``drf_toctou.streams.Finding``).
stream_finding = Signal()
