"""Packing (AggregationEvent): serials into cases, cases into pallets, each shipping unit named
by an SSCC; unpacking as a posting of its own. Public surface: ``PackingService`` (service.py),
``ShippingUnit``/``PackingEvent`` (models.py), SSCC reading and allocation (sscc.py) and
``describe_shipping_units`` for the trace's evidence."""
