"""Parses the Prometheus text format on standard input with prometheus_client's parser (the
reference Python client's) and prints the metric families as JSON:
{family: {"type": ..., "help": ..., "samples": [{"name", "labels", "value"}, ...]}}.
A malformed exposition makes the parser raise, and this script exit non-zero."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    if family.name in families:
        sys.exit(f"family {family.name} appears twice")
    families[family.name] = {
        "type": family.type,
        "help": family.documentation,
        "samples": [
            {"name": sample.name, "labels": sample.labels, "value": sample.value}
            for sample in family.samples
        ],
    }
json.dump(families, sys.stdout)
