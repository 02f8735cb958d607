"""Parses Grafana dashboards (JSON files given as arguments) with Grafana's foundation SDK
models, with every panel plugin's options registered, serialises them back, and prints every
field of the input the round trip lost or changed. Exit 1 if any was, 0 otherwise."""

import json
import sys

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard


def differences(original, back, path, out):
    if isinstance(original, dict):
        if not isinstance(back, dict):
            out.append(f"{path}: became {type(back).__name__}")
            return
        for key, value in original.items():
            if key not in back:
                out.append(f"{path}.{key}: dropped")
            else:
                differences(value, back[key], f"{path}.{key}", out)
    elif isinstance(original, list):
        if not isinstance(back, list) or len(original) != len(back):
            out.append(f"{path}: list changed")
            return
        for index, (item, item_back) in enumerate(zip(original, back)):
            differences(item, item_back, f"{path}[{index}]", out)
    elif original != back:
        out.append(f"{path}: {original!r} became {back!r}")


def main():
    register_default_plugins()
    lost = 0
    for name in sys.argv[1:]:
        with open(name, encoding="utf-8") as file:
            original = json.load(file)
        back = json.loads(json.dumps(Dashboard.from_json(original), cls=JSONEncoder))
        out = []
        differences(original, back, "", out)
        for line in out:
            print(f"{name}: {line}")
        lost += len(out)
    print(f"{len(sys.argv) - 1} dashboards, {lost} fields lost")
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()
