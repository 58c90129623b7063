"""Device events as `POST /v1/events` accepts them: an app install of a customer (a phone, a browser with push),
kept by sqlsync and exported as the vendor's `devices` dataset (docs/exports.md).

A device event carries the whole device as the app knows it. A later one for the same `device_id` (a new app
version, a new push token, another customer signed in) replaces it whole, unless it is older by `occurred_at`
(ties broken by the event id) than the one kept, as order events do.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sqlsync.models.orders import CustomerRecordEvent, Text

DEVICE_EVENT_TYPE = "device"
MAX_PUSH_TOKEN_CHARS = 4096
"""Push tokens are a few hundred characters (APNs 64-160 hex, FCM about 160); the export column is text."""


class Device(BaseModel):
    """One device, as the app reports it when the event is sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The dataset's key: never cut on export (two devices would become one row), so it must fit varchar(250).
    device_id: Annotated[str, StringConstraints(min_length=1, max_length=250)]
    application_id: int | None = Field(default=None, ge=0, le=2**31 - 1, description="the export's column is int")
    app_version: Text | None = None
    category: Text | None = None
    device_model: Text | None = None
    language_code: Text | None = None
    os_type: Text | None = Field(default=None, description="android, ios, web...")
    os_version: Text | None = None
    push_token: Annotated[str, StringConstraints(max_length=MAX_PUSH_TOKEN_CHARS)] | None = None
    time_zone: Text | None = None


class DeviceEvent(CustomerRecordEvent):
    """A customer's device, registered or changed: the whole device, which replaces what is kept unless older.
    `customer_ids` name the customer using it."""

    type: Literal["device"]
    device: Device
