<?php

/**
 * Signatures of the ephpm_kv extension, for IDEs and static analysers.
 * Semantics: docs/api.md of the repository and the README. This file is
 * checked against the loaded extension by ext/tests/stub.phpt.
 *
 * @generate-function-entries
 */

/** The value, or null when the key is missing or expired. Binary-safe. */
function ephpm_kv_get(string $key): ?string {}

/** Stores a value; $ttl in seconds, 0 or negative = no expiry. */
function ephpm_kv_set(string $key, string $value, int $ttl = 0): bool {}

/** Inserts only if no live key exists; of concurrent callers exactly one wins. */
function ephpm_kv_setnx(string $key, string $value, int $ttl = 0): bool {}

/** 1 if a live key was removed, 0 otherwise. */
function ephpm_kv_del(string $key): int {}

/**
 * Added by this project: removes the key only if its value is exactly
 * $value (a lock owner releasing its own lock); true if removed.
 */
function ephpm_kv_del_if(string $key, string $value): bool {}

function ephpm_kv_exists(string $key): bool {}

function ephpm_kv_incr(string $key): int|false {}

function ephpm_kv_decr(string $key): int|false {}

/** Atomic across processes; false when the value is not a 64-bit decimal integer or on overflow. */
function ephpm_kv_incr_by(string $key, int $delta): int|false {}

/** New TTL in seconds on a live key; $ttl <= 0 changes nothing and returns false. */
function ephpm_kv_expire(string $key, int $ttl): bool {}

/**
 * Added by this project: a new TTL in seconds on the key, only if its value
 * is exactly $value (a lock owner keeping its own lock alive); false when
 * the key is missing, holds another value, or $ttl <= 0 (nothing changes).
 */
function ephpm_kv_expire_if(string $key, string $value, int $ttl): bool {}

/** Seconds left, rounded up; -1 no expiry; -2 missing. */
function ephpm_kv_ttl(string $key): int {}

/** Milliseconds left; -1 no expiry; -2 missing. */
function ephpm_kv_pttl(string $key): int {}

/** Removes every key of this store. */
function ephpm_kv_flush_all(): bool {}

/**
 * Sleeps until $key is written again by any process (its version is no
 * longer $last_version) or $timeout_ms passes. Returns
 * ['value' => ?string, 'version' => int] on a change (value null when
 * missing), false at the timeout. $last_version = 0 returns the current
 * value and version at once; negative arguments count as 0; a timeout of 0
 * polls.
 *
 * @return array{value: ?string, version: int}|false
 */
function ephpm_kv_wait(string $key, int $last_version, int $timeout_ms): array|false {}

/**
 * Added by this project: one page of the store's keys. Visits whole
 * stripes from stripe $cursor on until at least $count keys matching the
 * glob $match (* any run of bytes, ? one byte) are collected. Returns
 * ['cursor' => the next call's cursor, 0 when every stripe was visited,
 * 'keys' => [['key' => string, 'size' => value bytes, 'ttl' => ms left
 * or -1 for none], ...]]; false (with a warning) when there is no store.
 *
 * @return array{cursor: int, keys: list<array{key: string, size: int, ttl: int}>}|false
 */
function ephpm_kv_scan(int $cursor = 0, string $match = '*', int $count = 100): array|false {}

/**
 * Added by this project: the figures of each stripe, in stripe order:
 * entries, bytes (heap bytes in use), free (heap bytes free).
 *
 * @return list<array{entries: int, bytes: int, free: int}>|false
 */
function ephpm_kv_stripes(): array|false {}

/**
 * Figures of the store: version, available, error (when unavailable), path,
 * size, stripes, max_key_size, max_value_size, eviction, entries, bytes_used,
 * bytes_free, hits, misses, expirations, evictions, recoveries, watch_slots,
 * watched_keys, waited_keys. hits and
 * misses count this process's gets so far and other processes' gets up to
 * the end of their last request.
 *
 * @return array<string, int|string|bool>
 */
function ephpm_kv_stats(): array {}
