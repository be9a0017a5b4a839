"""The MLflow pyfunc face of a model bundle: ``predict(frame of user_id) -> top-N per user``.

Logged as "models from code" (``model_code.py``), so MLflow pickles nothing: loading runs that
file, which builds this class, and ``load_context`` reads the bundle's npz/parquet/json artifacts.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from recommender.errors import ModelError
from training.bundle import ModelBundle, read_bundle, recommend_frame

DEFAULT_N = 10

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "user_id")]),
    outputs=Schema(
        [
            ColSpec("string", "user_id"),
            ColSpec("long", "rank"),
            ColSpec("string", "item_id"),
            ColSpec("float", "score"),
        ]
    ),
    params=ParamSchema([ParamSpec("n", "long", DEFAULT_N), ParamSpec("kind", "string", "")]),
)


class RecsysPyfunc(PythonModel):
    """Top-N recommendations of one registered model version.

    ``predict`` takes a frame with a ``user_id`` column and params ``n`` (default 10) and
    ``kind`` (``product`` or ``content``; empty = any) and returns columns user_id, rank,
    item_id, score: unseen, available items, best first. Unknown users get no rows.
    """

    def __init__(self) -> None:
        self._bundle: ModelBundle | None = None

    def load_context(self, context: PythonModelContext) -> None:
        self._bundle = read_bundle(context.artifacts)

    @property
    def bundle(self) -> ModelBundle:
        if self._bundle is None:
            raise ModelError("the pyfunc model was not loaded with its artifacts")
        return self._bundle

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        params = params or {}
        if "user_id" not in model_input:
            raise ModelError("predict needs a frame with a 'user_id' column")
        n = int(params.get("n") or DEFAULT_N)
        kind = str(params.get("kind") or "") or None
        return recommend_frame(self.bundle, model_input["user_id"], n=n, kind=kind)
