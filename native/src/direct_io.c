/* What direct I/O (O_DIRECT) needs from memory: a buffer's address modulo the alignment the
 * kernel asks for. JavaScript cannot see addresses, so the caller over-allocates and skips
 * to an aligned start (src/native/direct-io.ts). */
#include <stdint.h>
#include <node_api.h>
#include "direct_io.h"
#include "napi_args.h"

/* (buf, modulus) -> the address of buf's first byte modulo modulus (a power of two). */
static napi_value bv_address_mod(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) {
    napi_throw_error(env, "ERR_MISSING_ARGS", "expected (buf, modulus)");
    return NULL;
  }
  uint8_t *data = NULL;
  size_t length = 0;
  if (!bv_arg_uint8(env, argv[0], "buf", &data, &length)) return NULL;
  int64_t m = 0;
  if (napi_get_value_int64(env, argv[1], &m) != napi_ok || m <= 0 || m > (1 << 30) || (m & (m - 1)) != 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "modulus must be a power of two up to 2^30");
    return NULL;
  }
  napi_value r;
  if (napi_create_int64(env, (int64_t)((uintptr_t)data & (uintptr_t)(m - 1)), &r) != napi_ok) return NULL;
  return r;
}

int bv_direct_io_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"addressMod", NULL, bv_address_mod, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props) == napi_ok;
}
