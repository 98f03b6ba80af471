"""Constants of the cam-stream HTTP API (../shared/camstream-api.md).

The only module shared by the suite and the reference target: a bug in the logic of
one must not hide the same bug in the other, so nothing but names lives here.
"""

PING = "/api/ping"
STATUS = "/api/status"
CAMERAS = "/api/cameras"
INFERENCE_SERVERS = "/api/inference-servers"
ALERT_SERVER = "/api/alert-server"
CONFIG_EXPORT = "/api/config/export"
CONFIG_IMPORT = "/api/config/import"

#: Fields the client controls and the server must keep exactly as sent.
CAMERA_CLIENT_FIELDS = ("name", "rtsp_url", "inference_server_bindings")
SERVER_CLIENT_FIELDS = ("name", "url", "model_type", "description")

#: Top-level keys of the data file and of a config export.
STORE_KEYS = ("cameras", "inference_servers", "alert_server")

#: Where a server keeps its data file, relative to its data directory.
DATA_FILE_RELPATH = "_data/cameras.json"

DEFAULT_PORT = 8080
