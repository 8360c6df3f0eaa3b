"""Imported only by the fork server of the web's CPU pool (``set_forkserver_preload``): the fork server ends
when the web server that started it ends, however that ends, and its workers end with it
(``die_with_parent(watch=True)``). Left alone, a fork server outlives a server killed with SIGKILL, and so do
its workers, waiting on their queue for ever (tests/test_orphans.py)."""

from fairtrain.core.children import watch_parent

watch_parent()
