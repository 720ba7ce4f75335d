/* Arguments every part of the addon takes the same way. */
#include <stdio.h>
#include "napi_args.h"

int bv_arg_uint8(napi_env env, napi_value v, const char *name, uint8_t **data, size_t *len) {
  napi_typedarray_type type;
  bool ok = false;
  if (napi_is_typedarray(env, v, &ok) == napi_ok && ok &&
      napi_get_typedarray_info(env, v, &type, len, (void **)data, NULL, NULL) == napi_ok && type == napi_uint8_array)
    return 1;
  char msg[96];
  snprintf(msg, sizeof msg, "%s must be a Uint8Array", name);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return 0;
}
