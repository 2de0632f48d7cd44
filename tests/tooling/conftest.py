"""Tooling tier: the template, the layer's pins, the OpenAPI document and the local stack's own parts,
checked statically or in process (servers a test needs are started on 127.0.0.1 by the test)."""
