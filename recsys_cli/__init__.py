"""The ``recsys`` command. Heavy libraries are imported inside commands, so each command loads
only what it needs (``recsys serve`` never imports mlflow)."""
