"""Logger and metrics, created once per container and shared by every module.

Nothing here logs an event, a response, an API key or a message text: the template turns event
logging off, and the code logs ids and statuses only. Tracing is Lambda's and API Gateway's
active tracing (``Tracing: Active``); the X-Ray SDK is left out of the layer on purpose, as it
brings its own copy of botocore and lengthens every cold start.
"""

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import Metrics, MetricUnit

logger = Logger(log_uncaught_exceptions=True)
metrics = Metrics()

__all__ = ["MetricUnit", "logger", "metrics"]
