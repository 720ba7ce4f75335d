/* LZ4 blocks in the caller's buffers via the system's liblz4 (lz4_block.c). */
#ifndef BV_LZ4_BLOCK_H
#define BV_LZ4_BLOCK_H
#include <node_api.h>
int bv_lz4_register(napi_env env, napi_value exports);
#endif
