"""Datasets: the embedded ``digits-events`` default, tonic adapters for real datasets, encoders."""
