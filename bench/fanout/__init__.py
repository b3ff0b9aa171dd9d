"""One notifier process under load: idle connections, memory, event-to-client delay.

Runs against the local stack. Each measurement starts its own notifier process
(``python -m services.notifier``, the pipeline's code and defaults except its port, a
fresh topic prefix and a raised per-owner connection limit), creates API keys for
throw-away owners (deleted at the end, with the topics), and runs the websocket clients in
worker processes of its own, so that the notifier's numbers are its own and the
pipeline's read model and topics are untouched.
"""
