/* SPDX-License-Identifier: ISC */
/*
 * Every unit test, one TEST_ENTRY per line. CMake reads this file to
 * register each entry with CTest as unit.<name>; the optional second
 * argument is the timeout in seconds.
 */
#define TEST_LIST(TEST_ENTRY)						\
	TEST_ENTRY(buf_cap, 10)						\
	TEST_ENTRY(buf_consume_detach, 10)				\
	TEST_ENTRY(chan_order_and_wake, 20)				\
	TEST_ENTRY(chan_threads, 30)					\
	TEST_ENTRY(log_scrub_secrets, 10)				\
	TEST_ENTRY(log_json_lines, 10)					\
	TEST_ENTRY(config_defaults, 10)					\
	TEST_ENTRY(config_file_errors, 10)				\
	TEST_ENTRY(config_sources, 10)					\
	TEST_ENTRY(config_parse_units, 10)				\
	TEST_ENTRY(paths_home_and_xdg, 10)				\
	TEST_ENTRY(paths_write_atomic_mode, 10)				\
	TEST_ENTRY(store_migrate_pragmas, 20)				\
	TEST_ENTRY(store_requests_batch, 20)				\
	TEST_ENTRY(upstream_get_basic, 20)				\
	TEST_ENTRY(upstream_post_body_headers, 20)			\
	TEST_ENTRY(upstream_many_concurrent, 60)			\
	TEST_ENTRY(upstream_slow_consumer, 60)				\
	TEST_ENTRY(upstream_abort_mid_stream, 30)			\
	TEST_ENTRY(upstream_stall_timeout, 30)				\
	TEST_ENTRY(upstream_early_close, 20)				\
	TEST_ENTRY(upstream_connect_refused, 20)			\
	TEST_ENTRY(upstream_shutdown_inflight, 20)			\
	TEST_ENTRY(sse_split_everywhere, 20)				\
	TEST_ENTRY(sse_limits_and_stop, 10)				\
	TEST_ENTRY(token_single_flight, 10)				\
	TEST_ENTRY(token_expiry_and_invalidate, 10)			\
	TEST_ENTRY(token_failure_backoff, 20)				\
	TEST_ENTRY(keys_generate_format, 20)				\
	TEST_ENTRY(keys_hash_vectors, 10)				\
	TEST_ENTRY(keys_mask_hides, 10)					\
	TEST_ENTRY(keys_looks_like_secret, 10)				\
	TEST_ENTRY(keys_model_allowed, 10)				\
	TEST_ENTRY(keys_label_rules, 10)				\
	TEST_ENTRY(tokcal_scales_per_model, 10)			\
	TEST_ENTRY(tokcal_recent_and_bounded, 10)
