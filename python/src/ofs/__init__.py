"""ofs: the Python SDK of the ofs online feature store.

- :class:`Client` reads features over gRPC (:meth:`Client.retrieve`, into
  numpy arrays or a pandas DataFrame built from the answer's dense matrices)
  and writes rows synchronously (:meth:`Client.persist`).
- :mod:`ofs.aio` has the same client for asyncio (``await
  ofs.aio.Client(addr).retrieve(...)``), for model servers on an event loop.
- :func:`publish` produces the rows of a pandas DataFrame as feature events
  to the Kafka features topic, for batch jobs.
- :func:`feature_key` is the Kafka message key of a feature event, as Go's
  ``topics.FeatureKey`` builds it.
- :mod:`ofs.spark` (``import ofs.spark``; needs the extra ``ofs[spark]``)
  pushes a Spark DataFrame, a Delta Lake table say, to the features topic
  with Spark's Kafka sink, in the same event form as :func:`publish`.
  ``import ofs`` does not import pyspark.

The generated protobuf and gRPC modules are in :mod:`ofs._proto` (see
``python/generate.sh``).
"""

from ofs._client import Client, OfsError, OfsPersistError, RetrieveResult
from ofs._keys import feature_key
from ofs._publish import publish

__all__ = ["Client", "OfsError", "OfsPersistError", "RetrieveResult", "feature_key", "publish"]
__version__ = "0.1.0"
