"""The ministry's violence catalog: types, protocols and choices kept as data in ``catalogs/``."""
