"""On/off switches from the environment, ``--set`` or a schedule's own
settings: one rule for every switch, shared by crawler/settings.py and the
parts that do not import crawler/."""
from __future__ import annotations

OFF = ("", "0", "false", "no", "off", "否")


def truthy(value) -> bool:
    """'', '0', 'false', 'no', 'off', '否' (in any case) are off; a bool or a
    number is itself."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    return str(value or "").strip().lower() not in OFF
