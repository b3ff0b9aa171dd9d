"""Clearcut's benchmark suite: pipeline overhead, inference parity, throughput, ingest,
websocket fan-out, a peer comparison and scaling, against the pipeline of ``clearcut up``.

Run with ``clearcut bench SCENARIO``; results land in ``bench/results/``.
"""
