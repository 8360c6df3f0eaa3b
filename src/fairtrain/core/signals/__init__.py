"""Machine-readable signals: render every standard from one declaration, and read them all back.

Every signal is mapped to and from the shared vocabulary through :mod:`.crosswalk`.
"""
