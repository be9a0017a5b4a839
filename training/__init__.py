"""Offline jobs on MLflow: train, tune, register, promote, publish. The only package with mlflow.

Nothing is imported here, so that ``import training.publish`` stays light; use the modules:

- ``training.tracking``: ``configure_tracking()`` (zero-config SQLite under ``./mlflow``, or
  ``MLFLOW_TRACKING_URI``), ``ensure_experiment(name)``
- ``training.train``: ``train(events, TrainSpec, experiment=..., register=..., alias=...)``
- ``training.job_data``: ``prepare_job(events, TrainSpec)`` (encoded, split, fingerprinted,
  the full matrix; no MLflow) -> ``JobData``, which ``train`` also takes
- ``training.tune``: ``tune(events, TrainSpec, trials=..., experiment=..., register=...)``
- ``training.registry``: ``promote(name, version, alias)``, ``list_versions(name)``, ``gate``
- ``training.model_store``: ``load_version("NAME@ALIAS") -> LoadedVersion`` (the recommender,
  its interactions and catalog), ``log_bundle``
- ``training.spec``: ``TrainSpec``; ``training.fingerprint``: ``fingerprint(events)``;
  ``training.aliases``: ``CHAMPION``, ``CHALLENGER``
"""
