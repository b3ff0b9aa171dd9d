"""Running the pipeline's own code on this machine: the services as supervised background
processes and the default model in the processor's cache.

Kept apart from ``services.devstack``, which runs the third-party components (Kafka, MinIO,
PostgreSQL, Jaeger, Prometheus) and knows nothing of the services; the CLI joins the two.
"""
