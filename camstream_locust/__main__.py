"""``python -m camstream_locust``: the suite's own options, with their environment variables.

Locust's ``--help`` does not load a locustfile (locust issue #2917), so it cannot list options
that a locustfile adds; this prints them the way ``--help`` would.
"""

from __future__ import annotations

import configargparse

from camstream_locust import options


def main() -> None:
    parser = configargparse.ArgumentParser(
        prog="locust -f locustfiles/camstream.py",
        description="The camstream options (besides all of Locust's own: locust --help).",
        add_help=False,
    )
    options.add_arguments(parser)
    parser.print_help()


if __name__ == "__main__":
    main()
