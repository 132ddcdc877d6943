"""The watch folder: editors without a plugin drop files, results come back beside them.

Pure rules (no disk, no clock): :mod:`.layout` (what lives where, READMEs), :mod:`.items`
(what a dropped name is), :mod:`.readiness` (when it is complete), :mod:`.settings`
(``kling-bridge.toml``, ``[[watch]]``), :mod:`.requests` (the API request for an item),
:mod:`.results` naming (plans), :mod:`.mounts` parsing. I/O edges: :mod:`.scan` (looking at
the disk), :mod:`.mover` (moves and copies that never overwrite), :mod:`.ledger` (SQLite),
:mod:`.observer` (watchdog), :mod:`.bridge` (the daemon, in-process or over HTTP). Put
together by :mod:`.service` and :mod:`.outcomes`; run by :mod:`.lifetime` (inside the
daemon) and :mod:`.command` (``kling-bridge watch``); reported by :mod:`.status`.
"""
