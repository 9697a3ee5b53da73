/*
 * Work a dump's reader does off the JavaScript thread, on libuv's thread pool:
 * - gunzip(member, out) inflates one whole gzip member into `out` with libdeflate, and resolves to `out`. libdeflate
 *   checks the member's CRC-32 and its size; the member must fill `out` exactly and be consumed to its last byte, or
 *   the promise rejects (the caller then reads that member with node:zlib, which names what is wrong).
 * - sha256() / sha256Update(state, bytes) / sha256Digest(state): a SHA-256 whose updates run on the pool, with the
 *   OpenSSL that Node itself carries (looked up at run time: sha256 is absent when this Node does not export it).
 *   The caller issues one update at a time, in order (format/hash.ts).
 * - gzip(block, out, level) compresses `block` into `out` as one gzip member with libdeflate, its header marked with
 *   the member's length as format/gzip.ts marks zlib's, and resolves to the member's length; `out` holds at least
 *   gzipBound(block.length) bytes.
 * Node-API only, so one build serves every Node version.
 */
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <dlfcn.h>
#include "libdeflate/libdeflate.h"

/* What every job on the thread pool holds: its work, its promise, and the two values it reads, kept alive. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref refs[2];
} pool_job_t;

static napi_value fail(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

/* The memory of `v`, a Buffer; false when it is not one. */
static bool buffer_arg(napi_env env, napi_value v, void **data, size_t *len) {
  bool is_buffer = false;
  if (napi_is_buffer(env, v, &is_buffer) != napi_ok || !is_buffer) return false;
  return napi_get_buffer_info(env, v, data, len) == napi_ok;
}

/* Queues `job` (its first member a pool_job_t) on the thread pool, keeping `a` and `b` alive; its promise, or NULL. */
static napi_value queue_job(napi_env env, pool_job_t *job, napi_value a, napi_value b, const char *name,
                            napi_async_execute_callback execute, napi_async_complete_callback complete) {
  napi_value promise, resource;
  if (napi_create_reference(env, a, 1, &job->refs[0]) != napi_ok || napi_create_reference(env, b, 1, &job->refs[1]) != napi_ok ||
      napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource) != napi_ok ||
      napi_create_async_work(env, NULL, resource, execute, complete, job, &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    return fail(env, "could not queue the work on the thread pool"); /* not reached short of a broken runtime */
  }
  return promise;
}

/* After a job's promise is settled: lets go of what it kept alive, and of the job. */
static void end_job(napi_env env, pool_job_t *job) {
  napi_delete_reference(env, job->refs[0]);
  napi_delete_reference(env, job->refs[1]);
  napi_delete_async_work(env, job->work);
  free(job);
}

typedef struct {
  pool_job_t base; /* keeps the member and the output buffer alive */
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
  if (status == napi_ok && job->result == LIBDEFLATE_SUCCESS && napi_get_reference_value(env, job->base.refs[1], &out) == napi_ok) {
    napi_resolve_deferred(env, job->base.deferred, out);
  } else {
    const char *c = status == napi_ok ? result_code(job->result) : "LIBDEFLATE_CANCELLED";
    napi_create_string_utf8(env, "the gzip member did not inflate", NAPI_AUTO_LENGTH, &msg);
    napi_create_string_utf8(env, c, NAPI_AUTO_LENGTH, &code);
    napi_create_error(env, code, msg, &err);
    napi_reject_deferred(env, job->base.deferred, err);
  }
  end_job(env, &job->base);
}

static napi_value gunzip(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void *member, *out;
  size_t member_len, out_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) return fail(env, "gunzip(member, out)");
  if (!buffer_arg(env, argv[0], &member, &member_len) || !buffer_arg(env, argv[1], &out, &out_len))
    return fail(env, "gunzip(member, out): both must be Buffers");
  job_t *job = calloc(1, sizeof *job);
  if (job == NULL) return fail(env, "gunzip: out of memory");
  job->member = member;
  job->member_len = member_len;
  job->out = out;
  job->out_len = out_len;
  return queue_job(env, &job->base, argv[0], argv[1], "turso-backup:gunzip", execute, complete);
}


/* gzip's header as zlib writes it on Unix (no name, no time), with the FEXTRA subfield 'T' 'B' holding the member's
 * total length (format/gzip.ts LENGTH_SUBFIELD), and the trailer's 8 bytes. */
#define MEMBER_HEAD 20
#define MEMBER_TAIL 8

typedef struct {
  pool_job_t base; /* keeps the block and the output buffer alive */
  const unsigned char *in;
  size_t in_len;
  unsigned char *out;
  size_t out_len;
  int level;
  size_t member_len; /* 0: it failed */
} deflate_job_t;

static void put_le32(unsigned char *p, uint32_t v) {
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
  p[2] = (v >> 16) & 0xff;
  p[3] = (v >> 24) & 0xff;
}

