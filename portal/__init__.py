"""The web layer (Litestar): app factory, settings, authentication, pages for suppliers and
internal users, and the machine API. Public surface: ``create_app``, ``Settings``."""
