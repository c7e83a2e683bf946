"""Other web archives, asked over Memento (RFC 7089): archive.today, Arquivo.pt, the Library
of Congress, aggregators such as the Memento TimeTravel service.

- ``archives``: the ``memento_archives`` setting, one endpoint per archive;
- ``linkformat``: TimeMaps and Link headers (``application/link-format``), read in one pass;
- ``client``: TimeMap and TimeGate requests through the guarded fetcher, rate-limited per host;
- ``lookup``: each source's memento nearest its citation date, per archive, stored as history.

Nothing is imported here: ``config`` reads the setting through ``archives``, and the rest needs
``config``; import names from the submodules.
"""
