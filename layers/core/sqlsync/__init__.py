"""sqlsync: keep external SQL databases, brokers and endpoints in step with a customer-data platform."""

__version__ = "0.1.0"
