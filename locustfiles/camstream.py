"""cam-stream load and concurrency test: `locust -f locustfiles/camstream.py --headless [--embedded-target]`.

Imports the scenario users (MixedUser is the default; ``--scenario NAME`` picks another)
and registers the suite's event listeners. Nothing else lives here.
"""

from camstream_locust import listeners  # noqa: F401  (registers the options and event listeners)
from camstream_locust.users import USER_CLASSES

globals().update({cls.__name__: cls for cls in USER_CLASSES.values()})
