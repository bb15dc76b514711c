"""Expands ActivityPub objects served by a kgnode with PyLD and prints them as JSON.

Usage: expand.py URL... ; each URL is fetched with Accept: application/activity+json. The node's
own context is loaded over HTTP; ActivityStreams and security contexts from local subsets.
"""

import json
import pathlib
import sys
import urllib.request

from pyld import jsonld

HERE = pathlib.Path(__file__).parent
LOCAL = {
    "https://www.w3.org/ns/activitystreams": HERE / "activitystreams-subset.jsonld",
    "https://w3id.org/security/v1": HERE / "security-subset.jsonld",
}
FETCH = jsonld.requests_document_loader(timeout=10)


def loader(url, options=None):
    if url in LOCAL:
        return {
            "contentType": "application/ld+json",
            "contextUrl": None,
            "documentUrl": url,
            "document": json.loads(LOCAL[url].read_text()),
        }
    return FETCH(url, options or {})


def fetch(url):
    request = urllib.request.Request(url, headers={"Accept": "application/activity+json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


jsonld.set_document_loader(loader)
print(json.dumps([jsonld.expand(fetch(url)) for url in sys.argv[1:]]))
