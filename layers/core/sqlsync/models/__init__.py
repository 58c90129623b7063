"""Pydantic models at the boundaries: platform events, integrations."""

from sqlsync.models.events import EventBatch, EventType, Profile, Segment, SegmentEvent
from sqlsync.models.integrations import Integration, IntegrationIn, Templates

__all__ = [
    "EventBatch",
    "EventType",
    "Integration",
    "IntegrationIn",
    "Profile",
    "Segment",
    "SegmentEvent",
    "Templates",
]
