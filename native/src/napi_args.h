/* Arguments every part of the addon takes the same way (napi_args.c). */
#ifndef BV_NAPI_ARGS_H
#define BV_NAPI_ARGS_H
#include <stddef.h>
#include <stdint.h>
#include <node_api.h>
/* v must be a Uint8Array (a Buffer is one): its bytes and length; else 0, a TypeError thrown
 * ("<name> must be a Uint8Array", code ERR_INVALID_ARG_TYPE). */
int bv_arg_uint8(napi_env env, napi_value v, const char *name, uint8_t **data, size_t *len);
#endif
