"""serving: the FastAPI app that answers from what ``publish`` wrote to Redis.

It holds no model and imports neither ``training``, ``mlflow`` nor ``implicit``. Build the app with
``serving.main.create_app(settings)``; run it with ``serving.main.run(host, port, workers)``.
"""
