--TEST--
ephpm_kv: an error handler that throws, exits or fails fatally during a warning of the extension leaves the process working and no lock held
--INI--
ephpm_kv.name=boundary
ephpm_kv.size=1M
ephpm_kv.max_value_size=1K
ephpm_kv.eviction=noeviction
--FILE--
<?php
require __DIR__ . '/boundary.inc';
ephpm_kv_flush_all();
foreach (['oversized_set', 'oversized_session', 'full_set', 'full_session', 'lock_wait'] as $scenario) {
    foreach (['throw', 'exit', 'fatal'] as $kind) {
        ephpm_kv_flush_all();
        boundary_child($scenario, $kind);
    }
}
foreach (['throw', 'exit', 'fatal'] as $kind) {
    ephpm_kv_flush_all();
    boundary_child('session_at_end', $kind);
}
boundary_child('get_out_of_memory', 'none');
boundary_child('get_out_of_memory_parts', 'none');
?>
--EXPECTF--
== oversized_set, handler throw
handler(throw): ephpm_kv_set(): value is 5000 bytes, over the store's value limit of 1024 bytes (what the store can hold, or the max value size it was created with)
caught
after: ephpm_kv_* work
after: a new session works
== oversized_set, handler exit
handler(exit): ephpm_kv_set(): value is 5000 bytes, over the store's value limit of 1024 bytes (what the store can hold, or the max value size it was created with)
after: ephpm_kv_* work
after: a new session works
== oversized_set, handler fatal
handler(fatal): ephpm_kv_set(): value is 5000 bytes, over the store's value limit of 1024 bytes (what the store can hold, or the max value size it was created with)
after: ephpm_kv_* work
after: a new session works
stderr: Fatal error: Allowed memory size of 16777216 bytes exhausted (tried to allocate %d bytes)
== oversized_session, handler throw
handler(throw): session_write_close(): ephpm: cannot write session ID…: value is 5015 bytes, over the store's value limit of 1024 bytes (what the store can hold, or the max value size it was created with)
caught
after: ephpm_kv_* work
after: lock of the session free
after: a new session works
== oversized_session, handler exit
handler(exit): session_write_close(): ephpm: cannot write session ID…: value is 5015 bytes, over the store's value limit of 1024 bytes (what the store can hold, or the max value size it was created with)
after: ephpm_kv_* work
after: lock of the session free
after: a new session works
== oversized_session, handler fatal
handler(fatal): session_write_close(): ephpm: cannot write session ID…: value is 5015 bytes, over the store's value limit of 1024 bytes (what the store can hold, or the max value size it was created with)
after: ephpm_kv_* work
after: lock of the session free
after: a new session works
stderr: Fatal error: Allowed memory size of 16777216 bytes exhausted (tried to allocate %d bytes)
== full_set, handler throw
handler(throw): ephpm_kv_set(): store is full (eviction policy noeviction): no room for %d more bytes in its stripe
caught
after: ephpm_kv_* work
after: a new session works
== full_set, handler exit
handler(exit): ephpm_kv_set(): store is full (eviction policy noeviction): no room for %d more bytes in its stripe
after: ephpm_kv_* work
after: a new session works
== full_set, handler fatal
handler(fatal): ephpm_kv_set(): store is full (eviction policy noeviction): no room for %d more bytes in its stripe
after: ephpm_kv_* work
after: a new session works
stderr: Fatal error: Allowed memory size of 16777216 bytes exhausted (tried to allocate %d bytes)
== full_session, handler throw
handler(throw): session_write_close(): ephpm: cannot write session ID…: store is full (eviction policy noeviction): no room for %d more bytes in its stripe
caught
after: ephpm_kv_* work
after: lock of the session free
after: a new session works
== full_session, handler exit
handler(exit): session_write_close(): ephpm: cannot write session ID…: store is full (eviction policy noeviction): no room for %d more bytes in its stripe
after: ephpm_kv_* work
after: lock of the session free
after: a new session works
== full_session, handler fatal
handler(fatal): session_write_close(): ephpm: cannot write session ID…: store is full (eviction policy noeviction): no room for %d more bytes in its stripe
after: ephpm_kv_* work
after: lock of the session free
after: a new session works
stderr: Fatal error: Allowed memory size of 16777216 bytes exhausted (tried to allocate %d bytes)
== lock_wait, handler throw
handler(throw): session_start(): ephpm: gave up waiting for the lock on session ID… after 100 ms (ephpm_kv.session_lock_wait_ms), held by the request in pid N; the session is not started and this request writes nothing to it
caught
after: ephpm_kv_* work
after: a new session works
== lock_wait, handler exit
handler(exit): session_start(): ephpm: gave up waiting for the lock on session ID… after 100 ms (ephpm_kv.session_lock_wait_ms), held by the request in pid N; the session is not started and this request writes nothing to it
after: ephpm_kv_* work
after: a new session works
== lock_wait, handler fatal
handler(fatal): session_start(): ephpm: gave up waiting for the lock on session ID… after 100 ms (ephpm_kv.session_lock_wait_ms), held by the request in pid N; the session is not started and this request writes nothing to it
after: ephpm_kv_* work
after: a new session works
stderr: Fatal error: Allowed memory size of 16777216 bytes exhausted (tried to allocate %d bytes)
== session_at_end, handler throw
end of script
handler(throw): PHP Request Shutdown: ephpm: cannot write session ID…: value is 5015 bytes, over the store's value limit of 1024 bytes (what the store can hold, or the max value size it was created with)
stderr: Fatal error: Uncaught ErrorException: PHP Request Shutdown: ephpm: cannot write session ID…: value is 5015 bytes, over the store's value limit of 1024 bytes (what the store can hold, or the max value size it was created with)
== session_at_end, handler exit
end of script
handler(exit): PHP Request Shutdown: ephpm: cannot write session ID…: value is 5015 bytes, over the store's value limit of 1024 bytes (what the store can hold, or the max value size it was created with)
== session_at_end, handler fatal
end of script
handler(fatal): PHP Request Shutdown: ephpm: cannot write session ID…: value is 5015 bytes, over the store's value limit of 1024 bytes (what the store can hold, or the max value size it was created with)
stderr: Fatal error: Allowed memory size of 16777216 bytes exhausted (tried to allocate %d bytes)
== get_out_of_memory, handler none
after: ephpm_kv_* work
after: a new session works
stderr: Fatal error: Allowed memory size of 16777216 bytes exhausted (tried to allocate %d bytes)
== get_out_of_memory_parts, handler none
after: ephpm_kv_* work
after: a new session works
stderr: Fatal error: Allowed memory size of 16777216 bytes exhausted (tried to allocate %d bytes)
