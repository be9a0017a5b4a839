"""The "models from code" file MLflow logs with each model and runs when loading it."""

from mlflow.models import set_model

from training.pyfunc_model import RecsysPyfunc

set_model(RecsysPyfunc())
