"""Benchmarks of xai_core against peer libraries (Captum, PAIR ``saliency``) and straightforward loops.

Run ``python -m bench.run_bench [--quick] [--device cpu|cuda] [--out docs/benchmarks.md]``; results go to
``docs/benchmarks.md`` between markers, so a rerun replaces them. Timing claims live here, never in ``tests/``.
"""
