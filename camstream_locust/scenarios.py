"""The stress scenarios of the original tool, as task weights (pure data).

Each scenario becomes one Locust User class (see users.py); ``--scenario NAME`` picks it.
Task names are methods of ``users.CamStreamUser``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    name: str
    class_name: str
    summary: str
    weights: dict[str, int]


#: The original tool's mix: reads most often, deletes least.
MIXED_WEIGHTS = {
    "create_camera": 15,
    "update_camera": 10,
    "delete_camera": 5,
    "list_cameras": 20,
    "create_server": 15,
    "update_server": 10,
    "delete_server": 5,
    "list_servers": 20,
    "config_file": 5,
    "status": 15,
}

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "mixed",
            "MixedUser",
            "mixed read/write/delete load with the original tool's weights",
            MIXED_WEIGHTS,
        ),
        Scenario(
            "high-frequency-reads",
            "ReadsUser",
            "many users listing and fetching cameras and servers while a few write",
            {
                "list_cameras": 40,
                "list_servers": 30,
                "get_camera": 15,
                "get_server": 10,
                "status": 15,
                "create_camera": 4,
                "create_server": 3,
                "update_camera": 2,
                "delete_camera": 1,
            },
        ),
        Scenario(
            "concurrent-writes",
            "WritesUser",
            "many users creating and updating the same pools of objects at once",
            {
                "create_camera": 20,
                "update_camera": 25,
                "create_server": 15,
                "update_server": 20,
                "delete_camera": 5,
                "delete_server": 5,
                "get_camera": 5,
                "list_cameras": 5,
            },
        ),
        Scenario(
            "config-conflict",
            "ConfigConflictUser",
            "config export (and with --allow-import, import) racing the CRUD load",
            {
                "config_file": 40,
                "create_camera": 10,
                "update_camera": 10,
                "delete_camera": 5,
                "create_server": 10,
                "update_server": 10,
                "delete_server": 5,
                "list_cameras": 5,
                "status": 5,
            },
        ),
        Scenario(
            "same-camera",
            "SameCameraUser",
            "every user, on every worker, creating, updating, deleting and reading the same few cameras",
            {
                "hot_create": 10,
                "hot_update": 30,
                "hot_delete": 10,
                "hot_get": 30,
                "list_cameras": 10,
                "status": 5,
            },
        ),
    )
}

DEFAULT_SCENARIO = "mixed"

#: How many shared "hot" camera ids the same-camera scenario uses.
HOT_CAMERAS = 3
