"""Networks (blocks, zoo) and the LightningModules that train them; summary.py is `python -m
tinynets.models.summary model=NAME`, a model's layer table and parameter count."""
