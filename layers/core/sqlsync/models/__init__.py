"""Pydantic models at the boundaries: platform events, integrations."""

from sqlsync.models.events import EventType, Profile, Segment, SegmentEvent
from sqlsync.models.integrations import Integration, IntegrationIn, Templates

__all__ = [
    "EventType",
    "Integration",
    "IntegrationIn",
    "Profile",
    "Segment",
    "SegmentEvent",
    "Templates",
]