/* A compressor per pool thread, for the last level it used: allocating one is most of a small block's work. */
static _Thread_local struct libdeflate_compressor *thread_compressor;
static _Thread_local int thread_level = -1;

static struct libdeflate_compressor *compressor_for(int level) {
  if (thread_level != level) {
    libdeflate_free_compressor(thread_compressor);
    thread_compressor = libdeflate_alloc_compressor(level);
    thread_level = thread_compressor ? level : -1;
  }
  return thread_compressor;
}

static void deflate_execute(napi_env env, void *data) {
  deflate_job_t *job = data;
  unsigned char *h = job->out;
  struct libdeflate_compressor *c = compressor_for(job->level);
  size_t n;
  (void)env;
  job->member_len = 0;
  if (c == NULL || job->out_len < MEMBER_HEAD + MEMBER_TAIL) return;
  n = libdeflate_deflate_compress(c, job->in, job->in_len, h + MEMBER_HEAD, job->out_len - MEMBER_HEAD - MEMBER_TAIL);
  if (n == 0 || (uint64_t)n + MEMBER_HEAD + MEMBER_TAIL > 0xffffffffu) return;
  h[0] = 0x1f;
  h[1] = 0x8b;
  h[2] = 8;    /* deflate */
  h[3] = 0x04; /* FEXTRA */
  put_le32(h + 4, 0);
  h[8] = job->level >= 9 ? 2 : job->level < 2 ? 4 : 0; /* XFL, as zlib sets it */
  h[9] = 3;                                             /* OS: Unix */
  h[10] = 8;                                            /* XLEN */
  h[11] = 0;
  h[12] = 'T';
  h[13] = 'B';
  h[14] = 4;
  h[15] = 0;
  job->member_len = MEMBER_HEAD + n + MEMBER_TAIL;
  put_le32(h + 16, (uint32_t)job->member_len);
  put_le32(h + MEMBER_HEAD + n, libdeflate_crc32(0, job->in, job->in_len));
  put_le32(h + MEMBER_HEAD + n + 4, (uint32_t)job->in_len);
}

static void deflate_complete(napi_env env, napi_status status, void *data) {
  deflate_job_t *job = data;
  napi_value len, err, msg;
  if (status == napi_ok && job->member_len > 0 && napi_create_double(env, (double)job->member_len, &len) == napi_ok) {
    napi_resolve_deferred(env, job->base.deferred, len);
  } else {
    napi_create_string_utf8(env, "the block did not compress", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_reject_deferred(env, job->base.deferred, err);
  }
  end_job(env, &job->base);
}

static napi_value gzip_member(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  void *in, *out;
  size_t in_len, out_len;
  int32_t level;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3) return fail(env, "gzip(block, out, level)");
  if (!buffer_arg(env, argv[0], &in, &in_len) || !buffer_arg(env, argv[1], &out, &out_len) ||
      napi_get_value_int32(env, argv[2], &level) != napi_ok || level < 0 || level > 12 || in_len > 0xffffffffu)
    return fail(env, "gzip(block, out, level): two Buffers and a level from 0 to 12");
  deflate_job_t *job = calloc(1, sizeof *job);
  if (job == NULL) return fail(env, "gzip: out of memory");
  job->in = in;
  job->in_len = in_len;
  job->out = out;
  job->out_len = out_len;
  job->level = level;
  return queue_job(env, &job->base, argv[0], argv[1], "turso-backup:gzip", deflate_execute, deflate_complete);
}

/* The bytes `out` needs for gzip() of `n` bytes, whatever the level. */
static napi_value gzip_bound(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  double n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || napi_get_value_double(env, argv[0], &n) != napi_ok || n < 0)
    return fail(env, "gzipBound(length)");
  napi_create_double(env, (double)(libdeflate_deflate_compress_bound(NULL, (size_t)n) + MEMBER_HEAD + MEMBER_TAIL), &out);
  return out;
}

/* OpenSSL's EVP digest API, from the Node binary (or the libcrypto it loaded); opaque types, stable since 1.1. */
typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef struct evp_md_st EVP_MD;
static struct {
  EVP_MD_CTX *(*ctx_new)(void);
  void (*ctx_free)(EVP_MD_CTX *);
  const EVP_MD *(*sha256)(void);
  int (*init)(EVP_MD_CTX *, const EVP_MD *, void *);
  int (*update)(EVP_MD_CTX *, const void *, size_t);
  int (*final)(EVP_MD_CTX *, unsigned char *, unsigned int *);
} evp;

