/* Memory alignment for direct I/O (direct_io.c). */
#ifndef BV_DIRECT_IO_H
#define BV_DIRECT_IO_H
#include <node_api.h>
int bv_direct_io_register(napi_env env, napi_value exports);
#endif
