/*
 * LZ4 blocks into and out of the caller's buffers, through the system's liblz4 (liblz4.so.1,
 * on every Debian and most Linux systems: systemd needs it). It is opened with dlopen when
 * first used, so the addon neither needs its headers to build nor fails to load without it;
 * lz4Available() says whether it is there, and blockvault falls back to lz4-napi otherwise.
 *
 *   lz4Available()                              -> true when liblz4.so.1 was found
 *   lz4Compress(src, dst, dstOffset, capacity)  -> bytes written at dst[dstOffset] (a 4-byte
 *        LE size prefix, then the LZ4 block), or 0 when it would not fit in capacity bytes
 *   lz4Decompress(src, dst, dstOffset, length)  -> bytes written (must be length), or -1
 *        when src is not a valid LZ4 block of exactly that size
 *
 * The size prefix is the one lz4-napi writes (compress_prepend_size), so chunks written by
 * either path read back through the other.
 */
#include <node_api.h>

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lz4_block.h"
#include "napi_args.h"

/* The stable liblz4 ABI (since r1xx): declared here so no -dev package is needed to build. */
typedef int (*lz4_compress_fn)(const char *src, char *dst, int srcSize, int dstCapacity);
typedef int (*lz4_decompress_fn)(const char *src, char *dst, int compressedSize, int dstCapacity);

static int lz4_tried = 0;
static lz4_compress_fn lz4_compress = NULL;
static lz4_decompress_fn lz4_decompress = NULL;

/* Called on the JS thread of each environment; dlopen itself is thread-safe, and every thread
 * that races here stores the same pointers. */
static int lz4_load(void) {
  if (!lz4_tried) {
    void *h = dlopen("liblz4.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h) {
      lz4_compress = (lz4_compress_fn)dlsym(h, "LZ4_compress_default");
      lz4_decompress = (lz4_decompress_fn)dlsym(h, "LZ4_decompress_safe");
    }
    lz4_tried = 1;
  }
  return lz4_compress != NULL && lz4_decompress != NULL;
}

/* Throws a RangeError "<a><name><b>"; returns 0 for the caller to return. */
static int range_error(napi_env env, const char *a, const char *name, const char *b) {
  char msg[96];
  snprintf(msg, sizeof msg, "%s%s%s", a, name, b);
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return 0;
}

static int get_size(napi_env env, napi_value v, const char *name, size_t *out) {
  int64_t x = -1;
  if (napi_get_value_int64(env, v, &x) != napi_ok || x < 0 || x > INT32_MAX) return range_error(env, "", name, " must be an integer from 0 to 2^31-1");
  *out = (size_t)x;
  return 1;
}

static napi_value make_int(napi_env env, int64_t x) {
  napi_value r;
  if (napi_create_int64(env, x, &r) != napi_ok) return NULL;
  return r;
}

static napi_value bv_lz4_available(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  if (napi_get_boolean(env, lz4_load(), &r) != napi_ok) return NULL;
  return r;
}

static int need_lz4(napi_env env) {
  if (lz4_load()) return 1;
  napi_throw_error(env, "UNSUPPORTED", "liblz4.so.1 is not on this system (lz4Available() is false)");
  return 0;
}

/* (src, dst, dstOffset, n): the four arguments both calls take, checked; liblz4 loaded. */
static int lz4_args(napi_env env, napi_callback_info info, const char *n_name, uint8_t **src, size_t *srcLen, uint8_t **dst,
                    size_t *dstLen, size_t *off, size_t *n) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc < 4) {
    napi_throw_error(env, "ERR_MISSING_ARGS", "expected (src, dst, dstOffset, length)");
    return 0;
  }
  if (!bv_arg_uint8(env, argv[0], "src", src, srcLen) || !bv_arg_uint8(env, argv[1], "dst", dst, dstLen) ||
      !get_size(env, argv[2], "dstOffset", off) || !get_size(env, argv[3], n_name, n) || !need_lz4(env))
    return 0;
  if (*off > *dstLen || *n > *dstLen - *off) return range_error(env, "dstOffset + ", n_name, " runs past dst");
  return 1;
}

static napi_value bv_lz4_compress(napi_env env, napi_callback_info info) {
  uint8_t *src, *dst;
  size_t srcLen, dstLen, off, cap;
  if (!lz4_args(env, info, "capacity", &src, &srcLen, &dst, &dstLen, &off, &cap)) return NULL;
  if (srcLen > INT32_MAX) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "src is over 2 GiB");
    return NULL;
  }
  if (cap < 4) return make_int(env, 0);
  int n = lz4_compress((const char *)src, (char *)dst + off + 4, (int)srcLen, (int)(cap - 4));
  if (n <= 0) return make_int(env, 0); /* does not fit: the caller stores the bytes raw */
  uint32_t size = (uint32_t)srcLen;
  uint8_t *p = dst + off;
  p[0] = size & 0xff, p[1] = (size >> 8) & 0xff, p[2] = (size >> 16) & 0xff, p[3] = (size >> 24) & 0xff;
  return make_int(env, (int64_t)n + 4);
}

static napi_value bv_lz4_decompress(napi_env env, napi_callback_info info) {
  uint8_t *src, *dst;
  size_t srcLen, dstLen, off, want;
  if (!lz4_args(env, info, "length", &src, &srcLen, &dst, &dstLen, &off, &want)) return NULL;
  if (srcLen < 4 || srcLen > INT32_MAX) return make_int(env, -1);
  uint32_t size = (uint32_t)src[0] | (uint32_t)src[1] << 8 | (uint32_t)src[2] << 16 | (uint32_t)src[3] << 24;
  if (size != want) return make_int(env, -1);
  /* LZ4_decompress_safe never writes past dstCapacity and fails on malformed input. */
  int n = lz4_decompress((const char *)src + 4, (char *)dst + off, (int)(srcLen - 4), (int)want);
  return make_int(env, n == (int)want ? n : -1);
}

int bv_lz4_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"lz4Available", NULL, bv_lz4_available, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lz4Compress", NULL, bv_lz4_compress, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lz4Decompress", NULL, bv_lz4_decompress, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props) == napi_ok;
}
