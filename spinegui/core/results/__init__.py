"""Experiment results: the one experiment-folder reader, the metrics, the HTML report."""
