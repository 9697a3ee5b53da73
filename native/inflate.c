/*
 * One function for Node: gunzip(member, out) inflates one whole gzip member into `out` on libuv's thread pool with
 * libdeflate, and resolves to `out`. libdeflate checks the member's CRC-32 and its size; the member must fill `out`
 * exactly and be consumed to its last byte, or the promise rejects (the caller then reads that member with
 * node:zlib, which names what is wrong). Node-API only, so one build serves every Node version.
 */
#include <node_api.h>
#include <stdlib.h>
#include "libdeflate/libdeflate.h"

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref member_ref, out_ref; /* keep both buffers alive while the thread pool uses them */
  const void *member;
  size_t member_len;
  void *out;
  size_t out_len;
  enum libdeflate_result result;
} job_t;

static void execute(napi_env env, void *data) {
  job_t *job = data;
  size_t used_in = 0, used_out = 0;
  struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
  (void)env;
  if (d == NULL) {
    job->result = LIBDEFLATE_INSUFFICIENT_SPACE;
    return;
  }
  job->result = libdeflate_gzip_decompress_ex(d, job->member, job->member_len, job->out, job->out_len, &used_in, &used_out);
  libdeflate_free_decompressor(d);
  /* Trailing bytes would be a second member, or damage: either way not the one whole member asked for. */
  if (job->result == LIBDEFLATE_SUCCESS && (used_in != job->member_len || used_out != job->out_len)) {
    job->result = LIBDEFLATE_BAD_DATA;
  }
}

static const char *result_code(enum libdeflate_result r) {
  switch (r) {
    case LIBDEFLATE_BAD_DATA: return "LIBDEFLATE_BAD_DATA";
    case LIBDEFLATE_SHORT_OUTPUT: return "LIBDEFLATE_SHORT_OUTPUT";
    case LIBDEFLATE_INSUFFICIENT_SPACE: return "LIBDEFLATE_INSUFFICIENT_SPACE";
    default: return "LIBDEFLATE_FAILED";
  }
}

static void complete(napi_env env, napi_status status, void *data) {
  job_t *job = data;
  napi_value out, err, msg, code;
  if (status == napi_ok && job->result == LIBDEFLATE_SUCCESS && napi_get_reference_value(env, job->out_ref, &out) == napi_ok) {
    napi_resolve_deferred(env, job->deferred, out);
  } else {
    const char *c = status == napi_ok ? result_code(job->result) : "LIBDEFLATE_CANCELLED";
    napi_create_string_utf8(env, "the gzip member did not inflate", NAPI_AUTO_LENGTH, &msg);
    napi_create_string_utf8(env, c, NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, msg, &err);
    napi_reject_deferred(env, job->deferred, err);
  }
  napi_delete_reference(env, job->member_ref);
  napi_delete_reference(env, job->out_ref);
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static napi_value gunzip(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], promise, name;
  bool is_buffer[2] = {false, false};
  void *member, *out;
  size_t member_len, out_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) return fail(env, "gunzip(member, out)");
  napi_is_buffer(env, argv[0], &is_buffer[0]);
  napi_is_buffer(env, argv[1], &is_buffer[1]);
  if (!is_buffer[0] || !is_buffer[1]) return fail(env, "gunzip(member, out): both must be Buffers");
  napi_get_buffer_info(env, argv[0], &member, &member_len);
  napi_get_buffer_info(env, argv[1], &out, &out_len);
  job_t *job = calloc(1, sizeof *job);
  if (job == NULL) return fail(env, "gunzip: out of memory");
  job->member = member;
  job->member_len = member_len;
  job->out = out;
  job->out_len = out_len;
  if (napi_create_reference(env, argv[0], 1, &job->member_ref) != napi_ok ||
      napi_create_reference(env, argv[1], 1, &job->out_ref) != napi_ok ||
      napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "turso-backup:gunzip", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    return fail(env, "gunzip: could not queue the work"); /* not reached short of a broken runtime */
  }
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "gunzip", NAPI_AUTO_LENGTH, gunzip, NULL, &fn);
  napi_set_named_property(env, exports, "gunzip", fn);
  return exports;
}
