"""Order events as `POST /v1/events` accepts them: a shop's order for a customer, kept by sqlsync and exported as
the vendor's `orders` and `orderItems` datasets (docs/exports.md).

An order event carries the whole order. A later one for the same `external_order_id` (a status update, an
item added) replaces it whole, unless it is older by `occurred_at` (ties broken by the event id) than the one
kept: see `OrderEvent.version`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from sqlsync.customers.ids import ID_TYPE_PATTERN, MAX_ID_CHARS, MAX_IDS
from sqlsync.models.events import NonEmpty, SinceEpoch, version_of

ORDER_EVENT_TYPE = "order"

MAX_ORDER_ITEMS = 1000
MAX_TEXT_CHARS = 2000
"""Free text (names, descriptions, addresses, URLs): longer than any column it is exported to (the export cuts
to the column), but bounded so that an order stays far within DynamoDB's 400 KB item."""

# Keys are never cut on export (two orders would become one row), so an id must fit its column as it is:
# externalOrderId and externalProductId are varchar(100).
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]
# The widest value both targets keep exactly: MySQL's export column is DECIMAL(38,10).
Money = Annotated[Decimal, Field(ge=0, max_digits=38, decimal_places=10, allow_inf_nan=False)]
IdType = Annotated[str, StringConstraints(pattern=f"^{ID_TYPE_PATTERN}$")]
IdValue = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]


class OrderItem(BaseModel):
    """One line of an order: a product, its price and how many."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    external_product_id: ExternalId
    name: Text | None = None
    description: Text | None = None
    cost: Money = Field(description="the price of one")
    quantity: int = Field(ge=0, le=2**31 - 1)  # the export's quantity column is int
    url: Text | None = None
    image_url: Text | None = None


class Order(BaseModel):
    """The whole order, as the shop knows it when the event is sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    external_order_id: ExternalId
    status: Annotated[str, StringConstraints(min_length=1, max_length=50)] = Field(
        description="the vendor's are INITIALIZED, IN PROGRESS, DELIVERED, CANCELED"
    )
    date: SinceEpoch = Field(description="when the order was placed (exported as orderDate)")
    total_cost: Money
    discount: Money | None = None
    delivery_address: Text | None = None
    delivery_method: Text | None = None
    payment_method: Text | None = None
    phone: Text | None = None
    email: Text | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    items: list[OrderItem] = Field(default_factory=list, max_length=MAX_ORDER_ITEMS)

    @field_validator("items")
    @classmethod
    def _one_line_per_product(cls, items: list[OrderItem]) -> list[OrderItem]:
        # orderItems is keyed by (order, product): two lines of one product would be one row.
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            first = seen.setdefault(item.external_product_id, index)
            if first != index:
                raise ValueError(
                    f"[{index}].external_product_id: {item.external_product_id!r} is already items[{first}]; "
                    "send one line per product (its quantity)"
                )
        return items


class CustomerRecordEvent(BaseModel):
    """What an event of a record sqlsync keeps under a customer (an order, a device) has besides the record: the
    record as a whole replaces what is kept unless older (`version`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: NonEmpty
    account_id: int = Field(ge=0)
    occurred_at: SinceEpoch
    customer_ids: dict[IdType, IdValue] = Field(
        min_length=1,
        max_length=MAX_IDS,
        description='the customer\'s ids, as tracking takes them ({"registered": "c-1"}); an unknown customer '
        "is created, without properties",
    )

    @property
    def version(self) -> str:
        """Orders versions as strings: the event time, then the event id (as segment events do)."""
        return version_of(self.occurred_at, self.id)


class OrderEvent(CustomerRecordEvent):
    """An order of a customer, created or changed: the whole order, which replaces what is kept unless older."""

    type: Literal["order"]
    order: Order
