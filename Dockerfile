# The camstream-locust image: the official Locust image, pinned to the Locust version that
# pyproject.toml pins (tests/test_docker_files.py checks they agree), with this package installed.
# One image serves every compose service: the Locust master and workers (the base image's
# ENTRYPOINT `locust`) and the reference target (`python -m camstream_locust.target`).
FROM locustio/locust:2.47.0

# The base image runs as the unprivileged user `locust`; install as root, then switch back.
USER root
COPY . /opt/camstream-locust
# /data (the target's store) and /logs (its log, followed by the master) are mount points of
# named volumes: owned by `locust` here so that fresh volumes are writable by the target.
RUN python -m pip install --no-cache-dir /opt/camstream-locust \
    && mkdir -p /data /logs /opt/camstream-locust/artifacts \
    && chown locust /data /logs /opt/camstream-locust/artifacts
USER locust

# Run from the project folder so that pyproject.toml's [tool.locust] defaults apply
# (locustfile, 20 users, spawn rate 20, run time 60 s); reports can go to artifacts/.
WORKDIR /opt/camstream-locust
# 8089 (web UI) and 5557 (master <-> workers) are exposed by the base image; 8080 is the target.
EXPOSE 8080
