"""recommender: the pure library under training and serving.

Data contracts, the interaction matrix, models, evaluation, rules and key names. It imports
numpy, scipy, pandas, pyarrow and implicit only: never redis, mlflow, fastapi or ``os.environ``.
"""
