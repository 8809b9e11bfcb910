"""Experiments: expand a config into a DAG of stages and run what the artifact store lacks."""
