"""Action hooks: platform events forwarded, filtered and enriched, to HTTP endpoints, RabbitMQ and Kafka.

Senders (`http`, `rabbitmq`, `kafka`) import their client libraries lazily: only the hook dispatcher and the
API's test call load them.
"""