static int evp_found(void) {
  evp.ctx_new = (EVP_MD_CTX * (*)(void)) dlsym(RTLD_DEFAULT, "EVP_MD_CTX_new");
  evp.ctx_free = (void (*)(EVP_MD_CTX *))dlsym(RTLD_DEFAULT, "EVP_MD_CTX_free");
  evp.sha256 = (const EVP_MD *(*)(void))dlsym(RTLD_DEFAULT, "EVP_sha256");
  evp.init = (int (*)(EVP_MD_CTX *, const EVP_MD *, void *))dlsym(RTLD_DEFAULT, "EVP_DigestInit_ex");
  evp.update = (int (*)(EVP_MD_CTX *, const void *, size_t))dlsym(RTLD_DEFAULT, "EVP_DigestUpdate");
  evp.final = (int (*)(EVP_MD_CTX *, unsigned char *, unsigned int *))dlsym(RTLD_DEFAULT, "EVP_DigestFinal_ex");
  return evp.ctx_new && evp.ctx_free && evp.sha256 && evp.init && evp.update && evp.final;
}

typedef struct {
  EVP_MD_CTX *ctx;
  int busy; /* an update is on the pool: another one, or the digest, is refused */
  int done; /* digested */
} hash_t;

typedef struct {
  pool_job_t base; /* keeps the state and the bytes alive */
  hash_t *hash;
  const void *bytes;
  size_t len;
  int ok;
} update_t;

static void hash_finalize(napi_env env, void *data, void *hint) {
  hash_t *h = data;
  (void)env;
  (void)hint;
  evp.ctx_free(h->ctx);
  free(h);
}

static napi_value sha256_new(napi_env env, napi_callback_info info) {
  napi_value state;
  hash_t *h = calloc(1, sizeof *h);
  (void)info;
  if (h == NULL || (h->ctx = evp.ctx_new()) == NULL || evp.init(h->ctx, evp.sha256(), NULL) != 1) {
    if (h) {
      if (h->ctx) evp.ctx_free(h->ctx);
      free(h);
    }
    return fail(env, "sha256: cannot start a digest");
  }
  if (napi_create_external(env, h, hash_finalize, NULL, &state) != napi_ok) return fail(env, "sha256: out of memory");
  return state;
}

static hash_t *hash_of(napi_env env, napi_value v) {
  void *h = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &h) != napi_ok) return NULL;
  return h;
}

static void update_execute(napi_env env, void *data) {
  update_t *u = data;
  (void)env;
  u->ok = evp.update(u->hash->ctx, u->bytes, u->len) == 1;
}

static void update_complete(napi_env env, napi_status status, void *data) {
  update_t *u = data;
  napi_value undefined, err, msg;
  u->hash->busy = 0;
  if (status == napi_ok && u->ok) {
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, u->base.deferred, undefined);
  } else {
    napi_create_string_utf8(env, "sha256: the update failed", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_reject_deferred(env, u->base.deferred, err);
  }
  end_job(env, &u->base);
}

static napi_value sha256_update(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], promise;
  void *bytes;
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) return fail(env, "sha256Update(state, bytes)");
  hash_t *h = hash_of(env, argv[0]);
  if (h == NULL || !buffer_arg(env, argv[1], &bytes, &len))
    return fail(env, "sha256Update(state, bytes): a digest state and a Buffer");
  if (h->busy || h->done) return fail(env, "sha256Update: an update is already running, or the digest is taken");
  update_t *u = calloc(1, sizeof *u);
  if (u == NULL) return fail(env, "sha256Update: out of memory");
  u->hash = h;
  u->bytes = bytes;
  u->len = len;
  promise = queue_job(env, &u->base, argv[0], argv[1], "turso-backup:sha256", update_execute, update_complete);
  if (promise != NULL) h->busy = 1;
  return promise;
}

static napi_value sha256_digest(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  unsigned char md[32];
  unsigned int n = 0;
  void *data;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1) return fail(env, "sha256Digest(state)");
  hash_t *h = hash_of(env, argv[0]);
  if (h == NULL) return fail(env, "sha256Digest(state): a digest state");
  if (h->busy || h->done) return fail(env, "sha256Digest: an update is still running, or the digest is taken");
  h->done = 1;
  if (evp.final(h->ctx, md, &n) != 1 || n != sizeof md) return fail(env, "sha256Digest: the digest failed");
  if (napi_create_buffer_copy(env, sizeof md, md, &data, &out) != napi_ok) return fail(env, "sha256Digest: out of memory");
  return out;
}

static void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn);
  napi_set_named_property(env, exports, name, fn);
}

NAPI_MODULE_INIT() {
  export_fn(env, exports, "gunzip", gunzip);
  export_fn(env, exports, "gzip", gzip_member);
  export_fn(env, exports, "gzipBound", gzip_bound);
  if (evp_found()) {
    export_fn(env, exports, "sha256", sha256_new);
    export_fn(env, exports, "sha256Update", sha256_update);
    export_fn(env, exports, "sha256Digest", sha256_digest);
  }
  return exports;
}
