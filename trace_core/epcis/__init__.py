"""EPCIS 2.0 capture and query (``docs/EPCIS.md``).

Modules, by subject:

- ``schema``: GS1's EPCIS 2.0.1 JSON Schema (vendored in ``data/``) and its code lists;
- ``vocabulary``: CBV 2.0 terms, JSON-LD namespace prefixes and their checks;
- ``identifiers``: EPC URIs and GS1 Digital Links, checked and in canonical form;
- ``document``: reading a capture whole (:func:`document.parse`), first fault by JSON pointer;
- ``event_hash``: the CBV 2.0 event hash (:func:`event_hash.event_hash`);
- ``genealogy``: captured events as trace nodes and edges, the cycle check;
- ``export``: our receipts, work orders and shipments as EPCIS events;
- ``query``: the standard query parameters and page tokens;
- ``models`` and ``service`` (:class:`service.EpcisService`, ``Services.epcis``).
"""
