"""Ingestion of what the city measures into the measurement store.

Modules (import the one you need; nothing heavy is imported here):

- :mod:`twin.ingest.schema`      the long measurement schema and quarantine schema, with units
- :mod:`twin.ingest.store`       ``MeasurementStore``: partitioned Parquet, atomic appends
                                  (``begin``/``StagedBatch`` for files written in parts)
- :mod:`twin.ingest.vee`         validation, estimation and editing rules
- :mod:`twin.ingest.mdm_csv`     MDM CSV exports (wide/long), AMR water registers;
                                  ``iter_mdm_csv`` streams chunks, DST export faults repaired
- :mod:`twin.ingest.greenbutton` Green Button ESPI XML (resources linked across files) and CSV
- :mod:`twin.ingest.tag_map`     the SCADA tag map: tag -> element, quantity, unit (declared)
- :mod:`twin.ingest.historian`   SCADA historian exports, long or wide, CSV or Excel
- :mod:`twin.ingest.resample`    ``to_grid``: stored readings onto the grid an analysis asks for
- :mod:`twin.ingest.pv_portal`   inverter-portal PV exports (wide by time, power [W])
- :mod:`twin.ingest.pipeline`    ``ingest_file`` / ``ingest_paths``: detect, read, VEE, write
- :mod:`twin.ingest.batch`       ``ReadBatch`` and ``IngestReport``
- :mod:`twin.ingest.examples`    example MDM files for tests and throughput benchmarks
"""
