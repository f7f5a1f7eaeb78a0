"""The sharded build: LAION parts -> matched, scored shards with manifests -> one database.

``shards`` builds one part, ``manifests`` records and verifies it, ``executors`` runs
shards in local processes or on Ray, ``assemble`` streams shards into the database, and
``pipeline`` ties them together.
"""
